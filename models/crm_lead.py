# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
from odoo import api, models


class CrmLead(models.Model):
    _name = "crm.lead"
    _inherit = ["crm.lead", "iys.consent.mixin"]
    # its type follows a contact whose own type is guarded
    _iys_guard_derived_recipient_type = False

    @api.depends("partner_id.iys_recipient_type", "iys_recipient_type_manual")
    def _compute_iys_recipient_type(self):
        return super()._compute_iys_recipient_type()

    def _iys_default_recipient_type(self):
        self.ensure_one()
        return self.partner_id.iys_recipient_type or "BIREYSEL"

    def _iys_default_recipient_type_reason(self):
        self.ensure_one()
        if self.partner_id:
            return self.env._("Same as its contact %(contact)s.", contact=self.partner_id.display_name)
        return super()._iys_default_recipient_type_reason()
