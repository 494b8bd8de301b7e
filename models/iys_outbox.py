# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
"""The outbox and the push of local movements to İYS.

State machine of one row (one local movement İYS must know)::

    pending ──submit (V2 batch, HTTP 202)──> sent ──poll: success──> done
       ^  │                                   │  └──poll: failure (final)──> failed
       │  ├─ certainly refused (re-validation) ──> failed / expired (H467)
       │  ├─ past its İYS deadline (deadline watch) ──> expired
       │  └─ transient error: stays pending, attempts+1, next_attempt_at = now + back-off
       └──── poll: transient item failure or unusable request id: pending again (re-submitted)
    failed ──Resend (manager)──> pending

Guarantees:

* **Order per address.** A row is only picked when no earlier row of the same consent is still
  pending or sent, so a batch never holds two movements of one address (İYS: H194, and only one
  movement per address per batch) and a later movement waits until the earlier is final.
* **No double send.** Rows are claimed with ``SELECT … FOR UPDATE SKIP LOCKED`` and stay locked
  through the HTTP call until their request id is stored and committed, so two workers or two
  overlapping runs never submit the same row.
* **No duplicate movement after a crash.** If the process dies after İYS accepted a batch but before
  the commit, the transaction is rolled back and the rows are pending again; the next run submits
  the *identical* bodies (the payload validated when the movement was recorded) through the **V2**
  batch API, which records an item already recorded with identical data only once and reports
  the original request in the result. The same holds for the client's own retries after a
  timeout or a dropped connection.
"""
import json
import logging
from datetime import timedelta
from time import monotonic

import psycopg2.errors

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.osv import expression
from odoo.tools import SQL

from ..iyslib import dates
from ..iyslib.errors import IysError, IysValidationError, resend_can_succeed
from ..iyslib.masking import mask_recipient
from ..iyslib.rules import CurrentState, validate_batch, validate_transition
from .iys_consent import STATE_FIELDS_DEPS
from .iys_sync_common import SyncStats, code_text, commit, error_code_and_text, in_test_mode

_logger = logging.getLogger(__name__)

OUTBOX_STATES = [
    ("pending", "Waiting to be sent"),
    ("sent", "Sent, waiting for İYS"),
    ("done", "Confirmed by İYS"),
    ("failed", "Refused by İYS"),
    ("expired", "Past the İYS deadline"),
    ("cancel", "Cancelled"),
]
#: states in which a movement is still on its way: later movements of the same address wait
OPEN_STATES = ("pending", "sent")
#: states an İYS manager may send again
RESENDABLE_STATES = ("failed", "cancel")
#: final states other than 'done': the rows a person may have to act on (indexed, see init())
REFUSED_STATES = ("failed", "expired", "cancel")
#: batches one cron call sends, requests one cron call polls (the framework calls again while work remains)
BATCHES_PER_CALL = 50
POLLS_PER_CALL = 50
#: seconds of work one cron call does at most, besides the bounds above: the framework calls the
#: cron again at once while work remains (ten calls per job run, then the job is run again as
#: soon as possible), so a call stays far below the time limit of an Odoo cron worker
SECONDS_PER_CALL = 10
#: the "remaining" a cron reports stops at this: the framework only needs to know whether work
#: remains, and counting a million open rows on every call would cost more than the call
REMAINING_CAP = 10000
#: a claim that meets rows another worker committed since this transaction began is retried this
#: many times in a fresh transaction (REPEATABLE READ cannot lock them in the old one)
CLAIM_RETRIES = 3
#: poll again after this long when İYS still processes a batch (at least the account's poll delay)
MIN_REPOLL_SECONDS = 60


