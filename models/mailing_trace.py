# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
from odoo import fields, models

from .iys_send_gate import ALL_FAILURE_TYPES, MAIL_FAILURE_SELECTION, SMS_FAILURE_SELECTION

#: what says whether and how a message left; an İYS cancellation keeps it
STATUS_FIELDS = ("trace_status", "failure_type", "sent_datetime")


class MailingTrace(models.Model):
    _inherit = "mailing.trace"

    # A trace records mail and SMS alike, so it carries the İYS reasons of both channels.
    failure_type = fields.Selection(
        selection_add=MAIL_FAILURE_SELECTION + SMS_FAILURE_SELECTION,
        ondelete={code: "set null" for code, _label in MAIL_FAILURE_SELECTION + SMS_FAILURE_SELECTION},
    )

    def write(self, vals):
        # A trace the send gate cancelled records a message that never left, and why: what happens
        # to the other traces of the mailing (a mail server failure, a retry, a provider's report)
        # does not change it. Only the gate itself may give it another İYS reason.
        if not any(fname in vals for fname in STATUS_FIELDS) or vals.get("failure_type") in ALL_FAILURE_TYPES:
            return super().write(vals)
        kept = self.filtered(lambda t: t.trace_status == "cancel" and t.failure_type in ALL_FAILURE_TYPES)
        if not kept:
            return super().write(vals)
        super(MailingTrace, self - kept).write(vals)
        rest = {fname: value for fname, value in vals.items() if fname not in STATUS_FIELDS}
        if rest:
            super(MailingTrace, kept).write(rest)
        return True
