# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
from odoo import api, models


class ResPartner(models.Model):
    _name = "res.partner"
    _inherit = ["res.partner", "iys.consent.mixin"]

    @api.depends("is_company", "parent_id.is_company")
    def _compute_iys_recipient_type(self):
        return super()._compute_iys_recipient_type()

    def _iys_default_recipient_type(self):
        # A company, or a contact person at a company's business address, is a merchant (TACIR).
        self.ensure_one()
        return "TACIR" if (self.is_company or self.parent_id.is_company) else "BIREYSEL"
