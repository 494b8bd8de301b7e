# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
from odoo import fields, models


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    iys_account_id = fields.Many2one(related="company_id.iys_account_id")
    iys_default_brand_id = fields.Many2one(related="company_id.iys_default_brand_id")
    iys_pending_policy = fields.Selection(related="company_id.iys_pending_policy", readonly=False)
