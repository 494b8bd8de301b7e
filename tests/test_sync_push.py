# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
import socket
from datetime import timedelta
from unittest.mock import patch

from odoo import fields
from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged

from odoo.addons.l10n_tr_iys.iyslib.dates import to_iys_date
from odoo.addons.l10n_tr_iys.models.iys_outbox import IysOutbox

from .sync_common import IysSyncCommon

PHONE_A = "+905321110001"
PHONE_B = "+905321110002"
PHONE_C = "+905321110003"


@tagged("post_install", "-at_install", "l10n_tr_iys")
class TestIysPush(IysSyncCommon):
    """Odoo -> İYS: send pending movements, fetch batch results, retry without duplicates."""

    def push(self, **kwargs):
        return self.Outbox._iys_push(brands=self.brand, **kwargs)

    def poll(self, **kwargs):
        return self.Outbox._iys_poll(brands=self.brand, **kwargs)

    def confirmed_on_iys(self, address, status="ONAY"):
        """Record *address* locally and get it confirmed by the simulator."""
        result = self.record(address, status)
        self.push()
        self.poll()
        self.assertEqual(result.consent.sync_state, "confirmed")
        return result

    def test_push_and_poll_mixed_results(self):
        # PHONE_B is ONAY on İYS, then the citizen refuses on the İYS app; Odoo has not pulled yet
        # and records a refusal too: İYS answers H174 (RET over RET) for that item only.
        self.confirmed_on_iys(PHONE_B)
        self.sim.inject_citizen_change(int(self.brand.code), PHONE_B, "MESAJ", "RET", source="IYS_MOBIL",
                                       consent_date=fields.Datetime.now() - timedelta(minutes=5))
        res_a = self.record(PHONE_A, "ONAY")
        res_b = self.record(PHONE_B, "RET")
        res_c = self.record(PHONE_C, "ONAY", channel="ARAMA")
        rows = self.outbox_of(res_a) | self.outbox_of(res_b) | self.outbox_of(res_c)
        self.assertEqual(set(rows.mapped("state")), {"pending"})

        stats = self.push()
        self.assertEqual(stats.sent, 3)
        self.assertEqual(set(rows.mapped("state")), {"sent"})
        self.assertEqual(len(set(rows.mapped("request_id"))), 1, "one batch for the brand")
        self.assertTrue(all(rows.mapped("sub_request_id")))
        for res in (res_a, res_b, res_c):
            self.assertEqual(res.consent.sync_state, "sent")
            self.assertEqual(res.event.request_id, rows[0].request_id)
            self.assertEqual(res.event.push_state, "sent")

        stats = self.poll()
        self.assertEqual((stats.confirmed, stats.refused), (2, 1))
        self.assertEqual(stats.reasons["H174"], 1)
        row_a, row_b = self.outbox_of(res_a), self.outbox_of(res_b)
        self.assertEqual(row_a.state, "done")
        self.assertEqual(len(row_a.transaction_id), 64)
        self.assertEqual(res_a.consent.sync_state, "confirmed")
        self.assertEqual(res_a.consent.iys_transaction_id, row_a.transaction_id)
        self.assertEqual(res_a.event.transaction_id, row_a.transaction_id)
        self.assertTrue(res_a.event.iys_creation_date)
        self.assertEqual(self.sim_movements(PHONE_A)[-1]["transactionId"], row_a.transaction_id)
        self.assertEqual(row_b.state, "failed")
        self.assertFalse(row_b.refused_locally)
        self.assertEqual(row_b.error_code, "H174")
        self.assertIn("RET cannot follow RET", row_b.error_message)
        self.assertEqual(res_b.consent.sync_state, "rejected")
        self.assertEqual(res_b.consent.iys_error_code, "H174")
        self.assertEqual(res_b.event.error_code, "H174")
        self.assertEqual(res_b.event.push_state, "rejected")
        self.assertEqual(self.outbox_of(res_c).state, "done")

    def test_explanations_in_turkish_for_a_turkish_responsible(self):
        self.env["res.lang"]._activate_lang("tr_TR")
        self.account.responsible_user_id = self.iys_manager
        self.iys_manager.lang = "tr_TR"
        self.confirmed_on_iys(PHONE_B)
        self.sim.inject_citizen_change(int(self.brand.code), PHONE_B, "MESAJ", "RET",
                                       consent_date=fields.Datetime.now() - timedelta(minutes=5))
        res = self.record(PHONE_B, "RET")
        self.push()
        self.poll()
        self.assertIn("RET üzerine RET gönderilemez", res.consent.iys_error_message)

    def test_certain_refusals_are_caught_before_sending(self):
        res_ok = self.record(PHONE_A, "ONAY")
        res_old = self.record(PHONE_B, "ONAY")
        # Time passes: the consent of PHONE_B is now older than İYS's 3 business days.
        row_old = self.outbox_of(res_old)
        old_date = fields.Datetime.now() - timedelta(days=10)
        row_old.write({"payload": dict(row_old.payload, consentDate=to_iys_date(old_date))})
        stats = self.push()
        self.assertEqual((stats.sent, stats.refused), (1, 1))
        self.assertEqual(row_old.state, "expired")
        self.assertTrue(row_old.refused_locally)
        self.assertEqual(row_old.error_code, "H467")
        self.assertEqual(res_old.consent.sync_state, "rejected")
        self.assertEqual(self.sim_movements(PHONE_B), [], "İYS never saw the movement")
        self.poll()
        self.assertEqual(self.outbox_of(res_ok).state, "done")

    def test_movement_superseded_by_iys_is_not_sent(self):
        res = self.record(PHONE_A, "ONAY")
        # Before it is sent, İYS reports a newer citizen refusal (pull or push).
        self.brand._iys_apply_incoming([self._record_from_iys(PHONE_A, "RET")], "iys_pull")
        self.assertEqual(res.consent.status, "RET")
        stats = self.push()
        row = self.outbox_of(res)
        self.assertEqual(stats.refused, 1)
        self.assertEqual((row.state, row.error_code, row.refused_locally), ("failed", "H178", True))
        self.assertEqual(res.consent.sync_state, "confirmed", "the İYS movement stays the consent's state")
        self.assertEqual(self.sim_movements(PHONE_A), [])

    def _record_from_iys(self, address, status):
        from odoo.addons.l10n_tr_iys.iyslib.client import ConsentRecord

        now = fields.Datetime.now().replace(microsecond=0)
        return ConsentRecord(recipient=address, type="MESAJ", recipient_type="BIREYSEL", status=status,
                             source="IYS_MOBIL", consent_date=now, creation_date=now, transaction_id="f" * 64)

    def test_poll_waits_for_the_account_delay(self):
        self.account.poll_delay = 300
        res = self.record(PHONE_A)
        self.push()
        row = self.outbox_of(res)
        self.assertEqual(self.poll().confirmed, 0)
        self.assertEqual(row.state, "sent")
        row.write({"sent_at": fields.Datetime.now() - timedelta(seconds=301),
                   "next_attempt_at": fields.Datetime.now() - timedelta(seconds=1)})
        self.assertEqual(self.poll().confirmed, 1)
        self.assertEqual(row.state, "done")

    def test_enqueue_keeps_waiting(self):
        self.sim.set_batch_delay(3600)
        res = self.record(PHONE_A)
        self.push()
        row = self.outbox_of(res)
        stats = self.poll()
        self.assertEqual(stats.waiting, 1)
        self.assertEqual(row.state, "sent")
        self.assertGreater(row.next_attempt_at, fields.Datetime.now())
        self.assertEqual(self.poll().waiting, 0, "not asked again before the next attempt")
        self.sim.set_batch_delay(0)
        self.make_due(row)
        self.assertEqual(self.poll().confirmed, 1)
        self.assertEqual(res.consent.sync_state, "confirmed")

    def test_server_errors_are_retried_later_without_duplicates(self):
        res = self.record(PHONE_A)
        row = self.outbox_of(res)
        # More 500s than the client retries: the batch is not accepted, the row waits.
        self.sim.inject_fault("500", count=4, path_prefix="/v2/sps", method="POST")
        stats = self.push()
        self.assertEqual((stats.sent, stats.retried), (0, 1))
        self.assertEqual(row.state, "pending")
        self.assertEqual(row.attempts, 1)
        self.assertGreater(row.next_attempt_at, fields.Datetime.now())
        self.assertEqual(row.error_code, "H015")
        self.assertEqual(self.sim_movements(PHONE_A), [])
        self.assertEqual(self.push().sent, 0, "not before the back-off")
        self.make_due(row)
        self.assertEqual(self.push().sent, 1)
        self.poll()
        self.assertEqual(row.state, "done")
        self.assertEqual(len(self.sim_movements(PHONE_A)), 1)

    def test_timeout_after_processing_is_retried_without_duplicate(self):
        res = self.record(PHONE_A)
        # İYS records the batch but its answer comes too late: the client gives up waiting and
        # submits the same body again (V2), which İYS does not record twice.
        self.sim.inject_fault("timeout", count=1, path_prefix="/v2/sps", method="POST")
        self.assertEqual(self.push().sent, 1)
        self.assertEqual(self.poll().confirmed, 1)
        self.assertEqual(len(self.sim_movements(PHONE_A)), 1)
        self.assertEqual(self.sim.summary()["batches"], 2)
        self.assertEqual(res.consent.iys_transaction_id, self.sim_movements(PHONE_A)[0]["transactionId"])

    def test_lost_answers_beyond_the_client_retries_do_not_duplicate(self):
        res_a = self.record(PHONE_A)
        res_b = self.record(PHONE_B)
        rows = self.outbox_of(res_a) | self.outbox_of(res_b)
        # İYS records the batch but the connection drops before the answer, four times in a row
        # (the client retries three times): the submission fails with a retryable transport error.
        self.sim.inject_fault("drop", count=4, path_prefix="/v2/sps", method="POST")
        stats = self.push()
        self.assertEqual(stats.retried, 2)
        self.assertEqual(set(rows.mapped("state")), {"pending"})
        self.assertEqual(len(self.sim_movements(PHONE_A)), 1, "İYS did record it")
        self.make_due(rows)
        self.assertEqual(self.push().sent, 2)
        self.assertEqual(self.poll().confirmed, 2)
        self.assertEqual(len(self.sim_movements(PHONE_A)), 1, "the V2 batch records it only once")
        self.assertEqual(len(self.sim_movements(PHONE_B)), 1)
        self.assertEqual(res_a.consent.iys_transaction_id, self.sim_movements(PHONE_A)[0]["transactionId"])

    def test_rate_limit_and_dropped_connection_are_retried_by_the_client(self):
        res = self.record(PHONE_A)
        self.sim.inject_fault("429_H124", count=1, path_prefix="/v2/sps", method="POST")
        self.sim.inject_fault("drop", count=1, path_prefix="/v2/sps", method="POST")
        self.assertEqual(self.push().sent, 1)
        self.poll()
        self.assertEqual(self.outbox_of(res).state, "done")
        self.assertEqual(len(self.sim_movements(PHONE_A)), 1)
        faults = [entry["fault"] for entry in self.sim.requests_log if entry["path"].startswith("/v2/sps")]
        self.assertIn("429_H124", faults)
        self.assertIn("drop", faults)

    def test_crash_between_submit_and_storing_the_request(self):
        res_a = self.record(PHONE_A)
        res_b = self.record(PHONE_B, channel="ARAMA")
        rows = self.outbox_of(res_a) | self.outbox_of(res_b)
        # The worker dies right after İYS accepted the batch: its transaction is rolled back.
        with patch.object(IysOutbox, "_iys_store_submission", side_effect=RuntimeError("worker killed")), \
                self.assertRaises(RuntimeError), self.env.cr.savepoint():
            self.push()
        self.env.invalidate_all()
        self.assertEqual(set(rows.mapped("state")), {"pending"})
        self.assertFalse(any(rows.mapped("request_id")))
        self.assertEqual(len(self.sim_movements(PHONE_A)), 1, "İYS recorded the first submission")
        # The next run submits the same bodies again: no duplicate movement on İYS.
        self.assertEqual(self.push().sent, 2)
        self.assertEqual(self.poll().confirmed, 2)
        self.assertEqual(len(self.sim_movements(PHONE_A)), 1)
        self.assertEqual(len(self.sim_movements(PHONE_B, "ARAMA")), 1)
        first = self.sim_movements(PHONE_A)[0]
        self.assertEqual(res_a.consent.iys_transaction_id, first["transactionId"])
        self.assertEqual(self.sim.summary()["batches"], 2)

    def test_movements_of_one_address_go_in_order(self):
        res_onay = self.record(PHONE_A, "ONAY")
        res_ret = self.record(PHONE_A, "RET")
        first, second = self.outbox_of(res_onay), self.outbox_of(res_ret)
        self.assertEqual(self.push().sent, 1)
        self.assertEqual((first.state, second.state), ("sent", "pending"))
        self.assertEqual(res_ret.consent.sync_state, "pending", "the later movement keeps its own state")
        self.poll()
        self.assertEqual(first.state, "done")
        self.assertEqual(res_ret.consent.sync_state, "pending")
        self.assertFalse(res_ret.consent.iys_transaction_id)
        self.assertEqual(self.push().sent, 1)
        self.poll()
        self.assertEqual(second.state, "done")
        self.assertEqual([m["status"] for m in self.sim_movements(PHONE_A)], ["ONAY", "RET"])
        self.assertEqual(res_ret.consent.sync_state, "confirmed")
        self.assertEqual(res_ret.consent.iys_transaction_id, second.transaction_id)

    def test_batches_are_bounded(self):
        self.account.batch_size = 2
        results = [self.record(f"+9053211100{i:02d}") for i in range(5)]
        stats = self.Outbox._iys_push(brands=self.brand, max_batches=2)
        self.assertEqual(stats.sent, 4)
        rows = self.Outbox.search([("event_id", "in", [r.event.id for r in results])])
        # (demo data may have rows of its own waiting for the demo brand)
        self.assertEqual(len(rows.filtered(lambda r: r.state == "pending")), 1)
        self.assertEqual(len(set(rows.filtered("request_id").mapped("request_id"))), 2)

    def test_tests_reach_only_their_own_simulator(self):
        # Every other account (the demo's, one created now) points at an endpoint of the test's that
        # refuses connections: with ./scripts/run running, the demo's movements reached its simulator.
        other = self.env["iys.account"].create({"name": "Other", "iys_code": "900009", "environment": "simulator"})
        accounts = self.env["iys.account"].with_context(active_test=False).search([("id", "!=", self.account.id)])
        self.assertIn(other, accounts)
        self.assertEqual(set(accounts.mapped("base_url")), {self.iys_dead_url})
        port = int(self.iys_dead_url.rsplit(":", 1)[1])
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        self.assertEqual(self.account.base_url, self.server.url.rstrip("/"))

    def test_send_cron_reports_progress(self):
        self.record(PHONE_A)
        cron = self.env.ref("l10n_tr_iys.ir_cron_iys_send")
        progress = self.env["ir.cron.progress"].create({"cron_id": cron.id})
        self.Outbox.with_context(ir_cron_progress_id=progress.id)._cron_iys_send()
        self.assertEqual((progress.done, progress.remaining), (1, 0))
        poll_cron = self.env.ref("l10n_tr_iys.ir_cron_iys_poll")
        progress = self.env["ir.cron.progress"].create({"cron_id": poll_cron.id})
        self.Outbox.with_context(ir_cron_progress_id=progress.id)._cron_iys_poll()
        self.assertEqual((progress.done, progress.remaining), (1, 0))

    def test_credentials_refused_is_final_and_resend_requeues(self):
        self.account.password = "wrong"
        res = self.record(PHONE_A)
        row = self.outbox_of(res)
        stats = self.push()
        self.assertEqual(stats.refused, 1)
        self.assertEqual(row.state, "failed")
        self.assertEqual(res.consent.sync_state, "rejected")
        # The manager fixes the password and sends it again.
        self.account.password = "iys-demo-secret"
        with self.assertRaises(AccessError):
            row.with_user(self.iys_user).action_iys_resend()
        row.with_user(self.iys_manager).action_iys_resend()
        self.assertEqual((row.state, row.attempts, row.error_code), ("pending", 0, False))
        self.assertEqual(res.consent.sync_state, "pending")
        self.push()
        self.poll()
        self.assertEqual(row.state, "done")
        self.assertEqual(res.consent.sync_state, "confirmed")

    def test_resend_from_the_consent(self):
        self.confirmed_on_iys(PHONE_B)
        self.sim.inject_citizen_change(int(self.brand.code), PHONE_B, "MESAJ", "RET",
                                       consent_date=fields.Datetime.now() - timedelta(minutes=5))
        res = self.record(PHONE_B, "RET")
        self.push()
        self.poll()
        self.assertEqual(res.consent.sync_state, "rejected")
        self.assertEqual(self.outbox_of(res).error_code, "H174")
        # RET over RET: sent again unchanged, İYS would refuse it again; no Resend, a next step instead.
        self.assertFalse(self.outbox_of(res).can_resend)
        self.assertIn("already holds a refusal", self.outbox_of(res).next_step)
        with self.assertRaises(UserError):
            self.env["iys.outbox"].with_user(self.iys_manager)._iys_resend_consents(res.consent)
        with self.assertRaisesRegex(UserError, "refused again"):
            self.outbox_of(res).with_user(self.iys_manager).action_iys_resend()
        # A refusal whose cause is not the movement (here the credentials) can be sent again.
        self.account.password = "wrong"
        self.env["iys.token"].sudo().search([("account_id", "=", self.account.id)]).unlink()
        res = self.record(PHONE_B, "ONAY")
        self.push()
        self.assertEqual(self.outbox_of(res).state, "failed")
        self.assertTrue(self.outbox_of(res).can_resend)
        self.account.password = "iys-demo-secret"
        self.env["iys.outbox"].with_user(self.iys_manager)._iys_resend_consents(res.consent)
        self.assertEqual(self.outbox_of(res).state, "pending")
        # A later movement supersedes a refused one: it cannot be resent any more.
        self.push()
        self.poll()
        later = self.record(PHONE_B, "ONAY")
        with self.assertRaises(UserError):
            self.outbox_of(res).with_user(self.iys_manager).action_iys_resend()
        self.assertEqual(self.outbox_of(later).state, "pending")
