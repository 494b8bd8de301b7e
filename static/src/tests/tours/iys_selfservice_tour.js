/** @odoo-module **/
// Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
import { registry } from "@web/core/registry";

// A person opens their signed self-service link (the test gives the URL), stops commercial
// e-mails with one click, then allows SMS: the page asks for the code sent by SMS (the test fixes
// it to 246810) and confirms it.
registry.category("web_tour.tours").add("l10n_tr_iys_selfservice", {
    steps: () => [
        {
            content: "The page says e-mails are received",
            trigger: ".o_iys_row_EPOSTA .o_iys_receives",
        },
        {
            content: "Stop commercial e-mails",
            trigger: ".o_iys_row_EPOSTA button.o_iys_stop",
            run: "click",
        },
        {
            content: "Done at once",
            trigger: ".o_iys_notice_stopped",
        },
        {
            content: "E-mails are no longer received",
            trigger: ".o_iys_row_EPOSTA .o_iys_not_receives",
        },
        {
            content: "SMS are not received yet",
            trigger: ".o_iys_row_MESAJ .o_iys_not_receives",
        },
        {
            content: "Allow SMS",
            trigger: ".o_iys_row_MESAJ button.o_iys_allow",
            run: "click",
        },
        {
            content: "A code was sent by SMS",
            trigger: ".o_iys_notice_sms_sent",
        },
        {
            content: "Enter the code",
            trigger: ".o_iys_row_MESAJ input.o_iys_code",
            run: "edit 246810",
        },
        {
            content: "Confirm it",
            trigger: ".o_iys_row_MESAJ button.o_iys_confirm_code",
            run: "click",
        },
        {
            content: "The consent is recorded",
            trigger: ".o_iys_notice_confirmed",
        },
        {
            content: "and waits for İYS, as the send gate does",
            trigger: ".o_iys_row_MESAJ:contains('Your consent is being registered with İYS')",
        },
    ],
});
