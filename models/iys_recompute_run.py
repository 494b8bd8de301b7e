# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
"""Recompute the stored İYS states of a company's contacts in the background.

Changing a company's default brand, archiving (or unarchiving) an İYS account, or changing the
policy for unconfirmed consents changes the stored states (``iys_sms_state`` …) of every holder of
the consent mixin (contacts, leads, mailing contacts). Up to :data:`SYNC_MAX` holders this is done
at once, in the request, by one SQL UPDATE per model (``iys.consent.mixin._iys_bulk_recompute_states``).
Above it, the request only queues a run here and triggers the scheduled action “İYS: recompute
contact states” (``_cron_recompute``), which works through the holders in chunks of
:data:`CHUNK_SIZE` in id order, each chunk committed together with the run's resume point (model,
last id) and progress: a killed worker loses at most the chunk in progress and resumes after the
last committed one.

A change of the policy for unconfirmed consents only concerns the holders of an address with an
ONAY waiting for İYS (a few of them, scattered): its run lists their ids once, when it starts, in
chunks (``iys.recompute.run.chunk``), and each chunk reads its ids there by the resume point,
rather than looking for them among all the holders again.

One run per company is worked on: a newer change supersedes the run under way (it would recompute
with settings that are not current any more) and the newer run starts again from the beginning.
Runs are claimed ``FOR NO KEY UPDATE SKIP LOCKED``, so two workers never work on the same run.

Every chunk reads the company's current default brand and policy. While a run is queued or
running, the stored states of the holders not reached yet may be stale: the send gate never reads
them (it asks the ledger through the policy, ``iys.consent._iys_gate_decisions``), and the screens
that show them (the panel, the settings) say that they are being recomputed, with the progress.
"""
import logging
import time
import traceback

import psycopg2

from odoo import api, fields, models
from odoo.service.model import PG_CONCURRENCY_EXCEPTIONS_TO_RETRY
from odoo.tools import SQL

from ..iyslib.masking import mask_text
from .iys_consent_mixin import WAITING_SYNC_STATES
from .iys_sync_common import commit, in_test_mode

_logger = logging.getLogger(__name__)

#: up to this many holders (contacts, leads, mailing contacts together) a company's states are
#: recomputed at once, in the request (about a second at 10,000); above it, in the background
SYNC_MAX = 10000
#: holders recomputed per chunk (one commit each)
CHUNK_SIZE = 20000
#: seconds one cron call works before handing back; Odoo calls it again (up to 10 times per run
#: of the job) while work remains, and every call stays well under the cron time limit
CRON_TIME_BUDGET = 10
#: chunks that failed in a row (not a concurrent update) before the run stops
MAX_FAILURES = 5
ACTIVE_STATES = ("queued", "running")


