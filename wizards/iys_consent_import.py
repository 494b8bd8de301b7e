# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
"""Bulk import of existing consents from an İYS-format file (CSV or XLSX).

Steps: upload → dry run (everything is validated, nothing is recorded; counts and an error
report) → import. Large files run in the background, by the cron ``ir_cron_iys_consent_import``,
in bounded chunks committed one by one; the import record keeps the file (an attachment) and
how far each phase got, so a crash resumes at the last committed chunk and no row is recorded
twice.

Phases of one run, each in chunks of ``l10n_tr_iys.import_chunk_size`` rows (5000):

1. ``parse``: the file is streamed, each row's address normalised and its date parsed by the İYS
   library, and the rows are stored in ``iys.consent.import.line`` (SQL, in bulk);
2. ``check`` (dry run) or ``import``: the rows are walked in address order, so every row of one
   address is in the same chunk, sorted by consent date as İYS would apply them; exact duplicates
   are flagged; contacts are matched (and created on request); each chunk goes through
   :meth:`iys.consent._iys_record_movements_bulk` (``dry_run`` for the check), which validates
   with the İYS rules and, for the import, writes consents, events and outbox rows in bulk. The
   walk is split into address ranges (``iys.consent.import.part``, ``l10n_tr_iys.import_parts``)
   that several background workers walk at once, one range per worker at a time: each active
   scheduled action running ``_cron_run_imports`` is a worker (two are shipped; Odoo runs as
   many at once as it has cron threads, ``--max-cron-threads``, 2 by default);
3. the per-row error report (CSV) is written as an attachment, by the worker that finds every
   range walked.

This is a regular model rather than a transient one: a transient record (and its file) would be
vacuumed after an hour, which a long or interrupted import can outlast; it also keeps a log of
the imports made.
"""
import contextlib
import csv
import gc
import io
import logging
import os
import re
import tempfile
import time
import traceback

from markupsafe import Markup
from psycopg2 import errors as pg_errors
from psycopg2.extensions import TRANSACTION_STATUS_IDLE

from odoo import api, fields, models, tools
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.modules import module as odoo_module
from odoo.tools import SQL

from ..iyslib.dates import parse_iys_date
from ..iyslib.errors import IysValidationError
from ..iyslib.masking import mask_text
from ..iyslib.normalize import normalize_recipient
from ..models.iys_consent import iys_error_text
from ..models.iys_consent_bulk import pg_array
from . import iys_consent_import_line
from . import iys_consent_import_reader as reader_lib

_logger = logging.getLogger(__name__)

#: separator of the original cell values kept on an import row
SEP = "\x1f"
#: error codes of problems İYS has no H-code for
CODE_CSV = "CSV"
CODE_COLUMNS = "COLUMNS"
CODE_DUPLICATE = "DUPLICATE"
CODE_RETAILER = "RETAILER"
CODE_CELL = "CELL"
#: a consent text version (column consentTextVersion) unknown for the brand and the row's channel
CODE_TEXT = "TEXT"
#: not an error: a recorded row whose address several contacts hold
CODE_CONTACTS = "CONTACTS"
DEFAULT_CHUNK_SIZE = 5000
#: address ranges the walk is split into, for the workers to share (l10n_tr_iys.import_parts)
DEFAULT_PARTS = 4
#: what a chunk may meet when other transactions write the same rows at the same time (a deadlock
#: on a contact both update, a consent another process has just created, a lock timeout): the
#: chunk is rolled back and worked on again, from the committed resume point
CONCURRENCY_ERRORS = (pg_errors.SerializationFailure, pg_errors.DeadlockDetected, pg_errors.LockNotAvailable,
                      pg_errors.UniqueViolation)
#: such errors in a row after which a worker gives up (the chunk was worked on again each time
#: before; the import then stops with the error, and Resume continues)
MAX_CONFLICTS = 5
#: the counts of the walk, kept per range (iys.consent.import.part) and summed on the import
WALK_COUNTS = ("walked", "valid", "invalid", "unchanged", "duplicate", "multi", "local_only", "partner_matched",
               "partner_created", "partner_shared")
#: the key a phone number is indexed by on the contacts (the import row model's ``init``): its
#: last seven digits, whatever the spelling (+90 532 …, 0532 …, (532) …)
PHONE_KEY_SQL = iys_consent_import_line.PHONE_KEY_SQL
_NOT_DIGITS = re.compile(r"[^0-9]")
#: the fields a client may set on an import (see IysConsentImport._iys_check_client_vals)
CLIENT_FIELDS = frozenset(("file", "file_name", "brand_id", "mode", "create_partners", "consent_text_ids"))
#: files up to this size are checked and imported during the click, larger ones in the background
DEFAULT_SYNC_MAX_BYTES = 1_000_000
#: the largest file accepted (l10n_tr_iys.import_max_bytes): a million rows of CSV take about 70 MB
DEFAULT_MAX_BYTES = 256 << 20
#: seconds one cron call works before handing back (the cron calls again while work remains)
CRON_TIME_BUDGET = 50
#: progress (percent) at which the dry run's walk starts, after reading the file
PARSE_SHARE = 40


def phone_key(number):
    """The Python twin of :data:`PHONE_KEY_SQL`."""
    return _NOT_DIGITS.sub("", number or "")[-7:]


def partner_key(row):
    """``(is e-mail, address)`` of an import row: one contact per key."""
    return (row[2] == "EPOSTA", row[4])


def csv_safe(value):
    """A cell of the error report as text no spreadsheet takes for a formula: as Odoo's CSV
    export does (``web/controllers/export.py``), a leading ``=``, ``+`` or ``-`` (and ``@``, a tab
    or a carriage return, which spreadsheets also read as the start of a formula) gets a ``'``."""
    value = value or ""
    return "'" + value if value.startswith(("=", "+", "-", "@", "\t", "\r")) else value


