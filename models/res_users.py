# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
from odoo import fields, models


class ResUsers(models.Model):
    _inherit = "res.users"

    iys_retailer_ids = fields.Many2many(
        "iys.retailer", "iys_retailer_res_users_rel", "user_id", "retailer_id", string="İYS dealers",
        help="The dealers this user works for: with the group İYS / Dealer, the user sees only the consents "
        "these dealers may use and sends only on their behalf.",
    )
