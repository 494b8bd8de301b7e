# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
from odoo import fields, models

from .iys_selections import CHANNEL_SELECTION, RECIPIENT_TYPE_SELECTION

#: what a status query did with an address where Odoo and İYS disagree
OUTCOME_SELECTION = [
    ("difference", "Difference reported"),
    ("applied", "Applied from İYS"),
    ("checked", "Looked up, left unchanged"),
    ("error", "Not asked: İYS error"),
]


class IysQueryRunLine(models.Model):
    """One address of a background status query where Odoo and İYS disagree, or that İYS refused
    to answer for (addresses that agree are only counted on the run). Written by the run only."""

    _name = "iys.query.run.line"
    _description = "İYS status query: result"
    _order = "run_id desc, id"
    _rec_name = "address"

    run_id = fields.Many2one("iys.query.run", string="Status query", required=True, ondelete="cascade",
                             index=True, readonly=True)
    company_id = fields.Many2one(related="run_id.company_id", store=True, index=True)
    address = fields.Char(required=True, readonly=True)
    brand_id = fields.Many2one("iys.brand", required=True, ondelete="cascade", readonly=True)
    channel = fields.Selection(CHANNEL_SELECTION, required=True, readonly=True)
    recipient_type = fields.Selection(RECIPIENT_TYPE_SELECTION, required=True, readonly=True)
    odoo_status = fields.Char("Odoo", readonly=True, help="What the consent ledger held when İYS was asked.")
    iys_status = fields.Char("İYS", readonly=True, help="What İYS's multiple status query answered.")
    note = fields.Char("What was done", readonly=True)
    outcome = fields.Selection(OUTCOME_SELECTION, required=True, readonly=True, index=True)
    consent_id = fields.Many2one("iys.consent", ondelete="set null", readonly=True)