class IysOutbox(models.Model):
    """Movements waiting for İYS. One row per local movement that İYS must know, created in the
    same transaction as its event, so a movement is never lost; the synchronisation sends rows in
    id order (several movements of one address keep their order) and records the outcome."""

    _name = "iys.outbox"
    _description = "İYS Outbox"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "id"
    _rec_name = "address"

    # No index on a column of its own: every update of a row (submit, result) that cannot stay in
    # place writes an entry in every index of the table, so only the partial indexes of init(),
    # on the rows the queries look for, are kept (see init()).
    event_id = fields.Many2one("iys.consent.event", required=True, ondelete="restrict", readonly=True)
    consent_id = fields.Many2one("iys.consent", required=True, ondelete="restrict", readonly=True)
    brand_id = fields.Many2one("iys.brand", required=True, ondelete="restrict", readonly=True)
    account_id = fields.Many2one(related="brand_id.account_id", store=True)
    company_id = fields.Many2one(related="brand_id.company_id", store=True)
    address = fields.Char(related="consent_id.address", store=True)
    channel = fields.Selection(related="consent_id.channel", store=True)
    recipient_type = fields.Selection(related="consent_id.recipient_type", store=True)
    status = fields.Selection(related="event_id.new_status", store=True, string="Movement")
    state = fields.Selection(OUTBOX_STATES, required=True, default="pending", readonly=True)
    payload = fields.Json(readonly=True, help="The İYS Consent body, as validated when the movement was recorded.")
    payload_text = fields.Text("Body sent to İYS", compute="_compute_payload_text")
    deadline = fields.Datetime(readonly=True)
    time_left = fields.Char(compute="_compute_time_left", help="Time left until the İYS deadline.")
    time_left_hours = fields.Float(compute="_compute_time_left", string="Hours left")
    deadline_warned = fields.Boolean(
        readonly=True, copy=False,
        help="Counted in an alert about movements less than one business day from their İYS deadline.",
    )
    attempts = fields.Integer(readonly=True)
    next_attempt_at = fields.Datetime("Next attempt", readonly=True)
    request_id = fields.Char("İYS request", readonly=True)
    sub_request_id = fields.Char("İYS sub-request", readonly=True)
    batch_index = fields.Integer(readonly=True, help="Position of the movement in the batch sent to İYS.")
    sent_at = fields.Datetime("Sent on", readonly=True)
    transaction_id = fields.Char("İYS transaction", readonly=True)
    iys_creation_date = fields.Datetime("Recorded by İYS on", readonly=True)
    result_at = fields.Datetime("Outcome on", readonly=True)
    refused_locally = fields.Boolean(
        "Caught before sending", readonly=True,
        help="The movement would certainly have been refused by İYS, so it was not sent (keeps İYS's success "
        "ratio high).",
    )
    error_code = fields.Char("İYS error", readonly=True)
    error_message = fields.Text("İYS error explanation", readonly=True)
    can_resend = fields.Boolean(
        compute="_compute_next_step", string="Can be sent again",
        help="Sending this movement again can succeed once the cause of the refusal is fixed.",
    )
    next_step = fields.Text(compute="_compute_next_step", string="What to do")

    def init(self):
        result = super().init()
        # A row is written three times (created pending, submitted, answered) and none of these
        # writes can stay in place (the state changes, and it is in the partial indexes' predicates),
        # so each write adds an entry to every index of the table whose predicate the new row
        # matches. Only the rows the queries look for are indexed: the open rows (the
        # synchronisation, the crons' remaining counts, the "earlier open movement of the same
        # consent" check), the refused ones (the screens and the Resend action) and the answered
        # ones by date (success ratio, alerts, the panel's last poll). Done rows stay forever and
        # are never searched for otherwise, so a movement costs 10 index entries instead of 39.
        for name, definition in (
            ("iys_outbox_pending_idx", "(brand_id, id) WHERE state = 'pending'"),
            ("iys_outbox_sent_idx", "(id) WHERE state = 'sent'"),
            ("iys_outbox_open_consent_idx", "(consent_id, id) WHERE state IN ('pending', 'sent')"),
            # the poll locks the rows of one request
            ("iys_outbox_sent_request_idx", "(request_id) WHERE state = 'sent'"),
            # the deadline watch, its alert and the Deadlines list (most urgent first)
            ("iys_outbox_pending_deadline_idx", "(deadline, id) WHERE state = 'pending'"),
            # refused, expired and cancelled rows: the outbox's filters and "Needs attention", the
            # panel, the account's counts and the Resend action on consents
            ("iys_outbox_refused_idx", "(state, consent_id, id) WHERE state IN ('failed', 'expired', 'cancel')"),
            # answers by date: success ratio, health, alerts, the panel's last poll
            ("iys_outbox_result_at_idx", "(result_at) WHERE result_at IS NOT NULL"),
        ):
            self.env.cr.execute(SQL(
                "CREATE INDEX IF NOT EXISTS %s ON iys_outbox %s", SQL.identifier(name), SQL(definition)
            ))
        # Odoo keeps the index of a field that is no longer ``index=True`` ("Keep unexpected
        # index"): drop the former single-column indexes, so that an updated database has the
        # same indexes as a new one.
        for column in ("event_id", "consent_id", "brand_id", "account_id", "company_id", "state", "deadline",
                       "next_attempt_at", "request_id", "sent_at", "result_at"):
            self.env.cr.execute(SQL("DROP INDEX IF EXISTS %s", SQL.identifier(f"iys_outbox__{column}_index")))
        return result

    @api.model_create_multi
    def create(self, vals_list):
        if not self.env.su:
            raise AccessError(self.env._("Outbox rows are created by the consent ledger only."))
        # Rows are created in bulk by the ledger: no follower, no creation message.
        return super(
            IysOutbox, self.with_context(mail_create_nosubscribe=True, mail_create_nolog=True, tracking_disable=True)
        ).create(vals_list)

    def write(self, vals):
        # Only the synchronisation (as superuser) writes a row; a manager's buttons are server
        # methods that do it (action_iys_resend). The chatter's own fields stay open to readers.
        if not self.env.su and set(vals) - set(self.env["mail.thread"]._fields) - set(
            self.env["mail.activity.mixin"]._fields
        ):
            raise AccessError(self.env._(
                "Outbox rows are written by the İYS synchronisation only: use the Resend button to send a "
                "refused movement again."
            ))
        return super().write(vals)

    @api.model
    def _iys_states_domain(self, states):
        """A domain on these states, none of them 'done', written as one OR arm per partial index
        (open rows, refused rows), so that PostgreSQL counts or lists them through those indexes
        instead of reading the handled rows of the whole outbox (ten million, in time)."""
        arms = [[("state", "in", group)] for group in (
            [state for state in states if state in OPEN_STATES],
            [state for state in states if state not in OPEN_STATES],
        ) if group]
        return expression.OR(arms)

    @api.depends("payload")
    def _compute_payload_text(self):
        for row in self:
            row.payload_text = json.dumps(row.payload, ensure_ascii=False, indent=1) if row.payload else False

    @api.depends("deadline", "state")
    def _compute_time_left(self):
        now = fields.Datetime.now()
        for row in self:
            if not row.deadline or row.state not in OPEN_STATES:
                row.time_left = False
                row.time_left_hours = 0.0
                continue
            seconds = (row.deadline - now).total_seconds()
            row.time_left_hours = round(seconds / 3600, 1)
            if seconds <= 0:
                row.time_left = self.env._("overdue")
            else:
                days, rest = divmod(int(seconds), 86400)
                hours, rest = divmod(rest, 3600)
                row.time_left = (
                    self.env._("%(days)s d %(hours)s h", days=days, hours=hours) if days
                    else self.env._("%(hours)s h %(minutes)s min", hours=hours, minutes=rest // 60)
                )

    @api.depends("state", "error_code", "deadline")
    def _compute_next_step(self):
        now = fields.Datetime.now()
        for row in self:
            row.can_resend = row._iys_resend_blocker(now) is None
            row.next_step = row._iys_next_step(now) if row.state in ("failed", "expired", "cancel") else False

    def _iys_resend_blocker(self, now=None):
        """Why this movement cannot be sent again (a text), or None when a resend can succeed. The
        same answer as the Resend button's, so the button shows only where it can work."""
        self.ensure_one()
        now = now or fields.Datetime.now()
        if self.state == "expired" or (self.state in RESENDABLE_STATES and self.deadline and self.deadline <= now):
            return self.env._(
                "The movement of %(address)s is past its İYS deadline: İYS would refuse it (H467). "
                "Collect fresh consent and record it as a new movement.", address=mask_recipient(self.address))
        if self.state not in RESENDABLE_STATES:
            return self.env._(
                "Only refused or cancelled movements can be sent again (%(address)s is “%(state)s”).",
                address=mask_recipient(self.address), state=dict(OUTBOX_STATES)[self.state])
        if self.state == "failed" and not resend_can_succeed(self.error_code):
            return self.env._(
                "İYS refused the movement of %(address)s itself (%(code)s): sent again unchanged, it would be "
                "refused again. %(next_step)s", address=mask_recipient(self.address), code=self.error_code,
                next_step=self._iys_next_step(now))
        return None

    def _iys_next_step(self, now=None):
        """What a user should do about this refused, expired or cancelled movement."""
        self.ensure_one()
        code = self.error_code or ""
        if self.state == "cancel":
            return self.env._("Cancelled: press Resend to send it to İYS after all.")
        if self.state == "expired" or code == "H467":
            return self.env._("Too late for İYS (3 business days): collect fresh consent and record it; the new "
                              "movement is sent on its own.")
        if code == "H175":
            return self.env._("İYS holds no consent for this address, so there is nothing to withdraw: the "
                              "refusal is kept in Odoo and no message goes to the address. Nothing else to do.")
        if code == "H174":
            return self.env._("İYS already holds a refusal for this address. Nothing else to do.")
        if code == "H178":
            return self.env._("İYS holds a newer movement for this address: pull the citizen changes "
                              "(Synchronise now) to bring it into Odoo.")
        if code in ("H120", "H121", "H122", "H160", "H166", "H464"):
            return self.env._("İYS does not accept this address. Correct it on the contact and record the "
                              "consent again for the corrected address.")
        if not resend_can_succeed(code):
            return self.env._("Correct the consent's data and record it again as a new movement.")
        return self.env._("Fix the cause shown above (for example the account's credentials, permissions or "
                          "subscription), then press Resend.")

    # ------------------------------------------------------------------------------------------
    # Receipts on the event and the consent
    # ------------------------------------------------------------------------------------------
    def _iys_current(self):
        """The rows whose movement is still the latest of its consent (only those may change the
        consent's sync state: a later movement keeps its own)."""
        if not self:
            return self
        self.env["iys.consent.event"].flush_model(["consent_id", "kind"])
        self.env.cr.execute(
            SQL(
                # (status movements only: a later change of the dealers with access is not a movement
                # of the consent's status and does not supersede this one)
                "SELECT o.id FROM iys_outbox o WHERE o.id = ANY(%s) AND o.event_id = ("
                "SELECT max(e.id) FROM iys_consent_event e WHERE e.consent_id = o.consent_id AND e.kind = 'status')",
                list(self.ids),
            )
        )
        current = {row[0] for row in self.env.cr.fetchall()}
        return self.filtered(lambda row: row.id in current)

    def _iys_receipts(self, outbox_vals, event_vals, consent_vals, current=None):
        """Write receipts on these rows, their events (receipt fields only) and, for the current
        movements (*current*: computed when not given), their consents.

        Each of the three is either one dict (the same values for every row) or a list of dicts
        aligned with ``self`` (a row's own values, e.g. its transaction id). Set-based: one
        ``UPDATE … FROM unnest(…)`` per table, whatever the number of rows; the ORM's caches of
        what SQL wrote are invalidated and what depends on it is marked for recomputation (as
        :meth:`~.iys_consent_bulk.IysConsent._iys_bulk_modified` does for the ledger's bulk path),
        and the stored states of the contacts carrying the current consents' addresses are
        refreshed once for all of them, as a consent's ``write`` does for one."""
        if not self:
            return
        rows = self.sudo()
        data = rows._iys_read_rows(["event_id", "consent_id", "channel", "address"])
        if current is None:
            current = rows._iys_current() if consent_vals else rows.browse()
        self._iys_sql_write(self.env["iys.outbox"], rows.ids, outbox_vals)
        if event_vals:
            self._iys_sql_write(self.env["iys.consent.event"], [data[row_id][0] for row_id in rows.ids], event_vals)
        if consent_vals and current:
            if isinstance(consent_vals, list):
                position = {row_id: index for index, row_id in enumerate(rows.ids)}
                consent_vals = [consent_vals[position[row_id]] for row_id in current.ids]
            self._iys_sql_write(self.env["iys.consent"], [data[row_id][1] for row_id in current.ids], consent_vals)
            if not STATE_FIELDS_DEPS.isdisjoint(
                    consent_vals[0] if isinstance(consent_vals, list) else consent_vals):
                self.env["iys.consent.mixin"]._iys_refresh_states({data[row_id][2:] for row_id in current.ids})

    def _iys_read_rows(self, names):
        """{id: (values of the columns *names*)} of these rows, in one query and without the ORM's
        cache (a batch is a thousand rows; JSON columns come parsed)."""
        self.flush_model(names)
        self.env.cr.execute(SQL(
            "SELECT id, %s FROM iys_outbox WHERE id = ANY(%s)",
            SQL(", ").join(SQL.identifier(name) for name in names), list(self.ids),
        ))
        return {row[0]: row[1:] for row in self.env.cr.fetchall()}

    @api.model
    def _iys_sql_write(self, model, ids, values):
        """Write *values* on the records *ids* of *model* with one UPDATE: *values* is a dict (the
        same values for every record) or a list of dicts aligned with *ids* (same keys in each).
        ``write_uid``/``write_date`` are set as the ORM sets them; the ORM caches of the columns
        written are invalidated and their dependants marked (see ``_iys_bulk_modified``)."""
        if not ids or not values:
            return
        names = list(values[0] if isinstance(values, list) else values)
        if not names:
            return
        model = model.sudo()
        Consent = self.env["iys.consent"]
        columns = {"id": list(ids)}
        for name in names:
            field = model._fields[name]
            column = [vals[name] for vals in values] if isinstance(values, list) else [values[name]] * len(ids)
            if field.type == "datetime":
                column = [fields.Datetime.to_datetime(value) or False for value in column]
            columns[name] = column
        model.flush_model()
        written = Consent._iys_bulk_update(model, columns)
        records = model.browse(ids)
        records.invalidate_recordset(written)
        Consent._iys_bulk_modified(records, written, create=False)

    def _iys_refuse(self, code, message, locally=False, now=None, current=None):
        """Final refusal (İYS refused, or would certainly refuse): shown as an error to fix and resend."""
        now = now or fields.Datetime.now()
        self._iys_receipts(
            {"state": "expired" if code == "H467" and locally else "failed", "error_code": code or False,
             "error_message": message, "result_at": now, "refused_locally": locally, "next_attempt_at": False},
            {"error_code": code or False, "error_message": message, "push_state": "rejected"},
            {"sync_state": "rejected", "iys_error_code": code or False, "iys_error_message": message},
            current=current,
        )

    def _iys_confirm(self, transaction_id, creation_date, now=None):
        self.ensure_one()
        self._iys_confirm_many([(transaction_id, creation_date)], now)

    def _iys_confirm_many(self, receipts, now=None, current=None):
        """İYS recorded these rows' movements: *receipts* is a list of (transaction id, İYS creation
        date) aligned with ``self``. One UPDATE per table for all of them."""
        now = now or fields.Datetime.now()
        self._iys_receipts(
            [{"state": "done", "transaction_id": transaction_id, "iys_creation_date": creation_date,
              "result_at": now, "error_code": False, "error_message": False, "next_attempt_at": False}
             for transaction_id, creation_date in receipts],
            [{"transaction_id": transaction_id, "iys_creation_date": creation_date, "push_state": "confirmed",
              "error_code": False, "error_message": False}
             for transaction_id, creation_date in receipts],
            [{"sync_state": "confirmed", "iys_transaction_id": transaction_id, "iys_creation_date": creation_date,
              "iys_error_code": False, "iys_error_message": False}
             for transaction_id, creation_date in receipts],
            current=current,
        )

    def _iys_retry_later(self, exc, lang, now=None, requeue=False, current=None):
        """Transient failure: try again after the library's back-off (``retry_after`` doubled per
        attempt). With *requeue* the rows go back to 'pending' to be submitted in a new request."""
        if not self:
            return
        now = now or fields.Datetime.now()
        code, text = error_code_and_text(exc, lang)
        rows = self.sudo()
        data = rows._iys_read_rows(["attempts"])
        vals_list = []
        for row_id in rows.ids:
            attempts = (data[row_id][0] or 0) + 1
            delay = (exc.retry_delay(attempts) if isinstance(exc, IysError) else None) or MIN_REPOLL_SECONDS
            vals = {"attempts": attempts, "next_attempt_at": now + timedelta(seconds=delay),
                    "error_code": code, "error_message": text}
            if requeue:
                vals.update({"state": "pending", "request_id": False, "sub_request_id": False, "batch_index": 0})
            vals_list.append(vals)
        self._iys_receipts(
            vals_list,
            {"push_state": "pending"} if requeue else {},
            {"sync_state": "pending"} if requeue else {},
            current=current,
        )

    # ------------------------------------------------------------------------------------------
    # Push: send pending movements
    # ------------------------------------------------------------------------------------------
    @api.model
    def _iys_earlier_open_sql(self):
        """Row ``o`` waits for an earlier movement of its consent still on its way to İYS: one
        movement per address at a time, in order."""
        return SQL(
            "EXISTS (SELECT 1 FROM iys_outbox p WHERE p.consent_id = o.consent_id AND p.id < o.id "
            "AND p.state IN %s)", OPEN_STATES,
        )

    @api.model
    def _iys_sendable_sql(self, now, brand=None, ids=None):
        return SQL(
            """o.state = 'pending'
               AND (o.next_attempt_at IS NULL OR o.next_attempt_at <= %(now)s)
               %(brand)s %(ids)s
               AND NOT %(earlier)s""",
            now=now,
            brand=SQL("AND o.brand_id = %s", brand.id) if brand else SQL(),
            ids=SQL("AND o.id IN %s", tuple(ids)) if ids else SQL(),
            earlier=self._iys_earlier_open_sql(),
        )

    def _iys_behind_earlier(self):
        """Those of these pending rows that wait for an earlier movement of their consent."""
        if not self:
            return self
        self.flush_model(["consent_id", "state"])
        self.env.cr.execute(SQL(
            "SELECT o.id FROM iys_outbox o WHERE o.id IN %s AND o.state = 'pending' AND %s",
            tuple(self.ids), self._iys_earlier_open_sql(),
        ))
        return self.browse([row[0] for row in self.env.cr.fetchall()])

    @api.model
    def _iys_claim_pending(self, brand, limit, ids=None, now=None, after_id=None):
        """Lock and return the next rows of *brand* to send, in id order, skipping rows another
        transaction holds and rows whose address has an earlier movement still on its way.

        *after_id*: only rows after this one (the last row of the previous batch of the same call):
        the rows before it were claimed, are held by another worker, wait or are not due, so the
        next batch starts there instead of walking the outbox from its start again (the planner
        may prefer the primary key to the partial index on pending rows when most rows are
        pending)."""
        return self.sudo().browse(self._iys_lock_rows(SQL(
            "SELECT o.id FROM iys_outbox o WHERE %s %s ORDER BY o.id LIMIT %s FOR UPDATE OF o SKIP LOCKED",
            self._iys_sendable_sql(now or fields.Datetime.now(), brand, ids),
            SQL("AND o.id > %s", after_id) if after_id else SQL(),
            limit,
        )))

    @api.model
    def _iys_lock_rows(self, query):
        """Run a ``SELECT id … FOR UPDATE SKIP LOCKED`` and return the ids (the first column).

        Rows another transaction holds are skipped. Under Odoo's REPEATABLE READ a row another
        worker changed and committed since this transaction began cannot be locked at all
        (serialization failure): the claim is then retried in a fresh transaction (the work done
        so far is committed, as after every batch), a few times; under tests, or if it keeps
        failing, nothing is claimed this time (the other worker is on it). The failure is
        expected and handled: it is not logged as an error (the cursor would log the whole
        statement at ERROR level).
        """
        for attempt in range(CLAIM_RETRIES + 1):
            self.env.flush_all()
            try:
                with self.env.cr.savepoint(flush=False):
                    self.env.cr.execute(query, log_exceptions=False)
                    return [row[0] for row in self.env.cr.fetchall()]
            except psycopg2.errors.SerializationFailure:
                if attempt == CLAIM_RETRIES or in_test_mode():
                    break
                commit(self.env)  # a new transaction, with a snapshot that sees the other worker's rows
        _logger.info("İYS outbox: rows changed by another worker meanwhile; leaving them to the next run")
        return []

    @api.model
    def _iys_count_open(self, state, now=None, cap=REMAINING_CAP):
        """Rows in *state* ('pending' or 'sent') of the brands synchronised now whose next attempt is
        due (pending: not behind an earlier open movement of their consent), counted up to *cap*
        through the partial indexes on open rows (the cost does not grow with the handled rows).
        The crons' "remaining"."""
        brands = self._iys_sync_brands()
        if not brands:
            return 0
        self.flush_model(["state", "brand_id", "consent_id", "next_attempt_at"])
        self.env.cr.execute(SQL(
            """SELECT count(*) FROM (
                   SELECT 1 FROM iys_outbox o
                    WHERE o.state = %s AND o.brand_id IN %s
                      AND (o.next_attempt_at IS NULL OR o.next_attempt_at <= %s) %s
                    LIMIT %s) AS open_rows""",
            state, tuple(brands.ids), now or fields.Datetime.now(),
            # (a pending row behind an earlier open movement of its consent is not work for now)
            SQL("AND NOT %s", self._iys_earlier_open_sql()) if state == "pending" else SQL(), cap,
        ))
        return self.env.cr.fetchone()[0]

    @api.model
    def _iys_sync_brands(self, brands=None):
        brands = brands if brands is not None else self.env["iys.brand"]._iys_pull_brands()
        return brands.sudo().filtered(lambda b: b.active and b.account_id.active)

    @api.model
    def _cron_iys_send(self):
        """İYS: send pending movements (bounded batches, committed one by one, at most
        ``SECONDS_PER_CALL`` seconds per call)."""
        stats = self._iys_push(max_batches=BATCHES_PER_CALL, time_budget=SECONDS_PER_CALL)
        if self.env.context.get("ir_cron_progress_id"):  # (counted only when the framework asks)
            self.env["ir.cron"]._notify_progress(done=stats.sent + stats.refused,
                                                 remaining=self._iys_count_open("pending"))
        return stats

    @api.model
    def _iys_push(self, brands=None, outbox_ids=None, max_batches=None, time_budget=None):
        """Send pending movements of *brands* (default: all) or only the rows *outbox_ids*; stop
        after *max_batches* batches or *time_budget* seconds."""
        stats = SyncStats()
        deadline = monotonic() + time_budget if time_budget else None
        for account, account_brands in self._iys_sync_brands(brands).grouped("account_id").items():
            for brand in account_brands:
                brand_stats = self._iys_push_brand(
                    brand, outbox_ids, max_batches and max_batches - stats.batches, deadline=deadline)
                stats.add(brand_stats)
                if brand_stats.stop:
                    _logger.info("İYS push: account %s paused until the next run", account.id)
                    break
                if (max_batches and stats.batches >= max_batches) or (deadline and monotonic() >= deadline):
                    return stats
        return stats

    @api.model
    def _iys_push_brand(self, brand, outbox_ids=None, max_batches=None, deadline=None):
        stats = SyncStats()
        account = brand.account_id
        client = None
        batch_size = account.batch_size
        after_id = None
        try:
            while max_batches is None or stats.batches < max_batches:
                if deadline and monotonic() >= deadline:
                    break
                rows = self._iys_claim_pending(brand, batch_size, outbox_ids, after_id=after_id)
                if not rows:
                    break
                after_id = max(rows.ids)
                stats.batches += 1
                if client is None:
                    try:
                        client = account._iys_client(brand)
                    except UserError as exc:
                        stats.errors.append(exc.args[0])
                        stats.stop = True
                        break
                batch_stats = rows._iys_send_batch(client, brand)
                stats.add(batch_stats)
                commit(self.env)
                # the rows of a batch are done with: keep the worker's memory flat
                self.env.invalidate_all()
                if batch_stats.stop or not (batch_stats.sent or batch_stats.refused or batch_stats.retried):
                    break
        finally:
            if client is not None:
                client.token_store.release()
        return stats

    @api.model
    def _iys_certain_refusal(self, body, consent):
        """The refusal İYS would certainly answer for this row, or None.

        Besides the field checks (done by the caller), one case is certain: İYS reported a newer
        movement of the address after this one was recorded (pull or push), so this movement's
        consent date is not after the one İYS holds (H178). Only asked for the rows whose
        movement is no longer their consent's latest; *consent*: (status, consent date, source,
        sync state) of the row's consent.
        """
        status, consent_date, source, sync_state = consent
        if sync_state != "confirmed" or not consent_date:
            return None
        previous = CurrentState(status, consent_date, source or None)
        try:
            validate_transition(previous, body["status"], body.get("consentDate"), body.get("source"),
                                body.get("recipientType") or "BIREYSEL")
        except IysValidationError as exc:
            if exc.code == "H178":
                return exc
        return None

    def _iys_send_batch(self, client, brand):
        """Re-validate, submit and record one batch of claimed (locked) rows of *brand*.

        The batch is validated once, here (with the client's clock skew), and handed to the
        client as validated (``validate=False``): the same checks the client would run again."""
        stats = SyncStats()
        now = fields.Datetime.now()
        lang = brand.account_id._iys_lang()
        data = self._iys_read_rows(["payload", "consent_id", "attempts"])
        ids = self.ids
        check = validate_batch([data[row_id][0] or {} for row_id in ids], now=now,
                               clock_skew=client.config.clock_skew)
        refusals = {ids[exc.index]: exc for exc in check.errors}
        good = []
        current = self._iys_current()
        superseded = set(ids) - set(current.ids)
        consents = {}
        if superseded:
            self.env["iys.consent"].flush_model(["status", "consent_date", "source", "sync_state"])
            self.env.cr.execute(SQL(
                "SELECT id, status, consent_date, source, sync_state FROM iys_consent WHERE id = ANY(%s)",
                [data[row_id][1] for row_id in superseded],
            ))
            consents = {row[0]: row[1:] for row in self.env.cr.fetchall()}
        for row_id, body in zip(ids, check.bodies, strict=True):
            if row_id in refusals:
                continue
            exc = self._iys_certain_refusal(body, consents[data[row_id][1]]) if row_id in superseded else None
            if exc:
                refusals[row_id] = exc
            else:
                good.append((self.browse(row_id), body))
        stats.add(self._iys_refuse_grouped(
            [(self.browse(row_id), exc, isinstance(exc, IysValidationError)) for row_id, exc in refusals.items()],
            lang, now, current, locally=True))
        if not good:
            return stats
        bodies = [body for _row, body in good]
        try:
            result = client.add_consents_batch(bodies, brand_code=int(brand.code), v2=True, validate=False)
        except IysError as exc:
            return stats.add(self._iys_submit_failed(good, exc, lang, now, current=current))
        self._iys_store_submission(good, result, now, current=current,
                                   attempts={row_id: values[2] for row_id, values in data.items()})
        stats.sent += len(good)
        _logger.info("İYS push: brand %s, %s movements sent (request %s)", brand.id, len(good), result.request_id)
        return stats

    def _iys_refuse_grouped(self, refusals, lang, now, current=None, locally=None):
        """Record final refusals: *refusals* is a list of (row, library error, refused locally);
        rows refused for the same reason are written together."""
        stats = SyncStats()
        groups = {}
        for row, exc, row_locally in refusals:
            code, text = error_code_and_text(exc, lang) if isinstance(exc, IysError) else exc
            key = (code or False, text, row_locally if locally is None else locally)
            groups.setdefault(key, []).append(row.id)
            stats.refused += 1
            stats.reasons[code or "?"] += 1
        for (code, text, row_locally), ids in groups.items():
            rows = self.browse(ids)
            rows._iys_refuse(code, text, locally=row_locally, now=now,
                             current=current & rows if current is not None else None)
        return stats

    @api.model
    def _iys_submit_failed(self, good, exc, lang, now, current=None):
        """A batch was not accepted. Obey the library: transient -> retry later; items refused by
        index -> refuse those (the others were not recorded and go with the next batch); anything
        else is final for every item (e.g. credentials or subscription: fix, then resend)."""
        stats = SyncStats()
        rows = self.browse([row.id for row, _body in good]).sudo()
        code, text = error_code_and_text(exc, lang)
        indexed = [err for err in (exc.errors or [exc]) if err.index is not None and err.index < len(good)]
        if exc.retryable:
            rows._iys_retry_later(exc, lang, now, current=current)
            stats.retried += len(rows)
            stats.stop = True
            stats.errors.append(text)
            _logger.warning("İYS push: batch of %s not accepted (%s); retrying later", len(rows),
                            code or exc.http_status)
        elif indexed:
            stats.add(self._iys_refuse_grouped(
                [(good[err.index][0], err, isinstance(err, IysValidationError)) for err in indexed], lang, now,
                current))
        else:
            rows._iys_refuse(code, text, locally=isinstance(exc, IysValidationError), now=now, current=current)
            stats.refused += len(rows)
            stats.reasons[code or "?"] += len(rows)
            stats.stop = True
            stats.errors.append(text)
            _logger.warning("İYS push: batch of %s refused as a whole (%s)", len(rows), code or exc.http_status)
        return stats

    @api.model
    def _iys_store_submission(self, good, result, now, current=None, attempts=None):
        """Persist what İYS answered to a submission (request id, sub-request ids) on the rows and
        their events, right after the answer, with one UPDATE per table; the caller commits.
        *attempts*: {row id: attempts so far}, when the caller read them already."""
        delay = max(good[0][0].account_id.poll_delay, 0)
        if attempts is None:
            attempts = {row_id: values[0] for row_id, values in
                        self.browse([row.id for row, _body in good])._iys_read_rows(["attempts"]).items()}
        subs = list(result.sub_requests or [])
        by_key = {}
        for sub in subs:
            by_key.setdefault((sub.get("recipientType") or "BIREYSEL", sub.get("type"), sub.get("recipient")), sub)
        next_attempt = now + timedelta(seconds=delay)
        outbox_vals, event_vals = [], []
        for index, (row, body) in enumerate(good):
            sub = subs[index] if index < len(subs) else {}
            if sub.get("recipient") not in (None, body["recipient"]):
                sub = by_key.get((body.get("recipientType") or "BIREYSEL", body["type"], body["recipient"]), {})
            sub_id = sub.get("subRequestId") or sub.get("subrequestId") or False
            outbox_vals.append({
                "state": "sent", "request_id": result.request_id, "sub_request_id": sub_id, "batch_index": index,
                "sent_at": now, "attempts": (attempts[row.id] or 0) + 1, "next_attempt_at": next_attempt,
                "error_code": False, "error_message": False,
            })
            event_vals.append({"request_id": result.request_id, "sub_request_id": sub_id,
                               "push_state": "sent", "error_code": False, "error_message": False})
        rows = self.browse([row.id for row, _body in good])
        rows._iys_receipts(
            outbox_vals, event_vals, {"sync_state": "sent", "iys_error_code": False, "iys_error_message": False},
            current=current & rows if current is not None else None,
        )

    # ------------------------------------------------------------------------------------------
    # Poll: fetch batch results
    # ------------------------------------------------------------------------------------------
    @api.model
    def _iys_pollable_sql(self, now, brand_ids=None, ids=None):
        return SQL(
            """o.state = 'sent' AND o.request_id IS NOT NULL
               AND (o.next_attempt_at IS NULL OR o.next_attempt_at <= %(now)s)
               AND o.sent_at <= %(now)s - make_interval(secs => GREATEST(a.poll_delay, 0))
               %(brands)s %(ids)s""",
            now=now,
            brands=SQL("AND o.brand_id IN %s", tuple(brand_ids)) if brand_ids else SQL(),
            ids=SQL("AND o.id IN %s", tuple(ids)) if ids else SQL(),
        )

    @api.model
    def _cron_iys_poll(self):
        """İYS: fetch batch results of movements sent at least the poll delay ago (at most
        ``POLLS_PER_CALL`` requests and ``SECONDS_PER_CALL`` seconds per call, each request
        committed on its own)."""
        stats = self._iys_poll(max_requests=POLLS_PER_CALL, time_budget=SECONDS_PER_CALL)
        if self.env.context.get("ir_cron_progress_id"):  # (counted only when the framework asks)
            self.env["ir.cron"]._notify_progress(
                done=stats.confirmed + stats.refused + stats.retried, remaining=self._iys_count_open("sent")
            )
        return stats

    @api.model
    def _iys_poll(self, brands=None, outbox_ids=None, max_requests=None, time_budget=None):
        """Ask İYS for the results of the sent batches that are due, and record them, one request at
        a time (oldest first), each committed before the next; stop after *max_requests* requests
        or *time_budget* seconds.

        The next request is found from its oldest due row, through the partial index on the sent
        rows, and its rows are locked (``SKIP LOCKED``): a request another worker polls is
        skipped, and the cost of finding it does not grow with the handled rows."""
        stats = SyncStats()
        now = fields.Datetime.now()
        deadline = monotonic() + time_budget if time_budget else None
        brands = self._iys_sync_brands(brands)
        if not brands:
            return stats
        Brand = self.env["iys.brand"].sudo()
        clients = {}
        paused = set()  # account ids
        done = set()    # (brand id, request id) handled in this call
        after_id = None
        polled = 0
        try:
            while max_requests is None or polled < max_requests:
                if deadline and monotonic() >= deadline:
                    break
                pollable = self._iys_pollable_sql(now, brands.ids, outbox_ids)
                if paused:
                    pollable = SQL("%s AND o.account_id NOT IN %s", pollable, tuple(paused))
                # (after the first row of the previous request: the rows before it were polled,
                # are held by another worker or wait, and the next pick need not walk them again)
                first = self._iys_lock_rows(SQL(
                    "SELECT o.id FROM iys_outbox o JOIN iys_account a ON a.id = o.account_id "
                    "WHERE %s %s ORDER BY o.id LIMIT 1 FOR UPDATE OF o SKIP LOCKED",
                    pollable, SQL("AND o.id > %s", after_id) if after_id else SQL(),
                ))
                if not first:
                    break
                after_id = first[0]
                self.env.cr.execute(SQL("SELECT brand_id, request_id FROM iys_outbox WHERE id = %s", first[0]))
                brand_id, request_id = self.env.cr.fetchone()
                if (brand_id, request_id) in done:
                    break  # (its rows stayed due: nothing more to do in this call)
                done.add((brand_id, request_id))
                polled += 1
                brand = Brand.browse(brand_id)
                account = brand.account_id
                # Lock the request's rows (rows another worker is polling are skipped).
                request_rows = self.sudo().browse(self._iys_lock_rows(SQL(
                    "SELECT o.id FROM iys_outbox o JOIN iys_account a ON a.id = o.account_id "
                    "WHERE %s AND o.brand_id = %s AND o.request_id = %s ORDER BY o.id FOR UPDATE OF o SKIP LOCKED",
                    pollable, brand_id, request_id,
                )))
                if not request_rows:
                    continue
                if brand not in clients:
                    try:
                        clients[brand] = account._iys_client(brand)
                    except UserError as exc:
                        stats.errors.append(exc.args[0])
                        paused.add(account.id)
                        commit(self.env)
                        continue
                request_stats = request_rows._iys_poll_request(clients[brand], brand, request_id, now)
                stats.add(request_stats)
                commit(self.env)
                # the rows of a request are done with: keep the worker's memory flat
                self.env.invalidate_all()
                if request_stats.stop:
                    paused.add(account.id)
        finally:
            for client in clients.values():
                client.token_store.release()
        return stats

    def _iys_poll_request(self, client, brand, request_id, now):
        """Fetch and record the result of one batch request (self: its sent rows), set-based: the
        confirmations with one UPDATE per table (outbox, events, consents), the refusals and
        retries with one per reason, the contacts' stored states refreshed once."""
        stats = SyncStats()
        lang = brand.account_id._iys_lang()
        repoll = now + timedelta(seconds=max(brand.account_id.poll_delay, MIN_REPOLL_SECONDS))
        try:
            results = client.get_batch_result(request_id, brand_code=int(brand.code), v2=True)
        except IysError as exc:
            if exc.retryable:
                self._iys_receipts(
                    {"next_attempt_at": now + timedelta(seconds=exc.retry_delay(1) or MIN_REPOLL_SECONDS)}, {}, {},
                )
                stats.waiting += len(self)
                stats.stop = True
            else:
                # İYS will never answer for this request id: submit the movements again (the V2 batch
                # records an identical movement only once).
                self._iys_retry_later(exc, lang, now, requeue=True)
                stats.retried += len(self)
            stats.errors.append(error_code_and_text(exc, lang)[1])
            return stats
        data = self._iys_read_rows(["sub_request_id", "batch_index"])
        by_sub = {values[0]: row_id for row_id, values in data.items() if values[0]}
        by_index = {values[1]: row_id for row_id, values in data.items()}
        answered = set()
        confirmed, receipts, refused, retried = [], [], [], {}
        for item in results:
            row_id = by_sub.get(item.sub_request_id) or by_index.get(item.index)
            if not row_id or row_id in answered:
                continue
            if item.status == "success":
                answered.add(row_id)
                confirmed.append(row_id)
                receipts.append((item.transaction_id, item.creation_date))
            elif item.status == "failure":
                answered.add(row_id)
                error = item.error
                if error is not None and error.retryable:
                    code, text = error_code_and_text(error, lang)
                    retried.setdefault((code, text, error.retry_after), (error, []))[1].append(row_id)
                else:
                    code = error.code if error is not None else False
                    detail = error.message if error is not None else ""
                    refused.append((self.browse(row_id), (code, code_text(code, lang, detail) if code else detail),
                                    False))
        current = self._iys_current() if len(answered) else self.browse()
        if confirmed:
            rows = self.browse(confirmed)
            rows._iys_confirm_many(receipts, now, current=current & rows)
            stats.confirmed += len(rows)
        if refused:
            stats.add(self._iys_refuse_grouped(refused, lang, now, current))
        for error, ids in retried.values():
            rows = self.browse(ids)
            rows._iys_retry_later(error, lang, now, requeue=True, current=current & rows)
            stats.retried += len(rows)
        waiting = self.browse([row_id for row_id in self.ids if row_id not in answered])
        if waiting:
            waiting._iys_receipts({"next_attempt_at": repoll}, {}, {})
            stats.waiting += len(waiting)
        return stats

    # ------------------------------------------------------------------------------------------
    # Deadline watch
    # ------------------------------------------------------------------------------------------
    @api.model
    def _cron_iys_deadline_watch(self, now=None):
        """Stop sending movements past their İYS deadline (İYS would refuse them with H467).

        Returns (expired rows, rows less than one business day from their deadline). The rows close
        to their deadline are reported by ONE alert per account ("İYS: check alerts", iys.alert), not
        by an activity per row; the alert marks the rows it counts as ``deadline_warned``."""
        now = now or fields.Datetime.now()
        Outbox = self.sudo()
        expired = Outbox.search([("state", "=", "pending"), ("deadline", "!=", False), ("deadline", "<=", now)])
        for account, rows in expired.grouped("account_id").items():
            lang = account._iys_lang()
            rows._iys_refuse("H467", rows._iys_expired_text(lang), locally=True, now=now)
        soon = Outbox.search([
            ("state", "=", "pending"), ("deadline", "!=", False),
            ("deadline", ">", now), ("deadline", "<", dates.add_business_days(now, 1)),
        ])
        self.env["ir.cron"]._notify_progress(done=len(expired), remaining=0)
        return expired, soon

    @api.model
    def _iys_expired_text(self, lang):
        if lang == "tr":
            return ("İYS son kayıt süresi (3 iş günü) geçti: İYS bu hareketi H467 ile reddeder, gönderilmeyecek. "
                    "Kişiden yeniden izin alın ve yeni izni kaydedin.")
        return ("Past the İYS deadline (3 business days): İYS will refuse it with H467, so it is no longer sent. "
                "Collect fresh consent and record it.")

    # ------------------------------------------------------------------------------------------
    # Resend
    # ------------------------------------------------------------------------------------------
    def action_iys_resend(self):
        """Queue refused movements again once their cause is fixed (a manager's decision)."""
        if not (self.env.su or self.env.user.has_group("l10n_tr_iys.group_iys_manager")):
            raise AccessError(self.env._("Only İYS managers may send movements to İYS again."))
        self.check_access("read")  # the manager's own companies (the work below is done as superuser)
        rows = self.sudo()
        now = fields.Datetime.now()
        for row in rows:
            blocker = row._iys_resend_blocker(now)
            if blocker:
                raise UserError(blocker)
        superseded = rows - rows._iys_current()
        if superseded:
            raise UserError(self.env._(
                "A later movement of %(address)s was recorded since: it is the one İYS must get.",
                address=mask_recipient(superseded[0].address)))
        rows._iys_receipts(
            {"state": "pending", "attempts": 0, "next_attempt_at": False, "request_id": False,
             "sub_request_id": False, "batch_index": 0, "sent_at": False, "result_at": False,
             "refused_locally": False, "error_code": False, "error_message": False},
            {"push_state": "pending", "error_code": False, "error_message": False},
            {"sync_state": "pending", "iys_error_code": False, "iys_error_message": False},
        )
        for row in rows:
            row.message_post(body=self.env._("Queued again for İYS by %(user)s.", user=self.env.user.name))
        return True

    @api.model
    def _iys_resend_consents(self, consents):
        """Resend the refused movement of each consent (the 'Resend to İYS' action on consents)."""
        consents.check_access("read")
        # Only the refused rows that are still their consent's latest movement (a refused row with a
        # later movement of its consent is not sent again), read through the index on refused rows.
        rows = self.sudo().search(
            [("consent_id", "in", consents.ids), ("state", "in", RESENDABLE_STATES)], order="id desc",
        )._iys_current()
        latest = self.browse()
        for row in rows:
            if row.can_resend:
                latest |= row
        if not latest:
            raise UserError(self.env._(
                "None of these consents has a refused movement that can succeed if sent again (a movement "
                "İYS refused for its own data must be corrected and recorded again)."))
        return latest.with_env(self.env).action_iys_resend()
