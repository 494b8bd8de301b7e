# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
from odoo import fields, models

from .iys_selections import CHANNEL_SELECTION, RECIPIENT_TYPE_SELECTION, STATUS_SELECTION

KIND_SELECTION = [
    ("iys_only", "On İYS, not in Odoo"),
    ("odoo_only", "Confirmed in Odoo, not on İYS"),
    ("status", "Different status"),
    ("date", "Different date"),
    ("recipient", "Different address, channel or type"),
    ("invalid", "Unreadable row in İYS's file"),
]
RESOLUTION_SELECTION = [
    ("applied", "Applied from İYS"),
    ("superseded", "Older than the movement on record"),
    ("awaiting", "Our own movement, İYS's answer not fetched yet"),
]


class IysReconciliationLine(models.Model):
    """One difference between İYS's daily movement file and the consent ledger.

    Written by the reconciliation only (in bulk, by SQL); nobody edits or deletes a line: the
    access rights grant read only. A line is *explained* when the reconciliation applied İYS's
    movement to the ledger (as the pull would), or when İYS's movement is older than the one on
    record (the pull ignores it too); every other line needs a manager's acceptance."""

    _name = "iys.reconciliation.line"
    _description = "İYS Reconciliation Difference"
    _order = "reconciliation_id, kind, iys_creation_date, id"
    _rec_name = "address"

    reconciliation_id = fields.Many2one("iys.reconciliation", required=True, ondelete="cascade", index=True,
                                        readonly=True)
    brand_id = fields.Many2one("iys.brand", readonly=True)
    company_id = fields.Many2one("res.company", readonly=True, index=True)
    kind = fields.Selection(KIND_SELECTION, required=True, readonly=True, index=True)
    address = fields.Char(readonly=True)
    channel = fields.Selection(CHANNEL_SELECTION, readonly=True)
    recipient_type = fields.Selection(RECIPIENT_TYPE_SELECTION, readonly=True)
    transaction_id = fields.Char("İYS transaction", readonly=True)
    iys_status = fields.Char("Status on İYS", readonly=True)
    iys_consent_date = fields.Datetime("Consent date on İYS", readonly=True)
    iys_creation_date = fields.Datetime("Recorded by İYS on", readonly=True)
    iys_source = fields.Char("Source on İYS", readonly=True)
    iys_row = fields.Text("Row of İYS's file", readonly=True)
    odoo_status = fields.Selection(STATUS_SELECTION, string="Status in Odoo", readonly=True)
    odoo_consent_date = fields.Datetime("Consent date in Odoo", readonly=True)
    odoo_creation_date = fields.Datetime("Recorded by İYS on (Odoo)", readonly=True)
    consent_id = fields.Many2one("iys.consent", readonly=True)
    event_id = fields.Many2one("iys.consent.event", readonly=True)
    note = fields.Char(readonly=True, help="Odoo's address / channel / type when they differ, or why a movement "
                       "from İYS was not applied.")
    resolution = fields.Selection(RESOLUTION_SELECTION, readonly=True)
    explained = fields.Boolean(readonly=True, index=True,
                               help="Applied from İYS, or older than the movement on record: needs no acceptance.")
