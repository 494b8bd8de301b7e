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

import psycopg2.errors

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import SQL

from ..iyslib import dates
from ..iyslib.errors import IysError, IysValidationError, resend_can_succeed
from ..iyslib.masking import mask_recipient
from ..iyslib.rules import CurrentState, validate_batch, validate_transition
from .iys_consent import ledger
from .iys_sync_common import SyncStats, code_text, commit, error_code_and_text

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
#: batches one cron call sends, requests one cron call polls (the framework calls again while work remains)
BATCHES_PER_CALL = 10
POLLS_PER_CALL = 50
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

    event_id = fields.Many2one("iys.consent.event", required=True, ondelete="restrict", index=True, readonly=True)
    consent_id = fields.Many2one("iys.consent", required=True, ondelete="restrict", index=True, readonly=True)
    brand_id = fields.Many2one("iys.brand", required=True, ondelete="restrict", index=True, readonly=True)
    account_id = fields.Many2one(related="brand_id.account_id", store=True, index=True)
    company_id = fields.Many2one(related="brand_id.company_id", store=True, index=True)
    address = fields.Char(related="consent_id.address", store=True)
    channel = fields.Selection(related="consent_id.channel", store=True)
    recipient_type = fields.Selection(related="consent_id.recipient_type", store=True)
    status = fields.Selection(related="event_id.new_status", store=True, string="Movement")
    state = fields.Selection(OUTBOX_STATES, required=True, default="pending", index=True, readonly=True)
    payload = fields.Json(readonly=True, help="The İYS Consent body, as validated when the movement was recorded.")
    payload_text = fields.Text("Body sent to İYS", compute="_compute_payload_text")
    deadline = fields.Datetime(index=True, readonly=True)
    time_left = fields.Char(compute="_compute_time_left", help="Time left until the İYS deadline.")
    time_left_hours = fields.Float(compute="_compute_time_left", string="Hours left")
    deadline_warned = fields.Boolean(
        readonly=True, copy=False,
        help="Counted in an alert about movements less than one business day from their İYS deadline.",
    )
    attempts = fields.Integer(readonly=True)
    next_attempt_at = fields.Datetime("Next attempt", index=True, readonly=True)
    request_id = fields.Char("İYS request", index="btree_not_null", readonly=True)
    sub_request_id = fields.Char("İYS sub-request", readonly=True)
    batch_index = fields.Integer(readonly=True, help="Position of the movement in the batch sent to İYS.")
    sent_at = fields.Datetime("Sent on", readonly=True, index=True)  # the panel's last push
    transaction_id = fields.Char("İYS transaction", readonly=True)
    iys_creation_date = fields.Datetime("Recorded by İYS on", readonly=True)
    result_at = fields.Datetime("Outcome on", readonly=True, index=True)
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
        self.env.flush_all()
        self.env.cr.execute(
            SQL(
                # (status movements only: a later change of the dealers with access is not a movement
                # of the consent's status and does not supersede this one)
                "SELECT consent_id, max(id) FROM iys_consent_event WHERE consent_id IN %s AND kind = 'status' "
                "GROUP BY consent_id",
                tuple(self.consent_id.ids),
            )
        )
        latest = dict(self.env.cr.fetchall())
        return self.filtered(lambda row: latest.get(row.consent_id.id) == row.event_id.id)

    def _iys_receipts(self, outbox_vals, event_vals, consent_vals):
        """Write the same values on these rows, their events (receipt fields only) and, for the
        current movements, their consents."""
        if not self:
            return
        current = self._iys_current()
        self.sudo().write(outbox_vals)
        if event_vals:
            ledger(self.event_id).write(event_vals)
        if consent_vals and current:
            ledger(current.consent_id).write(consent_vals)

    def _iys_refuse(self, code, message, locally=False, now=None):
        """Final refusal (İYS refused, or would certainly refuse): shown as an error to fix and resend."""
        now = now or fields.Datetime.now()
        self._iys_receipts(
            {"state": "expired" if code == "H467" and locally else "failed", "error_code": code or False,
             "error_message": message, "result_at": now, "refused_locally": locally, "next_attempt_at": False},
            {"error_code": code or False, "error_message": message, "push_state": "rejected"},
            {"sync_state": "rejected", "iys_error_code": code or False, "iys_error_message": message},
        )

    def _iys_confirm(self, transaction_id, creation_date, now=None):
        self.ensure_one()
        self._iys_receipts(
            {"state": "done", "transaction_id": transaction_id, "iys_creation_date": creation_date,
             "result_at": now or fields.Datetime.now(), "error_code": False, "error_message": False,
             "next_attempt_at": False},
            {"transaction_id": transaction_id, "iys_creation_date": creation_date, "push_state": "confirmed",
             "error_code": False, "error_message": False},
            {"sync_state": "confirmed", "iys_transaction_id": transaction_id, "iys_creation_date": creation_date,
             "iys_error_code": False, "iys_error_message": False},
        )

    def _iys_retry_later(self, exc, lang, now=None, requeue=False):
        """Transient failure: try again after the library's back-off (``retry_after`` doubled per
        attempt). With *requeue* the rows go back to 'pending' to be submitted in a new request."""
        now = now or fields.Datetime.now()
        code, text = error_code_and_text(exc, lang)
        for row in self:
            attempts = row.attempts + 1
            delay = (exc.retry_delay(attempts) if isinstance(exc, IysError) else None) or MIN_REPOLL_SECONDS
            vals = {"attempts": attempts, "next_attempt_at": now + timedelta(seconds=delay),
                    "error_code": code, "error_message": text}
            if requeue:
                vals.update({"state": "pending", "request_id": False, "sub_request_id": False, "batch_index": 0})
            row.sudo().write(vals)
        if requeue:
            self._iys_receipts({}, {"push_state": "pending"}, {"sync_state": "pending"})

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
    def _iys_claim_pending(self, brand, limit, ids=None, now=None):
        """Lock and return the next rows of *brand* to send, in id order, skipping rows another
        transaction holds and rows whose address has an earlier movement still on its way."""
        return self.sudo().browse(self._iys_lock_rows(SQL(
            "SELECT o.id FROM iys_outbox o WHERE %s ORDER BY o.id LIMIT %s FOR UPDATE OF o SKIP LOCKED",
            self._iys_sendable_sql(now or fields.Datetime.now(), brand, ids),
            limit,
        )))

    @api.model
    def _iys_lock_rows(self, query):
        """Run a ``SELECT id … FOR UPDATE SKIP LOCKED`` and return the ids.

        Rows another transaction holds are skipped. Under Odoo's REPEATABLE READ a row another
        worker changed and committed since this transaction began cannot be locked at all: then
        nothing is claimed this time (the other worker is on it; the next run starts afresh).
        """
        self.env.flush_all()
        try:
            with self.env.cr.savepoint(flush=False):
                self.env.cr.execute(query)
                return [row[0] for row in self.env.cr.fetchall()]
        except psycopg2.errors.SerializationFailure:
            _logger.info("İYS outbox: rows changed by another worker meanwhile; leaving them to the next run")
            return []

    @api.model
    def _iys_count_sendable(self, now=None):
        self.env.flush_all()
        self.env.cr.execute(
            SQL("SELECT count(*) FROM iys_outbox o WHERE %s", self._iys_sendable_sql(now or fields.Datetime.now()))
        )
        return self.env.cr.fetchone()[0]

    @api.model
    def _iys_sync_brands(self, brands=None):
        brands = brands if brands is not None else self.env["iys.brand"]._iys_pull_brands()
        return brands.sudo().filtered(lambda b: b.active and b.account_id.active)

    @api.model
    def _cron_iys_send(self):
        """İYS: send pending movements (bounded batches, committed one by one)."""
        stats = self._iys_push(max_batches=BATCHES_PER_CALL)
        self.env["ir.cron"]._notify_progress(done=stats.sent + stats.refused, remaining=self._iys_count_sendable())
        return stats

    @api.model
    def _iys_push(self, brands=None, outbox_ids=None, max_batches=None):
        """Send pending movements of *brands* (default: all) or only the rows *outbox_ids*."""
        stats = SyncStats()
        for account, account_brands in self._iys_sync_brands(brands).grouped("account_id").items():
            for brand in account_brands:
                brand_stats = self._iys_push_brand(brand, outbox_ids, max_batches)
                stats.add(brand_stats)
                if brand_stats.stop:
                    _logger.info("İYS push: account %s paused until the next run", account.id)
                    break
        return stats

    @api.model
    def _iys_push_brand(self, brand, outbox_ids=None, max_batches=None):
        stats = SyncStats()
        account = brand.account_id
        client = None
        batches = 0
        try:
            while max_batches is None or batches < max_batches:
                rows = self._iys_claim_pending(brand, account.batch_size, outbox_ids)
                if not rows:
                    break
                batches += 1
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
                if batch_stats.stop or not (batch_stats.sent or batch_stats.refused or batch_stats.retried):
                    break
        finally:
            if client is not None:
                client.token_store.release()
        return stats

    def _iys_certain_refusal(self, body, current):
        """The refusal İYS would certainly answer for this row, or None.

        Besides the field checks (done by the caller), one case is certain: İYS reported a newer
        movement of the address after this one was recorded (pull or push), so this movement's
        consent date is not after the one İYS holds (H178). *current*: the rows of the batch whose
        movement is still their consent's latest.
        """
        self.ensure_one()
        consent = self.consent_id
        if self in current or consent.sync_state != "confirmed" or not consent.consent_date:
            return None
        previous = CurrentState(consent.status, consent.consent_date, consent.source or None)
        try:
            validate_transition(previous, body["status"], body.get("consentDate"), body.get("source"),
                                body.get("recipientType") or "BIREYSEL")
        except IysValidationError as exc:
            if exc.code == "H178":
                return exc
        return None

    def _iys_send_batch(self, client, brand):
        """Re-validate, submit and record one batch of claimed (locked) rows of *brand*."""
        stats = SyncStats()
        now = fields.Datetime.now()
        lang = brand.account_id._iys_lang()
        check = validate_batch([row.payload or {} for row in self], now=now)
        refusals = {self[exc.index]: exc for exc in check.errors}
        good = []
        current = self._iys_current()
        for row, body in zip(self, check.bodies, strict=True):
            if row in refusals:
                continue
            exc = row._iys_certain_refusal(body, current)
            if exc:
                refusals[row] = exc
            else:
                good.append((row, body))
        for row, exc in refusals.items():
            code, text = error_code_and_text(exc, lang)
            row._iys_refuse(code, text, locally=True, now=now)
            stats.refused += 1
            stats.reasons[code or "?"] += 1
        if not good:
            return stats
        bodies = [body for _row, body in good]
        try:
            result = client.add_consents_batch(bodies, brand_code=int(brand.code), v2=True)
        except IysError as exc:
            return stats.add(self._iys_submit_failed(good, exc, lang, now))
        self._iys_store_submission(good, result, now)
        stats.sent += len(good)
        _logger.info("İYS push: brand %s, %s movements sent (request %s)", brand.id, len(good), result.request_id)
        return stats

    @api.model
    def _iys_submit_failed(self, good, exc, lang, now):
        """A batch was not accepted. Obey the library: transient -> retry later; items refused by
        index -> refuse those (the others were not recorded and go with the next batch); anything
        else is final for every item (e.g. credentials or subscription: fix, then resend)."""
        stats = SyncStats()
        rows = self.browse([row.id for row, _body in good]).sudo()
        code, text = error_code_and_text(exc, lang)
        indexed = [err for err in (exc.errors or [exc]) if err.index is not None and err.index < len(good)]
        if exc.retryable:
            rows._iys_retry_later(exc, lang, now)
            stats.retried += len(rows)
            stats.stop = True
            stats.errors.append(text)
            _logger.warning("İYS push: batch of %s not accepted (%s); retrying later", len(rows),
                            code or exc.http_status)
        elif indexed:
            for err in indexed:
                err_code, err_text = error_code_and_text(err, lang)
                good[err.index][0]._iys_refuse(err_code, err_text, locally=isinstance(err, IysValidationError),
                                              now=now)
                stats.refused += 1
                stats.reasons[err_code or "?"] += 1
        else:
            rows._iys_refuse(code, text, locally=isinstance(exc, IysValidationError), now=now)
            stats.refused += len(rows)
            stats.reasons[code or "?"] += len(rows)
            stats.stop = True
            stats.errors.append(text)
            _logger.warning("İYS push: batch of %s refused as a whole (%s)", len(rows), code or exc.http_status)
        return stats

    @api.model
    def _iys_store_submission(self, good, result, now):
        """Persist what İYS answered to a submission (request id, sub-request ids) on the rows and
        their events, right after the answer; the caller commits."""
        delay = max(good[0][0].account_id.poll_delay, 0)
        subs = list(result.sub_requests or [])
        by_key = {}
        for sub in subs:
            by_key.setdefault((sub.get("recipientType") or "BIREYSEL", sub.get("type"), sub.get("recipient")), sub)
        for index, (row, body) in enumerate(good):
            sub = subs[index] if index < len(subs) else {}
            if sub.get("recipient") not in (None, body["recipient"]):
                sub = by_key.get((body.get("recipientType") or "BIREYSEL", body["type"], body["recipient"]), {})
            sub_id = sub.get("subRequestId") or sub.get("subrequestId") or False
            row.sudo().write({
                "state": "sent", "request_id": result.request_id, "sub_request_id": sub_id, "batch_index": index,
                "sent_at": now, "attempts": row.attempts + 1, "next_attempt_at": now + timedelta(seconds=delay),
                "error_code": False, "error_message": False,
            })
            ledger(row.event_id).write({"request_id": result.request_id, "sub_request_id": sub_id,
                                       "push_state": "sent", "error_code": False, "error_message": False})
        rows = self.browse([row.id for row, _body in good])
        current = rows._iys_current()
        if current:
            ledger(current.consent_id).write(
                {"sync_state": "sent", "iys_error_code": False, "iys_error_message": False}
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
    def _iys_count_pollable(self, now=None):
        self.env.flush_all()
        self.env.cr.execute(
            SQL(
                "SELECT count(DISTINCT o.request_id) FROM iys_outbox o JOIN iys_account a ON a.id = o.account_id "
                "WHERE %s",
                self._iys_pollable_sql(now or fields.Datetime.now()),
            )
        )
        return self.env.cr.fetchone()[0]

    @api.model
    def _cron_iys_poll(self):
        """İYS: fetch batch results of movements sent at least the poll delay ago."""
        stats = self._iys_poll(max_requests=POLLS_PER_CALL)
        self.env["ir.cron"]._notify_progress(
            done=stats.confirmed + stats.refused + stats.retried, remaining=self._iys_count_pollable()
        )
        return stats

    @api.model
    def _iys_poll(self, brands=None, outbox_ids=None, max_requests=None):
        """Ask İYS for the results of the sent batches that are due, and record them."""
        stats = SyncStats()
        now = fields.Datetime.now()
        brands = self._iys_sync_brands(brands)
        if not brands:
            return stats
        self.env.flush_all()
        self.env.cr.execute(SQL(
            """SELECT o.brand_id, o.request_id FROM iys_outbox o JOIN iys_account a ON a.id = o.account_id
                WHERE %s GROUP BY o.brand_id, o.request_id ORDER BY min(o.id) %s""",
            self._iys_pollable_sql(now, brands.ids, outbox_ids),
            SQL("LIMIT %s", max_requests) if max_requests else SQL(),
        ))
        requests = self.env.cr.fetchall()
        Brand = self.env["iys.brand"].sudo()
        clients = {}
        paused = set()
        try:
            for brand_id, request_id in requests:
                brand = Brand.browse(brand_id)
                account = brand.account_id
                if account in paused:
                    continue
                # Lock the request's rows one request at a time (each is committed before the next):
                # rows another worker is polling are skipped.
                request_rows = self.sudo().browse(self._iys_lock_rows(SQL(
                    "SELECT o.id FROM iys_outbox o JOIN iys_account a ON a.id = o.account_id "
                    "WHERE %s AND o.brand_id = %s AND o.request_id = %s ORDER BY o.id FOR UPDATE OF o SKIP LOCKED",
                    self._iys_pollable_sql(now, brands.ids, outbox_ids), brand_id, request_id,
                )))
                if not request_rows:
                    continue
                if brand not in clients:
                    try:
                        clients[brand] = account._iys_client(brand)
                    except UserError as exc:
                        stats.errors.append(exc.args[0])
                        paused.add(account)
                        continue
                request_stats = request_rows._iys_poll_request(clients[brand], brand, request_id, now)
                stats.add(request_stats)
                commit(self.env)
                if request_stats.stop:
                    paused.add(account)
        finally:
            for client in clients.values():
                client.token_store.release()
        return stats

    def _iys_poll_request(self, client, brand, request_id, now):
        """Fetch and record the result of one batch request (self: its sent rows)."""
        stats = SyncStats()
        lang = brand.account_id._iys_lang()
        repoll = now + timedelta(seconds=max(brand.account_id.poll_delay, MIN_REPOLL_SECONDS))
        try:
            results = client.get_batch_result(request_id, brand_code=int(brand.code), v2=True)
        except IysError as exc:
            if exc.retryable:
                for row in self:
                    row.sudo().next_attempt_at = now + timedelta(seconds=exc.retry_delay(1) or MIN_REPOLL_SECONDS)
                stats.waiting += len(self)
                stats.stop = True
            else:
                # İYS will never answer for this request id: submit the movements again (the V2 batch
                # records an identical movement only once).
                self._iys_retry_later(exc, lang, now, requeue=True)
                stats.retried += len(self)
            stats.errors.append(error_code_and_text(exc, lang)[1])
            return stats
        by_sub = {row.sub_request_id: row for row in self if row.sub_request_id}
        by_index = {row.batch_index: row for row in self}
        answered = self.browse()
        for item in results:
            row = by_sub.get(item.sub_request_id) or by_index.get(item.index)
            if not row or row in answered:
                continue
            if item.status == "success":
                answered |= row
                row._iys_confirm(item.transaction_id, item.creation_date, now)
                stats.confirmed += 1
            elif item.status == "failure":
                answered |= row
                error = item.error
                if error is not None and error.retryable:
                    row._iys_retry_later(error, lang, now, requeue=True)
                    stats.retried += 1
                else:
                    code = error.code if error is not None else False
                    detail = error.message if error is not None else ""
                    row._iys_refuse(code, code_text(code, lang, detail) if code else detail, now=now)
                    stats.refused += 1
                    stats.reasons[code or "?"] += 1
        waiting = self - answered
        if waiting:
            waiting.sudo().write({"next_attempt_at": repoll})
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
        rows = self.sudo().search([("consent_id", "in", consents.ids)], order="id desc")
        latest = self.browse()
        seen = set()
        for row in rows:
            if row.consent_id.id not in seen:
                seen.add(row.consent_id.id)
                if row.state in RESENDABLE_STATES and row.can_resend:
                    latest |= row
        if not latest:
            raise UserError(self.env._(
                "None of these consents has a refused movement that can succeed if sent again (a movement "
                "İYS refused for its own data must be corrected and recorded again)."))
        return latest.with_env(self.env).action_iys_resend()
