# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
from odoo import api, models

from ..models.iys_send_gate import EPOSTA, FAILURE_TYPES


def _linked_ids(commands):
    """Record ids linked by x2many commands (link and set), as the composer writes them."""
    ids = []
    for command in commands or ():
        if not isinstance(command, (list, tuple)) or not command:
            continue
        if command[0] == 4 and command[1]:
            ids.append(command[1])
        elif command[0] == 6 and len(command) > 2:
            ids.extend(command[2] or ())
    return ids


class MailComposeMessage(models.TransientModel):
    _name = "mail.compose.message"
    _inherit = ["mail.compose.message", "iys.gate.composer.mixin"]

    # ------------------------------------------------------------------------------------------
    # Send gate
    # ------------------------------------------------------------------------------------------
    @api.depends("composition_mode", "model", "mass_mailing_id", "mass_mailing_name")
    def _compute_iys_gate_applies(self):
        for composer in self:
            composer.iys_gate_applies = composer.composition_mode == "mass_mail" and (
                bool(composer.mass_mailing_id or composer.mass_mailing_name)
                or self.env["iys.send.gate"]._iys_is_mixin_model(composer.model)
            )

    def _iys_is_commercial(self, res_ids=None):
        """Which mass e-mails the gate checks, unless a manager declared them transactional (on the
        mailing or here): every mailing, whatever its model, and mass e-mails without mailing to
        the records whose consent the addon tracks (partners, leads, mailing contacts). Mass
        e-mails Odoo sends about business documents (event reminders, several quotations at once,
        applicant answers …) are transactional by nature and left alone.

        A transactional mailing exempts only what its manager approved: this composer must carry
        the mailing's own subject, body and attachments, no template or extra recipients, and
        ``res_ids`` (the records of the batch) must be among the mailing's recipients. Quoting the
        mailing's id with other content or other records gets the consent check."""
        self.ensure_one()
        if self.iys_transactional:
            return False
        if self.mass_mailing_id:
            mailing = self.mass_mailing_id.sudo()
            if mailing._iys_is_commercial():
                return True
            return not self._iys_is_mailing_content(mailing, res_ids)
        return self.iys_gate_applies

    def _iys_is_mailing_content(self, mailing, res_ids):
        """Whether this composer sends ``mailing``'s own content to some of its recipients."""
        self.ensure_one()
        if self.model != mailing.mailing_model_real or self.template_id or self.partner_ids:
            return False
        if not self.use_exclusion_list:
            return False  # the mailing's own sending checks Odoo's exclusion list (blacklist, opt-outs)
        # the body as mass_mailing hands it to the composer, stored the way the composer stores it
        body = self._fields["body"].convert_to_cache(
            mailing._prepend_preview(mailing.body_html or "", mailing.preview), self
        )
        if (self.subject or False) != (mailing.subject or False) or (self.body or "") != (body or ""):
            return False
        if set(self.attachment_ids.ids) != set(mailing.attachment_ids.ids):
            return False
        res_ids = set(res_ids if res_ids is not None else self._evaluate_res_ids())
        return res_ids <= mailing._iys_approved_recipients(self.model, res_ids)

    def _iys_gate_brand(self):
        self.ensure_one()
        if self.mass_mailing_id:
            return self.mass_mailing_id._iys_gate_brand()
        return self.iys_brand_id or self.env["iys.send.gate"]._iys_default_brand()

    def _iys_gate_dealer(self):
        self.ensure_one()
        return self._iys_composer_dealer(self.mass_mailing_id)

    def _process_mail_values_state(self, mail_values_dict, *args, **kwargs):
        if self.composition_mode != "mass_mail" or not self._iys_is_commercial(list(mail_values_dict)):
            return super()._process_mail_values_state(mail_values_dict, *args, **kwargs)
        Gate = self.env["iys.send.gate"]
        targets = Gate._iys_mail_targets(
            (res_id, self.model, res_id, values.get("email_to"), _linked_ids(values.get("recipient_ids")))
            for res_id, values in mail_values_dict.items()
            if values.get("state") != "cancel"
        )
        blocked = Gate._iys_decide(self._iys_gate_brand(), EPOSTA, targets, dealer=self._iys_gate_dealer())
        # Odoo keeps the first e-mail of an address and cancels the next ones as duplicates: the
        # records the gate allows go first, so that when one address belongs to a merchant
        # (allowed) and to an individual (blocked), the merchant gets the one message.
        ordered = {res_id: values for res_id, values in mail_values_dict.items() if res_id not in blocked}
        ordered.update((res_id, mail_values_dict[res_id]) for res_id in blocked)
        processed = super()._process_mail_values_state(ordered, *args, **kwargs)
        result = {res_id: processed[res_id] for res_id in mail_values_dict}
        self._iys_gate_mail_values(result, blocked, targets)
        return result

    def _iys_gate_mail_values(self, mail_values_dict, blocked, targets):
        """Cancel, with the İYS reason, the e-mails of this batch that lack the consent the law
        requires (``blocked``: ``{res_id: reason}`` from the gate).

        Every record is checked, whatever number of addresses it has; e-mails Odoo cancelled for
        a reason of its own (blacklist, opt-out, no address) keep it, a duplicate of an address
        gets the İYS reason. The body becomes a note saying the message was not sent and why: the
        cancelled mail stays attached to the record, and what it shows must not look sent.
        """
        Gate = self.env["iys.send.gate"]
        labels = Gate._iys_reason_labels()
        for res_id, reason in blocked.items():
            values = mail_values_dict[res_id]
            if values.get("state") == "cancel" and values.get("failure_type") != "mail_dup":
                continue
            note = Gate._iys_not_sent_note(labels[reason])
            values.update({
                "state": "cancel",
                "failure_type": FAILURE_TYPES[EPOSTA][reason],
                # as for blacklisted addresses: nothing was sent, nothing to log in the chatter
                "is_notification": False,
                "body": note,
                "body_html": note,
                "attachment_ids": [],
            })
        Gate._iys_log_blocked("e-mail", EPOSTA, blocked, targets)
        return blocked

    def _prepare_mailing_values(self, *args, **kwargs):
        # "Send email" with a mailing name creates a mailing: it keeps the brand and the class.
        values = super()._prepare_mailing_values(*args, **kwargs)
        values["iys_brand_id"] = self._iys_gate_brand().id
        if self.iys_retailer_id:
            values["iys_retailer_id"] = self.iys_retailer_id.id
        if self.iys_transactional:
            values["iys_message_class"] = "transactional"
        return values

    def _action_send_mail(self, auto_commit=False, *args, **kwargs):
        composer = self
        if any(wizard.iys_transactional and wizard.mass_mailing_name and not wizard.mass_mailing_id for wizard in self):
            # the mailing created for the name records why it skips the consent check
            composer = self.with_context(
                iys_transactional_reason=self.env._("sent as transactional from the e-mail composer")
            )
        return super(MailComposeMessage, composer)._action_send_mail(auto_commit, *args, **kwargs)
