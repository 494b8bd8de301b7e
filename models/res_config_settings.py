# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
from odoo import fields, models


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    iys_account_id = fields.Many2one(related="company_id.iys_account_id")
    iys_default_brand_id = fields.Many2one(related="company_id.iys_default_brand_id")
    iys_pending_policy = fields.Selection(related="company_id.iys_pending_policy", readonly=False)
    iys_recompute_status = fields.Char(related="company_id.iys_recompute_status")

    def action_iys_recompute_runs(self):
        """The background recomputes of contact states (their progress)."""
        return self.env["ir.actions.act_window"]._for_xml_id("l10n_tr_iys.action_iys_recompute_run")
