# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
from odoo import api, models
from odoo.exceptions import ValidationError
from odoo.tools import split_every

from ..models.iys_send_gate import FAILURE_REASONS, FAILURE_TYPES, MESAJ

#: SMS resolved and decided at once by the mass SMS composer's gate
SMS_DECIDE_CHUNK = 10000


class SmsComposer(models.TransientModel):
    _name = "sms.composer"
    _inherit = ["sms.composer", "iys.gate.composer.mixin"]

    # ------------------------------------------------------------------------------------------
    # Send gate
    # ------------------------------------------------------------------------------------------
    @api.depends("composition_mode", "res_model", "mailing_id")
    def _compute_iys_gate_applies(self):
        for composer in self:
            composer.iys_gate_applies = composer.composition_mode == "mass" and (
                bool(composer.mailing_id) or self.env["iys.send.gate"]._iys_is_mixin_model(composer.res_model)
            )

    def _iys_is_commercial(self, records=None):
        """Which mass SMS the gate checks, unless a manager declared them transactional (on the
        mailing or here): every SMS mailing, and mass SMS without mailing to the records whose
        consent the addon tracks (partners, leads, mailing contacts). Mass SMS Odoo sends about
        business documents (event reminders …) are transactional by nature and left alone.

        A transactional mailing exempts only what its manager approved: this composer must carry
        the mailing's own text, and ``records`` must be among the mailing's recipients."""
        self.ensure_one()
        if self.iys_transactional:
            return False
        if self.mailing_id:
            mailing = self.mailing_id.sudo()
            if mailing._iys_is_commercial():
                return True
            return not self._iys_is_mailing_content(mailing, records)
        return self.iys_gate_applies

    def _iys_is_mailing_content(self, mailing, records):
        """Whether this composer sends ``mailing``'s own text to some of its recipients."""
        self.ensure_one()
        if self.res_model != mailing.mailing_model_real or (self.body or "") != (mailing.body_plaintext or ""):
            return False
        res_ids = set((records if records is not None else self._get_records()).ids)
        return res_ids <= mailing._iys_approved_recipients(self.res_model, res_ids)

    def _iys_gate_brand(self):
        self.ensure_one()
        if self.mailing_id:
            return self.mailing_id._iys_gate_brand()
        return self.iys_brand_id or self.env["iys.send.gate"]._iys_default_brand()

    def _iys_gate_dealer(self):
        self.ensure_one()
        return self._iys_composer_dealer(self.mailing_id)

    def _get_done_record_ids(self, records, recipients_info, *args, **kwargs):
        # Odoo keeps the first SMS of a number and cancels the next ones as duplicates: the records
        # the gate allows go first, so that when one number belongs to a merchant (allowed) and to
        # an individual (blocked), the merchant gets the one SMS.
        if self.composition_mode == "mass" and self._iys_is_commercial(records):
            blocked = self._iys_decide_sms(records._name, {
                record.id: {"number": recipients_info[record.id]["sanitized"],
                            "partner_id": recipients_info[record.id]["partner"].id}
                for record in records
                if recipients_info[record.id]["sanitized"]
            })
            records = records.filtered(lambda r: r.id not in blocked) + records.filtered(lambda r: r.id in blocked)
        return super()._get_done_record_ids(records, recipients_info, *args, **kwargs)

    def _iys_decide_sms(self, model, values_by_id):
        """{res_id: reason} of the SMS the gate blocks."""
        return self._iys_decide_sms_chunks(
            (res_id, model, res_id, values.get("number"), values.get("partner_id"))
            for res_id, values in values_by_id.items()
        )[0]

    def _iys_decide_sms_chunks(self, entries):
        """``(blocked, targets of the blocked)`` for ``_iys_sms_targets`` entries. Odoo prepares the
        SMS of a whole mailing at once: the gate resolves and decides them by chunks of
        ``SMS_DECIDE_CHUNK``, so that what it builds on top of Odoo's own values does not grow with
        the mailing (a chunk decides as the whole would: each SMS is decided on its own number)."""
        Gate = self.env["iys.send.gate"]
        brand, dealer = self._iys_gate_brand(), self._iys_gate_dealer()
        blocked, blocked_targets = {}, {}
        for chunk in split_every(SMS_DECIDE_CHUNK, entries, list):
            targets = Gate._iys_sms_targets(chunk)
            decided = Gate._iys_decide(brand, MESAJ, targets, dealer=dealer)
            blocked.update(decided)
            blocked_targets.update((key, targets[key]) for key in decided)
        return blocked, blocked_targets

    def _prepare_log_body_values(self, sms_records_values, *args, **kwargs):
        # the note kept in the chatter ("keep archives") of an SMS the gate blocked says so
        bodies = super()._prepare_log_body_values(sms_records_values, *args, **kwargs)
        Gate = self.env["iys.send.gate"]
        labels = Gate._iys_reason_labels()
        for res_id, values in sms_records_values.items():
            reason = FAILURE_REASONS.get(values.get("failure_type"))
            if values.get("state") == "canceled" and reason:
                bodies[res_id] = Gate._iys_not_sent_note(labels[reason])
        return bodies

    def _prepare_mass_sms_values(self, records, *args, **kwargs):
        result = super()._prepare_mass_sms_values(records, *args, **kwargs)
        if self.composition_mode == "mass" and self._iys_is_commercial(records):
            self._iys_gate_sms_values(records, result)
        return result

    def _iys_gate_sms_values(self, records, sms_values_all):
        """Cancel, with the İYS reason, the outgoing SMS lacking the consent the law requires, and
        the trace values mass_mailing_sms already nested in them. One ledger query, keyed by the
        sanitized number."""
        Gate = self.env["iys.send.gate"]
        # outgoing SMS, and duplicates of a number: those get the İYS reason when the gate blocks them
        blocked, targets = self._iys_decide_sms_chunks(
            (res_id, records._name, res_id, values.get("number"), values.get("partner_id"))
            for res_id, values in sms_values_all.items()
            if values.get("state") == "outgoing" or values.get("failure_type") == "sms_duplicate"
        )
        for res_id, reason in blocked.items():
            failure_type = FAILURE_TYPES[MESAJ][reason]
            values = sms_values_all[res_id]
            values.update({"state": "canceled", "failure_type": failure_type})
            for command in values.get("mailing_trace_ids") or ():
                if len(command) > 2 and isinstance(command[2], dict):
                    command[2].update({"trace_status": "cancel", "failure_type": failure_type})
        Gate._iys_log_blocked("SMS", MESAJ, blocked, targets)
        return blocked

    def _prepare_mass_sms_trace_values(self, record, sms_values, *args, **kwargs):
        # Every commercial SMS of a mailing that goes out carries the person's own self-service
        # link, after Odoo's STOP link (as mass_mailing_sms adds it).
        trace_values = super()._prepare_mass_sms_trace_values(record, sms_values, *args, **kwargs)
        if sms_values.get("state") == "outgoing" and self.mailing_id and self._iys_is_commercial(record):
            url = self._iys_preferences_url(record, sms_values.get("number"))
            if url:
                sms_values["body"] = "%s\n%s" % (
                    sms_values.get("body") or "", self.env._("Preferences: %(url)s", url=url))
        return trace_values

    def _iys_preferences_url(self, record, number):
        """The self-service link for an SMS to *number* about *record* (the contact's own page when
        the record is the contact with this number), or None for a number İYS cannot use."""
        Request = self.env["iys.consent.request"].sudo()
        try:
            address = self.env["iys.consent"]._iys_normalize("MESAJ", number)
        except ValidationError:
            return None
        partner = record if record._name == "res.partner" and address in (
            record._iys_addresses("MESAJ").get(record.id) or ()) else None
        company = self._iys_gate_brand().company_id or self.env.company
        return Request._iys_preferences_url(company, partner=partner, channel="MESAJ", address=address)
