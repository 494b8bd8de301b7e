# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.

from odoo import fields, models
from odoo.tools import split_every

from .iys_send_gate import FAILURE_TYPES, GATE_CHUNK, MESAJ, SMS_FAILURE_SELECTION


class SmsSms(models.Model):
    _inherit = "sms.sms"

    failure_type = fields.Selection(
        selection_add=SMS_FAILURE_SELECTION,
        ondelete={code: "set null" for code, _label in SMS_FAILURE_SELECTION},
    )

    def send(self, unlink_failed=False, unlink_sent=True, auto_commit=False, raise_exception=False, *args, **kwargs):
        # Last check before the provider: a refusal recorded after the mailing was queued stops it.
        self._iys_gate_before_send()
        return super().send(unlink_failed, unlink_sent, auto_commit, raise_exception, *args, **kwargs)

    def _iys_gate_before_send(self):
        """Re-check consent for the outgoing SMS of commercial mailings (and of transactional ones
        whose approval no longer holds); cancel those now blocked
        (SMS and trace, through Odoo's own tracker update), in one ledger query per brand."""
        if not self.ids:
            return
        self.flush_recordset(["state", "mailing_id"])
        self.env["mailing.mailing"].flush_model(["iys_message_class", "iys_brand_id", "iys_retailer_id"])
        Gate = self.env["iys.send.gate"]
        def records_of(ids):
            return {
                sms.id: (sms.mailing_trace_ids[:1].model, sms.mailing_trace_ids[:1].res_id)
                for sms in self.sudo().browse(ids)
            }

        queued = Gate._iys_queued_commercial_by_brand("sms_sms", self.ids, records_of)
        chunks = [
            (brand, dealer, chunk)
            for (brand, dealer), sms_ids in queued.items()
            for chunk in split_every(GATE_CHUNK, sms_ids, list)
        ]
        for index, (brand, dealer, sms_ids) in enumerate(chunks):
            if index:
                # a big queue is checked chunk by chunk: what one chunk read leaves the cache
                self.env.invalidate_all()
            self._iys_gate_before_send_chunk(brand, dealer, sms_ids)

    def _iys_gate_before_send_chunk(self, brand, dealer, sms_ids):
        """Cancel the SMS among ``sms_ids`` (one brand and dealer) the gate now blocks."""
        Gate = self.env["iys.send.gate"]
        smss = self.sudo().browse(sms_ids)
        smss.fetch(["number", "partner_id", "mailing_trace_ids"])
        smss.mailing_trace_ids.fetch(["model", "res_id"])
        entries = []
        for sms in smss:
            trace = sms.mailing_trace_ids[:1]
            entries.append((sms.id, trace.model, trace.res_id, sms.number, sms.partner_id.id))
        targets = Gate._iys_sms_targets(entries)
        blocked = Gate._iys_decide(brand, MESAJ, targets, dealer=dealer)
        Gate._iys_log_blocked("queued SMS", MESAJ, blocked, targets)
        labels = Gate._iys_reason_labels()
        for reason, ids in Gate._iys_group_by_reason(blocked).items():
            blocked_smss = smss.browse(ids)
            blocked_smss._update_sms_state_and_trackers("canceled", failure_type=FAILURE_TYPES[MESAJ][reason])
            # the note kept in the chatter ("keep archives") says it was not sent, and why
            blocked_smss.mail_message_id.sudo().write({"body": Gate._iys_not_sent_note(labels[reason])})
