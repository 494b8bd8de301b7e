# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
"""Dealer access changes on their way to İYS (İYS's access calls, §3.13).

One row per consent whose dealer access changed (written with its ``dealer`` event, in the same
transaction, so nothing is lost). The scheduled action sends them:

* only once the consent itself is on İYS (confirmed, no movement of it still on its way): İYS
  refuses access to a consent it does not hold (H401); until then the row waits;
* one change of a consent at a time, in order (a later change waits for the earlier one);
* grouped into calls within İYS's limits (at most 100 recipients and 100 dealers per call), by
  brand, channel, recipient type and dealers: removals with ``remove_retailer_access``, a consent
  losing every dealer with ``remove_all_retailer_access``, additions to one consent with
  ``add_retailer_access`` and to several consents (the same resulting list) with
  ``replace_retailer_access``, whose list then includes the dealer that collected the consent
  (İYS's replace also drops that one's access otherwise);
* claimed with ``FOR UPDATE SKIP LOCKED`` and committed call by call; a transient failure keeps
  the rows pending with the library's back-off (``retry_delay``), a refusal marks them refused with
  İYS's H-code, on the row, its event and the change.
"""
import logging
from collections import defaultdict
from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import SQL

from ..iyslib.const import RETAILER_LIST_MAX
from ..iyslib.errors import IysError
from .iys_consent import ledger
from .iys_sync_common import SyncStats, commit, error_code_and_text

_logger = logging.getLogger(__name__)

ACCESS_QUEUE_STATES = [
    ("pending", "Waiting to be sent"),
    ("done", "Confirmed by İYS"),
    ("failed", "Refused by İYS"),
]
ACCESS_OPERATIONS = [
    ("add", "Give access"),
    ("remove", "Remove access"),
    ("replace", "Replace the dealers"),
    ("remove_all", "Remove every dealer"),
]
#: rows one claim takes (then grouped into calls of at most 100 recipients)
CLAIM_LIMIT = 2000
#: calls one cron call makes (the framework calls again while work remains)
CALLS_PER_RUN = 200
MIN_RETRY_SECONDS = 60


