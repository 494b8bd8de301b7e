# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
from odoo import fields, models
from odoo.tools import SQL, create_index

from ..models.iys_selections import CHANNEL_SELECTION


class IysConsentImportLine(models.Model):
    """One row of a consent file, read and normalised: the import's working table.

    The file is read once, in chunks, into these rows; the dry run and the import then walk them
    in address order (``channel, recipient type, address``, then consent date and row), so that
    every row of one address is in the same chunk and applied in consent-date order, as İYS
    would, without ever holding the whole file in memory. Rows are written and read with SQL in
    bulk, and deleted when the import is done (its error report keeps what went wrong).
    """

    _name = "iys.consent.import.line"
    _description = "İYS Consent Import Row"
    _log_access = False
    _order = "row_no"

    import_id = fields.Many2one("iys.consent.import", required=True, ondelete="cascade", readonly=True)
    row_no = fields.Integer("Row", required=True, readonly=True)
    raw = fields.Text("Values as in the file", readonly=True, help="The row's cells, separated by U+001F.")
    channel = fields.Selection(CHANNEL_SELECTION, readonly=True)
    recipient_type = fields.Char(readonly=True)
    address = fields.Char(readonly=True)
    status = fields.Char(readonly=True)
    source = fields.Char(readonly=True)
    consent_date = fields.Datetime(readonly=True)
    retailer_code = fields.Char(readonly=True)
    transaction_id = fields.Char(readonly=True)
    creation_date = fields.Datetime(readonly=True)
    error_code = fields.Char(readonly=True)
    error_message = fields.Text(readonly=True)

    _sql_constraints = [
        # a resumed import never reads a row twice
        ("import_row_uniq", "unique(import_id, row_no)", "A row of the file is read only once per import."),
    ]

    def init(self):
        res = super().init()
        # The walk in address order (the error report reads in row order, by the unique constraint).
        create_index(
            self.env.cr, "iys_consent_import_line_walk_idx", self._table,
            ["import_id", "channel", "recipient_type", "address", "consent_date NULLS FIRST", "row_no"],
            where="address IS NOT NULL",
        )
        # The import matches contacts by their normalised e-mail and phone: index them.
        for column in ("email_normalized", "phone_sanitized"):
            self.env.cr.execute(SQL(
                "CREATE INDEX IF NOT EXISTS %s ON res_partner (%s) WHERE %s IS NOT NULL",
                SQL.identifier(f"res_partner_iys_{column}_idx"), SQL.identifier(column), SQL.identifier(column),
            ))
        return res
