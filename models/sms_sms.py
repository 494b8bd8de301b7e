# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
from collections import defaultdict

from odoo import fields, models
from odoo.tools import SQL

from .iys_send_gate import FAILURE_TYPES, MESAJ, SMS_FAILURE_SELECTION


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
        """Re-check consent for the outgoing SMS of commercial mailings; cancel those now blocked
        (SMS and trace, through Odoo's own tracker update), in one ledger query per brand."""
        if not self.ids:
            return
        self.flush_recordset(["state", "mailing_id"])
        self.env["mailing.mailing"].flush_model(["iys_message_class", "iys_brand_id"])
        self.env.cr.execute(
            SQL(
                """SELECT sms.id, mailing.iys_brand_id
                     FROM sms_sms sms
                     JOIN mailing_mailing mailing ON mailing.id = sms.mailing_id
                    WHERE sms.id = ANY(%s) AND sms.state = 'outgoing'
                      AND mailing.iys_message_class IS DISTINCT FROM 'transactional'""",
                list(self.ids),
            )
        )
        rows = self.env.cr.fetchall()
        if not rows:
            return
        Gate = self.env["iys.send.gate"]
        by_brand = defaultdict(list)
        for sms_id, brand_id in rows:
            by_brand[brand_id].append(sms_id)
        for brand_id, sms_ids in by_brand.items():
            brand = self.env["iys.brand"].sudo().browse(brand_id) if brand_id else Gate._iys_default_brand()
            smss = self.sudo().browse(sms_ids)
            smss.fetch(["number", "partner_id", "mailing_trace_ids"])
            entries = []
            for sms in smss:
                trace = sms.mailing_trace_ids[:1]
                entries.append((sms.id, trace.model, trace.res_id, sms.number, sms.partner_id.id))
            targets = Gate._iys_sms_targets(entries)
            blocked = Gate._iys_decide(brand, MESAJ, targets)
            Gate._iys_log_blocked("queued SMS", MESAJ, blocked, targets)
            by_reason = defaultdict(list)
            for sms_id, reason in blocked.items():
                by_reason[reason].append(sms_id)
            for reason, ids in by_reason.items():
                smss.browse(ids)._update_sms_state_and_trackers("canceled", failure_type=FAILURE_TYPES[MESAJ][reason])