class IysRetailerAccessQueue(models.Model):
    _name = "iys.retailer.access.queue"
    _description = "İYS Dealer Access Change"
    _order = "id"
    _rec_name = "address"

    consent_id = fields.Many2one("iys.consent", required=True, ondelete="restrict", index=True, readonly=True)
    event_id = fields.Many2one("iys.consent.event", required=True, ondelete="restrict", index=True, readonly=True)
    change_id = fields.Many2one("iys.retailer.access.change", ondelete="set null", index="btree_not_null",
                                readonly=True)
    brand_id = fields.Many2one(related="consent_id.brand_id", store=True, index=True)
    account_id = fields.Many2one(related="consent_id.account_id", store=True)
    company_id = fields.Many2one(related="consent_id.company_id", store=True, index=True)
    address = fields.Char(related="consent_id.address", store=True)
    channel = fields.Selection(related="consent_id.channel", store=True)
    recipient_type = fields.Selection(related="consent_id.recipient_type", store=True)
    operation = fields.Selection(ACCESS_OPERATIONS, required=True, readonly=True)
    retailer_codes = fields.Char("Dealer codes", readonly=True,
                                 help="The dealers of the change (İYS codes): given access, removed, or the new list.")
    target_codes = fields.Char("Dealers with access after", readonly=True)
    state = fields.Selection(ACCESS_QUEUE_STATES, required=True, default="pending", index=True, readonly=True)
    waiting_reason = fields.Char(compute="_compute_waiting_reason", string="Waiting for")
    attempts = fields.Integer(readonly=True)
    next_attempt_at = fields.Datetime("Next attempt", readonly=True)
    sent_at = fields.Datetime("Sent on", readonly=True)
    call_size = fields.Integer("Consents in the call", readonly=True)
    error_code = fields.Char("İYS error", readonly=True)
    error_message = fields.Text("İYS error explanation", readonly=True)

    def init(self):
        result = super().init()
        self.env.cr.execute(SQL(
            "CREATE INDEX IF NOT EXISTS iys_retailer_access_queue_pending_idx ON iys_retailer_access_queue "
            "(brand_id, id) WHERE state = 'pending'"))
        # "an earlier change of the consent still pending": looked up per claimed row
        self.env.cr.execute(SQL(
            "CREATE INDEX IF NOT EXISTS iys_retailer_access_queue_consent_pending_idx ON iys_retailer_access_queue "
            "(consent_id, id) WHERE state = 'pending'"))
        return result

    @api.model_create_multi
    def create(self, vals_list):
        if not self.env.su:
            raise AccessError(self.env._("Dealer access changes are recorded by the consent ledger only."))
        return super().create(vals_list)

    def write(self, vals):
        if not self.env.su:
            raise AccessError(self.env._("Dealer access changes are written by the İYS synchronisation only."))
        return super().write(vals)

    @api.depends("state", "consent_id.sync_state")
    def _compute_waiting_reason(self):
        for row in self:
            reason = False
            if row.state == "pending":
                if row.consent_id.sync_state != "confirmed":
                    reason = self.env._("the consent itself to be confirmed by İYS")
                elif row.error_code:
                    reason = self.env._("the next attempt (İYS did not answer)")
            row.waiting_reason = reason

    # ------------------------------------------------------------------------------------------
    # Claim
    # ------------------------------------------------------------------------------------------
    @api.model
    def _iys_sendable_sql(self, now, brand=None):
        """Row ``q`` may go: pending and due, its consent on İYS (confirmed and no movement of it on
        its way) and no earlier change of its consent still pending."""
        return SQL(
            """q.state = 'pending' AND (q.next_attempt_at IS NULL OR q.next_attempt_at <= %(now)s) %(brand)s
               AND EXISTS (SELECT 1 FROM iys_consent c WHERE c.id = q.consent_id AND c.sync_state = 'confirmed')
               AND NOT EXISTS (SELECT 1 FROM iys_outbox o WHERE o.consent_id = q.consent_id
                               AND o.state IN ('pending', 'sent'))
               AND NOT EXISTS (SELECT 1 FROM iys_retailer_access_queue p WHERE p.consent_id = q.consent_id
                               AND p.id < q.id AND p.state = 'pending')""",
            now=now, brand=SQL("AND q.brand_id = %s", brand.id) if brand else SQL(),
        )

    @api.model
    def _iys_claim(self, brand, limit=CLAIM_LIMIT, now=None):
        return self.sudo().browse(self.env["iys.outbox"]._iys_lock_rows(SQL(
            "SELECT q.id FROM iys_retailer_access_queue q WHERE %s ORDER BY q.id LIMIT %s FOR UPDATE OF q SKIP LOCKED",
            self._iys_sendable_sql(now or fields.Datetime.now(), brand), limit)))

    @api.model
    def _iys_count_sendable(self, now=None):
        self.env.flush_all()
        self.env.cr.execute(SQL("SELECT count(*) FROM iys_retailer_access_queue q WHERE %s",
                                self._iys_sendable_sql(now or fields.Datetime.now())))
        return self.env.cr.fetchone()[0]

    # ------------------------------------------------------------------------------------------
    # Send
    # ------------------------------------------------------------------------------------------
    @api.model
    def _cron_iys_access_send(self):
        """İYS: send dealer access changes (calls of at most 100 consents, committed one by one)."""
        stats = self._iys_access_send(max_calls=CALLS_PER_RUN)
        self.env["ir.cron"]._notify_progress(done=stats.confirmed + stats.refused,
                                             remaining=self._iys_count_sendable())
        return stats

    @api.model
    def _iys_access_send(self, brands=None, max_calls=None):
        stats = SyncStats()
        stats.sent = 0  # calls made
        for brand in self.env["iys.outbox"]._iys_sync_brands(brands):
            brand_stats = self._iys_access_send_brand(brand, max_calls and max_calls - stats.sent)
            stats.add(brand_stats)
            if max_calls and stats.sent >= max_calls:
                break
        return stats

    @staticmethod
    def _iys_calls(rows):
        """Group claimed rows into İYS calls: [(operation, codes list, rows)], ≤100 rows each."""
        groups = defaultdict(list)
        for row in rows:
            if row.operation == "add":
                key = ("add", row.channel, row.recipient_type, row.target_codes)
            else:
                key = (row.operation, row.channel, row.recipient_type, row.retailer_codes)
            groups[key].append(row)
        calls = []
        for (operation, _channel, _rtype, codes), members in groups.items():
            if operation == "add" and (len(members) > 1 or members[0].attempts):
                # one call for many consents: their whole (identical) list; and the retry of an add
                # whose outcome is unknown (the library does not resend a non-idempotent add): the
                # idempotent replace with the list the consent must have
                operation = "replace"
            elif operation == "add":
                codes = members[0].retailer_codes
            code_list = [int(c) for c in (codes or "").split(",") if c]
            for start in range(0, len(members), RETAILER_LIST_MAX):
                calls.append((operation, code_list, members[start:start + RETAILER_LIST_MAX]))
        return calls

    @api.model
    def _iys_access_send_brand(self, brand, max_calls=None):
        stats = SyncStats()
        account = brand.account_id
        client = None
        try:
            while not max_calls or stats.sent < max_calls:
                rows = self._iys_claim(brand)
                if not rows:
                    break
                if client is None:
                    try:
                        client = account._iys_client(brand)
                    except UserError as exc:
                        stats.errors.append(exc.args[0])
                        stats.stop = True
                        break
                progressed = False
                for operation, codes, members in self._iys_calls(rows):
                    if max_calls and stats.sent >= max_calls:
                        break
                    members = self.browse([m.id for m in members])
                    call_stats = members._iys_send_call(client, brand, operation, codes)
                    stats.add(call_stats)
                    stats.sent += 1
                    progressed = progressed or bool(call_stats.confirmed or call_stats.refused)
                    commit(self.env)
                    if call_stats.stop:
                        break
                if stats.stop or not progressed:
                    break
        finally:
            if client is not None:
                client.token_store.release()
        return stats

    def _iys_send_call(self, client, brand, operation, codes):
        """One İYS access call for these rows (one brand, channel and recipient type)."""
        stats = SyncStats()
        now = fields.Datetime.now()
        lang = brand.account_id._iys_lang()
        first = self[0]
        recipients = self.mapped("address")
        try:
            if operation == "add":
                client.add_retailer_access(recipients[0], first.channel, first.recipient_type, codes,
                                           brand_code=int(brand.code))
            elif operation == "replace":
                client.replace_retailer_access(recipients, first.channel, first.recipient_type, codes,
                                               brand_code=int(brand.code))
            elif operation == "remove":
                client.remove_retailer_access(recipients, first.channel, first.recipient_type, codes,
                                              brand_code=int(brand.code))
            else:
                client.remove_all_retailer_access(recipients, first.channel, first.recipient_type,
                                                  brand_code=int(brand.code))
        except IysError as exc:
            code, text = error_code_and_text(exc, lang)
            # an access add whose outcome is unknown is retried as an idempotent replace (_iys_calls)
            if exc.retryable or (getattr(exc, "outcome_unknown", False) and operation == "add"):
                for row in self:
                    delay = exc.retry_delay(row.attempts + 1) or MIN_RETRY_SECONDS
                    row.sudo().write({"attempts": row.attempts + 1, "next_attempt_at": now + timedelta(seconds=delay),
                                      "error_code": code, "error_message": text, "sent_at": now,
                                      "call_size": len(self)})
                stats.retried += len(self)
                stats.stop = True
                stats.errors.append(text)
                _logger.warning("İYS dealer access: call for %s consents not accepted (%s); retrying later",
                                len(self), code or exc.http_status)
            else:
                self._iys_access_result("failed", code, text, now)
                stats.refused += len(self)
                stats.reasons[code or "?"] += len(self)
                _logger.warning("İYS dealer access: İYS refused a call for %s consents (%s)", len(self), code)
            return stats
        self._iys_access_result("done", False, False, now)
        stats.confirmed += len(self)
        return stats

    def _iys_access_result(self, state, code, text, now):
        self.sudo().write({"state": state, "error_code": code, "error_message": text, "sent_at": now,
                           "attempts": (self[:1].attempts or 0) + 1, "next_attempt_at": False,
                           "call_size": len(self)})
        ledger(self.event_id).write({"push_state": "confirmed" if state == "done" else "rejected",
                                     "error_code": code, "error_message": text})
