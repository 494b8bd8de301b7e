# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
"""Dealers (bayi) of a brand, as İYS knows them (retailers).

Legal basis (Regulation on Commercial Communication and Commercial Electronic Messages, art. 7
and İYS's retailer services): a consent given to one party of an agency, authorised-dealer or
dealership contract also counts for the other party, within the goods, services or brand covered
by that contract. İYS registers a brand's dealers (8-digit ``retailerCode``); a consent can carry
the dealer that collected it (``retailerCode``) and the dealers that may use it
(``retailerAccess``).
"""
from odoo import fields, models

DEALER_STATUS_SELECTION = [
    ("active", "Active"),
    ("passive", "Passive"),
    ("suspended", "Suspended"),
]
DEALER_SYNC_SELECTION = [
    ("draft", "Not on İYS yet"),
    ("registered", "Registered on İYS"),
    ("deleted", "Deleted on İYS"),
    ("error", "Refused by İYS"),
]


class IysRetailer(models.Model):
    """A dealer (bayi) of a brand, registered on İYS."""

    _name = "iys.retailer"
    _description = "İYS Dealer"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "brand_id, name, id"

    name = fields.Char("Trade name", required=True, tracking=True, help="The dealer's trade name (title on İYS).")
    brand_id = fields.Many2one("iys.brand", required=True, ondelete="restrict", index=True, tracking=True)
    account_id = fields.Many2one(related="brand_id.account_id", store=True, index=True)
    company_id = fields.Many2one(related="brand_id.company_id", store=True, index=True)
    code = fields.Char(
        "Dealer code", copy=False, readonly=True, index="btree_not_null", tracking=True,
        help="The 8-digit code İYS gave the dealer (retailerCode).",
    )
    authorized_person = fields.Char("Authorised person", tracking=True,
                                    help="Name of the dealer's authorised person (name on İYS).")
    tckn = fields.Char("TCKN", help="Turkish identity number of the authorised person (11 digits).")
    tin = fields.Char("Tax number", help="VKN (10 digits) or, for a sole trader, TCKN (11 digits).")
    mersis = fields.Char("MERSİS number", help="Central registry number (16 characters), optional.")
    alias = fields.Char("Short name")
    city_code = fields.Char("City code", help="İYS's city code.")
    city_name = fields.Char("City")
    town_code = fields.Char("Town code", help="İYS's town code.")
    town_name = fields.Char("Town")
    mobile = fields.Char(help="Mobile number in international format (+905…).")
    status = fields.Selection(DEALER_STATUS_SELECTION, required=True, default="active", tracking=True)
    sync_state = fields.Selection(DEALER_SYNC_SELECTION, string="İYS state", required=True, default="draft",
                                  readonly=True, copy=False, tracking=True)
    iys_error = fields.Text("İYS error", readonly=True, copy=False)
    partner_id = fields.Many2one("res.partner", string="Dealer contact", ondelete="set null",
                                 help="The dealer's contact in Odoo.")
    dealer_company_id = fields.Many2one(
        "res.company", string="Dealer company", ondelete="set null",
        help="In a multi-company database, the company the dealer works in.",
    )
    user_ids = fields.Many2many(
        "res.users", "iys_retailer_res_users_rel", "retailer_id", "user_id", string="Dealer users",
        help="Users of this dealer: with the group İYS / Dealer they see only the consents this dealer "
        "may use, and send only on its behalf.",
    )
    active = fields.Boolean(default=True)

    _sql_constraints = [
        ("brand_code_uniq", "unique(brand_id, code)", "A dealer code may appear only once per brand."),
    ]
