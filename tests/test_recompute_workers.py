# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
"""Two cron workers on the background recomputes at once. These tests use separate database
cursors (real transactions, committed and removed at the end), since a lock is only visible to
another transaction."""
import threading
import time
from datetime import timedelta
from itertools import pairwise
from unittest.mock import patch

import psycopg2

from odoo import SUPERUSER_ID, api, fields
from odoo.tests import TransactionCase, tagged

from odoo.addons.l10n_tr_iys.models import iys_recompute_run
from odoo.addons.l10n_tr_iys.models.iys_consent_event import _EVENT_UNLINK
from odoo.addons.l10n_tr_iys.models.iys_consent_mixin import STATE_FIELDS, IysConsentMixin
from odoo.addons.l10n_tr_iys.models.iys_recompute_run import IysRecomputeRun

RUN = "odoo.addons.l10n_tr_iys.models.iys_recompute_run"
#: contacts per company; contact n has an SMS consent: ONAY waiting for İYS (n % 3 == 0), ONAY
#: confirmed (n % 3 == 1), none (n % 3 == 2)
HOLDERS = 30
CHUNK = 4


def waiting(n):
    return n % 3 == 0


@tagged("post_install", "-at_install", "l10n_tr_iys")
class TestRecomputeWorkers(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # the cron runner is not woken up for real (no trigger row left behind)
        cls.startClassPatcher(patch.object(type(cls.env["ir.cron"]), "_trigger"))

    def setUp(self):
        super().setUp()
        self.chunks = []  # (worker, run id, model, after id, up to id, records) of every committed chunk
        self.local = threading.local()
        self.companies = {}
        for key, code in (("a", 900881), ("b", 900882)):
            self.companies[key] = self.committed_company(key, code)
        # both companies now allow messages to the addresses waiting for İYS: the stored states of
        # the waiting contacts are stale ("unconfirmed") until the runs have gone through
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            company_a, company_b = (env["res.company"].browse(self.companies[k]["company"]) for k in "ab")
            with patch(f"{RUN}.SYNC_MAX", 0):
                company_a.iys_pending_policy = "allow"  # a pending-policy run (only the waiting contacts)
                cr.execute("UPDATE res_company SET iys_pending_policy = 'allow' WHERE id = %s", [company_b.id])
                env.invalidate_all()
                env["iys.recompute.run"]._iys_recompute(company_b)  # a full run (every contact)
            runs = env["iys.recompute.run"].search([("company_id", "in", [company_a.id, company_b.id])], order="id")
            self.assertEqual([(r.company_id, r.only_unconfirmed, r.state) for r in runs],
                             [(company_a, True, "queued"), (company_b, False, "queued")])
            self.run_ids = runs.ids
            stale = env["res.partner"].browse(self.companies["a"]["partners"][0])
            self.assertEqual(stale.iys_sms_state, "unconfirmed")

    # committed data --------------------------------------------------------------------------------
    def committed_company(self, key, code):
        """A company with an İYS account, its default brand and HOLDERS contacts, committed."""
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {"tracking_disable": True})
            company = env["res.company"].create({"name": f"İYS recompute workers {key.upper()}"})
            account = env["iys.account"].create({
                "name": f"Workers {key}", "iys_code": str(code), "environment": "simulator",
                "simulator_url": "http://127.0.0.1:9", "company_id": company.id,
            })
            brand = env["iys.brand"].create({"name": f"Workers {key}", "code": str(code), "account_id": account.id,
                                             "is_default": True})
            numbers = [f"+90532{code % 10}{n:06d}" for n in range(HOLDERS)]
            partners = env["res.partner"].create([
                {"name": f"Workers {key} {n}", "company_id": company.id, "mobile": number}
                for n, number in enumerate(numbers)
            ])
            now = fields.Datetime.now().replace(microsecond=0)
            for origin, wanted in (("api", 0), ("iys_query", 1)):  # waiting for İYS, confirmed by İYS
                env["iys.consent"]._iys_record_movements([
                    {"brand_id": brand.id, "channel": "MESAJ", "address": number, "status": "ONAY",
                     "source": "HS_WEB", "consent_date": now - timedelta(minutes=10),
                     **({"transaction_id": f"{brand.id}{number}".ljust(64, "0")} if origin == "iys_query" else {})}
                    for n, number in enumerate(numbers) if n % 3 == wanted
                ], origin)
            data = {"company": company.id, "account": account.id, "brand": brand.id, "partners": partners.ids}
        self.addCleanup(self.drop_committed, data)
        return data

    def drop_committed(self, data):
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {"iys_allow_event_unlink": _EVENT_UNLINK})
            env["iys.recompute.run"].search([("company_id", "=", data["company"])]).unlink()
            env["iys.outbox"].search([("brand_id", "=", data["brand"])]).unlink()
            env["iys.consent.event"].search([("brand_id", "=", data["brand"])]).unlink()
            env["iys.consent"].search([("brand_id", "=", data["brand"])]).unlink()
            env["res.partner"].browse(data["partners"]).unlink()
            env["iys.brand"].browse(data["brand"]).unlink()
            env["iys.account"].with_context(active_test=False).browse(data["account"]).unlink()
            company = env["res.company"].browse(data["company"])
            partner = company.partner_id
            company.unlink()
            partner.unlink()

    # the workers ---------------------------------------------------------------------------------
    def worker_patches(self, chunk_delay=0.0):
        """What the workers run with: production behaviour (real commits, a concurrent update
        handled rather than raised as under tests), small chunks, and each committed chunk noted."""
        test = self
        real_step = IysRecomputeRun._iys_step
        real_step_safely = IysRecomputeRun._iys_step_safely

        def step(run, *args, **kwargs):
            model, after = run.cursor_model, run.cursor_id or 0
            done = real_step(run, *args, **kwargs)
            if done:  # a chunk of the model the run is in now, from the start if it just moved there
                test.local.pending.append((run.id, run.cursor_model, after if model == run.cursor_model else 0,
                                           run.cursor_id, done))
                time.sleep(chunk_delay)  # a chunk takes a while: the other worker comes meanwhile
            return done

        def step_safely(run, *args, **kwargs):
            result = real_step_safely(run, *args, **kwargs)
            if result is None:  # rolled back: done again later
                test.local.pending = []
            return result

        def commit(env):
            env.cr.commit()  # pylint: disable=invalid-commit
            test.chunks.extend((test.local.worker, *chunk) for chunk in test.local.pending)
            test.local.pending = []

        return [
            patch(f"{RUN}.in_test_mode", return_value=False),
            patch(f"{RUN}.commit", commit),
            patch(f"{RUN}.CHUNK_SIZE", CHUNK),
            patch(f"{RUN}.CRON_TIME_BUDGET", 0),  # one chunk per call: the workers take turns
            patch.object(IysRecomputeRun, "_iys_step", step),
            patch.object(IysRecomputeRun, "_iys_step_safely", step_safely),
        ]

    def cron_call(self, worker, cr):
        """One call of the job as Odoo's cron runner makes it (as OdooBot, committed after)."""
        self.local.worker = worker
        self.local.pending = []
        if cr.transaction is None:
            # the registry of the test, not Registry(dbname): the test runner holds the registries'
            # lock while tests run, and a worker thread would wait for it forever
            cr.transaction = api.Transaction(self.registry)
        env = api.Environment(cr, SUPERUSER_ID, {})
        done = env["iys.recompute.run"]._cron_recompute()
        cr.commit()  # pylint: disable=invalid-commit  # what the runner does after each call
        return done

    def finish(self, cr, worker=1):
        """Call the job until no run is under way (a call that ends a run returns 0)."""
        for _call in range(200):
            if not self.active_runs(cr):
                return
            self.cron_call(worker, cr)
        self.fail("the runs never end")

    def active_runs(self, cr):
        cr.execute("SELECT count(*) FROM iys_recompute_run WHERE id = ANY(%s) AND state IN ('queued', 'running')",
                   [self.run_ids])
        return cr.fetchone()[0]

    def stored_and_expected(self):
        """{partner id: stored states} and {partner id: the policy's states, record by record}."""
        ids = self.companies["a"]["partners"] + self.companies["b"]["partners"]
        fnames = list(STATE_FIELDS.values())
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            partners = env["res.partner"].browse(ids)
            stored = {p.id: tuple(p[f] for f in fnames) for p in partners}
            for fname in fnames:
                env.add_to_compute(partners._fields[fname], partners)
            partners.flush_recordset()
            partners.invalidate_recordset()
            expected = {p.id: tuple(p[f] for f in fnames) for p in partners}
            cr.rollback()
        return stored, expected

    def assert_runs_done(self):
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            runs = env["iys.recompute.run"].browse(self.run_ids)
            totals = {run.id: run.total_count for run in runs}
            self.assertEqual([(r.state, r.failure_count, r.message) for r in runs], [("done", 0, False)] * 2)
            self.assertEqual([r.done_count for r in runs], [r.total_count for r in runs])
        # company A: the contacts waiting for İYS; company B: every contact
        self.assertEqual(list(totals.values()), [len([n for n in range(HOLDERS) if waiting(n)]), HOLDERS])
        for run_id, total in totals.items():
            chunks = sorted((model, after, upto, done) for _w, rid, model, after, upto, done in self.chunks
                            if rid == run_id)
            self.assertEqual(sum(done for *_rest, done in chunks), total, "every holder once: no chunk done twice")
            for (model, _after, upto, _done), (model_next, after_next, _upto, _d) in pairwise(chunks):
                if model == model_next:
                    self.assertEqual(after_next, upto, "the next chunk starts where the previous one ended")
        stored, expected = self.stored_and_expected()
        self.assertEqual(stored, expected, "the stored states are the policy's, record by record")
        for key in "ab":
            for n, partner_id in enumerate(self.companies[key]["partners"]):
                self.assertEqual(stored[partner_id][0], "allowed" if n % 3 < 2 else "no_consent")
        return totals

    # tests -------------------------------------------------------------------------------------
    def test_two_workers_share_the_runs(self):
        barrier = threading.Barrier(2)
        done, errors = {}, []

        def work(worker):
            try:
                barrier.wait(timeout=10)
                with self.registry.cursor() as cr:
                    for _call in range(200):
                        done[worker] = done.get(worker, 0) + self.cron_call(worker, cr)
                        if not self.active_runs(cr):
                            break
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append((worker, exc))

        patches = self.worker_patches(chunk_delay=0.05)
        for patcher in patches:
            patcher.start()
            self.addCleanup(patcher.stop)
        threads = [threading.Thread(target=work, args=(worker,), daemon=True) for worker in (1, 2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        self.assertFalse([thread for thread in threads if thread.is_alive()], "no worker is stuck (no deadlock)")
        self.assertEqual(errors, [], "no error (no serialization failure) leaks out of a worker")
        totals = self.assert_runs_done()
        self.assertEqual(sum(done.values()), sum(totals.values()), "what the workers report is each holder once")
        self.assertEqual(sum(chunk[-1] for chunk in self.chunks), sum(totals.values()))

    def test_another_company_proceeds_while_a_run_is_locked(self):
        for patcher in self.worker_patches():
            patcher.start()
            self.addCleanup(patcher.stop)
        run_a, run_b = self.run_ids
        partners_a = self.companies["a"]["partners"]
        busy = self.registry.cursor()  # worker 1, in the middle of a chunk of company A's run
        try:
            self.local.worker, self.local.pending = 1, []
            env_busy = api.Environment(busy, SUPERUSER_ID, {})
            claimed = env_busy["iys.recompute.run"]._iys_claim()
            self.assertEqual(claimed.id, run_a, "the oldest run first")
            self.assertEqual(claimed._iys_step_safely(), CHUNK)
            in_chunk = [pid for n, pid in enumerate(partners_a) if waiting(n)][:CHUNK]
            # nothing that worker holds blocks a user: the company, the contacts outside its chunk
            with self.registry.cursor() as user_cr:
                user_cr.execute("SET LOCAL lock_timeout = '2s'")
                user_env = api.Environment(user_cr, SUPERUSER_ID, {})
                user_env["res.company"].browse(self.companies["a"]["company"]).write({"phone": "+90 212 555 00 00"})
                outside = user_env["res.partner"].browse(partners_a[-1])
                self.assertNotIn(outside.id, in_chunk)
                outside.write({"function": "Not in the chunk"})
                user_env.flush_all()
                user_cr.rollback()
            # worker 2 (another thread) skips the locked run and does company B's run to the end meanwhile
            calls, errors = [], []

            def work():
                try:
                    with self.registry.cursor() as cr:
                        cr.execute("SET lock_timeout = '5s'")  # it would fail rather than wait
                        while self.cron_call(2, cr) and len(calls) < 100:
                            calls.append(1)
                        calls.append(0)
                except Exception as exc:  # noqa: BLE001 - reported below
                    errors.append(exc)

            thread = threading.Thread(target=work, daemon=True)
            thread.start()
            thread.join(timeout=60)
            self.assertFalse(thread.is_alive(), "worker 2 does not wait for worker 1")
            self.assertEqual(errors, [])
            with self.registry.cursor() as cr:
                cr.execute("SELECT state, done_count, total_count FROM iys_recompute_run WHERE id = ANY(%s) "
                           "ORDER BY id", [[run_a, run_b]])
                (state_a, done_a, _total_a), (state_b, done_b, total_b) = cr.fetchall()
            self.assertEqual((state_b, done_b, total_b), ("done", HOLDERS, HOLDERS))
            # (worker 1 has not committed: for everybody else, company A's run has not started)
            self.assertEqual((state_a, done_a or 0), ("queued", 0), "company A's run is untouched by worker 2")
            self.assertEqual(len(calls), -(-HOLDERS // CHUNK) + 1, "one chunk per call, then the end of the run")
            # worker 1 commits its chunk and carries on
            iys_recompute_run.commit(env_busy)
        finally:
            busy.close()
        with self.registry.cursor() as cr:
            self.finish(cr)
        self.assertEqual([chunk[0] for chunk in self.chunks if chunk[1] == run_b], [2] * -(-HOLDERS // CHUNK))
        self.assertEqual([chunk[0] for chunk in self.chunks if chunk[1] == run_a][0], 1, "worker 1's chunk counts")
        self.assert_runs_done()

    def test_a_deadlock_is_retried_like_a_concurrent_update(self):
        for patcher in self.worker_patches():
            patcher.start()
            self.addCleanup(patcher.stop)
        real = IysConsentMixin._iys_bulk_recompute_model
        calls = []

        def deadlocked_once(records, *args, **kwargs):
            calls.append(1)
            if len(calls) == 1:  # PostgreSQL chose this transaction to break a deadlock
                raise psycopg2.errors.DeadlockDetected("deadlock detected")
            return real(records, *args, **kwargs)

        with patch.object(IysConsentMixin, "_iys_bulk_recompute_model", deadlocked_once), \
                self.registry.cursor() as cr:
            self.assertEqual(self.cron_call(1, cr), 0, "the chunk is rolled back")
            cr.execute("SELECT state, COALESCE(failure_count, 0) FROM iys_recompute_run WHERE id = %s",
                       [self.run_ids[0]])
            self.assertEqual(cr.fetchone(), ("queued", 0), "not a failure: the chunk is done again")
            self.finish(cr)
        self.assert_runs_done()
