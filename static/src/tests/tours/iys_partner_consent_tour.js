/** @odoo-module **/
// Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
import { registry } from "@web/core/registry";

// Opens a contact (the test gives the URL), records an SMS consent through the consent wizard and
// checks that the İYS tab and the badge next to the number Odoo sends to say what the send gate
// does: recorded, but blocked until İYS confirms it.
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
            content: "and says why no commercial SMS may go",
            trigger: ".o_iys_channel_sms .o_iys_why:contains('Blocked: an individual (BIREYSEL) needs a consent')",
        },
        {
            content: "The contact is an individual, and the form says why",
            trigger: ".o_field_widget[name='iys_recipient_type_reason']:contains('An individual by default')",
        },
        {
            content: "Record an SMS consent",
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
            content: "and says that no commercial SMS may go until İYS confirms it",
            trigger: ".o_iys_channel_sms .o_iys_why:contains('Blocked until İYS confirms')",
        },
        {
            content: "Nothing claims it is on: the consent button is gone, a refusal may be recorded",
            trigger: ".o_iys_channel_sms:not(:has(button.o_iys_toggle_on)) button.o_iys_toggle_off:contains('Record refusal')",
        },
        {
            content: "The badge next to the mobile number (the one SMS go to) says the same",
            trigger: ".o_iys_badges_mobile .o_iys_sms_badge:contains('Waiting for İYS')",
        },
        {
            content: "No badge on the empty phone row",
            trigger: "body:not(:has(.o_iys_badges_phone:visible))",
        },
    ],
});
