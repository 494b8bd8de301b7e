# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
"""Towns (ilçe) as İYS codes them (``GET /info/town``), cached for the dealers' addresses."""
from odoo import fields, models


class IysTown(models.Model):
    """A town with İYS's code and its city; filled from İYS's info services."""

    _name = "iys.town"
    _description = "İYS Town"
    _order = "name, id"

    name = fields.Char(required=True, readonly=True)
    code = fields.Char(required=True, readonly=True, index=True, help="İYS's town code.")
    city_id = fields.Many2one("iys.city", readonly=True, index=True, ondelete="cascade")

    _sql_constraints = [("code_uniq", "unique(code)", "A town code may appear only once.")]
