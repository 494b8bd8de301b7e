# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
"""The pull at size: pages through the ledger's bulk way in, resumable at the last committed page,
bounded in time per cron call."""
import time
from collections import Counter
from datetime import timedelta
from unittest.mock import patch

from odoo import fields
from odoo.tests import tagged

from odoo.addons.l10n_tr_iys.models import iys_brand as iys_brand_module

from .sync_common import IysSyncCommon


class Killed(Exception):
    """Stands for a worker killed in the middle of a page."""


@tagged("post_install", "-at_install", "l10n_tr_iys")
class TestIysPullResume(IysSyncCommon):

    def setUp(self):
        super().setUp()
        self.Event = self.env["iys.consent.event"].sudo()

    def citizens(self, count, first=0):
        """*count* citizen movements of the brand, each in a second of its own (so pages end between
        seconds), served at once."""
        for number in range(first, first + count):
            self.sim.inject_citizen_change(
                int(self.brand.code), f"+9053211{number:05d}", "MESAJ", "RET" if number % 2 else "ONAY",
                consent_date=fields.Datetime.now() - timedelta(minutes=30 - number % 30), deliver_push=False,
            )
            self.sim.advance_clock(1)
        return [m for m in self.sim.get_movements(int(self.brand.code)) if m["source"].startswith("IYS_")]

    def feed(self):
        movements = [m for m in self.sim.get_movements(int(self.brand.code)) if m["source"].startswith("IYS_")]
        return sorted(movements, key=lambda m: (m["creationTs"], m["transactionId"]))

    @staticmethod
    def cursor(movement):
        return f"{movement['creationTs']}_{movement['transactionId']}"

    def pull_events(self):
        return self.Event.search([("brand_id", "=", self.brand.id), ("origin", "=", "iys_pull")])

    def fake_commits(self):
        """``commit()`` of the pull, as a savepoint: what a killed worker had committed survives
        the rollback below, as it would in the database."""
        def commit(env):
            env.flush_all()
            env.cr.execute("SAVEPOINT iys_pull_committed")

        self.env.cr.execute("SAVEPOINT iys_pull_committed")
        return patch.object(iys_brand_module, "commit", commit)

    def kill_rollback(self):
        """What the database keeps of a killed worker: its last commit."""
        self.env.invalidate_all()
        self.env.cr.execute("ROLLBACK TO SAVEPOINT iys_pull_committed")
        self.env.invalidate_all()

    def test_killed_worker_resumes_at_the_last_committed_page(self):
        self.citizens(5)
        feed = self.feed()
        Brand = type(self.env["iys.brand"])
        original = Brand._iys_apply_incoming
        calls = []

        def apply_then_die(brand, records, origin, *args, **kwargs):
            stats = original(brand, records, origin, *args, **kwargs)
            calls.append(len(records))
            if len(calls) == 2:  # the second page is applied, not committed: the worker dies
                raise Killed()
            return stats

        # (not assertRaises: Odoo's rolls back to a savepoint of its own, taken before the commits)
        killed = False
        with self.fake_commits(), patch.object(Brand, "_iys_apply_incoming", apply_then_die):
            try:
                self.brand._iys_pull(limit=2)
            except Killed:
                killed = True
        self.assertTrue(killed)
        self.kill_rollback()
        self.assertEqual(calls, [2, 2])
        self.assertEqual(self.brand.iys_pull_after, self.cursor(feed[1]), "the cursor of the committed page")
        self.assertEqual(len(self.pull_events()), 2, "the page in progress is gone with its cursor")
        # The next call (another worker) resumes after the first page: nothing skipped, nothing twice.
        self.sim.requests_log.clear()
        stats = self.brand._iys_pull(limit=2)
        self.assertEqual((stats.applied, stats.unchanged, stats.errors), (3, 0, []))
        changes = [e for e in self.sim.requests_log if e["path"].endswith("/consents/changes")]
        self.assertEqual(changes[0]["query"]["after"], [self.cursor(feed[1])])
        events = self.pull_events()
        self.assertEqual(Counter(events.mapped("transaction_id")), Counter(m["transactionId"] for m in feed))
        self.assertEqual(self.brand.iys_pull_after, self.cursor(feed[-1]))
        for movement in feed:
            consent = self.Consent.search([("brand_id", "=", self.brand.id), ("channel", "=", "MESAJ"),
                                           ("address", "=", movement["recipient"])])
            self.assertEqual((consent.status, consent.sync_state), (movement["status"], "confirmed"))

    def test_pulling_the_window_again_applies_nothing_twice(self):
        self.citizens(4)
        stats = self.brand._iys_pull(limit=3)
        self.assertEqual((stats.pages, stats.applied), (2, 4))
        # A full resync (a lost cursor) reads the same movements again: known by their transaction id.
        self.brand.sudo().iys_pull_after = False
        stats = self.brand._iys_pull(limit=3)
        self.assertEqual((stats.applied, stats.unchanged), (0, 4))
        self.assertEqual(len(self.pull_events()), 4)
        self.assertFalse(self.env["iys.outbox"].sudo().search([("brand_id", "=", self.brand.id)]),
                         "movements from İYS are never sent back")

    def test_a_page_with_an_invalid_item_keeps_the_rest(self):
        self.citizens(2)
        # İYS sends an item the library refuses (a number that is not a Turkish mobile), between two
        # good ones of the same page.
        with self.sim.lock:
            self.sim._record(int(self.brand.code), {
                "recipient": "+90532", "type": "MESAJ", "status": "ONAY", "source": "IYS_MOBIL",
                "consentDate": "2026-01-01 10:00:00", "recipientType": "BIREYSEL",
            })
        self.sim.advance_clock(1)
        self.citizens(2, first=2)
        with self.assertLogs("odoo.addons.l10n_tr_iys.models.iys_brand", "WARNING") as logs:
            stats = self.brand._iys_pull()
        self.assertEqual((stats.pages, stats.applied, len(stats.errors)), (1, 4, 1))
        self.assertEqual(len(self.pull_events()), 4)
        self.assertEqual(self.brand.iys_pull_after, self.cursor(self.feed()[-1]), "the feed goes on")
        self.assertFalse(any("+90532" in line for line in logs.output), "the address is masked in the log")

    def test_a_cron_call_stops_at_its_time_budget(self):
        self.citizens(3)
        stats = self.brand._iys_pull(limit=1, deadline=time.monotonic())
        self.assertEqual((stats.pages, stats.applied, stats.waiting), (1, 1, 1), "one page, then the budget is over")
        # The cron: the first brand gets its page, the others wait for the next call (progress remaining).
        cron = self.env.ref("l10n_tr_iys.ir_cron_iys_pull")
        progress = self.env["ir.cron.progress"].create({"cron_id": cron.id})
        brands = self.env["iys.brand"].search([("account_id", "=", self.account.id)])
        self.assertEqual(brands.ids, [self.brand.id, self.brand_b.id])
        self.patch(type(self.env["iys.brand"]), "_iys_pull_brands", lambda _self: brands)
        self.patch(iys_brand_module, "PULL_SECONDS_PER_CALL", 0)
        self.env["iys.brand"].with_context(ir_cron_progress_id=progress.id)._cron_iys_pull()
        self.assertEqual(progress.remaining, 1)
        self.assertEqual(len(self.pull_events()), 3)
