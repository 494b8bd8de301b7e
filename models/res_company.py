# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
from odoo import api, fields, models


class ResCompany(models.Model):
    _inherit = "res.company"

    iys_account_id = fields.Many2one(
        "iys.account",
        string="İYS account",
        compute="_compute_iys_account_id",
        help="The first active İYS account of the company.",
    )
    iys_default_brand_id = fields.Many2one(
        "iys.brand",
        string="Default İYS brand",
        compute="_compute_iys_account_id",
    )
    iys_pending_policy = fields.Selection(
        [
            ("block", "Block until İYS confirms"),
            ("allow", "Allow once recorded locally"),
        ],
        string="Unconfirmed consents",
        default="block",
        required=True,
        help="What the send gate does with an individual's ONAY that is recorded in Odoo but not yet "
        "confirmed by İYS. İYS is the legal reference: until İYS has the consent, intermediaries "
        "(SMS and e-mail operators) may refuse the message and the sender carries the risk.",
    )

    @api.depends_context("uid")
    def _compute_iys_account_id(self):
        accounts = self.env["iys.account"].sudo().search([("company_id", "in", self.ids)], order="sequence, id")
        for company in self:
            account = accounts.filtered(lambda a, company=company: a.company_id == company)[:1]
            company.iys_account_id = account
            company.iys_default_brand_id = account.default_brand_id
