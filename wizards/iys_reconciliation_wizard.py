# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
import datetime

from odoo import api, fields, models
from odoo.exceptions import UserError

from ..models.iys_reconciliation import turkish_today


class IysReconciliationWizard(models.TransientModel):
    """Reconcile one brand's day with İYS now (any of the last 7 days)."""

    _name = "iys.reconciliation.wizard"
    _description = "İYS: reconcile a day now"

    brand_id = fields.Many2one("iys.brand", required=True, domain=[("account_id.active", "=", True)],
                               default=lambda self: self._default_brand())
    report_date = fields.Date(
        "Day", required=True, default=lambda self: turkish_today() - datetime.timedelta(days=1),
        help="A calendar day in Turkey, at most 7 days ago and before today: İYS publishes a day's file "
        "once the day is over and keeps it 7 days.",
    )

    @api.model
    def _default_brand(self):
        return self.env.company.sudo().iys_default_brand_id

    def action_reconcile(self):
        self.ensure_one()
        Reconciliation = self.env["iys.reconciliation"]
        Reconciliation._iys_check_manager()
        self.brand_id.check_access("read")
        # before anything is asked of İYS: a clear message for a day İYS cannot serve
        Reconciliation._iys_check_day(self.report_date)
        rec = Reconciliation._iys_ensure_days(self.brand_id, [self.report_date])
        if rec.state not in ("confirmed", "accepted", "empty"):
            rec.action_iys_reconcile()
        return self._open(rec)

    def _open(self, rec):
        if not rec:
            raise UserError(self.env._("No reconciliation could be created for this day."))
        return {
            "type": "ir.actions.act_window",
            "res_model": "iys.reconciliation",
            "res_id": rec.id,
            "views": [[False, "form"]],
            "target": "current",
        }
