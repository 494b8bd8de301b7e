/** @odoo-module **/
// Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
import { registry } from "@web/core/registry";

// Opens a contact (the test gives the URL), turns SMS consent on through the consent wizard and
// checks the status shown afterwards on the İYS tab and next to the phone number.
registry.category("web_tour.tours").add("l10n_tr_iys_partner_sms_consent", {
    steps: () => [
        {
            content: "Open the İYS tab",
            trigger: ".o_form_view .o_notebook_headers a[name='iys']",
            run: "click",
        },
        {
            content: "SMS shows no consent yet",
            trigger: ".o_iys_channel_sms .o_iys_state:contains('No consent')",
        },
        {
            content: "Turn SMS consent on",
            trigger: ".o_iys_channel_sms button.o_iys_toggle_on",
            run: "click",
        },
        {
            content: "The wizard proposes the contact's mobile number",
            trigger: ".modal .o_field_widget[name='address_ids'] .o_data_row:contains('+905321234567')",
        },
        {
            content: "Choose where the consent was given",
            trigger: ".modal .o_field_widget[name='source_consent'] select",
            run: 'select "HS_FIZIKSEL_ORTAM"',
        },
        {
            content: "Note the evidence",
            trigger: ".modal .o_field_widget[name='note'] textarea",
            run: "edit Signed at the store counter",
        },
        {
            content: "Record the consent",
            trigger: ".modal-footer button[name='action_confirm']",
            run: "click",
        },
        {
            content: "The wizard is closed",
            trigger: "body:not(:has(.modal))",
        },
        {
            content: "SMS now waits for İYS to confirm the consent",
            trigger: ".o_iys_channel_sms .o_iys_state:contains('Waiting for İYS')",
        },
        {
            content: "The toggle is on",
            trigger: ".o_iys_channel_sms button.o_iys_toggle_off",
        },
        {
            content: "The badge next to the phone says so too",
            trigger: ".o_iys_sms_badge:contains('Waiting for İYS')",
        },
    ],
});
