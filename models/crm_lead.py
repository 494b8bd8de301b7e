# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
from odoo import api, models


class CrmLead(models.Model):
    _name = "crm.lead"
    _inherit = ["crm.lead", "iys.consent.mixin"]

    @api.depends("partner_id.iys_recipient_type")
    def _compute_iys_recipient_type(self):
        return super()._compute_iys_recipient_type()

    def _iys_default_recipient_type(self):
        self.ensure_one()
        return self.partner_id.iys_recipient_type or "BIREYSEL"