@contextlib.contextmanager
def _gc_frozen():
    """Keep the objects that exist before a run out of the garbage collector's sight during it.

    Each chunk creates hundreds of thousands of small objects (rows, movements, results), which
    trigger full collections; each one walks every object of the process (the registry, the
    caches: millions of objects), which cost about a fifth of an import's time. Frozen objects
    (``gc.freeze``) are skipped by the collector until ``gc.unfreeze``, at the end of the run,
    gives them back; what the chunks create is collected as usual, so memory stays bounded.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


class IysConsentImport(models.Model):
    _name = "iys.consent.import"
    _description = "İYS Consent Import"
    _order = "id desc"

    name = fields.Char(compute="_compute_name")
    state = fields.Selection(
        [
            ("draft", "Upload"),
            ("checking", "Checking…"),
            ("checked", "Dry run"),
            ("importing", "Importing…"),
            ("done", "Imported"),
            ("failed", "Stopped"),
        ],
        default="draft", required=True, readonly=True, copy=False,
    )
    phase = fields.Selection(
        [("parse", "Reading the file"), ("check", "Dry run"), ("import", "Import")], readonly=True, copy=False
    )
    file = fields.Binary(attachment=True, copy=False, help="CSV (UTF-8 or Windows-1254; ';' or ',') or XLSX.")
    file_name = fields.Char()
    brand_id = fields.Many2one(
        "iys.brand", required=True, default=lambda self: self._default_brand(),
        domain="[('company_id', 'in', allowed_company_ids)]",
        help="The İYS brand whose consents the file holds.",
    )
    company_id = fields.Many2one(related="brand_id.company_id", store=True, index=True)
    mode = fields.Selection(
        [
            ("send", "Consents we obtained: validate them with every İYS rule and send them to İYS"),
            ("registered", "Consents already registered on İYS (e.g. a reconciliation export): record them as "
                           "confirmed, do not send them"),
        ],
        string="The rows are", required=True, default="send",
        help="Consents we obtained must reach İYS within 3 business days (older ones are refused, H467; a late "
        "refusal is still honoured here but not sent). Consents already on İYS are only checked for format.",
    )
    create_partners = fields.Boolean(
        "Create missing contacts", help="Create a contact for each address no contact has yet."
    )
    consent_text_ids = fields.Many2many(
        "iys.consent.text", "iys_consent_import_text_rel", "import_id", "text_id", string="Consent text shown",
        domain="[('brand_id', '=', brand_id), ('state', 'in', ('active', 'superseded'))]",
        help="The version of the consent text the people of the file were shown, one per channel: linked to the rows "
        "of its channel that name no version (a consentTextVersion / Metin sürümü column names it per row).",
    )
    user_id = fields.Many2one("res.users", string="Requested by", default=lambda self: self.env.user,
                              readonly=True, copy=False)
    lang = fields.Char(default=lambda self: self.env.lang, readonly=True, copy=False)
    # How the file is read (found on the first chunk, kept for the next ones)
    file_kind = fields.Char(readonly=True, copy=False)
    file_encoding = fields.Char(readonly=True, copy=False)
    file_delimiter = fields.Char(readonly=True, copy=False)
    column_map = fields.Json(readonly=True, copy=False, help="{İYS column: index in the file}")
    header_names = fields.Json(readonly=True, copy=False)
    ignored_columns = fields.Char(readonly=True, copy=False)
    # Where the run is (committed with each chunk; the walk's, per address range in part_ids)
    resume_row = fields.Integer(readonly=True, copy=False, help="Last row of the file already read.")
    parse_progress = fields.Float("File read", readonly=True, copy=False, help="Share of the file read (0 to 1).")
    part_ids = fields.One2many("iys.consent.import.part", "import_id", string="Address ranges", readonly=True,
                               copy=False)
    progress = fields.Float(compute="_compute_counts")
    count_rows = fields.Integer("Rows", readonly=True, copy=False)
    count_parse_invalid = fields.Integer(readonly=True, copy=False)
    count_staged = fields.Integer(readonly=True, copy=False)
    count_walked = fields.Integer("Rows walked", compute="_compute_counts")
    count_valid = fields.Integer("Valid", compute="_compute_counts",
                                 help="Rows recorded (after a dry run: rows that would be recorded).")
    count_invalid = fields.Integer("Invalid", compute="_compute_counts")
    count_unchanged = fields.Integer(
        "Unchanged", compute="_compute_counts",
        help="Rows the ledger already holds, or older than what it holds for the address.",
    )
    count_duplicate = fields.Integer("Duplicates in the file", compute="_compute_counts",
                                     help="Rows identical to an earlier row of the file: ignored.")
    count_multi = fields.Integer(
        "Rows sharing an address", compute="_compute_counts",
        help="Rows whose address appears several times in the file: they are applied in consent date order.",
    )
    count_local_only = fields.Integer(
        "Kept here, not sent", compute="_compute_counts",
        help="Valid refusals İYS would not take (first record, or older than 3 business days): recorded in "
        "Odoo so that no message goes out, but not sent to İYS.",
    )
    count_partner_matched = fields.Integer("Contacts matched", compute="_compute_counts")
    count_partner_created = fields.Integer(
        "Contacts created", compute="_compute_counts",
        help="Contacts created for addresses no contact held (after a dry run: contacts that would be created), "
        "only for addresses a row of which is recorded.")
    count_partner_shared = fields.Integer(
        "Addresses on several contacts", compute="_compute_counts",
        help="Addresses several contacts hold: the consent applies to each of them, no contact is created "
        "(the report lists the rows).")
    report_id = fields.Many2one("ir.attachment", string="Error report", readonly=True, copy=False)
    error_line_ids = fields.One2many(
        "iys.consent.import.line", "import_id", string="Rows with a problem", readonly=True,
        domain=[("error_code", "!=", False)],
    )
    consent_ids = fields.Many2many("iys.consent", "iys_consent_import_consent_rel", "import_id", "consent_id",
                                   string="Consents recorded", readonly=True, copy=False)
    partner_created_ids = fields.Many2many("res.partner", "iys_consent_import_partner_rel", "import_id",
                                           "partner_id", string="Contacts created by the import", readonly=True,
                                           copy=False)
    import_summary = fields.Text(compute="_compute_import_summary")
    message = fields.Text(readonly=True, copy=False)
    date_checked = fields.Datetime("Checked on", readonly=True, copy=False)
    date_done = fields.Datetime("Imported on", readonly=True, copy=False)

    # ------------------------------------------------------------------------------------------
    # Defaults, computes, integrity
    # ------------------------------------------------------------------------------------------
    @api.model
    def _default_brand(self):
        return self.env.company.iys_default_brand_id or self.env["iys.brand"].search(
            [("company_id", "in", self.env.companies.ids)], limit=1
        )

    @api.depends("file_name", "create_date")
    def _compute_name(self):
        for record in self:
            if not record.file_name:
                record.name = self.env._("New consent import")
            elif not record.id:
                record.name = record.file_name
            else:
                record.name = self.env._("Import %(number)s – %(file)s", number=record.id, file=record.file_name)

    @api.depends("count_valid", "count_invalid", "count_unchanged", "count_duplicate", "count_partner_created",
                 "create_partners", "mode")
    def _compute_import_summary(self):
        for record in self:
            lines = [self.env._("Rows to record in the consent ledger: %(count)s.", count=record.count_valid)]
            if record.mode == "send":
                lines.append(self.env._("They are sent to İYS by the next synchronisation."))
            if record.count_invalid:
                lines.append(self.env._("Refused rows, left out (see the error report): %(count)s.",
                                        count=record.count_invalid))
            if record.count_unchanged or record.count_duplicate:
                lines.append(self.env._("Rows that change nothing, left out: %(count)s.",
                                        count=record.count_unchanged + record.count_duplicate))
            if record.create_partners:
                lines.append(self.env._("Contacts to create: %(count)s.", count=record.count_partner_created))
            record.import_summary = "\n".join(lines)

    @api.depends("state", "phase", "parse_progress", "count_staged", "count_parse_invalid",
                 *(f"part_ids.count_{name}" for name in WALK_COUNTS))
    def _compute_counts(self):
        for record in self:
            parts = record.part_ids
            for name in WALK_COUNTS:
                record[f"count_{name}"] = sum(parts.mapped(f"count_{name}"))
            # the rows the file reading refused, then those the walk refused
            record.count_invalid += record.count_parse_invalid
            if record.state in ("checked", "done"):
                record.progress = 100
            elif record.phase == "parse":
                record.progress = PARSE_SHARE * record.parse_progress
            elif record.phase:
                share = PARSE_SHARE if record.phase == "check" else 0
                record.progress = share + (100 - share) * min(1.0, record.count_walked / max(record.count_staged, 1))
            else:
                record.progress = 0

    @api.model_create_multi
    def create(self, vals_list):
        self._iys_check_client_vals(vals_list)
        # The uploaded file is kept as an attachment: not worth indexing (see ir.attachment._index).
        return super(IysConsentImport, self.with_context(iys_no_index=True)).create(vals_list)

    def write(self, vals):
        self._iys_check_client_vals([vals])
        records = self.with_context(iys_no_index=True) if "file" in vals else self  # see create
        if {"file", "brand_id", "mode", "create_partners", "consent_text_ids"} & set(vals):
            if any(record.state in ("checking", "importing", "done") for record in self):
                raise UserError(self.env._("The file and the options cannot change once the import has started."))
            result = super(IysConsentImport, records).write(vals)
            # A new file or new options make the dry run stale.
            self.filtered(lambda r: r.state in ("checked", "failed"))._iys_reset()
            return result
        return super(IysConsentImport, records).write(vals)

    def _iys_check_client_vals(self, vals_list):
        """Refuse the fields the engine owns (state, phase, user, report, counts, resume points…)
        to anyone but the engine itself, which writes them with :meth:`_iys_write` (sudo).

        A client may send any field over RPC, ``readonly`` in the view or not: a state or user set
        that way would make the background worker run the import as another user, and a report
        pointed at any attachment would have it deleted by the next reset.
        """
        if self.env.su:
            return
        refused = set().union(*vals_list) - CLIENT_FIELDS
        if refused:
            raise AccessError(self.env._(
                "These fields of a consent import are set by the import itself, not by hand: %(fields)s.",
                fields=", ".join(sorted(refused))))

    @api.constrains("consent_text_ids", "brand_id")
    def _check_consent_texts(self):
        for record in self:
            texts = record.consent_text_ids
            if any(t.brand_id != record.brand_id or t.state not in ("active", "superseded") for t in texts):
                raise UserError(self.env._(
                    "The consent texts shown must be versions in use or superseded of the brand %(brand)s.",
                    brand=record.brand_id.name))
            if len(set(texts.mapped("channel"))) != len(texts):
                raise UserError(self.env._(
                    "Choose at most one consent text per channel: it is linked to the rows of its channel."))

    def _iys_write(self, vals):
        """The engine's own writes (state, counts, resume points, report…): see
        :meth:`_iys_check_client_vals`. Not callable over RPC (private)."""
        return self.sudo().write(vals)

    def _iys_own_attachments(self, attachments):
        """Of *attachments*, those this import made (its reports): the only ones it may delete."""
        return attachments.sudo().filtered(
            lambda attachment: attachment.res_model == self._name and attachment.res_id in self.ids
            and not attachment.res_field
        )

    def _iys_check_manager(self):
        if not self.env.user.has_group("l10n_tr_iys.group_iys_manager"):
            raise AccessError(self.env._("Only İYS managers may import consents."))

    # ------------------------------------------------------------------------------------------
    # Buttons
    # ------------------------------------------------------------------------------------------
    def action_check(self):
        """Dry run: read and validate the whole file, record nothing."""
        self.ensure_one()
        self._iys_check_manager()
        if self.state not in ("draft", "checked", "failed"):
            raise UserError(self.env._("This import is already running."))
        if not self._iys_file_attachment():
            raise UserError(self.env._("Choose a file first."))
        self._iys_file_size()  # a file too large is refused now, not in the background
        if self.create_partners and not self.env["res.partner"].has_access("create"):
            raise UserError(self.env._("You may not create contacts: untick “Create missing contacts”."))
        self._iys_reset()
        self._iys_write({"state": "checking", "phase": "parse", "lang": self.env.lang, "user_id": self.env.uid})
        return self._iys_start()

    def action_confirm_import(self):
        """The confirmation of the import, with what it will do (a dialog on this import)."""
        self.ensure_one()
        self._iys_check_manager()
        if self.state != "checked":
            raise UserError(self.env._("Run the dry run first."))
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Import the consents?"),
            "res_model": self._name,
            "res_id": self.id,
            "view_mode": "form",
            "views": [(self.env.ref("l10n_tr_iys.view_iys_consent_import_confirm").id, "form")],
            "target": "new",
        }

    def action_import(self):
        """Record the checked rows: the same validation, now under lock and for good."""
        self.ensure_one()
        self._iys_check_manager()
        if self.state != "checked":
            raise UserError(self.env._("Run the dry run first."))
        self._iys_start_walk("import")
        self._iys_write({"state": "importing", "lang": self.env.lang, "user_id": self.env.uid})
        self._iys_start()
        if self.state == "done":
            return self._iys_done_notification()
        return {"type": "ir.actions.act_window_close"}

    def _iys_done_notification(self):
        """After an import done in the click: the counts, and links to what it recorded and created."""
        base = f"/odoo/action-l10n_tr_iys.action_iys_consent_import_history/{self.id}"
        links = [{"label": self.env._("the recorded consents"),
                  "url": f"{base}/action-l10n_tr_iys.action_iys_consent_import_consents"}]
        message = self.env._(
            "Rows recorded: %(valid)s, refused: %(invalid)s, unchanged: %(unchanged)s.",
            valid=self.count_valid, invalid=self.count_invalid, unchanged=self.count_unchanged + self.count_duplicate,
        ).replace("%", "%%") + " " + self.env._("See %s.")
        if self.count_partner_created:
            message += " " + self.env._(
                "Contacts created (%(count)s):", count=self.count_partner_created).replace("%", "%%") + " %s."
            links.append({"label": self.env._("the created contacts"),
                          "url": f"{base}/action-l10n_tr_iys.action_iys_consent_import_partners"})
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "warning" if self.count_invalid else "success",
                "title": self.env._("Consents imported"),
                "message": message,
                "links": links,
                "sticky": False,
                "next": {"type": "ir.actions.act_window_close"},
            },
        }

    def action_view_consents(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("l10n_tr_iys.action_iys_consent_import_consents")
        action["domain"] = [("iys_import_ids", "in", self.ids)]
        return action

    def action_view_partners(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("l10n_tr_iys.action_iys_consent_import_partners")
        action["domain"] = [("iys_import_created_ids", "in", self.ids)]
        return action

    @api.autovacuum
    def _gc_drafts(self):
        """Imports left at the upload step for a day (a page left, an upload that failed)."""
        self.sudo().search([("state", "=", "draft"),
                            ("write_date", "<", fields.Datetime.subtract(fields.Datetime.now(), days=1))]).unlink()

    def action_stop(self):
        self._iys_check_manager()
        for record in self.filtered(lambda r: r.state in ("checking", "importing")):
            record._iys_write({"state": "failed", "message": self.env._(
                "Stopped by %(user)s. Resume continues where it stopped.", user=self.env.user.name)})
        return True

    def action_resume(self):
        self.ensure_one()
        self._iys_check_manager()
        if self.state != "failed" or not self.phase:
            raise UserError(self.env._("There is nothing to resume."))
        state = "importing" if self.phase == "import" else "checking"
        self._iys_write({"state": state, "message": False, "lang": self.env.lang, "user_id": self.env.uid})
        return self._iys_start()

    def action_reset(self):
        self._iys_check_manager()
        if any(record.state in ("checking", "importing", "done") for record in self):
            raise UserError(self.env._("A running or finished import cannot go back to the upload step."))
        self._iys_reset()
        return True

    def action_refresh(self):
        return True

    def action_download_report(self):
        self.ensure_one()
        if not self.report_id:
            raise UserError(self.env._("There is no error report."))
        return {"type": "ir.actions.act_url", "url": f"/web/content/{self.report_id.id}?download=true",
                "target": "self"}

    # ------------------------------------------------------------------------------------------
    # Running: in the click for small files, in the background for large ones
    # ------------------------------------------------------------------------------------------
    def _iys_param(self, name, default):
        value = self.env["ir.config_parameter"].sudo().get_param(f"l10n_tr_iys.{name}")
        try:
            return int(value) if value else default
        except ValueError:
            return default

    def _iys_file_attachment(self):
        self.ensure_one()
        return self.env["ir.attachment"].sudo().search(
            [("res_model", "=", self._name), ("res_id", "=", self.id), ("res_field", "=", "file")], limit=1
        )

    @staticmethod
    def _iys_open_binary(attachment):
        """The attachment's content as a seekable binary file (the caller closes it)."""
        if attachment.store_fname:
            return open(attachment._full_path(attachment.store_fname), "rb")
        return io.BytesIO(attachment.raw or b"")

    def _iys_unsafe_file_error(self, exc):
        """The user's message for a file refused before it is read (reader_lib.UnsafeFile)."""
        size, limit = tools.misc.human_size(exc.size), tools.misc.human_size(exc.limit)
        if exc.reason == "too_large":
            return UserError(self.env._(
                "The file is %(size)s; files up to %(limit)s are accepted. Split it into several files.",
                size=size, limit=limit))
        if exc.reason == "unpacked":
            return UserError(self.env._(
                "The XLSX file unpacks to %(size)s; files that unpack to at most %(limit)s are accepted. "
                "Save it as CSV or split it into several files.", size=size, limit=limit))
        if exc.reason == "shared_strings":
            return UserError(self.env._(
                "The texts of the XLSX file unpack to %(size)s; at most %(limit)s are accepted. Save it as CSV "
                "or split it into several files.", size=size, limit=limit))
        if exc.reason == "run":
            return UserError(self.env._(
                "The XLSX file holds a cell or a tag longer than %(limit)s, which no İYS file has. Check the "
                "file, or save it as CSV.", limit=limit))
        if exc.reason == "members":
            return UserError(self.env._(
                "The XLSX file has %(count)s parts; a workbook has at most %(limit)s. Save it as CSV.",
                count=exc.size, limit=exc.limit))
        return UserError(self.env._(
            "The file is not a readable XLSX workbook (%(error)s). Save it again from your spreadsheet, or as CSV.",
            error=exc.detail or exc.reason))

    def _iys_file_size(self):
        """The size that decides where the file is worked on (in the click or in the background):
        what the file unpacks to. Refuses a file larger than ``l10n_tr_iys.import_max_bytes`` or,
        for XLSX, declaring more than ``l10n_tr_iys.import_max_unpacked_bytes`` once unpacked."""
        attachment = self._iys_file_attachment()
        size = attachment.file_size or 0
        limit = self._iys_param("import_max_bytes", DEFAULT_MAX_BYTES)
        if size > limit:
            raise self._iys_unsafe_file_error(reader_lib.UnsafeFile("too_large", size, limit))
        with self._iys_open_binary(attachment) as binary:
            if not reader_lib.is_xlsx(binary, self.file_name):
                return size
            try:
                return reader_lib.xlsx_unpacked_size(
                    binary, self._iys_param("import_max_unpacked_bytes", reader_lib.MAX_UNPACKED_BYTES))
            except reader_lib.UnsafeFile as exc:
                raise self._iys_unsafe_file_error(exc) from None

    def _iys_start(self):
        size = self._iys_file_size()
        if size > self._iys_param("import_sync_max_bytes", DEFAULT_SYNC_MAX_BYTES):
            self._iys_trigger_workers()
        else:
            self._iys_run()
        return True

    @api.model
    def _iys_workers(self):
        """The background workers: the active scheduled actions that run the imports (an admin adds
        one by duplicating “İYS: run consent imports”)."""
        return self.env["ir.cron"].sudo().search([
            ("model_id.model", "=", self._name), ("code", "like", "_cron_run_imports"),
        ])

    @api.model
    def _iys_trigger_workers(self):
        for cron in self._iys_workers():
            cron._trigger()

    def _iys_reset(self):
        """Back to the upload step: forget the rows read, the counts and the report."""
        self._iys_delete_lines()
        self.env["iys.consent.import.part"].sudo().search([("import_id", "in", self.ids)]).unlink()
        reports = self._iys_own_attachments(self.report_id)
        self._iys_write({
            "state": "draft", "phase": False, "resume_row": 0, "parse_progress": 0,
            "file_kind": False, "file_encoding": False, "file_delimiter": False, "column_map": False,
            "header_names": False, "ignored_columns": False, "report_id": False, "message": False,
            "date_checked": False, "count_rows": 0, "count_parse_invalid": 0, "count_staged": 0,
        })
        reports.sudo().unlink()

    @api.model
    def _iys_in_test(self):
        return odoo_module.current_test

    @api.model
    def _cron_run_imports(self):
        """Work on the imports waiting in the background, chunk by chunk, one commit per chunk;
        return the number of rows worked on (0: nothing this worker could do now)."""
        cron = self.env["ir.cron"].browse(self.env.context.get("cron_id"))
        started = time.monotonic()
        done = 0
        for record in self.search([("state", "in", ("checking", "importing"))], order="id"):
            budget = CRON_TIME_BUDGET - (time.monotonic() - started)
            if budget <= 0:
                break
            # as the user who started it, in their language, in the brand's company
            job = record.with_user(record.user_id).with_context(
                lang=record.lang or "en_US", allowed_company_ids=record.company_id.ids
            )
            try:
                done += job._iys_run(budget=budget, commit=not self._iys_in_test())
            except Exception as exc:  # a failing import must not stop the others
                if self._iys_in_test():
                    raise
                # the traceback may quote a row (e.g. a unique violation's key): masked
                _logger.error("İYS import %s stopped: %s", record.id, mask_text(traceback.format_exc()))
                self.env.cr.rollback()
                self.env.invalidate_all()
                user_env = record.with_context(lang=record.lang or "en_US").env
                record._iys_write({"state": "failed", "message": user_env._(
                    "The import stopped on an error: %(error)s. Resume continues at the last saved chunk.",
                    error=str(exc.args[0] if isinstance(exc, (UserError, AccessError)) else exc))})
                # a cron saves what it did, chunk by chunk
                self.env.cr.commit()  # pylint: disable=invalid-commit
            record.invalidate_recordset(["state"])
            if record.state in ("checking", "importing"):
                # One import at a time, as the user queued them: the workers share the oldest
                # one (two imports walked at once could both create a contact for one address).
                break
        remaining = self.search_count([("state", "in", ("checking", "importing"))])
        if cron:
            cron._notify_progress(done=done, remaining=remaining)
        return done

    def _iys_lock(self):
        """Lock this import for the chunk; False when another worker has it (or it is gone)."""
        locked = bool(self.env["iys.outbox"]._iys_lock_rows(SQL(
            "SELECT id FROM iys_consent_import WHERE id = %s FOR NO KEY UPDATE SKIP LOCKED", self.id
        )))
        self.invalidate_recordset()
        return locked

    def _iys_run(self, budget=None, commit=False):
        """Run the current phases chunk by chunk; return the number of rows worked on.

        With *commit* (a background worker), each chunk is committed with its resume point, so an
        interrupted run resumes at the last committed chunk, and other workers may walk other
        address ranges of the same import at the same time. Without it (a click on a small file,
        or a test), everything happens in the caller's transaction.
        """
        self.ensure_one()
        started = time.monotonic()
        run = {"reader": None, "binary": None, "commit": commit}
        rows_done, conflicts = 0, 0
        if commit:
            self.env.cr.commit()  # pylint: disable=invalid-commit  # each chunk in a transaction of its own
        try:
            with _gc_frozen():
                while True:
                    if commit:
                        self._iys_begin_chunk()
                    self.invalidate_recordset()
                    if self.state not in ("checking", "importing"):
                        break
                    try:
                        with self.env.cr.savepoint():
                            rows = self._iys_step(run)
                    except CONCURRENCY_ERRORS as exc:
                        if not commit:
                            raise
                        conflicts += 1
                        if conflicts >= MAX_CONFLICTS:
                            raise
                        # Another transaction wrote a row this chunk needs at the same time:
                        # work on it again, from the resume point committed last.
                        _logger.info("İYS import %s: chunk rolled back (%s), worked on again", self.id,
                                     type(exc).__name__)
                        self.env.cr.rollback()
                        self.env.invalidate_all()
                        # The file's reader is past the rolled-back rows: read it again from the
                        # committed resume point.
                        self._iys_close_file(run)
                        continue
                    if rows is None:
                        break  # what remains is in other workers' hands
                    rows_done += rows  # counted once the chunk has gone through (flushed)
                    conflicts = 0
                    if commit:
                        # the chunk and its resume point, together
                        self.env.cr.commit()  # pylint: disable=invalid-commit
                    if budget is not None and time.monotonic() - started >= budget:
                        break
        finally:
            self._iys_close_file(run)
        return rows_done

    def _iys_begin_chunk(self):
        """Start a background chunk's transaction in READ COMMITTED (Odoo's default is REPEATABLE
        READ).

        Workers walking other ranges of the file refresh the per-channel states of the contacts
        holding their addresses: a contact whose phone is in one range and e-mail in another is
        updated by both. Each writes only the state of its own channel, computed from consents of
        its own range. In REPEATABLE READ the second update fails (serialization failure) and its
        whole chunk would be walked again, over and over with such contacts; in READ COMMITTED it
        waits for the first transaction's commit, a few milliseconds at the end of its chunk,
        and goes on. Everything else a chunk writes is its own (its range's consents, events,
        outbox rows and file rows, its range's row, locked), and the ledger rows it reads for
        the İYS rules are read ``FOR UPDATE``, which gives their last committed version.
        """
        cnx = getattr(self.env.cr, "_cnx", None)
        if cnx is not None and cnx.get_transaction_status() == TRANSACTION_STATUS_IDLE:  # nothing run yet
            self.env.cr.execute(SQL("SET TRANSACTION ISOLATION LEVEL READ COMMITTED"))

    def _iys_step(self, run):
        """Work on one chunk; the number of rows worked on, or None when there is nothing this
        worker may do now."""
        if self.phase == "parse":
            if run["commit"] and not self._iys_lock():  # (which reads the import afresh)
                return None  # another worker reads the file
            if self.state not in ("checking", "importing") or self.phase != "parse":
                return None  # stopped, or the file was read meanwhile
            return self._iys_step_parse(run)
        return self._iys_step_walk(run)

    # ------------------------------------------------------------------------------------------
    # Phase 1: reading the file into rows
    # ------------------------------------------------------------------------------------------
    def _iys_open_file(self, run):
        if run["reader"] is not None:
            return run["reader"]
        attachment = self._iys_file_attachment()
        if not attachment:
            raise UserError(self.env._("The file of this import is missing."))
        binary = self._iys_open_binary(attachment)  # streamed from the filestore, closed by _iys_close_file
        run["binary"] = binary
        if reader_lib.is_xlsx(binary, self.file_name):
            # what it really unpacks to, before openpyxl reads any of it
            try:
                reader_lib.check_xlsx(
                    binary, self._iys_param("import_max_unpacked_bytes", reader_lib.MAX_UNPACKED_BYTES))
            except reader_lib.UnsafeFile as exc:
                raise self._iys_unsafe_file_error(exc) from None
        try:
            reader = reader_lib.open_reader(
                binary, self.file_name, encoding=self.file_encoding or None, delimiter=self.file_delimiter or None
            )
        except Exception as exc:  # any unreadable file is the user's problem to fix
            raise UserError(self.env._("The file cannot be read: %(error)s", error=exc)) from exc
        run["reader"] = reader
        run["iterator"] = reader.rows()
        run["size"] = reader.size() or 1
        return reader

    @staticmethod
    def _iys_close_file(run):
        if run.get("reader") is not None:
            run["reader"].close()
        if run.get("binary") is not None:
            run["binary"].close()
        run["reader"] = run["binary"] = None

    def _iys_step_parse(self, run):
        reader = self._iys_open_file(run)
        if not self.column_map:
            if len(reader.header) > reader_lib.MAX_COLUMNS:
                raise UserError(self.env._(
                    "The file has %(count)s columns; at most %(limit)s are read. Keep İYS's columns only.",
                    count=len(reader.header), limit=reader_lib.MAX_COLUMNS))
            mapping, unknown, missing = reader_lib.map_header(reader.header)
            if missing:
                raise UserError(self.env._(
                    "The file has no column for %(columns)s. Expected İYS's columns: %(expected)s "
                    "(in Turkish or English, e.g. Alıcı / recipient, İzin Tipi / type, Durum / status).",
                    columns=", ".join(missing), expected=", ".join(reader_lib.COLUMNS[:7]),
                ))
            ordered = {column: mapping[column] for column in reader_lib.COLUMNS if column in mapping}
            self._iys_write({
                "file_kind": reader.kind, "file_encoding": reader.encoding, "file_delimiter": reader.delimiter,
                "column_map": ordered, "header_names": reader.header, "ignored_columns": ", ".join(unknown) or False,
            })
        mapping = self._iys_column_map()
        width = len(self.header_names)
        chunk_size = self._iys_param("import_chunk_size", DEFAULT_CHUNK_SIZE)
        resume_row = self.resume_row
        texts = {}  # (channel, version label) -> (text id, error), for this chunk
        lines, last, finished = [], resume_row, True
        for number, cells, problem in run["iterator"]:
            if number <= resume_row:
                continue  # read and committed before an interruption
            line = self._iys_parse_row(number, cells, problem, mapping, width)
            self._iys_parse_text(line, cells, mapping, texts)
            lines.append(line)
            last = number
            if len(lines) >= chunk_size:
                finished = False
                break
        self._iys_insert_lines(lines)
        invalid = sum(1 for line in lines if line["error_code"])
        vals = {
            "resume_row": last,
            "count_rows": self.count_rows + len(lines),
            "count_parse_invalid": self.count_parse_invalid + invalid,
            "count_staged": self.count_staged + len(lines) - invalid,
            "parse_progress": min(1.0, (reader.position() or 0) / run["size"]),
        }
        self._iys_write(vals)
        if finished:
            if not self.count_rows:
                raise UserError(self.env._("The file holds no row after its header."))
            self._iys_start_walk("check")
            if run["commit"]:
                self._iys_trigger_workers()  # the others, idle while the file was read
        return len(lines)

    def _iys_column_map(self):
        """{İYS column: index in the file}, in İYS's column order: the order of the values kept on
        every row (``raw``) and of the error report's columns. (The stored map is JSONB, which
        keeps its keys in an order of its own.)"""
        mapping = self.column_map or {}
        return {column: mapping[column] for column in reader_lib.COLUMNS if column in mapping}

    def _iys_parse_row(self, number, cells, problem, mapping, width):
        """One file row as an import row: original values, normalised fields, or the first error."""
        kept = [cells[index] if index < len(cells) else "" for index in mapping.values()]
        too_long = any(len(cell) > reader_lib.MAX_CELL_CHARS for cell in kept)
        raw = SEP.join(cell[:reader_lib.MAX_CELL_CHARS] for cell in kept)
        line = dict.fromkeys(("channel", "recipient_type", "address", "status", "source", "consent_date",
                              "retailer_code", "transaction_id", "creation_date", "error_code", "error_message"))
        line.update(row_no=number, raw=raw)
        if problem:
            line.update(error_code=CODE_CSV, error_message=self.env._(
                "The line cannot be read as CSV (%(error)s).", error=problem))
            return line
        if too_long:
            line.update(error_code=CODE_CELL, error_message=self.env._(
                "A cell of the row is longer than %(limit)s characters (cut in this report).",
                limit=reader_lib.MAX_CELL_CHARS))
            return line
        if len(cells) != width:
            line.update(error_code=CODE_COLUMNS, error_message=self.env._(
                "The row has %(count)s columns, the header %(width)s.", count=len(cells), width=width))
            return line

        def value(column):
            return cells[mapping[column]].strip() if column in mapping else ""

        channel = reader_lib.fold_code(value("type"))
        channel = reader_lib.TYPE_SYNONYMS.get(channel, channel)
        try:
            line["address"] = normalize_recipient(channel or None, value("recipient"))
            line["channel"] = channel
            for column, name in (("consentDate", "consent_date"), ("creationDate", "creation_date")):
                text = reader_lib.normalize_date_text(value(column))
                line[name] = parse_iys_date(text, column) if text else None
        except IysValidationError as exc:
            line.update(address=None, error_code=exc.code, error_message=iys_error_text(self.env, exc))
            return line
        line.update(
            recipient_type=reader_lib.fold_code(value("recipientType")) or "BIREYSEL",
            status=reader_lib.fold_code(value("status")) or None,
            source=reader_lib.fold_code(value("source")) or None,
            retailer_code=value("retailerCode") or None,
            transaction_id=value("transactionId") or None,
        )
        return line

    def _iys_parse_text(self, line, cells, mapping, cache):
        """Link a row to the consent text version shown: the one its consentTextVersion cell names
        (for the brand and the row's channel), else the import's text of the row's channel. A
        version unknown for the brand and channel makes the row an error (the others go on)."""
        line["consent_text_id"] = None
        if line["error_code"] or not line["channel"]:
            return
        column = mapping.get("consentTextVersion")
        label = cells[column].strip() if column is not None and column < len(cells) else ""
        if not label:
            if "defaults" not in cache:  # the import's text of each channel, once per chunk
                cache["defaults"] = {text.channel: text.id for text in self.consent_text_ids}
            line["consent_text_id"] = cache["defaults"].get(line["channel"])
            return
        key = (line["channel"], label)
        if key not in cache:
            try:
                text = self.env["iys.consent.text"]._iys_resolve(self.brand_id, line["channel"], label,
                                                                 lang=self.lang)
                cache[key] = (text.id, None)
            except ValidationError as exc:
                cache[key] = (None, exc.args[0])
        text_id, error = cache[key]
        if error:
            line.update(address=None, error_code=CODE_TEXT, error_message=error)
        else:
            line["consent_text_id"] = text_id

    def _iys_insert_lines(self, lines):
        if not lines:
            return
        Line = self.env["iys.consent.import.line"]
        columns = ("row_no", "raw", "channel", "recipient_type", "address", "status", "source", "consent_date",
                   "retailer_code", "transaction_id", "creation_date", "error_code", "error_message",
                   "consent_text_id")
        self.env.cr.execute(SQL(
            "INSERT INTO iys_consent_import_line (import_id, %s) SELECT %s, * FROM unnest(%s)",
            SQL(", ").join(SQL.identifier(column) for column in columns),
            self.id,
            SQL(", ").join(
                SQL(f"%s::{Line._fields[column].column_type[1]}[]", pg_array([line[column] for line in lines]))
                for column in columns
            ),
        ))

    def _iys_delete_lines(self):
        if self.ids:
            self.env.cr.execute(SQL("DELETE FROM iys_consent_import_line WHERE import_id = ANY(%s)", self.ids))
            self.env["iys.consent.import.line"].invalidate_model()

    # ------------------------------------------------------------------------------------------
    # Phase 2: the dry run or the import, walking the rows address by address
    # ------------------------------------------------------------------------------------------
    def _iys_start_walk(self, phase):
        """Start walking the rows from the first address (dry run or import), in address ranges."""
        self._iys_write({"phase": phase})
        if phase == "import":
            # Errors found by the dry run are found again (or not) under lock.
            self.env.cr.execute(SQL(
                """UPDATE iys_consent_import_line SET error_code = NULL, error_message = NULL
                    WHERE import_id = %s AND address IS NOT NULL AND error_code IS NOT NULL""", self.id))
        # The rows were just written (by this import, or by others since): with fresh statistics
        # the planner walks them through the walk index in address order. With stale ones it
        # estimated a handful of rows and sorted the rest of the file at every chunk (quadratic:
        # 0.4 s per chunk at 400 000 rows). Only the table's owner may analyse it; for anyone
        # else PostgreSQL skips it with a warning.
        self.env.cr.execute(SQL("ANALYZE %s", SQL.identifier(self.env["iys.consent.import.line"]._table)))
        Part = self.env["iys.consent.import.part"].sudo()
        Part.search([("import_id", "in", self.ids)]).unlink()
        # Consecutive address ranges of about the same number of rows; a range ends with a whole
        # address (the key of its last row), so every row of one address is in one range.
        count = max(1, self._iys_param("import_parts", DEFAULT_PARTS))
        size = -(-self.count_staged // count)  # rows per range, rounded up
        bounds, after = [], None
        for _index in range(count - 1):
            self.env.cr.execute(SQL(
                """SELECT address FROM iys_consent_import_line
                    WHERE import_id = %s AND address IS NOT NULL %s
                 ORDER BY address OFFSET %s LIMIT 1""",
                self.id, SQL("AND address > %s", after) if after else SQL(), max(size - 1, 0),
            ))
            row = self.env.cr.fetchone()
            if not row:
                break
            bounds.append(row[0])
            after = row[0]
        starts = [None, *bounds]
        Part.create([
            {"import_id": self.id, "sequence": index, "start_key": start, "resume_key": start,
             "end_key": bounds[index] if index < len(bounds) else None}
            for index, start in enumerate(starts)
        ])
        self.invalidate_recordset(["part_ids"])

    def _iys_next_part(self, lock):
        """``(range, busy)``: the next range to walk, locked for this worker (an empty recordset when
        none is free), and whether ranges are left that other workers hold."""
        ids = self.env["iys.outbox"]._iys_lock_rows(SQL(
            """SELECT id FROM iys_consent_import_part WHERE import_id = %s AND done IS NOT TRUE
             ORDER BY sequence LIMIT 1 %s""",
            self.id, SQL("FOR NO KEY UPDATE SKIP LOCKED") if lock else SQL(),
        ))
        Part = self.env["iys.consent.import.part"].sudo()
        if ids:
            part = Part.browse(ids)
            part.invalidate_recordset()
            return part, False
        self.env.cr.execute(SQL(
            "SELECT 1 FROM iys_consent_import_part WHERE import_id = %s AND done IS NOT TRUE LIMIT 1", self.id))
        return Part, bool(self.env.cr.fetchone())

    def _iys_fetch_lines(self, part, chunk_size):
        """The next rows of *part* in address order; always whole addresses (all their rows)."""
        columns = SQL("id, row_no, channel, recipient_type, address, status, source, consent_date, retailer_code, "
                      "transaction_id, creation_date, consent_text_id")
        order = SQL("ORDER BY address, channel, recipient_type, consent_date NULLS FIRST, row_no")
        where = SQL("import_id = %s AND address IS NOT NULL", self.id)
        if part.resume_key:
            where = SQL("%s AND address > %s", where, part.resume_key)
        if part.end_key:
            where = SQL("%s AND address <= %s", where, part.end_key)
        self.env.cr.execute(SQL(
            "SELECT %s FROM iys_consent_import_line WHERE %s %s LIMIT %s", columns, where, order, chunk_size,
        ))
        rows = self.env.cr.fetchall()
        if len(rows) == chunk_size:
            last = rows[-1][4]
            rows = [row for row in rows if row[4] != last]
            self.env.cr.execute(SQL(
                "SELECT %s FROM iys_consent_import_line WHERE import_id = %s AND address = %s %s",
                columns, self.id, last, order,
            ))
            rows += self.env.cr.fetchall()
        return rows

    def _iys_step_walk(self, run):
        """Walk one chunk of a free address range, or finish the walk when every range is walked."""
        part, busy = self._iys_next_part(lock=run["commit"])
        part = part.sudo()  # the ranges are the engine's own bookkeeping
        if busy:
            return None
        if not part:
            # Every range is walked, or the walk has none yet: under the import's lock, the first
            # worker to see it acts, and the others find it done.
            if run["commit"] and not self._iys_lock():  # (which reads the import afresh)
                return None
            if self.state not in ("checking", "importing") or any(self._iys_next_part(lock=False)):
                return None
            if not self.part_ids:
                # A walk started by the version before 18.0.1.1.0, whose resume point means
                # nothing in the address order (see the migration, which gives it ranges).
                self._iys_start_walk(self.phase)
                return 0
            self._iys_finish_walk()
            return 0
        rows = self._iys_fetch_lines(part, self._iys_param("import_chunk_size", DEFAULT_CHUNK_SIZE))
        if not rows:
            part.write({"done": True})
            return 0
        dry_run = self.phase == "check"
        counts = dict.fromkeys(("valid", "invalid", "unchanged", "duplicate", "multi", "local_only",
                                "partner_created"), 0)
        errors = []  # (line id, code, message)
        candidates = []  # (line row, key)
        previous_key, seen = None, {}
        group_sizes = {}
        for row in rows:
            key = row[2:5]
            group_sizes[key] = group_sizes.get(key, 0) + 1
        for row in rows:
            line_id, row_no, channel, rtype, address, status, source, consent_date, retailer = row[:9]
            key = (channel, rtype, address)
            if key != previous_key:
                previous_key, seen = key, {}
            if group_sizes[key] > 1:
                counts["multi"] += 1
            signature = (status, consent_date, source, retailer)
            if signature in seen:
                counts["duplicate"] += 1
                errors.append((line_id, CODE_DUPLICATE, self.env._(
                    "Same as row %(row)s: ignored.", row=seen[signature])))
                continue
            seen[signature] = row_no
            # (a retailer code names the dealer that collected the consent: the ledger checks it is a
            # registered dealer of the brand, sends it to İYS with the consent, or refuses the row)
            candidates.append(row)
        send = self.mode == "send"
        partners = self._iys_match_partners(candidates)
        movements = self._iys_movements(candidates, partners)
        # No chatter note per consent on the contacts (a million of them for a large file): their
        # states are refreshed, and the events keep the file row as evidence.
        Consent = self.env["iys.consent"].with_context(iys_skip_chatter=True)
        options = {"mode": "local" if send else "registered", "strict": True, "normalized": True}
        missing = {key for key in partners["wanted"] if key not in partners["found"]}
        if self.create_partners and missing and not dry_run:
            # A contact only for an address a row of which is recorded: the rows of the addresses
            # without a contact are validated first (all their rows, in order: the same result as
            # the run below), and the contacts created for those that pass.
            subset = [index for index, row in enumerate(candidates) if partner_key(row) in missing]
            checked = Consent._iys_record_movements_bulk([movements[index] for index in subset], "import",
                                                         dry_run=True, **options)
            first_rows = {}
            for index, result in zip(subset, checked, strict=True):
                if not result.error and not result.skipped:
                    first_rows.setdefault(partner_key(candidates[index]), candidates[index])
            created = self._iys_create_partners(first_rows)
            for index in subset:
                movements[index]["evidence"]["partner_id"] = created.get(partner_key(candidates[index]))
        results = Consent._iys_record_movements_bulk(movements, "import", dry_run=dry_run, **options)
        recorded = set()  # the addresses (partner keys) of which a row is (or would be) recorded
        shared_rows = []  # recorded rows of addresses several contacts hold
        for row, result in zip(candidates, results, strict=True):
            if result.error:
                counts["invalid"] += 1
                errors.append((row[0], result.error_code or "", result.error))
            elif result.skipped:
                counts["unchanged"] += 1
            else:
                counts["valid"] += 1
                recorded.add(partner_key(row))
                if send and not result.to_send:
                    counts["local_only"] += 1
                if len(partners["found"].get(partner_key(row), ())) > 1:
                    shared_rows.append(row)
        if shared_rows:
            self._iys_note_shared_contacts(shared_rows, partners["found"], errors, dry_run)
        if not dry_run:
            self._iys_link("iys_consent_import_consent_rel", "consent_id", {
                result.consent.id for result in results
                if result.consent and not result.error and not result.skipped})
        if self.create_partners:
            counts["partner_created"] = len(missing & recorded)
        counts["partner_matched"] = len(partners["found"])
        counts["partner_shared"] = sum(1 for ids in partners["found"].values() if len(ids) > 1)
        if errors:
            self.env.cr.execute(SQL(
                """UPDATE iys_consent_import_line AS l SET error_code = v.code, error_message = v.message
                     FROM unnest(%s::int4[], %s::varchar[], %s::text[]) AS v(id, code, message)
                    WHERE l.id = v.id""",
                pg_array([e[0] for e in errors]), pg_array([e[1] for e in errors]), pg_array([e[2] for e in errors]),
            ))
            self.env["iys.consent.import.line"].invalidate_model()
        counts["walked"] = len(rows)
        vals = {f"count_{name}": part[f"count_{name}"] + count for name, count in counts.items()}
        vals["resume_key"] = rows[-1][4]
        part.write(vals)
        return len(rows)

    def _iys_movements(self, rows, partners):
        """The ledger movements of import rows, with the contact and the row as evidence."""
        # One translation per chunk, not per row.
        note_template = self.env._("Import %(number)s, %(file)s, row %(row)s")
        retailer_template = self.env._("Retailer code: %(code)s")
        brand_id, registered, found = self.brand_id.id, self.mode == "registered", partners["found"]
        base = {"number": self.id, "file": self.file_name or ""}
        movements = []
        for _line_id, row_no, channel, rtype, address, status, source, consent_date, retailer, transaction, created, \
                text_id in rows:
            note = note_template % dict(base, row=row_no)
            if retailer:
                note += "\n" + retailer_template % {"code": retailer}
                movement_dealer = {"retailer_code": retailer}
            else:
                movement_dealer = {}
            # the contact, when one contact holds the address (several: see _iys_note_shared_contacts)
            holders = found.get((channel == "EPOSTA", address), ())
            movement = {
                "brand_id": brand_id, "channel": channel, "recipient_type": rtype, "address": address,
                "status": status, "source": source, "consent_date": consent_date,
                "evidence": {"note": note, "partner_id": holders[0] if len(holders) == 1 else None,
                             "consent_text_id": text_id},
                **movement_dealer,
            }
            if registered:
                movement.update(transaction_id=transaction, creation_date=created)
            movements.append(movement)
        return movements

    def _iys_match_partners(self, rows):
        """The contacts holding the rows' addresses: ``{'wanted': {key: recipient type}, 'found':
        {key: [partner ids, oldest first]}}``, keys ``(is e-mail, address)`` (:func:`partner_key`).

        An e-mail matches ``email_normalized``; a phone matches ``phone_sanitized`` (the number
        Odoo sends SMS to) and also the *Phone* and *Mobile* fields as typed, normalised as
        phone_validation does (with the contact's country) or as İYS does: the candidates are
        found by the last seven digits of those fields (indexed, see the import row model's
        ``init``), then normalised here. Only the active contacts the user may read.
        """
        wanted = {partner_key(row): row[3] for row in rows}
        emails = [address for is_email, address in wanted if is_email]
        phones = [address for is_email, address in wanted if not is_email]
        conditions = []
        if emails:
            conditions.append(SQL("email_normalized = ANY(%s)", emails))
        if phones:
            keys = sorted({phone_key(phone) for phone in phones})
            conditions.append(SQL("phone_sanitized = ANY(%s)", phones))
            for column in ("phone", "mobile"):
                conditions.append(SQL("%s = ANY(%s)", SQL(PHONE_KEY_SQL, SQL.identifier(column)), keys))
        found = {}
        if not conditions:
            return {"wanted": wanted, "found": found}
        self.env.cr.execute(SQL(
            "SELECT id FROM res_partner WHERE active AND (%s) ORDER BY id", SQL(" OR ").join(conditions)))
        ids = [row[0] for row in self.env.cr.fetchall()]
        Partner = self.env["res.partner"]
        # (the user's record rules; a few contacts per address)
        partners = Partner.search([("id", "in", ids)], order="id") if ids else Partner
        phone_set = set(phones)
        keys_wanted = {phone_key(phone) for phone in phones}
        for partner in partners:
            keys = set()
            if partner.email_normalized and (True, partner.email_normalized) in wanted:
                keys.add((True, partner.email_normalized))
            if partner.phone_sanitized in phone_set:
                keys.add((False, partner.phone_sanitized))
            sanitized_key = phone_key(partner.phone_sanitized)
            for number in (partner.phone, partner.mobile):
                # (the number phone_sanitized comes from is not normalised again: most contacts
                # have one number, and a chunk of 5000 addresses would parse 5000 numbers)
                if number and phone_key(number) in keys_wanted and phone_key(number) != sanitized_key:
                    keys.update((False, phone) for phone in self._iys_partner_phones(partner, number) & phone_set)
            for key in keys:
                found.setdefault(key, []).append(partner.id)
        return {"wanted": wanted, "found": found}

    @staticmethod
    def _iys_partner_phones(partner, number):
        """A number typed on a contact, normalised as phone_validation does (the contact's or the
        company's country) and as İYS does (Türkiye by default)."""
        phones = {partner._phone_format(number=number)}
        with contextlib.suppress(IysValidationError):  # not a number İYS would take: phone_validation's only
            phones.add(normalize_recipient("MESAJ", number))
        phones.discard(False)
        return phones

    def _iys_create_partners(self, first_rows):
        """Contacts for addresses no contact holds, *first_rows* ``{key: the address's first
        recorded row}``: named after the address as people write it, with a note saying which
        import and row created them. Returns ``{key: partner id}``."""
        if not first_rows:
            return {}
        Partner = self.env["res.partner"]
        keys = list(first_rows)
        vals_list = []
        for is_email, address in keys:
            rtype = first_rows[(is_email, address)][3]
            vals = {"iys_recipient_type": rtype if rtype in ("BIREYSEL", "TACIR") else "BIREYSEL"}
            if is_email:
                vals.update(name=address, email=address)
            else:
                vals.update(name=Partner._phone_format(number=address, force_format="INTERNATIONAL") or address,
                            mobile=address)
            vals_list.append(vals)
        new = Partner.with_context(tracking_disable=True, mail_create_nolog=True).create(vals_list)
        self._iys_link("iys_consent_import_partner_rel", "partner_id", new.ids)
        template = self.env._("Created by the consent import %(import)s (%(file)s), from row %(row)s.")
        new.sudo()._message_log_batch({
            partner.id: template % {"import": self.id, "file": self.file_name or "",
                                    "row": first_rows[key][1]}
            for key, partner in zip(keys, new, strict=True)
        }, author_id=self.env.user.partner_id.id)
        return dict(zip(keys, new.ids, strict=True))

    def _iys_link(self, table, column, ids):
        """Link this import to what it recorded or created (SQL: workers walking other ranges of
        the import at the same time do not touch the import's row)."""
        if ids:
            self.env.cr.execute(SQL(
                "INSERT INTO %s (import_id, %s) SELECT %s, unnest(%s::int4[]) ON CONFLICT DO NOTHING",
                SQL.identifier(table), SQL.identifier(column), self.id, sorted(ids)))
            self.invalidate_recordset(["consent_ids", "partner_created_ids"])

    def _iys_note_shared_contacts(self, rows, found, errors, dry_run):
        """Rows recorded for an address several contacts hold: no contact is created and none is
        chosen for the event; the report says so and, on the import, each contact gets a note."""
        Partner = self.env["res.partner"]
        names = {partner.id: partner.display_name for partner in Partner.browse(
            {pid for row in rows for pid in found[partner_key(row)]})}
        notice = self.env._("This address is on %(count)s contacts (%(names)s): the consent applies to each of them; "
                            "no contact was created.")
        notes = {}
        line = self.env._("İYS consent import %(import)s (%(file)s), row %(row)s: %(channel)s %(address)s, %(status)s. "
                          "This address is also on other contacts.")
        for row in rows:
            ids = found[partner_key(row)]
            errors.append((row[0], CODE_CONTACTS, notice % {
                "count": len(ids), "names": ", ".join(names[pid] for pid in ids)}))
            for pid in ids:
                notes.setdefault(pid, []).append(line % {
                    "import": self.id, "file": self.file_name or "", "row": row[1], "channel": row[2],
                    "address": row[4], "status": row[5]})
        if not dry_run and notes:
            Partner.sudo().browse(list(notes))._message_log_batch(
                {pid: Markup("<br/>").join(lines) for pid, lines in notes.items()},
                author_id=self.env.user.partner_id.id)

    def _iys_finish_walk(self):
        """End of the dry run or of the import: the error report, the counts, the next step."""
        self._iys_write_report()
        if self.phase == "check":
            self._iys_write({"state": "checked", "date_checked": fields.Datetime.now()})
        else:
            # the rows are the import's working table; those with a problem stay, listed on the import
            self.env.cr.execute(SQL(
                "DELETE FROM iys_consent_import_line WHERE import_id = %s AND error_code IS NULL", self.id))
            self.env["iys.consent.import.line"].invalidate_model()
            self._iys_write({"state": "done", "date_done": fields.Datetime.now()})
        _logger.info(
            "İYS import %s (%s): %s rows, %s valid, %s invalid, %s unchanged, %s duplicates",
            self.id, self.phase, self.count_rows, self.count_valid, self.count_invalid, self.count_unchanged,
            self.count_duplicate,
        )

    # ------------------------------------------------------------------------------------------
    # The error report
    # ------------------------------------------------------------------------------------------
    def _iys_write_report(self):
        """The rows with a problem, in file order, as CSV: row, the original values, code, message."""
        old = self._iys_own_attachments(self.report_id)
        self._iys_write({"report_id": False})
        old.unlink()
        delimiter = self.file_delimiter or ";"
        header = [self.env._("Row")]
        header += [csv_safe(self.header_names[index]) for index in self._iys_column_map().values()]
        header += [self.env._("Code"), self.env._("Message")]
        with tempfile.TemporaryFile() as spool:
            text = io.TextIOWrapper(spool, encoding="utf-8-sig", newline="")
            writer = csv.writer(text, delimiter=delimiter)
            writer.writerow(header)
            count, last = 0, 0
            while True:
                self.env.cr.execute(SQL(
                    """SELECT row_no, raw, error_code, error_message FROM iys_consent_import_line
                        WHERE import_id = %s AND row_no > %s AND error_code IS NOT NULL
                     ORDER BY row_no LIMIT 10000""", self.id, last))
                rows = self.env.cr.fetchall()
                if not rows:
                    break
                for row_no, raw, code, message in rows:
                    writer.writerow([row_no, *map(csv_safe, (raw or "").split(SEP)), code, csv_safe(message)])
                count += len(rows)
                last = rows[-1][0]
            text.flush()
            if not count:
                text.detach()
                return
            spool.seek(0)
            data = spool.read()
            text.detach()
        stem = os.path.splitext(self.file_name or "consents")[0]
        report = self.env["ir.attachment"].with_context(iys_no_index=True).create({
            "name": self.env._("%(file)s - errors.csv", file=stem),
            "raw": data,
            "mimetype": "text/csv",
            "res_model": self._name,
            "res_id": self.id,
        })
        self._iys_write({"report_id": report.id})


class IysConsent(models.Model):
    _inherit = "iys.consent"

    # the other side of iys.consent.import.consent_ids: the consents an import recorded
    iys_import_ids = fields.Many2many("iys.consent.import", "iys_consent_import_consent_rel", "consent_id",
                                      "import_id", string="Imports", readonly=True, copy=False)


class ResPartner(models.Model):
    _inherit = "res.partner"

    # the other side of iys.consent.import.partner_created_ids
    iys_import_created_ids = fields.Many2many("iys.consent.import", "iys_consent_import_partner_rel", "partner_id",
                                              "import_id", string="Created by the İYS imports", readonly=True,
                                              copy=False, groups="l10n_tr_iys.group_iys_manager")
