# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
from odoo import api, fields, models


class IysConsentWizard(models.TransientModel):
    """The consent wizard records, for a consent a dealer collected, that dealer: İYS gets it in
    the consent's own body (retailerCode), and the dealer may use the consent."""

    _inherit = "iys.consent.wizard"

    retailer_id = fields.Many2one(
        "iys.retailer", string="Collected by dealer",
        domain="[('brand_id', '=', brand_id), ('sync_state', '=', 'registered'), ('status', '=', 'active')]",
        help="The dealer (bayi) that collected this consent: only registered, active dealers of the brand.",
    )

    @api.onchange("brand_id")
    def _onchange_brand_retailer(self):
        if self.retailer_id and self.retailer_id.brand_id != self.brand_id:
            self.retailer_id = False

    def _iys_movements(self):
        movements = super()._iys_movements()
        if self.retailer_id and self.mode == "consent":
            for mov in movements:
                mov["retailer_id"] = self.retailer_id.id
        return movements
