/** @odoo-module **/
// Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
import { registry } from "@web/core/registry";

/** A consent date one hour ago, in Turkish time (UTC+3) and İYS's format. */
function recentIysDate() {
    const date = new Date(Date.now() + 2 * 3600 * 1000);
    const pad = (value) => String(value).padStart(2, "0");
    return (
        `${date.getUTCFullYear()}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())} ` +
        `${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())}`
    );
}

// Opens a new consent import (the test gives the URL), uploads a small CSV with one good and one
// bad row, checks it, sees the bad row listed in the import itself, imports after the
// confirmation and sees the notification with the counts.
registry.category("web_tour.tours").add("l10n_tr_iys_consent_import", {
    steps: () => [
        {
            content: "No file yet: a neutral title",
            trigger: ".o_form_view .oe_title:contains('New consent import')",
        },
        {
            content: "The templates are offered before any file (links: nothing to save first)",
            trigger: ".o_form_view a.o_iys_template_xlsx[href$='iys_consents_template.xlsx']",
        },
        {
            content: "Upload a CSV file",
            trigger: ".o_form_view .o_field_widget[name='file']",
            async run() {
                const csv =
                    "recipient,type,source,status,consentDate,recipientType,retailerCode\n" +
                    `05321000801,MESAJ,HS_WEB,ONAY,${recentIysDate()},BIREYSEL,\n` +
                    `0532 12,MESAJ,HS_WEB,ONAY,${recentIysDate()},BIREYSEL,\n`;
                const input = this.anchor.querySelector("input[type='file']");
                const transfer = new DataTransfer();
                transfer.items.add(new File([csv], "tour_consents.csv", { type: "text/csv" }));
                input.files = transfer.files;
                input.dispatchEvent(new Event("change", { bubbles: true }));
            },
        },
        {
            content: "The file is there, and names the import",
            trigger: ".o_form_view .oe_title:contains('tour_consents.csv')",
        },
        {
            content: "Check the file",
            trigger: ".o_form_view .o_statusbar_buttons button[name='action_check']",
            run: "click",
        },
        {
            content: "The dry run is done",
            trigger: ".o_form_view .o_field_widget[name='state'] .o_arrow_button_current:contains('Dry run')",
        },
        {
            content: "The refused row is listed in the import itself",
            trigger: ".o_iys_import_errors .o_data_row:contains('H121')",
        },
        {
            // Odoo uppercases section titles with CSS, and its page carries no language: a Turkish
            // title came out as "TICARI ILETILER". The addon's forms keep the written case.
            content: "Section titles keep the case they are written in",
            trigger: ".o_iys_form .o_horizontal_separator:contains('Rows')",
            run() {
                const transform = getComputedStyle(this.anchor).textTransform;
                if (transform !== "none") {
                    throw new Error(`section title uppercased by CSS (text-transform: ${transform})`);
                }
            },
        },
        {
            content: "Import",
            trigger: ".o_form_view .o_statusbar_buttons button[name='action_confirm_import']",
            run: "click",
        },
        {
            content: "The confirmation states the counts",
            trigger: ".modal .o_iys_import_summary:contains('Rows to record in the consent ledger: 1.')",
        },
        {
            content: "Confirm",
            trigger: ".modal-footer button[name='action_import']",
            run: "click",
        },
        {
            content: "The notification gives the counts and a link to the consents",
            trigger: ".o_notification:contains('Rows recorded: 1, refused: 1') a:contains('the recorded consents')",
        },
        {
            content: "The import is done",
            trigger: ".o_form_view .o_field_widget[name='state'] .o_arrow_button_current:contains('Imported')",
        },
        {
            content: "The refused row is still listed",
            trigger: ".o_iys_import_errors .o_data_row:contains('H121')",
        },
    ],
});
