# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
import datetime
import logging
import time

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.tools import SQL

from ..iyslib.const import PULL_LIMIT_MAX
from ..iyslib.errors import IysError
from ..iyslib.masking import mask_recipient
from .iys_sync_common import SyncStats, commit, error_code_and_text

_logger = logging.getLogger(__name__)

#: İYS keeps the pull window for 7 days (minus one hour); an older cursor cannot continue the feed
PULL_WINDOW_SECONDS = 7 * 86400 - 3600
#: pages one cron call fetches per brand before reporting progress (the framework calls again)
PULL_PAGES_PER_CALL = 10
#: seconds one cron call may spend pulling (all brands): no page is started after that, the
#: framework calls again (a cron worker is killed after 120 s in multi-worker mode)
PULL_SECONDS_PER_CALL = 30


class IysBrand(models.Model):
    """A brand registered under an İYS account; consents are kept per brand."""

    _name = "iys.brand"
    _description = "İYS Brand"
    _order = "account_id, sequence, id"

    name = fields.Char(required=True)
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True)
    code = fields.Char(
        string="Brand code",
        required=True,
        help="The İYS brand code (brandCode), an integer. The master brand's code equals the İYS code.",
    )
    account_id = fields.Many2one("iys.account", required=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(related="account_id.company_id", store=True, index=True)
    is_default = fields.Boolean(
        string="Default brand",
        help="The brand whose consents the contact form shows and mailings use unless told otherwise. "
        "Ticking another brand makes that one the default instead.",
    )

    # Pull (İYS -> Odoo) ------------------------------------------------------------------------
    iys_pull_after = fields.Char(
        string="Pull cursor", copy=False, readonly=True, groups="l10n_tr_iys.group_iys_manager",
        help="Where the next pull of citizen movements continues (İYS's 'after' value).",
    )
    iys_last_pull_date = fields.Datetime(string="Last successful pull", copy=False, readonly=True)
    iys_last_full_resync = fields.Datetime(
        string="Last full resync", copy=False, readonly=True,
        help="Last time the pull started again from the beginning of İYS's 7-day window (first pull, "
        "or a lost or outdated cursor). Movements already known are recognised by their transaction id.",
    )
    iys_pull_error = fields.Text(string="Last pull error", copy=False, readonly=True)

    _sql_constraints = [
        ("code_account_uniq", "unique(account_id, code)", "A brand code may appear only once per İYS account."),
    ]

    @api.model_create_multi
    def create(self, vals_list):
        with self.env["res.company"]._iys_watch_default_brands():
            self.browse()._iys_untick_other_defaults(
                {vals["account_id"] for vals in vals_list if vals.get("is_default") and vals.get("account_id")})
            return super().create(vals_list)

    def write(self, vals):
        if self.env.context.get("iys_untick_default") or not {
                "is_default", "active", "account_id", "sequence"}.intersection(vals):
            return super().write(vals)
        with self.env["res.company"]._iys_watch_default_brands():
            if vals.get("is_default"):
                self._iys_untick_other_defaults(
                    {vals["account_id"]} if vals.get("account_id") else set(self.account_id.ids))
            return super().write(vals)

    def _iys_untick_other_defaults(self, account_ids):
        """Ticking "Default brand" on a brand makes it the default: the account's former default
        stops being one in the same save (as a radio button), instead of the one-default rule
        refusing the save. Ticking two brands of one account at once is still refused."""
        if not account_ids:
            return
        former = self.search([
            ("account_id", "in", list(account_ids)), ("is_default", "=", True), ("id", "not in", self.ids),
        ])
        if former:
            # (not watched again: the caller's watch covers both)
            former.with_context(iys_untick_default=True).write({"is_default": False})

    def unlink(self):
        with self.env["res.company"]._iys_watch_default_brands():
            return super().unlink()

    @api.constrains("code")
    def _check_code(self):
        for brand in self:
            if not (brand.code or "").isdigit():
                raise ValidationError(
                    self.env._("The brand code must be a whole number, not “%(code)s”.", code=brand.code)
                )

    @api.constrains("is_default", "account_id")
    def _check_single_default(self):
        for brand in self.filtered("is_default"):
            others = brand.account_id.brand_ids.filtered(lambda b, brand=brand: b.is_default and b != brand)
            if others:
                raise ValidationError(
                    self.env._("Only one default brand per İYS account: “%(brand)s” is already the default.",
                      brand=others[0].name)
                )

    @api.depends("name", "code")
    def _compute_display_name(self):
        for brand in self:
            brand.display_name = f"{brand.name} ({brand.code})" if brand.code else brand.name

    # ------------------------------------------------------------------------------------------
    # Pull: citizen movements made on İYS
    # ------------------------------------------------------------------------------------------
    @api.model
    def _iys_pull_brands(self):
        return self.sudo().search([("active", "=", True), ("account_id.active", "=", True)])

    @api.model
    def _cron_iys_pull(self):
        """İYS: pull citizen changes, for every active brand, a bounded number of pages per call."""
        stats, remaining = SyncStats(), 0
        deadline = time.monotonic() + PULL_SECONDS_PER_CALL
        for brand in self._iys_pull_brands():
            if stats.pages and time.monotonic() >= deadline:
                remaining += 1  # not pulled in this call: the next one starts with it
                continue
            brand_stats = brand._iys_pull(max_pages=PULL_PAGES_PER_CALL, deadline=deadline)
            stats.add(brand_stats)
            remaining += 1 if brand_stats.waiting else 0
        self.env["ir.cron"]._notify_progress(done=stats.pages, remaining=remaining)
        return stats

    def _iys_lock_for_pull(self):
        """Lock this brand's row for one page (another worker pulling the same brand skips it).

        ``NO KEY UPDATE`` does not block users recording consents (their rows only reference the brand).
        """
        return bool(self.env["iys.outbox"]._iys_lock_rows(
            SQL("SELECT id FROM iys_brand WHERE id = %s FOR NO KEY UPDATE SKIP LOCKED", self.id)
        ))

    @api.model
    def _iys_cursor_outdated(self, after, now=None):
        """True when movements may have been missed: the stored cursor (``<epoch>_<transactionId>``)
        points before İYS's 7-day window AND no pull succeeded within that window. A quiet brand
        polled every hour keeps an old cursor legitimately: nothing happened after it."""
        self.ensure_one()
        now = now or time.time()
        try:
            epoch = float(str(after).split("_", 1)[0])
        except ValueError:
            return False
        last_pull = (
            self.iys_last_pull_date.replace(tzinfo=datetime.timezone.utc).timestamp()
            if self.iys_last_pull_date else None
        )
        window_start = now - PULL_WINDOW_SECONDS
        return epoch < window_start and (last_pull is None or last_pull < window_start)

    def _iys_pull(self, max_pages=None, limit=PULL_LIMIT_MAX, deadline=None):
        """Fetch citizen movements of this brand from İYS page by page and apply them.

        Each page goes through the ledger's bulk way in (``_iys_record_movements_bulk``: one
        statement per table per page). The cursor is stored with the movements of its page, in the
        same transaction, and committed per page: a crash loses at most the page in progress, which
        the next pull fetches again (movements are de-duplicated by transaction id). A lost, refused
        or outdated cursor makes the pull start again from the beginning of İYS's 7-day window
        ("full resync"). An invalid movement is reported and skipped; the rest of its page is applied.

        :param deadline: ``time.monotonic()`` value after which no page is started.
        ``stats.waiting`` is 1 when pages are left for the next call.
        """
        self.ensure_one()
        brand = self.sudo()
        stats = SyncStats()
        try:
            client = brand.account_id._iys_client(brand)
        except UserError as exc:
            brand.iys_pull_error = exc.args[0]
            stats.errors.append(exc.args[0])
            return stats
        restarted = False
        try:
            while max_pages is None or stats.pages < max_pages:
                if deadline is not None and stats.pages and time.monotonic() >= deadline:
                    stats.waiting = 1
                    break
                if not brand._iys_lock_for_pull():
                    _logger.info("İYS pull of brand %s: another worker is pulling it", brand.id)
                    break
                brand.invalidate_recordset(["iys_pull_after"])
                after = brand.iys_pull_after or None
                if after and brand._iys_cursor_outdated(after) and not restarted:
                    _logger.warning("İYS pull of brand %s: the cursor is older than İYS's 7-day window; "
                                    "starting a full resync", brand.id)
                    after, restarted = None, True
                try:
                    page = client.pull_changes(
                        after, limit=limit, source="IYS", brand_code=int(brand.code),
                        last_polled_at=(brand.iys_last_pull_date or None) if after else None,
                    )
                except IysError as exc:
                    if after and not exc.retryable and not restarted:
                        _logger.warning("İYS pull of brand %s: İYS refused the cursor (%s); starting a full resync",
                                        brand.id, exc.code or exc.http_status)
                        brand.iys_pull_after = False
                        restarted = True
                        continue
                    code, text = error_code_and_text(exc, brand.account_id._iys_lang())
                    text = f"{code}: {text}" if code else text
                    brand.iys_pull_error = text
                    commit(self.env)
                    stats.errors.append(text)
                    stats.stop = True
                    break
                if page.cursor_stale and after and not restarted:
                    _logger.warning("İYS pull of brand %s: İYS says the cursor is stale; starting a full resync",
                                    brand.id)
                    restarted = True
                    brand.iys_pull_after = False
                    continue
                stats.add(brand._iys_apply_incoming(page.items, "iys_pull", bulk=True))
                now = fields.Datetime.now()
                vals = {"iys_pull_after": page.after or after or False, "iys_last_pull_date": now,
                        "iys_pull_error": False}
                if not after:
                    vals["iys_last_full_resync"] = now
                brand.write(vals)
                stats.pages += 1
                commit(self.env)
                if page.exhausted:
                    break
            else:
                stats.waiting = 1
        finally:
            client.token_store.release()
        return stats

    def _iys_apply_incoming(self, records, origin, bulk=False):
        """Apply movements İYS reports (pull, push, status query) to the ledger, as facts.

        :param records: :class:`iyslib.client.ConsentRecord` objects of this brand
        :param origin: 'iys_pull', 'iys_push', 'iys_query' or 'reconciliation' (the daily file)
        :param bulk: through the ledger's set-based way in (``_iys_record_movements_bulk``, for a
            page of the pull: same checks and rows, no chatter tracking on the consents)
        """
        self.ensure_one()
        stats = SyncStats()
        if not records:
            return stats
        movements = [
            {
                "brand_id": self.id,
                "channel": rec.type,
                "recipient_type": rec.recipient_type or "BIREYSEL",
                "address": rec.recipient,
                "status": rec.status,
                "source": rec.source,
                "consent_date": rec.consent_date,
                "transaction_id": rec.transaction_id,
                "creation_date": rec.creation_date,
                # the dealer that collected it, as İYS reports it (set when the brand has that dealer)
                "retailer_code_reported": getattr(rec, "retailer_code", None) or False,
            }
            for rec in records
        ]
        Consent = self.env["iys.consent"].sudo()
        if bulk:
            results = Consent._iys_record_movements_bulk(movements, origin, mode="incoming")
        else:
            results = Consent._iys_record_movements(movements, origin, raise_on_error=False)
        for rec, result in zip(records, results, strict=True):
            if result.error:
                stats.errors.append(result.error)
                _logger.warning("İYS %s: movement of %s (%s) not applied: %s", origin,
                                mask_recipient(rec.recipient), rec.type, result.error_code or "invalid")
            elif result.skipped:
                stats.unchanged += 1
            else:
                stats.applied += 1
        _logger.info("İYS %s of brand %s: %s applied, %s already known or older, %s invalid",
                     origin, self.id, stats.applied, stats.unchanged, len(stats.errors))
        return stats
