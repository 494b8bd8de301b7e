# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
from odoo import fields, models


class IysReconciliationAccept(models.TransientModel):
    """An İYS manager accepts a day's differences with a reason; the agreement is then recorded."""

    _name = "iys.reconciliation.accept"
    _description = "İYS: accept the differences of a reconciliation"

    reconciliation_id = fields.Many2one("iys.reconciliation", required=True, ondelete="cascade")
    unexplained_count = fields.Integer(related="reconciliation_id.unexplained_count")
    reason = fields.Text(required=True, help="Why the differences may be accepted; kept on the record and in "
                         "its history as evidence.")

    def action_accept(self):
        self.ensure_one()
        self.reconciliation_id._iys_accept(self.reason)
        return {"type": "ir.actions.act_window_close"}
