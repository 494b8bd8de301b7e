# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
"""“Ask İYS for the current status” of many addresses, in the background.

A run holds its plan (brand, recipient type, channel: the whole ledger, or the addresses of a
selection), and works through it in chunks of the library's multiple status query size (1000
addresses), each in a transaction of its own, committed together with the run's resume point
(the plan position and the last address asked) and the chunk's results. A crash or a killed
worker loses at most the chunk in progress; nothing committed is asked again.

The scheduled action “İYS: status queries in the background” (``_cron_run_queries``) takes the
runs waiting, oldest first (``FOR NO KEY UPDATE SKIP LOCKED``: two workers never work on the same
run at once), works for :data:`CRON_TIME_BUDGET` seconds, reports its progress and lets the
framework call it again while work remains. The sync wizard creates runs and triggers it.

The comparison (what differs, what a look-up of one address applies, the texts shown) is the
one the wizard uses for small selections (:meth:`IysQueryRun._iys_compare_addresses`).
"""
import bisect
import logging
import time
import traceback
from datetime import timedelta

from markupsafe import Markup

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import SQL
from odoo.tools.misc import format_datetime

from ..iyslib.const import MULTI_STATUS_MAX
from ..iyslib.errors import IysAuthError, IysError, IysRateLimitError
from ..iyslib.masking import mask_recipient, mask_text
from .iys_sync_common import SyncStats, commit, error_code_and_text, in_test_mode, lang_of

_logger = logging.getLogger(__name__)

#: single status look-ups one run may make for differences (İYS allows 1000 an hour per IP)
LOOKUP_MAX = 100
#: addresses asked per chunk: the library's multiple status query size
CHUNK_SIZE = MULTI_STATUS_MAX
#: seconds one cron call works before handing back (well under Odoo's 120 s limit per call)
CRON_TIME_BUDGET = 50
#: selections larger than this (addresses) are queried in the background
#: (``l10n_tr_iys.query_sync_max``); the whole ledger always is
DEFAULT_SYNC_MAX = 1000
#: times a chunk is tried again after a transient failure before it is recorded as refused
MAX_CHUNK_RETRIES = 5
#: seconds a run waits after an unexpected failure of a chunk (a bug, a lost database connection)
FAILURE_RETRY_DELAY = 300
ACTIVE_STATES = ("queued", "running")


