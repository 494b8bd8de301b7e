# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
import datetime
import hashlib
import time

from odoo.exceptions import AccessError, UserError
from odoo.tests import Form, tagged

from odoo.addons.l10n_tr_iys.iyslib import dates
from odoo.addons.l10n_tr_iys.iyslib.client import ConsentRecord
from odoo.addons.l10n_tr_iys.models.iys_reconciliation import turkish_today

from .sync_common import IysSyncCommon

PHONE_A = "+905321130001"
PHONE_B = "+905321130002"
PHONE_C = "+905321130003"
MAIL_D = "recon.d@example.com"


@tagged("post_install", "-at_install", "l10n_tr_iys")
class TestIysReconciliation(IysSyncCommon):
    """Daily reconciliation with İYS against the simulator: file, hash, comparison, agreement."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Recon = cls.env["iys.reconciliation"]

    def setUp(self):
        super().setUp()
        # two days ago in Turkey: always within İYS's 7 days and never today, whatever the hour
        self.day = turkish_today() - datetime.timedelta(days=2)
        self.day_str = self.day.isoformat()

    # helpers -----------------------------------------------------------------------------------
    def at(self, hour, minute=0, second=0, day=None):
        """Naive UTC of *hour*:*minute* (Turkish time) on the test day."""
        return dates.from_local(datetime.datetime.combine(day or self.day, datetime.time(hour, minute, second)))

    def on_iys(self, address, status="ONAY", channel="MESAJ", source="HS_WEB", hour=10, minute=0, consent=None,
               day=None):
        """A movement recorded on İYS on the test day (Odoo does not know it)."""
        return self.sim.inject_movement(int(self.brand.code), address, channel, status, source=source,
                                        creation_date=self.at(hour, minute, day=day),
                                        consent_date=consent or self.at(hour, minute, day=day) - datetime.timedelta(
                                            minutes=5))

    def into_odoo(self, movement, origin="iys_pull", **changes):
        """Apply *movement* (a simulator movement) to the ledger as a pull would, optionally altered."""
        item = dict(movement)
        item.update(changes)
        record = ConsentRecord.from_iys(item)
        stats = self.brand._iys_apply_incoming([record], origin)
        self.assertEqual(stats.applied, 1, stats.errors)

    def own_confirmed(self, address, status="ONAY", hour=9, channel="MESAJ"):
        """A movement recorded in Odoo, sent to İYS and confirmed there on the test day."""
        result = self.record(address, status, channel=channel, consent_date=self.at(hour, 0))
        self.sim.set_clock_offset(self.at(hour, 30).replace(tzinfo=datetime.timezone.utc).timestamp() - time.time())
        try:
            self.Outbox._iys_push(brands=self.brand)
            self.Outbox._iys_poll(brands=self.brand)
        finally:
            self.sim.set_clock_offset(0)
        self.assertEqual(result.consent.sync_state, "confirmed")
        self.assertTrue(result.event.iys_creation_date)
        return result

    def reconcile(self, day=None, user=None):
        wizard = self.env["iys.reconciliation.wizard"].with_user(user or self.iys_manager).create(
            {"brand_id": self.brand.id, "report_date": day or self.day})
        action = wizard.action_reconcile()
        return self.Recon.browse(action["res_id"])

    def agreed_on_iys(self, day=None):
        return bool(self.sim.agreements.get(f"{self.brand.code}|{(day or self.day).isoformat()}"))

    def iys_requests(self):
        return [r for r in self.sim.requests_log if "/changes/" in r["path"] or "/agreements/" in r["path"]]

    # tests -------------------------------------------------------------------------------------
    def test_agreeing_day_is_confirmed_with_evidence(self):
        own = self.own_confirmed(PHONE_A)
        citizen = self.on_iys(MAIL_D, "RET", channel="EPOSTA", source="IYS_WEB", hour=11)
        self.brand._iys_pull()
        self.assertEqual(self.env["iys.consent.event"].search([("transaction_id", "=", citizen["transactionId"])])
                         .origin, "iys_pull")
        rec = self.reconcile()
        self.assertEqual(rec.state, "confirmed", rec.error_message)
        self.assertTrue(self.agreed_on_iys())
        content = self.sim.change_file_bytes(int(self.brand.code), self.day)
        self.assertEqual(rec.file_attachment_id.raw, content)
        self.assertEqual(rec.hash_computed, hashlib.sha384(content).hexdigest())
        self.assertEqual(rec.hash_value, rec.hash_computed)
        self.assertTrue(rec.hash_match)
        self.assertEqual(rec.hash_method, "SHA-384")
        self.assertEqual(rec.process_status, "completed")
        self.assertIn(rec.hash_computed.encode(), rec.timestamp_attachment_id.raw)
        self.assertEqual((rec.iys_movement_count, rec.matched_count, rec.difference_count), (2, 2, 0))
        self.assertFalse(rec.line_ids)
        self.assertTrue(rec.agreement_recorded_on)
        self.assertEqual(rec.agreement_answer, "agreementCaptured: true")
        self.assertIn("Refusals (RET)", rec.summary_html)
        self.assertIn("IYS", rec.summary_html)
        self.assertEqual(own.event.transaction_id, self.sim.get_movements(int(self.brand.code), PHONE_A)[0]
                         ["transactionId"])
        # a confirmed day is not fetched again
        before = len(self.iys_requests())
        self.reconcile()
        self.assertEqual(len(self.iys_requests()), before)

    def test_iys_only_movements_are_applied_as_the_pull_would(self):
        older = self.record(PHONE_C, "ONAY", consent_date=self.at(12, 0))     # Odoo's newer record of PHONE_C
        self.assertEqual(older.consent.status, "ONAY")
        self.record(PHONE_B, "ONAY", consent_date=self.at(8, 0))
        new_hs = self.on_iys(PHONE_A, "ONAY", hour=10)                        # e.g. another integrator's
        refusal = self.on_iys(PHONE_B, "RET", source="IYS_KISAMESAJ", hour=11)
        stale = self.on_iys(PHONE_C, "RET", source="IYS_MOBIL", hour=9)       # older than Odoo's 12:00 ONAY
        outbox_before = self.Outbox.search_count([])
        rec = self.reconcile()
        self.assertEqual(rec.state, "confirmed", rec.error_message)
        self.assertEqual((rec.iys_only_count, rec.applied_count, rec.unexplained_count), (3, 2, 0))
        lines = {line.transaction_id: line for line in rec.line_ids}
        for movement in (new_hs, refusal):
            line = lines[movement["transactionId"]]
            self.assertEqual((line.kind, line.resolution, line.explained), ("iys_only", "applied", True))
            self.assertEqual(line.event_id.transaction_id, movement["transactionId"])
            self.assertEqual((line.event_id.origin, line.event_id.actor), ("reconciliation", "iys"))
        self.assertEqual(lines[stale["transactionId"]].resolution, "superseded")
        consent_a = self.Consent.search([("brand_id", "=", self.brand.id), ("address", "=", PHONE_A)])
        self.assertEqual((consent_a.status, consent_a.sync_state, consent_a.source), ("ONAY", "confirmed", "HS_WEB"))
        self.assertEqual(consent_a.iys_creation_date, self.at(10, 0))
        consent_b = self.Consent.search([("brand_id", "=", self.brand.id), ("address", "=", PHONE_B)])
        self.assertEqual((consent_b.status, consent_b.source), ("RET", "IYS_KISAMESAJ"))
        self.assertEqual(older.consent.status, "ONAY", "an older İYS movement never overrides a newer record")
        self.assertEqual(self.Outbox.search_count([]), outbox_before, "what İYS reported is never sent back")
        self.assertTrue(self.agreed_on_iys())

    def test_own_movement_awaiting_its_answer_is_not_recorded_twice(self):
        """İYS recorded our movement but Odoo has not fetched the batch's answer yet: the file's row
        has no event with its transaction id. It must wait for the poll, never become a second event."""
        result = self.record(PHONE_A, "ONAY", consent_date=self.at(9, 0))
        self.sim.set_clock_offset(self.at(9, 30).replace(tzinfo=datetime.timezone.utc).timestamp() - time.time())
        try:
            self.Outbox._iys_push(brands=self.brand)
        finally:
            self.sim.set_clock_offset(0)
        self.assertEqual(result.consent.sync_state, "sent")
        events_before = self.env["iys.consent.event"].search_count([("consent_id", "=", result.consent.id)])
        rec = self.reconcile()
        self.assertEqual(rec.state, "waiting", rec.error_message)
        self.assertFalse(self.agreed_on_iys())
        line = rec.line_ids
        self.assertEqual((line.kind, line.resolution, line.explained), ("iys_only", "awaiting", False))
        self.assertEqual(line.event_id, result.event)
        self.assertEqual(self.env["iys.consent.event"].search_count([("consent_id", "=", result.consent.id)]),
                         events_before, "no second event for our own movement")
        # once the answer is fetched, the same day agrees
        self.Outbox._iys_poll(brands=self.brand)
        self.assertEqual(result.consent.sync_state, "confirmed")
        rec._iys_reconcile()
        self.assertEqual(rec.state, "confirmed", rec.error_message)
        txid = self.sim.get_movements(int(self.brand.code), PHONE_A)[0]["transactionId"]
        self.assertEqual(self.env["iys.consent.event"].search_count([("transaction_id", "=", txid)]), 1)

    def test_movement_missing_on_iys_blocks_until_a_manager_accepts(self):
        own = self.own_confirmed(PHONE_A)
        self.assertEqual(self.sim.drop_movement(own.event.transaction_id), 1)
        self.own_confirmed(PHONE_B, hour=10)
        rec = self.reconcile()
        self.assertEqual(rec.state, "differences")
        self.assertEqual((rec.iys_movement_count, rec.matched_count, rec.odoo_only_count), (1, 1, 1))
        line = rec.line_ids
        self.assertEqual((line.kind, line.address, line.transaction_id, line.explained),
                         ("odoo_only", PHONE_A, own.event.transaction_id, False))
        self.assertEqual((line.odoo_status, line.event_id, line.consent_id), ("ONAY", own.event, own.consent))
        self.assertTrue(rec.accept_required)
        self.assertFalse(self.agreed_on_iys(), "no agreement with a difference left")
        self.assertEqual(own.consent.status, "ONAY", "a movement missing on İYS is never turned into a refusal")
        self.assertEqual(len(own.consent.event_ids), 1)
        # İYS users cannot accept; a manager must give a reason
        with self.assertRaises(AccessError):
            rec.with_user(self.iys_user)._iys_accept("fine")
        with self.assertRaises(AccessError):
            self.env["iys.reconciliation.accept"].with_user(self.iys_user).create(
                {"reconciliation_id": rec.id, "reason": "fine"})
        with self.assertRaises(UserError):
            rec.with_user(self.iys_manager)._iys_accept("  ")
        self.assertFalse(self.agreed_on_iys())
        action = rec.with_user(self.iys_manager).action_iys_open_accept()
        wizard = Form(self.env[action["res_model"]].with_user(self.iys_manager).with_context(**action["context"]))
        wizard.reason = "Sent again by hand on İYS's web panel"
        wizard.save().action_accept()
        self.assertEqual(rec.state, "accepted")
        self.assertTrue(self.agreed_on_iys())
        self.assertEqual((rec.accepted_by_id, rec.accept_reason), (self.iys_manager, "Sent again by hand on İYS's "
                                                                                     "web panel"))
        self.assertTrue(rec.accepted_on and rec.agreement_recorded_on)
        self.assertIn("Sent again by hand", "\n".join(rec.message_ids.mapped("body")))

    def test_different_status_and_date_are_listed(self):
        status_mv = self.on_iys(PHONE_A, "ONAY", hour=10)
        date_mv = self.on_iys(PHONE_B, "ONAY", hour=11)
        same_mv = self.on_iys(PHONE_C, "ONAY", hour=12)
        self.into_odoo(status_mv, status="RET", source="IYS_MOBIL")
        self.into_odoo(date_mv, consentDate=dates.to_iys_date(self.at(7, 0)))
        self.into_odoo(same_mv)
        rec = self.reconcile()
        self.assertEqual(rec.state, "differences")
        self.assertEqual((rec.matched_count, rec.status_diff_count, rec.date_diff_count, rec.unexplained_count),
                         (1, 1, 1, 2))
        by_kind = {line.kind: line for line in rec.line_ids}
        self.assertEqual((by_kind["status"].iys_status, by_kind["status"].odoo_status), ("ONAY", "RET"))
        self.assertEqual(by_kind["date"].odoo_consent_date, self.at(7, 0))
        self.assertEqual(by_kind["date"].iys_consent_date, self.at(11, 0) - datetime.timedelta(minutes=5))
        self.assertFalse(self.agreed_on_iys())

    def test_bad_hash_keeps_the_file_and_never_confirms(self):
        mv = self.on_iys(PHONE_A, "ONAY", hour=10)
        self.into_odoo(mv)
        tampered = self.sim.change_file_bytes(int(self.brand.code), self.day).replace(b"ONAY", b"RET")
        self.sim.tamper_change_file(int(self.brand.code), self.day_str, tampered)
        rec = self.reconcile()
        self.assertEqual(rec.state, "error")
        self.assertFalse(rec.hash_match)
        self.assertIn("does not match", rec.error_message)
        self.assertEqual(rec.file_attachment_id.raw, tampered, "the file is kept as received")
        self.assertEqual(rec.hash_computed, hashlib.sha384(tampered).hexdigest())
        self.assertNotEqual(rec.hash_value, rec.hash_computed)
        self.assertFalse(rec.line_ids)
        self.assertFalse(self.agreed_on_iys())
        self.assertFalse([r for r in self.sim.requests_log if r["method"] == "PUT"])
        with self.assertRaises(UserError):
            rec._iys_record_agreement()
        self.assertFalse(self.agreed_on_iys())

    def test_days_older_than_seven_or_not_over_are_refused_before_asking(self):
        today = turkish_today()
        for day in (today - datetime.timedelta(days=8), today, today + datetime.timedelta(days=1)):
            with self.assertRaises(UserError) as ctx:
                self.reconcile(day)
            self.assertTrue("7 days" in str(ctx.exception) or "once the day is over" in str(ctx.exception))
        self.assertFalse(self.iys_requests(), "nothing was asked of İYS")
        self.assertFalse(self.Recon.search([("brand_id", "=", self.brand.id)]))
        # İYS's own refusal (H502) is explained on the record
        old = self.Recon._iys_ensure_days(self.brand, [today - datetime.timedelta(days=9)])
        old._iys_reconcile()
        self.assertEqual(old.state, "error")
        self.assertIn("H502", old.error_message)
        self.assertIn("7 days", old.error_message)

    def test_day_without_movements_is_empty(self):
        rec = self.reconcile()
        self.assertEqual(rec.state, "empty")
        self.assertFalse(rec.file_attachment_id)
        self.assertFalse([r for r in self.sim.requests_log if r["method"] == "PUT"])

    def test_waiting_while_iys_prepares_the_file(self):
        self.into_odoo(self.on_iys(PHONE_A, "ONAY", hour=10))
        self.sim.set_process_status(int(self.brand.code), self.day_str, "inprogress")
        rec = self.reconcile()
        self.assertEqual((rec.state, rec.process_status), ("waiting", "inprogress"))
        self.assertTrue(rec.next_attempt_on)
        self.assertFalse(rec.file_attachment_id)
        self.sim.set_process_status(int(self.brand.code), self.day_str, None)
        self.Recon._cron_iys_reconcile(now=rec.next_attempt_on - datetime.timedelta(minutes=1), days_per_call=100)
        self.assertEqual(rec.state, "waiting", "not tried again before its time")
        self.Recon._cron_iys_reconcile(now=rec.next_attempt_on + datetime.timedelta(minutes=1), days_per_call=100)
        self.assertEqual(rec.state, "confirmed")

    def test_cron_picks_the_last_seven_days_and_never_redoes_them(self):
        self.into_odoo(self.on_iys(PHONE_A, "ONAY", hour=10))
        self.own_confirmed(PHONE_B, hour=11)
        done = self.Recon._cron_iys_reconcile(days_per_call=3)
        self.assertEqual(done, 3)
        recs = self.Recon.search([("brand_id", "=", self.brand.id)])
        today = turkish_today()
        self.assertEqual(sorted(recs.mapped("report_date")), [today - datetime.timedelta(days=k)
                                                               for k in range(7, 0, -1)])
        self.assertEqual(self.Recon.search_count([("state", "!=", "new")]), 3, "bounded work per call")
        self.Recon._cron_iys_reconcile(days_per_call=100)
        by_day = {r.report_date: r.state for r in recs}
        self.assertEqual(by_day.pop(self.day), "confirmed")
        self.assertEqual(set(by_day.values()), {"empty"})
        self.assertTrue(self.agreed_on_iys())
        self.assertEqual(self.Recon.search([("brand_id", "=", self.brand_b.id)]).mapped("state"), ["empty"] * 7)
        before = len(self.iys_requests())
        self.assertEqual(self.Recon._cron_iys_reconcile(days_per_call=100), 0)
        self.assertEqual(len(self.iys_requests()), before, "nothing done is fetched again")

    def test_access_of_users(self):
        rec = self.Recon._iys_ensure_days(self.brand, [self.day])
        with self.assertRaises(AccessError):
            rec.with_user(self.iys_user).action_iys_reconcile()
        with self.assertRaises(AccessError):
            self.reconcile(user=self.iys_user)
        with self.assertRaises(AccessError):
            rec.with_user(self.iys_user).write({"state": "confirmed"})
        with self.assertRaises(AccessError):
            rec.with_user(self.iys_manager).write({"state": "confirmed"})
        with self.assertRaises(AccessError):
            rec.with_user(self.plain_user).read(["state"])
        self.assertEqual(rec.with_user(self.iys_user).read(["state"])[0]["state"], "new")
        self.assertFalse(self.iys_requests())
        # what the reconciliation applies is recorded by the synchronisation only, as the pull's
        with self.assertRaises(AccessError):
            self.Consent.with_user(self.iys_manager)._iys_record_movements([{
                "brand_id": self.brand.id, "channel": "MESAJ", "address": PHONE_A, "status": "RET",
                "source": "IYS_MOBIL", "transaction_id": "f" * 64, "creation_date": self.at(10, 0),
            }], "reconciliation")
        self.assertFalse(self.Consent.search([("address", "=", PHONE_A)]))

    def test_panel_section_counts_and_drilldowns(self):
        mv = self.on_iys(PHONE_A, "ONAY", hour=10)
        self.into_odoo(mv, status="RET", source="IYS_MOBIL")          # a difference
        self.reconcile()
        day3 = self.day - datetime.timedelta(days=1)
        self.sim.tamper_change_file(int(self.brand.code), day3.isoformat(), b"x")
        self.on_iys(PHONE_B, "ONAY", hour=10, day=day3)
        self.reconcile(day3)                                             # an error
        brands = self.brand | self.brand_b
        section = self.Recon._iys_panel_section(brands)
        self.assertEqual(section["key"], "reconciliation")
        cards = {card["key"]: card for card in section["cards"]}
        # every day of the window counts, also those the scheduled action has not fetched yet
        self.assertEqual((cards["not_reconciled"]["value"], cards["differences"]["value"], cards["errors"]["value"]),
                         (14, 1, 1))
        for card in cards.values():
            action = card["action"]
            self.assertEqual(self.Recon.search_count(action["domain"]), card["value"], card["key"])
        row = section["rows"][0]
        self.assertEqual(row["cells"][1:4], [7, 1, 1])
        self.assertNotIn("more day(s)", cards["not_reconciled"]["hint"])
        self.assertEqual(self.Recon.search_count([("brand_id", "in", brands.ids)]), 14)
        self.assertIsNone(self.Recon._iys_panel_section(self.env["iys.brand"]))

    def test_accepted_agreement_refused_by_iys_is_retried_by_the_cron(self):
        own = self.own_confirmed(PHONE_A)
        self.sim.drop_movement(own.event.transaction_id)
        self.own_confirmed(PHONE_B, hour=10)
        rec = self.reconcile()
        self.assertEqual(rec.state, "differences")
        self.sim.inject_fault("500", count=20, path_prefix="/sps", method="PUT")
        rec.with_user(self.iys_manager)._iys_accept("Known loss on İYS's side, ticket 42")
        self.assertEqual(rec.state, "differences", "not accepted on İYS yet")
        self.assertTrue(rec.error_message and rec.next_attempt_on and rec.accepted_by_id)
        self.assertFalse(self.agreed_on_iys())
        self.sim.clear_faults()
        self.Recon._cron_iys_reconcile(now=rec.next_attempt_on + datetime.timedelta(minutes=1), days_per_call=100)
        self.assertEqual(rec.state, "accepted")
        self.assertEqual(rec.accept_reason, "Known loss on İYS's side, ticket 42")
        self.assertTrue(self.agreed_on_iys())

