# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.

from markupsafe import Markup

from odoo import fields, models, tools
from odoo.tools import split_every

from .iys_send_gate import EPOSTA, FAILURE_TYPES, GATE_CHUNK, MAIL_FAILURE_SELECTION


class MailMail(models.Model):
    _inherit = "mail.mail"

    failure_type = fields.Selection(
        selection_add=MAIL_FAILURE_SELECTION,
        ondelete={code: "set null" for code, _label in MAIL_FAILURE_SELECTION},
    )

    def send(self, auto_commit=False, raise_exception=False, post_send_callback=None, *args, **kwargs):
        # Last check before the wire: a refusal recorded after the mailing was queued stops it.
        self._iys_gate_before_send()
        # Cancelled mails are not to be sent: Odoo's send would mark them failed with the others
        # when the mail server cannot be reached, overwriting why they were cancelled.
        to_send = self.filtered(lambda mail: mail.state != "cancel")
        return super(MailMail, to_send).send(auto_commit, raise_exception, post_send_callback, *args, **kwargs)

    def _iys_gate_before_send(self):
        """Re-check consent for the queued e-mails of commercial mailings (and of transactional ones
        whose approval no longer holds, see ``_iys_queued_commercial_by_brand``); cancel those now
        blocked (mail and trace), in one ledger query per brand."""
        if not self.ids:
            return
        self.flush_recordset(["state", "mailing_id"])
        self.env["mailing.mailing"].flush_model(["iys_message_class", "iys_brand_id", "iys_retailer_id"])
        Gate = self.env["iys.send.gate"]
        def records_of(ids):
            return {mail.id: (mail.model, mail.res_id) for mail in self.sudo().browse(ids)}

        queued = Gate._iys_queued_commercial_by_brand("mail_mail", self.ids, records_of)
        chunks = [
            (brand, dealer, chunk)
            for (brand, dealer), mail_ids in queued.items()
            for chunk in split_every(GATE_CHUNK, mail_ids, list)
        ]
        for index, (brand, dealer, mail_ids) in enumerate(chunks):
            if index:
                # a big queue is checked chunk by chunk: what one chunk read leaves the cache
                self.env.invalidate_all()
            self._iys_gate_before_send_chunk(brand, dealer, mail_ids)

    def _iys_gate_before_send_chunk(self, brand, dealer, mail_ids):
        """Cancel the mails among ``mail_ids`` (one brand and dealer) the gate now blocks."""
        Gate = self.env["iys.send.gate"]
        mails = self.sudo().browse(mail_ids)
        mails.fetch(["email_to", "recipient_ids", "model", "res_id"])
        targets = Gate._iys_mail_targets(
            (mail.id, mail.model, mail.res_id, mail.email_to, mail.recipient_ids.ids) for mail in mails
        )
        blocked = Gate._iys_decide(brand, EPOSTA, targets, dealer=dealer)
        Gate._iys_log_blocked("queued e-mail", EPOSTA, blocked, targets)
        labels = Gate._iys_reason_labels()
        for reason, ids in Gate._iys_group_by_reason(blocked).items():
            failure_type = FAILURE_TYPES[EPOSTA][reason]
            blocked_mails = mails.browse(ids)
            # what stays in the queue and the record's chatter says it was not sent, and why
            note = Gate._iys_not_sent_note(labels[reason])
            blocked_mails.write({"state": "cancel", "failure_type": failure_type, "body_html": note, "body": note})
            blocked_mails.mailing_trace_ids.write({"trace_status": "cancel", "failure_type": failure_type})

    def _prepare_outgoing_list(self, mail_server=False, recipients_follower_status=None, *args, **kwargs):
        """Every commercial e-mail of a mailing carries the person's own self-service link: the
        placeholder ``<base url>/iys/preferences`` (as mass_mailing's ``/unsubscribe_from_list``) is
        replaced by it, or, without placeholder, a footer line with it is added."""
        email_list = super()._prepare_outgoing_list(mail_server, recipients_follower_status, *args, **kwargs)
        if not self.res_id or not self.mailing_id or not self.mailing_id._iys_is_commercial():
            return email_list
        base_url = self.mailing_id.get_base_url()
        placeholder = f"{base_url}/iys/preferences"
        Request = self.env["iys.consent.request"].sudo()
        company = self.mailing_id._iys_gate_brand().company_id or self.env.company
        for email_values in email_list:
            if not email_values.get("email_to") or tools.is_html_empty(email_values.get("body")):
                continue
            email = tools.email_normalize(email_values["email_to"][0], strict=False)
            if not email:
                continue
            partner = self.env["res.partner"]
            if self.model == "res.partner":
                partner = partner.sudo().browse(self.res_id).exists()
                if partner.email_normalized != email:
                    partner = self.env["res.partner"]
            url = Request._iys_preferences_url(company, partner=partner or None, channel="EPOSTA", address=email)
            body = email_values["body"]
            if f'{placeholder}"' in body or f"{placeholder}'" in body:
                body = body.replace(f'{placeholder}"', f'{url}"').replace(f"{placeholder}'", f"{url}'")
            else:
                footer = Markup(
                    '<p class="o_iys_preferences_link" style="font-size: 12px; color: #777; text-align: center;">'
                    '<a href="%s" style="color: #777;">%s</a></p>'
                ) % (url, self.env._("Manage your communication preferences"))
                body = tools.mail.append_content_to_html(body, footer, plaintext=False)
            email_values["body"] = body
        return email_list