class IysQueryRun(models.Model):
    _name = "iys.query.run"
    _description = "İYS status query in the background"
    _inherit = ["mail.thread"]
    _order = "id desc"

    name = fields.Char(compute="_compute_name")
    company_id = fields.Many2one("res.company", required=True, index=True, readonly=True,
                                 default=lambda self: self.env.company)
    brand_ids = fields.Many2many("iys.brand", string="Brands", readonly=True)
    scope = fields.Selection(
        [("partners", "Selected contacts"), ("consents", "Selected consents"), ("all", "Everything")],
        required=True, default="all", readonly=True,
    )
    fetch_details = fields.Boolean(
        "Look up differences one by one", readonly=True,
        help="For addresses where İYS and Odoo disagree, İYS was asked for the full record of each (at most "
        "100 per run; İYS allows 1000 such queries an hour) and what İYS holds was applied.",
    )
    plan = fields.Json(readonly=True, copy=False,
                       help="[{brand, type, channel, count, addresses (selections only)}], in the order asked.")
    plan_summary = fields.Text("What is asked", readonly=True)
    state = fields.Selection(
        [("queued", "Queued"), ("running", "Running"), ("done", "Done"), ("failed", "Failed"),
         ("cancelled", "Cancelled")],
        required=True, default="queued", readonly=True, index=True, tracking=True, copy=False,
    )
    user_id = fields.Many2one("res.users", string="Started by", readonly=True, default=lambda self: self.env.user)
    lang = fields.Char(readonly=True, default=lambda self: self.env.lang)
    date_started = fields.Datetime("Started on", readonly=True, copy=False)
    date_finished = fields.Datetime("Finished on", readonly=True, copy=False)
    total_count = fields.Integer("Addresses", readonly=True, help="Addresses to ask İYS about when the run started.")
    asked_count = fields.Integer("Addresses asked", readonly=True, copy=False)
    progress = fields.Float(compute="_compute_progress", store=True, help="Share of the addresses asked (%).")
    unchanged_count = fields.Integer("Unchanged", readonly=True, copy=False)
    difference_count = fields.Integer("Differences", readonly=True, copy=False)
    applied_count = fields.Integer("Applied from İYS", readonly=True, copy=False)
    error_count = fields.Integer("Not asked (İYS error)", readonly=True, copy=False)
    lookup_count = fields.Integer("Looked up one by one", readonly=True, copy=False)
    lookups_stopped = fields.Boolean(readonly=True, copy=False,
                                     help="İYS's hourly quota of single queries was reached: no more look-ups.")
    # Resume point, committed with each chunk
    cursor_index = fields.Integer(readonly=True, copy=False, help="Position in the plan.")
    cursor_address = fields.Char(readonly=True, copy=False, help="Last address asked at this position.")
    retry_count = fields.Integer(readonly=True, copy=False, help="Failed attempts of the current chunk.")
    next_try_at = fields.Datetime("Paused until", readonly=True, copy=False)
    message = fields.Text(readonly=True, copy=False)
    line_ids = fields.One2many("iys.query.run.line", "run_id", string="Results", readonly=True)

    @api.depends("create_date")
    def _compute_name(self):
        for run in self:
            run.name = self.env._("Status query %(number)s", number=run.id) if run.id else self.env._(
                "New status query")

    @api.depends("asked_count", "total_count", "state")
    def _compute_progress(self):
        for run in self:
            if run.state == "done":
                run.progress = 100.0
            else:
                run.progress = min(100.0, 100.0 * run.asked_count / run.total_count) if run.total_count else 0.0

    # ------------------------------------------------------------------------------------------
    # Buttons
    # ------------------------------------------------------------------------------------------
    def _iys_check_manager(self):
        if not self.env.user.has_group("l10n_tr_iys.group_iys_manager"):
            raise AccessError(self.env._("Only İYS managers may start or cancel status queries."))

    def action_cancel(self):
        self._iys_check_manager()
        self.check_access("read")
        for run in self.filtered(lambda r: r.state in ACTIVE_STATES):
            run.sudo().write({"state": "cancelled", "date_finished": fields.Datetime.now(), "next_try_at": False})
            run.sudo().message_post(body=self.env._(
                "Cancelled by %(user)s after %(asked)s of %(total)s addresses.",
                user=self.env.user.name, asked=run.asked_count, total=run.total_count))
        return True

    def action_refresh(self):
        return True

    def action_view_lines(self):
        self.ensure_one()
        outcome = self.env.context.get("iys_outcome")
        action = self.env["ir.actions.act_window"]._for_xml_id("l10n_tr_iys.action_iys_query_run_line")
        domain = [("run_id", "=", self.id)]
        if outcome == "differences":
            domain.append(("outcome", "!=", "error"))
        elif outcome:
            domain.append(("outcome", "=", outcome))
        action["domain"] = domain
        action["name"] = self.name
        return action

    # ------------------------------------------------------------------------------------------
    # Creating runs (from the sync wizard)
    # ------------------------------------------------------------------------------------------
    @api.model
    def _iys_sync_max(self):
        value = self.env["ir.config_parameter"].sudo().get_param("l10n_tr_iys.query_sync_max")
        try:
            return int(value) if value else DEFAULT_SYNC_MAX
        except ValueError:
            return DEFAULT_SYNC_MAX

    @api.model
    def _iys_ledger_plan(self, brands):
        """[(brand id, recipient type, channel, number of consents)] of the ledger of *brands*, in
        the order a run asks them (one grouped query; nothing loaded per consent)."""
        if not brands:
            return []
        self.env["iys.consent"].flush_model(["brand_id", "recipient_type", "channel"])
        self.env.cr.execute(SQL(
            """SELECT brand_id, recipient_type, channel, count(*) FROM iys_consent WHERE brand_id IN %s
               GROUP BY brand_id, recipient_type, channel ORDER BY brand_id, recipient_type, channel""",
            tuple(brands.ids),
        ))
        return self.env.cr.fetchall()

    @api.model
    def _iys_create_runs(self, brands, scope, fetch_details, plan=None):
        """Queue runs (one per company of *brands*) and wake the background worker up.

        *plan*: ``{(brand, recipient type, channel): {addresses}}`` of a selection; None for the
        whole ledger of *brands*, planned here by a grouped query.
        """
        self._iys_check_manager()
        channels = dict(self.env["iys.consent"]._fields["channel"]._description_selection(self.env))
        rtypes = dict(self.env["iys.consent"]._fields["recipient_type"]._description_selection(self.env))
        runs = self.browse()
        for company, company_brands in brands.grouped("company_id").items():
            if plan is None:
                items = [{"brand": brand_id, "type": rtype, "channel": channel, "count": count}
                         for brand_id, rtype, channel, count in self._iys_ledger_plan(company_brands)]
            else:
                items = [
                    {"brand": brand.id, "type": rtype, "channel": channel, "count": len(addresses),
                     "addresses": sorted(addresses)}
                    for (brand, rtype, channel), addresses in sorted(plan.items(),
                                                                     key=lambda kv: (kv[0][0].id, kv[0][1:]))
                    if brand in company_brands and addresses
                ]
            summary = "\n".join(
                f"{self.env['iys.brand'].browse(item['brand']).display_name}: {channels.get(item['channel'])} · "
                f"{rtypes.get(item['type'])}: {item['count']}"
                for item in items
            )
            runs |= self.sudo().create({
                "company_id": company.id, "brand_ids": [(6, 0, company_brands.ids)], "scope": scope,
                "fetch_details": fetch_details, "plan": items, "plan_summary": summary,
                "total_count": sum(item["count"] for item in items), "user_id": self.env.uid,
                "lang": self.env.lang,
            })
        self._iys_trigger()
        return runs.sudo(False)

    @api.model
    def _iys_workers(self):
        return self.env["ir.cron"].sudo().search([
            ("model_id.model", "=", self._name), ("code", "like", "_cron_run_queries"),
        ])

    @api.model
    def _iys_trigger(self, at=None):
        for cron in self._iys_workers():
            cron._trigger(at=at)

    # ------------------------------------------------------------------------------------------
    # The background worker
    # ------------------------------------------------------------------------------------------
    @api.model
    def _cron_run_queries(self):
        """Work on the queued and running runs chunk by chunk, one commit per chunk, for at most
        :data:`CRON_TIME_BUDGET` seconds; returns the number of addresses asked."""
        cron = self.env["ir.cron"].browse(self.env.context.get("cron_id"))
        started = time.monotonic()
        done = 0
        clients = {}
        try:
            while True:
                run = self._iys_claim()
                if not run:
                    break
                done += run._iys_step_safely(clients)
                commit(self.env)
                if time.monotonic() - started >= CRON_TIME_BUDGET:
                    break
        finally:
            for client in clients.values():
                client.token_store.release()
        now = fields.Datetime.now()
        ready = self.sudo().search(self._iys_ready_domain(now))
        remaining = sum(max(run.total_count - run.asked_count, 1) for run in ready)
        paused = self.sudo().search([("state", "in", ACTIVE_STATES), ("next_try_at", ">", now)],
                                    order="next_try_at", limit=1)
        if paused:
            self._iys_trigger(at=paused.next_try_at)
        if cron:
            cron._notify_progress(done=done, remaining=remaining)
        return done

    @api.model
    def _iys_ready_domain(self, now):
        return [("state", "in", ACTIVE_STATES), "|", ("next_try_at", "=", False), ("next_try_at", "<=", now)]

    @api.model
    def _iys_claim(self):
        """The oldest run ready for a chunk, locked for this transaction (another worker's run is
        skipped), read afresh; an empty recordset when there is none."""
        ids = self.env["iys.outbox"]._iys_lock_rows(SQL(
            """SELECT id FROM iys_query_run WHERE state IN %s AND (next_try_at IS NULL OR next_try_at <= %s)
               ORDER BY id LIMIT 1 FOR NO KEY UPDATE SKIP LOCKED""",
            ACTIVE_STATES, fields.Datetime.now(),
        ))
        run = self.sudo().browse(ids)
        run.invalidate_recordset()
        return run

    def _iys_step_safely(self, clients):
        """One chunk; an unexpected failure (not an İYS answer) loses the chunk's work only: the
        run waits and tries it again, and stops after :data:`MAX_CHUNK_RETRIES` attempts."""
        self.ensure_one()
        run = self.with_context(lang=self.lang or "en_US")
        try:
            with self.env.cr.savepoint():
                return run._iys_step(clients)
        except Exception as exc:
            if in_test_mode():
                raise
            _logger.error("İYS status query %s: chunk failed: %s", self.id, mask_text(traceback.format_exc()))
            run._iys_postpone(str(exc), FAILURE_RETRY_DELAY, fail_after=True)
            return 0

    def _iys_step(self, clients):
        """Ask İYS about the next chunk of this (locked) run and record what it answered, with the
        run's new resume point; returns the number of addresses asked (or refused)."""
        self.ensure_one()
        if self.state == "queued":
            self.write({"state": "running", "date_started": fields.Datetime.now()})
        plan = self.plan or []
        while self.cursor_index < len(plan):
            item = plan[self.cursor_index]
            addresses, last = self._iys_next_addresses(item)
            if addresses:
                break
            self.write({"cursor_index": self.cursor_index + 1, "cursor_address": False})
        else:
            self._iys_finish()
            return 0
        brand = self.env["iys.brand"].sudo().browse(item["brand"]).exists()
        rtype, channel = item["type"], item["channel"]
        account = brand.account_id
        lang = lang_of(self.env, self.lang)
        try:
            if not brand:
                raise UserError(self.env._("The brand of these addresses no longer exists."))
            client = clients.get(brand.id)
            if client is None:
                client = clients[brand.id] = account.with_context(iys_lang=self.lang)._iys_client(brand)
            onay = client.get_multiple_status(rtype, channel, addresses, brand_code=int(brand.code))
        except IysAuthError as exc:
            # the account's credentials: every chunk would be refused alike
            self._iys_fail(error_code_and_text(exc, lang)[1])
            return 0
        except IysRateLimitError as exc:
            # a quota or lock of İYS: asking again now would only be refused again (and may
            # prolong a token lock): the run waits, the chunk is asked later
            self._iys_postpone(error_code_and_text(exc, lang)[1], exc.retry_after or 60)
            return 0
        except IysError as exc:
            if exc.retryable and self.retry_count + 1 < MAX_CHUNK_RETRIES:
                self._iys_postpone(error_code_and_text(exc, lang)[1],
                                   exc.retry_delay(self.retry_count + 1) or 60)
                return 0
            self._iys_chunk_refused(brand, rtype, channel, addresses, last, exc, lang)
            return len(addresses)
        except UserError as exc:  # the account cannot connect (no credentials, brand gone …)
            self._iys_fail(exc.args[0])
            return 0
        stats = SyncStats()
        local = self._iys_local_consents(brand, rtype, channel, addresses)
        lookups_left = 0 if (not self.fetch_details or self.lookups_stopped) else LOOKUP_MAX - self.lookup_count
        lines, used, quota_reached = self._iys_compare_addresses(
            client, brand, rtype, channel, addresses, onay, local, stats, lookups_left, lang)
        self.env["iys.query.run.line"].sudo().create([dict(line, run_id=self.id) for line in lines])
        vals = {
            "asked_count": self.asked_count + len(addresses),
            "unchanged_count": self.unchanged_count + stats.unchanged,
            "difference_count": self.difference_count + stats.differences,
            "applied_count": self.applied_count + stats.applied,
            "lookup_count": self.lookup_count + used,
            "retry_count": 0, "next_try_at": False,
            **self._iys_cursor_after(addresses, last),
        }
        if quota_reached:
            vals["lookups_stopped"] = True
            self.message_post(body=self.env._(
                "İYS's hourly quota of single status queries is used up: the next differences are reported "
                "without being looked up. %(error)s", error="; ".join(dict.fromkeys(stats.errors))))
        self.write(vals)
        if self.cursor_index >= len(plan):
            self._iys_finish()
        return len(addresses)

    def _iys_next_addresses(self, item):
        """(addresses, last): the next chunk of a plan item after the resume point, and whether it
        is the item's last chunk."""
        cursor = self.cursor_address or None
        if "addresses" in item:
            selection = item["addresses"]
            start = bisect.bisect_right(selection, cursor) if cursor else 0
            chunk = selection[start:start + CHUNK_SIZE]
            return chunk, start + CHUNK_SIZE >= len(selection)
        # the whole ledger: pages in address order along the unique index
        # (brand_id, channel, recipient_type, address); one page in memory at a time
        self.env["iys.consent"].flush_model(["brand_id", "channel", "recipient_type", "address"])
        self.env.cr.execute(SQL(
            """SELECT address FROM iys_consent
                WHERE brand_id = %s AND channel = %s AND recipient_type = %s %s
             ORDER BY address LIMIT %s""",
            item["brand"], item["channel"], item["type"],
            SQL("AND address > %s", cursor) if cursor else SQL(), CHUNK_SIZE + 1,
        ))
        chunk = [row[0] for row in self.env.cr.fetchall()]
        return chunk[:CHUNK_SIZE], len(chunk) <= CHUNK_SIZE

    def _iys_cursor_after(self, addresses, last):
        if last:
            return {"cursor_index": self.cursor_index + 1, "cursor_address": False}
        return {"cursor_index": self.cursor_index, "cursor_address": addresses[-1]}

    @api.model
    def _iys_local_consents(self, brand, rtype, channel, addresses):
        return {
            consent.address: consent for consent in self.env["iys.consent"].sudo().search([
                ("brand_id", "=", brand.id), ("channel", "=", channel), ("recipient_type", "=", rtype),
                ("address", "in", addresses),
            ])
        }

    def _iys_postpone(self, text, delay, fail_after=False):
        """Wait *delay* seconds before the next attempt of the chunk (the worker goes on with other
        runs, and is triggered again for this one). With *fail_after*, the run stops after
        :data:`MAX_CHUNK_RETRIES` attempts."""
        retries = self.retry_count + 1
        if fail_after and retries >= MAX_CHUNK_RETRIES:
            self._iys_fail(text)
            return
        until = fields.Datetime.now() + timedelta(seconds=max(1, int(delay)))
        self.write({"retry_count": retries, "next_try_at": until, "message": self.env._(
            "Paused until %(time)s (UTC): %(error)s", time=fields.Datetime.to_string(until), error=text)})
        _logger.info("İYS status query %s paused for %ss", self.id, int(delay))

    def _iys_chunk_refused(self, brand, rtype, channel, addresses, last, exc, lang):
        """İYS refused the query of a chunk: its addresses are recorded as not asked, with İYS's
        explanation, and the run goes on with the next chunk."""
        code, text = error_code_and_text(exc, lang) if isinstance(exc, IysError) else (False, exc.args[0])
        text = f"{code}: {text}" if code and not text.startswith(code) else text
        if brand:
            local = self._iys_local_consents(brand, rtype, channel, addresses)
            self.env["iys.query.run.line"].sudo().create([{
                "run_id": self.id, "address": address, "brand_id": brand.id, "channel": channel,
                "recipient_type": rtype, "odoo_status": self._iys_local_text(local.get(address)), "iys_status": False,
                "note": text, "outcome": "error", "consent_id": local[address].id if address in local else False,
            } for address in addresses])
        Consent = self.env["iys.consent"]
        self.message_post(body=self.env._(
            "İYS refused the query of %(count)s addresses (%(brand)s, %(channel)s · %(type)s): %(error)s. "
            "They are listed as not asked; the run goes on with the next addresses.",
            count=len(addresses), brand=brand.display_name,
            channel=dict(Consent._fields["channel"]._description_selection(self.env)).get(channel),
            type=dict(Consent._fields["recipient_type"]._description_selection(self.env)).get(rtype), error=text))
        self.write({
            "asked_count": self.asked_count + len(addresses), "error_count": self.error_count + len(addresses),
            "retry_count": 0, "next_try_at": False, "message": text,
            **self._iys_cursor_after(addresses, last),
        })
        if self.cursor_index >= len(self.plan or []):
            self._iys_finish()

    def _iys_fail(self, text):
        """Stop the run: what it found so far is kept, its creator is told why."""
        self.write({"state": "failed", "date_finished": fields.Datetime.now(), "next_try_at": False,
                    "message": text})
        self._iys_notify_end()

    def _iys_finish(self):
        self.write({"state": "done", "date_finished": fields.Datetime.now(), "next_try_at": False})
        self._iys_notify_end()

    def _iys_notify_end(self):
        """Tell the user who started the run what it found (a message on the run, notified to them)."""
        if self.state == "done":
            body = Markup("<p>%s</p><ul>%s</ul>") % (
                self.env._("The status query is finished."),
                Markup().join(Markup("<li>%s: %s</li>") % (label, count) for label, count in (
                    (self.env._("Addresses asked"), self.asked_count),
                    (self.env._("Unchanged"), self.unchanged_count),
                    (self.env._("Differences"), self.difference_count),
                    (self.env._("Applied from İYS"), self.applied_count),
                    (self.env._("Not asked (İYS error)"), self.error_count),
                )),
            )
        else:
            body = Markup("<p>%s</p>") % self.env._(
                "The status query stopped after %(asked)s of %(total)s addresses: %(error)s",
                asked=self.asked_count, total=self.total_count, error=self.message or "")
        partner_ids = self.user_id.partner_id.ids if self.user_id.active else []
        self.message_post(body=body, partner_ids=partner_ids, subtype_xmlid="mail.mt_comment")

    # ------------------------------------------------------------------------------------------
    # The comparison, shared with the sync wizard's immediate mode
    # ------------------------------------------------------------------------------------------
    @api.model
    def _iys_compare_addresses(self, client, brand, rtype, channel, addresses, onay, local, stats, lookups_left,
                               lang):
        """Compare İYS's ONAY list with the ledger for *addresses* (sorted). Returns (line values of
        the differences, look-ups made, whether İYS's hourly quota of look-ups was reached);
        counts go to *stats*."""
        lines, used, quota_reached = [], 0, False
        for address in sorted(addresses):
            consent = local.get(address)
            difference = self._iys_compare(consent, address in onay)
            if not difference:
                stats.unchanged += 1
                continue
            stats.differences += 1
            note, outcome = difference, "difference"
            if lookups_left > used and not quota_reached:
                used += 1
                looked = self._iys_look_up(client, brand, rtype, channel, address, stats, lang)
                if looked is None:  # hourly quota reached: keep the rest for later
                    quota_reached = True
                else:
                    note, outcome = looked
            lines.append({
                "address": address, "brand_id": brand.id, "channel": channel, "recipient_type": rtype,
                "odoo_status": self._iys_local_text(consent),
                "iys_status": "ONAY" if address in onay else self.env._("not ONAY"),
                "note": note, "outcome": outcome, "consent_id": consent.id if consent else False,
            })
        unlinked = [line["address"] for line in lines if not line["consent_id"] and line["outcome"] == "applied"]
        if unlinked:
            created = self._iys_local_consents(brand, rtype, channel, unlinked)
            for line in lines:
                if not line["consent_id"] and line["address"] in created:
                    line["consent_id"] = created[line["address"]].id
        return lines, used, quota_reached

    @api.model
    def _iys_compare(self, consent, onay_on_iys):
        """Why the ledger and İYS's answer disagree, or False. İYS lists only ONAY addresses: an
        absent address is RET or unknown to İYS, so nothing is concluded from absence alone."""
        status = consent.status if consent else False
        sync = consent.sync_state if consent else False
        if onay_on_iys:
            if status == "ONAY":
                return False
            return self.env._("İYS holds an ONAY that Odoo does not have")
        if status == "ONAY" and sync == "confirmed":
            return self.env._("Confirmed ONAY in Odoo, but İYS does not list it as ONAY")
        return False

    @api.model
    def _iys_local_text(self, consent):
        if not consent:
            return self.env._("no record")
        states = dict(consent._fields["sync_state"]._description_selection(self.env))
        return f"{consent.status} ({states.get(consent.sync_state)})"

    @api.model
    def _iys_look_up(self, client, brand, rtype, channel, address, stats, lang):
        """Ask İYS for the record of one address and apply it; returns (note, outcome), or None
        when the hourly quota is used up. Without a record on İYS nothing is changed: a missing
        address is no evidence of a refusal."""
        try:
            record = client.get_consent_status(address, channel, rtype, brand_code=int(brand.code))
        except IysRateLimitError as exc:
            stats.errors.append(error_code_and_text(exc, lang)[1])
            return None
        except IysError as exc:
            return error_code_and_text(exc, lang)[1], "checked"
        if record is None or not record.status:
            _logger.info("İYS status query: no record for %s (%s)", mask_recipient(address), channel)
            return self.env._("İYS has no record of this address: left unchanged"), "checked"
        applied = brand._iys_apply_incoming([record], "iys_query")
        stats.applied += applied.applied
        if applied.applied:
            return self.env._("İYS holds %(status)s: applied", status=record.status), "applied"
        return self.env._("İYS holds %(status)s: Odoo already has a newer movement", status=record.status), "checked"

    # ------------------------------------------------------------------------------------------
    # The panel
    # ------------------------------------------------------------------------------------------
    @api.model
    def _iys_panel_section(self, brands):
        """Runs under way with their progress, and the last finished run with its differences."""
        if not brands:
            return None
        base = [("brand_ids", "in", brands.ids)]
        active_domain = base + [("state", "in", list(ACTIVE_STATES))]
        active = self.search(active_domain, order="id")
        last = self.search(base + [("state", "in", ["done", "failed", "cancelled"])], order="id desc", limit=1)
        if not active and not last:
            return None
        states = dict(self._fields["state"]._description_selection(self.env))

        def open_run(run):
            return {"res_model": self._name, "name": run.name, "res_id": run.id, "domain": [("id", "=", run.id)],
                    "views": [[False, "form"]], "context": {}}

        cards = [{
            "key": "query_runs_active", "label": self.env._("Status queries under way"), "value": len(active),
            "level": "info" if active else "muted", "hint": False,
            "action": {"res_model": self._name, "name": self.env._("Status queries under way"),
                       "domain": active_domain, "views": [[False, "list"], [False, "form"]], "context": {}},
        }]
        if last:
            lines_domain = [("run_id", "=", last.id), ("outcome", "!=", "error")]
            cards.append({
                "key": "query_run_differences", "label": self.env._("Differences found by the last status query"),
                "value": last.difference_count,
                "level": "danger" if last.state == "failed" else ("warning" if last.difference_count else "success"),
                "hint": self.env._("%(name)s, %(state)s on %(date)s", name=last.name, state=states.get(last.state),
                                   date=format_datetime(self.env, last.date_finished or last.create_date,
                                                        tz=self.env.user.tz, dt_format="short")),
                "action": {"res_model": "iys.query.run.line", "name": last.name, "domain": lines_domain,
                           "views": [[False, "list"], [False, "form"]], "context": {}},
            })
        rows = [{"cells": [run.name, states.get(run.state), f"{int(run.progress)} %", run.asked_count,
                           run.total_count, run.difference_count], "action": open_run(run)}
                for run in active | last]
        return {
            "key": "query_runs", "title": self.env._("Status queries with İYS"), "sequence": 60, "cards": cards,
            "headers": [self.env._("Status query"), self.env._("State"), self.env._("Progress"),
                        self.env._("Addresses asked"), self.env._("Addresses"), self.env._("Differences")],
            "rows": rows,
        }