class IysRecomputeRun(models.Model):
    _name = "iys.recompute.run"
    _description = "İYS contact states recomputed in the background"
    _inherit = ["mail.thread"]
    _order = "id desc"

    name = fields.Char(compute="_compute_name")
    company_id = fields.Many2one("res.company", required=True, index=True, readonly=True,
                                 default=lambda self: self.env.company)
    reason = fields.Selection(
        [("brand", "Default brand or İYS account changed"), ("policy", "Policy for unconfirmed consents changed")],
        string="Why", required=True, readonly=True, default="brand",
    )
    only_unconfirmed = fields.Boolean(
        "Only contacts waiting for İYS", readonly=True,
        help="Only the contacts with a consent (ONAY) waiting for İYS can change: what a change of the "
        "policy for unconfirmed consents needs.",
    )
    shared = fields.Boolean(
        "Includes shared contacts", readonly=True,
        help="Records without a company follow the company that was current for the user who made the change.",
    )
    state = fields.Selection(
        [("queued", "Queued"), ("running", "Running"), ("done", "Done"), ("failed", "Failed"),
         ("superseded", "Superseded")],
        required=True, default="queued", readonly=True, index=True, tracking=True, copy=False,
    )
    user_id = fields.Many2one("res.users", string="Started by", readonly=True, default=lambda self: self.env.user)
    lang = fields.Char(readonly=True, default=lambda self: self.env.lang)
    date_started = fields.Datetime("Started on", readonly=True, copy=False)
    date_finished = fields.Datetime("Finished on", readonly=True, copy=False)
    total_count = fields.Integer(
        "Records", readonly=True, copy=False,
        help="Contacts, leads and mailing contacts to recompute, counted when the run started.")
    done_count = fields.Integer("Recomputed", readonly=True, copy=False)
    changed_count = fields.Integer("Changed", readonly=True, copy=False,
                                   help="Records whose stored states changed.")
    progress = fields.Float(compute="_compute_progress", store=True, help="Share of the records recomputed (%).")
    # Resume point, committed with each chunk
    cursor_model = fields.Char("Resume in model", readonly=True, copy=False, help="Model being recomputed.")
    cursor_id = fields.Integer("Resume after id", readonly=True, copy=False,
                               help="Last record id recomputed in that model.")
    failure_count = fields.Integer("Failures in a row", readonly=True, copy=False)
    holders_listed = fields.Boolean(
        "Chunks listed", readonly=True, copy=False,
        help="The chunks a pending-policy run goes through are listed (once, when it starts).")
    message = fields.Text(readonly=True, copy=False)

    @api.model_create_multi
    def create(self, vals_list):
        runs = super().create(vals_list)
        runs.company_id.invalidate_recordset(["iys_recompute_status"])
        return runs

    def write(self, vals):
        result = super().write(vals)
        self.company_id.invalidate_recordset(["iys_recompute_status"])
        return result

    @api.depends("create_date")
    def _compute_name(self):
        for run in self:
            run.name = self.env._("Contact states recompute %(number)s", number=run.id) if run.id else self.env._(
                "New contact states recompute")

    @api.depends("done_count", "total_count", "state")
    def _compute_progress(self):
        for run in self:
            if run.state == "done":
                run.progress = 100.0
            else:
                run.progress = min(100.0, 100.0 * run.done_count / run.total_count) if run.total_count else 0.0

    def action_refresh(self):
        return True

    # ------------------------------------------------------------------------------------------
    # Requests (from res.company when a default brand or a policy changed)
    # ------------------------------------------------------------------------------------------
    @api.model
    def _iys_recompute(self, companies, only_unconfirmed=False):
        """Recompute the stored states of the holders of ``companies``: at once when they are few
        (:data:`SYNC_MAX`), else queue a run per company and wake the background worker up.

        :returns: the runs queued (empty when everything was recomputed at once)
        """
        Mixin = self.env["iys.consent.mixin"]
        runs = self.browse()
        for company in companies.sudo():
            brand = company.iys_default_brand_id
            if only_unconfirmed and not brand:
                continue  # nothing is waiting for İYS without a brand
            shared = company == self.env.company
            active = self.sudo().search([("company_id", "=", company.id), ("state", "in", ACTIVE_STATES)])
            if not active and not self._iys_more_than(company, brand, only_unconfirmed, shared, SYNC_MAX):
                Mixin._iys_bulk_recompute_states(company, only_unconfirmed=only_unconfirmed)
                continue
            # A run under way recomputes with settings that are not current any more: the new run
            # replaces it (the worker marks it superseded) and does everything it would have done.
            runs |= self.sudo().create({
                "company_id": company.id,
                "reason": "policy" if only_unconfirmed and all(active.mapped("only_unconfirmed")) else "brand",
                "only_unconfirmed": only_unconfirmed and all(active.mapped("only_unconfirmed")),
                "shared": shared or any(active.mapped("shared")),
                "user_id": self.env.uid,
                "lang": self.env.lang,
            })
            _logger.info("İYS: states of the contacts of company %s will be recomputed in the background",
                         company.id)
        if runs:
            self._iys_trigger()
        return runs

    @api.model
    def _iys_more_than(self, company, brand, only_unconfirmed, shared, limit):
        """Whether ``company`` has more than ``limit`` holders to recompute (stops counting there).

        For a change of the pending policy, the count goes from the consents waiting for İYS to
        their holders (a semi-join on the holders' address index): it stops after ``limit``
        matches instead of hashing every waiting address first. A holder with both an e-mail and
        a number waiting may be counted twice: only a borderline case goes to the background for it."""
        count = 0
        for Model in self._iys_holder_models():
            condition = Model._iys_bulk_recompute_where(company, brand, False, shared)
            if condition is None:
                continue
            Model.flush_model()
            if only_unconfirmed:
                self.env["iys.consent"].flush_model(["brand_id", "channel", "status", "sync_state", "address"])
                queries = [SQL(
                    "SELECT 1 FROM iys_consent c WHERE c.brand_id = %s AND c.channel IN %s AND c.status = 'ONAY'"
                    " AND c.sync_state IN %s AND EXISTS (SELECT 1 FROM %s t WHERE t.%s = c.address AND %s)",
                    brand.id, channels, WAITING_SYNC_STATES, SQL.identifier(Model._table), SQL.identifier(column),
                    condition,
                ) for channels, column in ((("EPOSTA",), "email_normalized"), (("MESAJ", "ARAMA"), "phone_sanitized"))
                    if column in Model._fields]
            else:
                queries = [SQL("SELECT 1 FROM %s t WHERE %s", SQL.identifier(Model._table), condition)]
            for query in queries:
                self.env.cr.execute(SQL("SELECT count(*) FROM (%s LIMIT %s) AS sub", query, limit + 1 - count))
                count += self.env.cr.fetchone()[0]
                if count > limit:
                    return True
        return False

    @api.model
    def _iys_holder_models(self):
        """The models holding stored states, in the order a run works through them."""
        Mixin = self.env["iys.consent.mixin"]
        return [self.env[name].sudo() for name in sorted(Mixin._iys_models())]

    @api.model
    def _iys_workers(self):
        return self.env.ref("l10n_tr_iys.ir_cron_iys_recompute_run", raise_if_not_found=False) or self.env["ir.cron"]

    @api.model
    def _iys_trigger(self):
        for cron in self._iys_workers().sudo():
            cron._trigger()

    @api.model
    def _iys_active_runs(self, companies):
        """{company id: the run under way (the newest)} of ``companies``."""
        runs = self.sudo().search([("company_id", "in", companies.ids), ("state", "in", ACTIVE_STATES)],
                                  order="id")
        return {run.company_id.id: run for run in runs}

    def _iys_progress_text(self):
        """“Contact states are being recomputed: N of M done” (or queued)."""
        self.ensure_one()
        if self.state == "queued" or not self.total_count:
            return self.env._("Contact states are being recomputed: waiting for the background worker.")
        return self.env._("Contact states are being recomputed: %(done)s of %(total)s done.",
                          done=f"{self.done_count:,}", total=f"{self.total_count:,}")

    # ------------------------------------------------------------------------------------------
    # The background worker
    # ------------------------------------------------------------------------------------------
    @api.model
    def _cron_recompute(self):
        """Work on the runs chunk by chunk, one commit per chunk, for at most
        :data:`CRON_TIME_BUDGET` seconds; reports the progress; returns the records recomputed."""
        started = time.monotonic()
        done = 0
        while True:
            run = self._iys_claim()
            if not run:
                break
            step = run._iys_step_safely()
            if step is None:  # a concurrent update: the next call starts afresh
                break
            done += step
            commit(self.env)
            if time.monotonic() - started >= CRON_TIME_BUDGET:
                break
        remaining = sum(max(run.total_count - run.done_count, 1)
                        for run in self.sudo().search([("state", "in", ACTIVE_STATES)]))
        self.env["ir.cron"]._notify_progress(done=done, remaining=remaining)
        if remaining and not done:
            self._iys_trigger()  # e.g. every run was locked by another worker: try again soon
        return done

    @api.model
    def _iys_claim(self):
        """The oldest run under way, locked for this transaction (another worker's run is skipped),
        read afresh; an older run of a company with a newer one is superseded on the way."""
        while True:
            self.env.flush_all()
            try:
                with self.env.cr.savepoint(flush=False):
                    # (not logged as an error when it fails: another worker being on it is normal)
                    self.env.cr.execute(SQL(
                        "SELECT id FROM iys_recompute_run WHERE state IN %s ORDER BY id LIMIT 1"
                        " FOR NO KEY UPDATE SKIP LOCKED", ACTIVE_STATES,
                    ), log_exceptions=False)
                    ids = [row[0] for row in self.env.cr.fetchall()]
            except psycopg2.errors.SerializationFailure:
                # another worker changed it since this transaction began: it is on it
                return self.browse()
            run = self.sudo().browse(ids)
            run.invalidate_recordset()
            if not run:
                return run
            newer = self.sudo().search([("company_id", "=", run.company_id.id), ("state", "in", ACTIVE_STATES),
                                        ("id", ">", run.id)], limit=1)
            if not newer:
                return run
            run.write({"state": "superseded", "date_finished": fields.Datetime.now(),
                       "message": self.env._("Superseded by %(run)s, which starts again with the current settings.",
                                             run=newer.name)})
            run._iys_unlist_chunks()
            commit(self.env)

    def _iys_step_safely(self):
        """One chunk; returns the records recomputed, or None after a concurrent update or a
        deadlock (rolled back: the chunk is done again by the next call). Another failure loses
        the chunk only; the run stops after :data:`MAX_FAILURES` in a row."""
        self.ensure_one()
        run = self.with_context(lang=self.lang or "en_US")
        try:
            with self.env.cr.savepoint():
                return run._iys_step()
        except PG_CONCURRENCY_EXCEPTIONS_TO_RETRY:
            # what Odoo retries a request for: a record updated meanwhile, or a deadlock with a
            # transaction that updates the same records in another order
            if in_test_mode():
                raise
            _logger.info("İYS recompute %s: records changed meanwhile, the chunk is done again", self.id)
            self.env.cr.rollback()
            return None
        except Exception as exc:
            if in_test_mode():
                raise
            _logger.error("İYS recompute %s: chunk failed: %s", self.id, mask_text(traceback.format_exc()))
            failures = self.failure_count + 1
            self.write({"failure_count": failures, "message": str(exc)})
            if failures >= MAX_FAILURES:
                run._iys_end("failed")
            return 0

    def _iys_step(self, chunk_size=None):
        """Recompute the next chunk of this (locked) run and commit its resume point with it;
        returns the number of records recomputed."""
        self.ensure_one()
        chunk_size = chunk_size or CHUNK_SIZE
        company = self.company_id.sudo()
        # the company's settings now (a change since the run started made a newer run)
        company.invalidate_recordset(["iys_account_id", "iys_default_brand_id"])
        brand = company.iys_default_brand_id
        policy = company.iys_pending_policy or "block"
        models_ = self._iys_holder_models()
        names = [Model._name for Model in models_]
        if self.state == "queued":
            self.write({"state": "running", "date_started": fields.Datetime.now(), "done_count": 0,
                        "changed_count": 0, "cursor_model": names[0] if names else False, "cursor_id": 0,
                        "total_count": 0 if self.only_unconfirmed else self._iys_count(models_, brand)})
        if self.only_unconfirmed and not brand:
            self._iys_end("done")
            return 0
        if self.only_unconfirmed and not self.holders_listed:
            listed = self._iys_list_chunks(models_, brand, chunk_size)
            if not self.total_count:  # (a run started by an earlier version has its count)
                self.total_count = listed
        index = names.index(self.cursor_model) if self.cursor_model in names else 0
        while index < len(models_):
            Model = models_[index]
            ids = []
            if self.only_unconfirmed:
                # the next chunk of the list, by its index: the few contacts waiting for İYS are
                # not looked for among all the contacts again
                self.env.cr.execute(SQL(
                    "SELECT res_ids FROM iys_recompute_run_chunk WHERE run_id = %s AND res_model = %s"
                    " AND last_id > %s ORDER BY last_id LIMIT 1",
                    self.id, Model._name, self.cursor_id or 0,
                ))
                row = self.env.cr.fetchone()
                ids = row[0] if row else []
            else:
                condition = Model._iys_bulk_recompute_where(company, brand, False, self.shared)
                if condition is not None:
                    Model.flush_model()
                    self.env.cr.execute(SQL(
                        "SELECT t.id FROM %s t WHERE %s AND t.id > %s ORDER BY t.id LIMIT %s",
                        SQL.identifier(Model._table), condition, self.cursor_id or 0, chunk_size,
                    ))
                    ids = [row[0] for row in self.env.cr.fetchall()]
            if not ids:
                index += 1
                self.write({"cursor_model": names[index] if index < len(names) else False, "cursor_id": 0})
                continue
            # PostgreSQL would compile the chunk's UPDATE to machine code (JIT) for each chunk: a
            # quarter of a second spent for nothing on a statement over a few thousand rows
            self.env.cr.execute(SQL("SET LOCAL jit = off"))
            # a full recompute takes every record of an id range; one of the records waiting for
            # İYS takes a few here and there: the ids listed, rather than the condition again
            changed = Model._iys_bulk_recompute_model(
                company, brand, policy, only_unconfirmed=self.only_unconfirmed, shared=self.shared,
                **({"ids": ids} if self.only_unconfirmed else {"id_range": (self.cursor_id or 0, ids[-1])}),
            )
            self.write({"cursor_id": ids[-1], "done_count": self.done_count + len(ids),
                        "changed_count": self.changed_count + changed, "failure_count": 0})
            return len(ids)
        self._iys_end("done")
        return 0

    def _iys_list_chunks(self, models_, brand, chunk_size):
        """List, once, the records a pending-policy run goes through from its resume point on (the
        holders of an address with an ONAY waiting for İYS), in chunks of ``chunk_size`` ids in id
        order, one ``iys.recompute.run.chunk`` row each; returns the number of records.

        What is not listed cannot need this run: a consent that starts to wait for İYS later, or a
        record whose address changes later, has its holders' states recomputed by the ledger then,
        with the policy of then (the current one: a newer change makes a newer run)."""
        self.ensure_one()
        company = self.company_id.sudo()
        names = [Model._name for Model in models_]
        start = names.index(self.cursor_model) if self.cursor_model in names else 0
        self.env["iys.consent"].flush_model(["brand_id", "channel", "status", "sync_state", "address"])
        listed = 0
        for Model in models_[start:]:
            condition = Model._iys_bulk_recompute_where(company, brand, True, self.shared)
            if condition is None:
                continue
            if Model._name == self.cursor_model and self.cursor_id:
                condition = SQL("%s AND t.id > %s", condition, self.cursor_id)
            Model.flush_model()
            self.env.cr.execute(SQL(
                """INSERT INTO iys_recompute_run_chunk (run_id, res_model, last_id, res_ids)
                   SELECT %(run)s, %(model)s, max(id), jsonb_agg(id ORDER BY id)
                     FROM (SELECT t.id, (row_number() OVER (ORDER BY t.id) - 1) / %(size)s AS chunk
                             FROM %(table)s t WHERE %(condition)s) AS listed
                    GROUP BY chunk
                RETURNING jsonb_array_length(res_ids)""",
                run=self.id, model=Model._name, size=chunk_size, table=SQL.identifier(Model._table),
                condition=condition,
            ))
            listed += sum(row[0] for row in self.env.cr.fetchall())
        self.holders_listed = True
        return listed

    def _iys_unlist_chunks(self):
        """Remove the list of a run that ended (done, failed or superseded)."""
        runs = self.filtered("holders_listed")
        if runs:
            self.env.cr.execute(SQL("DELETE FROM iys_recompute_run_chunk WHERE run_id = ANY(%s)", runs.ids))
            runs.holders_listed = False

    def _iys_count(self, models_, brand):
        total = 0
        for Model in models_:
            condition = Model._iys_bulk_recompute_where(self.company_id, brand, self.only_unconfirmed, self.shared)
            if condition is not None:
                Model.flush_model()
                self.env.cr.execute(SQL("SELECT count(*) FROM %s t WHERE %s", SQL.identifier(Model._table), condition))
                total += self.env.cr.fetchone()[0]
        return total

    def _iys_end(self, state):
        """Finish the run and tell the user who started it (a message on the run, notified to them
        in their inbox, and a notification on their screen)."""
        self.write({"state": state, "date_finished": fields.Datetime.now(),
                    "done_count": max(self.done_count, self.total_count) if state == "done" else self.done_count})
        self._iys_unlist_chunks()
        if state == "done":
            text = self.env._(
                "The İYS states of the contacts of %(company)s are recomputed: %(done)s records, %(changed)s changed.",
                company=self.company_id.name, done=self.done_count, changed=self.changed_count)
        else:
            text = self.env._(
                "The recompute of the İYS states of the contacts of %(company)s stopped after %(done)s of %(total)s "
                "records: %(error)s. The send gate is not affected (it reads the consents); change the setting "
                "again to start a new recompute.",
                company=self.company_id.name, done=self.done_count, total=self.total_count, error=self.message or "")
        user = self.user_id
        partner_ids = user.partner_id.ids if user.active and not user.share else []
        self.message_post(body=text, partner_ids=partner_ids, subtype_xmlid="mail.mt_comment")
        if partner_ids:
            self.env["bus.bus"]._sendone(user.partner_id, "simple_notification", {
                "title": self.env._("İYS"), "message": text, "sticky": state != "done",
                "type": "success" if state == "done" else "warning",
            })
