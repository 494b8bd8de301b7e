# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
from odoo import fields, models
from odoo.tools import SQL, create_index

from ..models.iys_selections import CHANNEL_SELECTION

#: the key a phone number typed on a contact is found by (see iys.consent.import._iys_match_partners)
PHONE_KEY_SQL = "right(regexp_replace(%s, '[^0-9]', '', 'g'), 7)"


class IysConsentImportLine(models.Model):
    """One row of a consent file, read and normalised: the import's working table.

    The file is read once, in chunks, into these rows; the dry run and the import then walk them
    in address order (address, then channel, recipient type, consent date and row), so that
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
    consent_text_id = fields.Many2one("iys.consent.text", string="Consent text shown", readonly=True,
                                      ondelete="set null")
    error_code = fields.Char(readonly=True)
    error_message = fields.Text(readonly=True)
    values = fields.Char(compute="_compute_values", help="The row's cells, as in the file.")

    _sql_constraints = [
        # a resumed import never reads a row twice
        ("import_row_uniq", "unique(import_id, row_no)", "A row of the file is read only once per import."),
    ]

    def _compute_values(self):
        for line in self:
            line.values = " | ".join((line.raw or "").split("\x1f"))

    def init(self):
        res = super().init()
        # The walk in address order (the error report reads in row order, by the unique constraint).
        # Address first: every row of one address, whatever its channel, is in the same part of the
        # walk (see iys.consent.import.part), so two workers never match or create the same contact.
        # the former walk index (channel first)
        self.env.cr.execute(SQL("DROP INDEX IF EXISTS iys_consent_import_line_walk_idx"))
        create_index(
            self.env.cr, "iys_consent_import_line_address_walk_idx", self._table,
            ["import_id", "address", "channel", "recipient_type", "consent_date NULLS FIRST", "row_no"],
            where="address IS NOT NULL",
        )
        # The import matches contacts by their normalised e-mail and phone: index them.
        for column in ("email_normalized", "phone_sanitized"):
            self.env.cr.execute(SQL(
                "CREATE INDEX IF NOT EXISTS %s ON res_partner (%s) WHERE %s IS NOT NULL",
                SQL.identifier(f"res_partner_iys_{column}_idx"), SQL.identifier(column), SQL.identifier(column),
            ))
        # ... and by the numbers typed in Phone and Mobile, which Odoo does not normalise (only the
        # first of them is, in phone_sanitized): found by their last seven digits, then normalised.
        # (Not partial: with "WHERE phone IS NOT NULL", the planner may prefer Odoo's partial trigram
        # index on phone, scanned whole, when few contacts have a phone.)
        for column in ("phone", "mobile"):
            self.env.cr.execute(SQL(
                "CREATE INDEX IF NOT EXISTS %s ON res_partner ((%s))",
                SQL.identifier(f"res_partner_iys_{column}_key_idx"), SQL(PHONE_KEY_SQL, SQL.identifier(column)),
            ))
        return res


class IysConsentImportPart(models.Model):
    """One range of addresses of an import's walk, worked on by one worker at a time.

    When the dry run or the import starts, its rows are split into consecutive address ranges of
    about the same number of rows (``l10n_tr_iys.import_parts``, 4 by default). Every background
    worker (each active scheduled action running the imports) locks a free range
    (``FOR NO KEY UPDATE SKIP LOCKED``), walks one chunk of it, and commits the chunk with the
    range's resume point and counts, so several workers import one file at once without ever
    touching the same address or count, nor matching or creating the same contact (every row of
    one address is in one range), and a crash resumes every range where it stopped. The import's
    counts are the sums of its ranges'.
    """

    _name = "iys.consent.import.part"
    _description = "İYS Consent Import Range"
    _log_access = False
    _order = "import_id, sequence"

    import_id = fields.Many2one("iys.consent.import", required=True, ondelete="cascade", index=True, readonly=True)
    sequence = fields.Integer(required=True, readonly=True)
    start_key = fields.Char("After address", readonly=True,
                            help="The range holds the addresses after this one; none: from the start.")
    resume_key = fields.Char("Resume after", readonly=True,
                             help="Last address walked; none: the range's start is the file's.")
    end_key = fields.Char("Last address", readonly=True,
                          help="Last address of the range; none: to the end of the file.")
    done = fields.Boolean("Walked", readonly=True)
    count_walked = fields.Integer("Rows walked", readonly=True)
    count_valid = fields.Integer("Valid", readonly=True)
    count_invalid = fields.Integer("Invalid", readonly=True)
    count_unchanged = fields.Integer("Unchanged", readonly=True)
    count_duplicate = fields.Integer("Duplicates in the file", readonly=True)
    count_multi = fields.Integer("Rows sharing an address", readonly=True)
    count_local_only = fields.Integer("Kept here, not sent", readonly=True)
    count_partner_matched = fields.Integer("Contacts matched", readonly=True)
    count_partner_created = fields.Integer("Contacts created", readonly=True)
    count_partner_shared = fields.Integer("Addresses on several contacts", readonly=True)
