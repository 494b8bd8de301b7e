# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
import time
from datetime import timedelta

from odoo import fields
from odoo.tests import tagged

from .sync_common import IysSyncCommon

PHONE_A = "+905321120001"
PHONE_B = "+905321120002"
MAIL_C = "citizen@example.com"


@tagged("post_install", "-at_install", "l10n_tr_iys")
class TestIysPull(IysSyncCommon):
    """İYS -> Odoo: pull citizen movements with a durable cursor."""

    def citizen(self, address, status, channel="MESAJ", minutes_ago=10, brand=None, **kwargs):
        movement = self.sim.inject_citizen_change(
            int((brand or self.brand).code), address, channel, status,
            consent_date=fields.Datetime.now() - timedelta(minutes=minutes_ago), **kwargs,
        )
        # İYS (and the simulator) serve a movement once its second of recording is over.
        self.sim.advance_clock(1)
        return movement

    def consent(self, address, channel="MESAJ", brand=None):
        return self.Consent.search([("brand_id", "=", (brand or self.brand).id), ("channel", "=", channel),
                                    ("address", "=", address)])

    def feed(self, brand=None):
        """The simulator's feed of the brand in İYS order (second of recording, then transaction id)."""
        movements = [m for m in self.sim.get_movements(int((brand or self.brand).code))
                     if m["source"].startswith("IYS_")]
        return sorted(movements, key=lambda m: (m["creationTs"], m["transactionId"]))

    @staticmethod
    def cursor(movement):
        return f"{movement['creationTs']}_{movement['transactionId']}"

    def events(self):
        return self.env["iys.consent.event"].search([("brand_id", "=", self.brand.id)])

    def test_pull_applies_movements_and_stores_the_cursor(self):
        mv_a = self.citizen(PHONE_A, "ONAY", minutes_ago=20)
        self.citizen(PHONE_B, "ONAY", minutes_ago=15)
        self.citizen(MAIL_C, "RET", channel="EPOSTA", minutes_ago=12, source="IYS_WEB")
        self.citizen(PHONE_A, "RET", brand=self.brand_b)
        stats = self.brand._iys_pull()
        self.assertEqual((stats.pages, stats.applied), (1, 3))
        consent_a = self.consent(PHONE_A)
        self.assertEqual((consent_a.status, consent_a.sync_state, consent_a.source), ("ONAY", "confirmed", "IYS_MOBIL"))
        self.assertEqual(consent_a.iys_transaction_id, mv_a["transactionId"])
        self.assertEqual(consent_a.event_ids.origin, "iys_pull")
        self.assertEqual(consent_a.event_ids.actor, "iys")
        self.assertFalse(self.env["iys.outbox"].sudo().search([("consent_id", "=", consent_a.id)]),
                         "movements from İYS are never sent back")
        self.assertEqual(self.consent(MAIL_C, "EPOSTA").status, "RET")
        self.assertFalse(self.consent(PHONE_A, brand=self.brand_b), "another brand's feed")
        last = self.cursor(self.feed()[-1])
        self.assertEqual(self.brand.iys_pull_after, last)
        self.assertTrue(self.brand.iys_last_pull_date)
        self.assertTrue(self.brand.iys_last_full_resync, "the first pull starts from the window's beginning")
        # Nothing new: the cursor stays, nothing is applied twice.
        first_resync = self.brand.iys_last_full_resync
        stats = self.brand._iys_pull()
        self.assertEqual(stats.applied, 0)
        self.assertEqual(self.brand.iys_pull_after, last)
        # A citizen change later (İYS orders the feed by the second it recorded a movement): only
        # that one is fetched.
        self.sim.advance_clock(2)
        self.citizen(PHONE_A, "RET", minutes_ago=1)
        stats = self.brand._iys_pull()
        self.assertEqual(stats.applied, 1)
        self.assertEqual(consent_a.status, "RET")
        self.assertEqual(len(consent_a.event_ids), 2)
        self.assertEqual(self.brand.iys_last_full_resync, first_resync)
        pulls = [e for e in self.sim.requests_log if e["path"].endswith("/consents/changes")]
        self.assertEqual(pulls[-1]["query"]["after"], [last])
        self.assertEqual(pulls[-1]["query"]["source"], ["IYS"])

    def test_pages_are_bounded_and_the_cursor_is_kept_per_page(self):
        for i in range(5):
            self.citizen(f"+9053211200{i:02d}", "ONAY", minutes_ago=30 - i)
        stats = self.brand._iys_pull(max_pages=2, limit=2)
        self.assertEqual((stats.pages, stats.applied, stats.waiting), (2, 4, 1))
        self.assertEqual(self.brand.iys_pull_after, self.cursor(self.feed()[3]))
        stats = self.brand._iys_pull(max_pages=2, limit=2)
        self.assertEqual((stats.applied, stats.waiting), (1, 0))
        self.assertEqual(len(self.events()), 5)

    def test_pull_cron_reports_progress(self):
        self.citizen(PHONE_A, "ONAY")
        cron = self.env.ref("l10n_tr_iys.ir_cron_iys_pull")
        progress = self.env["ir.cron.progress"].create({"cron_id": cron.id})
        # the demo account may exist too: only the test account's brands are pulled here
        brands = self.env["iys.brand"].search([("account_id", "=", self.account.id)])
        self.patch(type(self.env["iys.brand"]), "_iys_pull_brands", lambda _self: brands)
        self.env["iys.brand"].with_context(ir_cron_progress_id=progress.id)._cron_iys_pull()
        self.assertEqual((progress.done, progress.remaining), (2, 0))
        self.assertEqual(self.consent(PHONE_A).status, "ONAY")

    def test_refused_cursor_restarts_without_duplicates(self):
        self.citizen(PHONE_A, "ONAY")
        self.brand._iys_pull()
        self.assertEqual(len(self.events()), 1)
        self.brand.sudo().iys_pull_after = "not-a-cursor"
        self.citizen(PHONE_B, "ONAY", minutes_ago=2)
        stats = self.brand._iys_pull()
        self.assertEqual((stats.applied, stats.unchanged), (1, 1), "PHONE_A is recognised by its transaction id")
        self.assertEqual(len(self.events()), 2)
        self.assertFalse(stats.errors)
        self.assertEqual(self.brand.iys_pull_after, self.cursor(self.feed()[-1]))
        changes = [e for e in self.sim.requests_log if e["path"].endswith("/consents/changes")]
        self.assertEqual(changes[-2]["status"], 422)
        self.assertNotIn("after", changes[-1]["query"])

    def test_outdated_cursor_restarts_without_calling_with_it(self):
        self.citizen(PHONE_A, "ONAY")
        self.brand._iys_pull()
        stale = f"{int(time.time()) - 8 * 86400}_{'a' * 64}"
        # The integration was down for 8 days: the last successful pull is as old as the cursor.
        self.brand.sudo().write({"iys_pull_after": stale, "iys_last_full_resync": False,
                                 "iys_last_pull_date": fields.Datetime.now() - timedelta(days=8)})
        self.sim.requests_log.clear()
        stats = self.brand._iys_pull()
        self.assertEqual(stats.unchanged, 1)
        self.assertTrue(self.brand.iys_last_full_resync)
        changes = [e for e in self.sim.requests_log if e["path"].endswith("/consents/changes")]
        self.assertEqual(len(changes), 1)
        self.assertNotIn("after", changes[0]["query"])

    def test_quiet_brand_keeps_its_old_cursor(self):
        """An old cursor is no reason to resync while pulls keep succeeding: nothing happened since."""
        self.citizen(PHONE_A, "ONAY")
        self.brand._iys_pull()
        old = f"{int(time.time()) - 8 * 86400}_{'a' * 64}"
        self.brand.sudo().write({"iys_pull_after": old, "iys_last_full_resync": False,
                                 "iys_last_pull_date": fields.Datetime.now() - timedelta(hours=1)})
        self.sim.requests_log.clear()
        self.brand._iys_pull()
        self.assertFalse(self.brand.iys_last_full_resync)
        changes = [e for e in self.sim.requests_log if e["path"].endswith("/consents/changes")]
        self.assertEqual(len(changes), 1)
        self.assertIn("after", changes[0]["query"])

    def test_transient_error_keeps_the_cursor(self):
        self.citizen(PHONE_A, "ONAY")
        self.brand._iys_pull()
        cursor = self.brand.iys_pull_after
        self.sim.advance_clock(2)
        self.citizen(PHONE_B, "ONAY", minutes_ago=1)
        self.sim.inject_fault("500", count=4, path_prefix="/sps", method="GET")
        stats = self.brand._iys_pull()
        self.assertTrue(stats.errors)
        self.assertEqual(self.brand.iys_pull_after, cursor)
        self.assertIn("H015", self.brand.iys_pull_error)
        self.assertFalse(self.consent(PHONE_B))
        stats = self.brand._iys_pull()
        self.assertEqual(stats.applied, 1)
        self.assertFalse(self.brand.iys_pull_error)

    def test_pull_does_not_override_a_newer_local_movement(self):
        self.citizen(PHONE_A, "RET", minutes_ago=60)
        local = self.record(PHONE_A, "ONAY", consent_date=fields.Datetime.now() - timedelta(minutes=5))
        stats = self.brand._iys_pull()
        self.assertEqual(stats.unchanged, 1)
        self.assertEqual(local.consent.status, "ONAY")
        self.assertEqual(local.consent.sync_state, "pending")
        self.assertEqual(len(local.consent.event_ids), 1)
