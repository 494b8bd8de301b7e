# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
"""The push and the poll record İYS's answers set-based (one UPDATE per table per batch or request):
the same stored results, field by field, as the row-by-row ORM writes they replace; a number of
queries that does not grow with the batch; a bounded time per cron call."""
import types
from datetime import timedelta
from unittest.mock import patch

from odoo import SUPERUSER_ID, api, fields, sql_db
from odoo.tests import TransactionCase, tagged

from odoo.addons.l10n_tr_iys.iyslib.errors import IysServerError
from odoo.addons.l10n_tr_iys.models import iys_outbox, iys_policy
from odoo.addons.l10n_tr_iys.models.iys_account import IysAccount
from odoo.addons.l10n_tr_iys.models.iys_consent import ledger
from odoo.addons.l10n_tr_iys.models.iys_outbox import IysOutbox

from .sync_common import CommittedAccountMixin, IysSyncCommon, client_options, start_simulator


def orm_receipts(self, outbox_vals, event_vals, consent_vals, current=None):
    """The reference: the receipts written as before the set-based path, through the ORM, row by
    row (the consent's own ``write`` refreshing the contacts' stored states)."""
    if not self:
        return
    rows = self.sudo()
    current = rows._iys_current() if current is None else current

    def pick(values, index):
        return values[index] if isinstance(values, list) else values

    for index, row in enumerate(rows):
        if pick(outbox_vals, index):
            row.write(pick(outbox_vals, index))
        if pick(event_vals, index):
            ledger(row.event_id).write(pick(event_vals, index))
        if pick(consent_vals, index) and row in current:
            ledger(row.consent_id).write(pick(consent_vals, index))


@tagged("post_install", "-at_install", "l10n_tr_iys")
class TestIysSyncSetBased(IysSyncCommon):
    _phone = 0

    @classmethod
    def phone(cls):
        TestIysSyncSetBased._phone += 1
        return f"+90532140{TestIysSyncSetBased._phone:04d}"

    def recorded(self, count, with_partner=True):
        """*count* new ONAY movements (each address on a contact of its own); their outbox rows."""
        rows = self.Outbox.browse()
        for _i in range(count):
            address = self.phone()
            if with_partner:
                self.env["res.partner"].create({"name": f"Set-based {address}", "mobile": address})
            rows |= self.outbox_of(self.record(address))
        return rows

    # the stored results ------------------------------------------------------------------------
    def snapshot(self, rows):
        """Every stored column of the rows, their events, their consents and the contacts carrying
        their addresses, as JSON texts."""
        self.env.flush_all()
        cr = self.env.cr
        rows.invalidate_recordset()
        tables = {
            "iys_outbox": rows.ids,
            "iys_consent_event": rows.event_id.ids,
            "iys_consent": rows.consent_id.ids,
            "res_partner": self.env["res.partner"].search([("mobile", "in", rows.mapped("address"))]).ids,
        }
        result = {}
        for table, ids in tables.items():
            cr.execute(f"SELECT id, row_to_json(t)::text FROM {table} t WHERE id = ANY(%s) ORDER BY id", [ids])
            result[table] = cr.fetchall()
        return result

    def both_ways(self, rows, work):
        """The stored results of *work* done set-based and done with the reference ORM writes (each in
        a savepoint rolled back afterwards)."""
        results = []
        for reference in (False, True):
            self.env.flush_all()
            savepoint = self.env.cr.savepoint()
            try:
                if reference:
                    with patch.object(IysOutbox, "_iys_receipts", orm_receipts):
                        work()
                else:
                    work()
                results.append(self.snapshot(rows))
            finally:
                savepoint.close(rollback=True)
                self.env.invalidate_all(flush=False)
        return results

    def assertSameStored(self, setbased, reference):
        self.assertEqual(set(setbased), set(reference))
        for table, rows in reference.items():
            self.assertTrue(rows, table)
            self.assertEqual(setbased[table], rows, f"{table}: set-based and ORM results differ")

    # tests -------------------------------------------------------------------------------------
    def test_poll_outcomes_store_what_the_orm_stored(self):
        rows = self.recorded(6)
        self.assertEqual(self.Outbox._iys_push(brands=self.brand).sent, 6)
        # the sixth address gets a later movement: its first one is no longer the consent's latest
        later = self.outbox_of(self.record(rows[5].address, "RET"))
        now = fields.Datetime.now()
        creation = now.replace(microsecond=0) - timedelta(seconds=3)
        retry = IysServerError("İYS geçici hata", code="H015", http_status=500)
        # (the library's back-off has jitter: the same delay for both ways)
        self.startPatcher(patch.object(IysServerError, "retry_delay", lambda self_, attempts: 120.0 * attempts))

        def work():
            Outbox = self.Outbox
            confirmed = rows[0] | rows[1] | rows[5]
            confirmed._iys_confirm_many([("a" * 64, creation), ("b" * 64, creation), ("c" * 64, False)], now)
            rows[2]._iys_refuse("H174", "RET cannot follow RET", now=now)
            rows[3]._iys_retry_later(retry, "en", now, requeue=True)
            rows[4]._iys_receipts({"next_attempt_at": now + timedelta(seconds=60)}, {}, {})
            Outbox.browse(later.id)._iys_refuse("H467", "Past the deadline", locally=True, now=now)

        setbased, reference = self.both_ways(rows | later, work)
        self.assertSameStored(setbased, reference)
        # and what that is (not only "the same")
        work()
        self.assertEqual(rows.mapped("state"), ["done", "done", "failed", "pending", "sent", "done"])
        self.assertEqual(rows[0].consent_id.sync_state, "confirmed")
        self.assertEqual(rows[0].consent_id.iys_transaction_id, "a" * 64)
        self.assertEqual(rows[0].event_id.iys_creation_date, creation)
        self.assertEqual(rows[2].consent_id.sync_state, "rejected")
        self.assertEqual(rows[3].attempts, 2)
        self.assertEqual(rows[3].event_id.push_state, "pending")
        # the superseded movement is confirmed on its row and event, not on the consent
        self.assertEqual(rows[5].event_id.push_state, "confirmed")
        self.assertEqual(rows[5].consent_id.sync_state, "rejected")
        self.assertEqual(rows[5].consent_id.iys_error_code, "H467")
        # the contacts' stored states follow (confirmed ONAY: allowed; refused by İYS: not)
        partners = self.env["res.partner"].search([("mobile", "in", rows.mapped("address"))])
        states = {partner.mobile: partner.iys_sms_state for partner in partners}
        self.assertEqual(states[rows[0].address], iys_policy.ALLOWED)
        self.assertNotEqual(states[rows[2].address], iys_policy.ALLOWED)

    def test_submission_stores_what_the_orm_stored(self):
        rows = self.recorded(3)
        result = types.SimpleNamespace(request_id="bench-request-1", sub_requests=[
            {"subRequestId": f"sub-{index}", "recipient": row.address, "type": "MESAJ"}
            for index, row in enumerate(rows)
        ])
        now = fields.Datetime.now()

        def work():
            good = [(row, dict(row.payload)) for row in self.Outbox.browse(rows.ids)]
            self.Outbox._iys_store_submission(good, result, now)

        setbased, reference = self.both_ways(rows, work)
        self.assertSameStored(setbased, reference)
        work()
        self.assertEqual(rows.mapped("sub_request_id"), ["sub-0", "sub-1", "sub-2"])
        self.assertEqual(rows.mapped("batch_index"), [0, 1, 2])
        self.assertEqual(set(rows.event_id.mapped("push_state")), {"sent"})
        self.assertEqual(set(rows.consent_id.mapped("sync_state")), {"sent"})

    def test_queries_do_not_grow_with_the_batch(self):
        counts = {}
        for size in (1, 3, 12):  # (the first round fetches the token and warms the caches)
            rows = self.recorded(size)
            before = self.env.cr.sql_log_count
            self.assertEqual(self.Outbox._iys_push(brands=self.brand).sent, size)
            push = self.env.cr.sql_log_count - before
            before = self.env.cr.sql_log_count
            self.assertEqual(self.Outbox._iys_poll(brands=self.brand).confirmed, size)
            counts[size] = (push, self.env.cr.sql_log_count - before)
            self.assertEqual(set(rows.mapped("state")), {"done"})
            self.assertEqual(set(rows.consent_id.mapped("sync_state")), {"confirmed"})
        self.assertEqual(counts[12], counts[3], f"queries of a push and of a poll (3 rows, then 12 rows): {counts}")

    def only_this_brand(self):
        """The crons work on every brand synchronised: here only the test's (the other accounts point
        at a dead endpoint, whose failures would use the fake time up)."""
        sync_brands = IysOutbox._iys_sync_brands
        brand_id = self.brand.id
        return patch.object(IysOutbox, "_iys_sync_brands", lambda self_, brands=None: sync_brands(
            self_, brands if brands is not None else self_.env["iys.brand"].browse(brand_id)))

    def test_a_poll_call_stops_at_its_time_budget(self):
        self.startPatcher(self.only_this_brand())
        self.account.batch_size = 2
        rows = self.recorded(4, with_partner=False)
        self.assertEqual(self.Outbox._iys_push(brands=self.brand).sent, 4)
        self.assertEqual(len(set(rows.mapped("request_id"))), 2)
        clock = [1000.0]
        poll_request = IysOutbox._iys_poll_request

        def slow_request(rows_, *args, **kwargs):
            clock[0] += 11  # each request "takes" 11 s: more than a call's budget of 10 s
            return poll_request(rows_, *args, **kwargs)

        cron = self.env.ref("l10n_tr_iys.ir_cron_iys_poll")
        progress = self.env["ir.cron.progress"].create({"cron_id": cron.id})
        with patch.object(iys_outbox, "monotonic", lambda: clock[0]), \
                patch.object(IysOutbox, "_iys_poll_request", slow_request):
            stats = self.Outbox.with_context(ir_cron_progress_id=progress.id)._cron_iys_poll()
        self.assertEqual(stats.confirmed, 2, "one request, then the call ends")
        self.assertEqual((progress.done, progress.remaining), (2, 2), "the framework is told to call again")
        self.assertEqual(sorted(rows.mapped("state")), ["done", "done", "sent", "sent"])
        stats = self.Outbox.with_context(ir_cron_progress_id=progress.id)._cron_iys_poll()
        self.assertEqual((progress.done, progress.remaining), (2, 0))
        self.assertEqual(set(rows.mapped("state")), {"done"})

    def test_send_call_stops_at_its_time_budget(self):
        self.startPatcher(self.only_this_brand())
        self.account.batch_size = 2
        rows = self.recorded(4, with_partner=False)
        clock = [1000.0]
        send_batch = IysOutbox._iys_send_batch

        def slow_batch(rows_, *args, **kwargs):
            clock[0] += 11
            return send_batch(rows_, *args, **kwargs)

        cron = self.env.ref("l10n_tr_iys.ir_cron_iys_send")
        progress = self.env["ir.cron.progress"].create({"cron_id": cron.id})
        with patch.object(iys_outbox, "monotonic", lambda: clock[0]), \
                patch.object(IysOutbox, "_iys_send_batch", slow_batch):
            self.Outbox.with_context(ir_cron_progress_id=progress.id)._cron_iys_send()
        self.assertEqual((progress.done, progress.remaining), (2, 2))
        self.assertEqual(sorted(rows.mapped("state")), ["pending", "pending", "sent", "sent"])


IYS_CODE = 900778


@tagged("post_install", "-at_install", "l10n_tr_iys")
class TestIysSyncSerialization(CommittedAccountMixin, TransactionCase):
    """Two workers: a claim that meets rows another worker committed since its transaction began
    (a serialization failure under REPEATABLE READ) is handled, and not logged as an error. Real
    transactions on separate cursors, committed and cleaned up afterwards."""

    committed_iys_code = IYS_CODE

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server = start_simulator(iys_code=IYS_CODE, brands={IYS_CODE: "Serialization brand"})
        cls.addClassCleanup(cls.server.stop)
        cls.startClassPatcher(patch.object(IysAccount, "_iys_client_options", client_options))

    def committed_rows(self, addresses):
        return self.committed_account(addresses, name="Serialization")[1]

    def touched_by_another_worker(self, brand_id):
        with self.registry.cursor() as cr:
            cr.execute("UPDATE iys_outbox SET write_date = now() at time zone 'utc' WHERE brand_id = %s", [brand_id])
            self.assertEqual(cr.rowcount, 2)

    def test_claim_meeting_another_workers_commit(self):
        brand_id = self.committed_rows(["+905321150001", "+905321150002"])
        cr_a = self.registry.cursor()
        try:
            env_a = api.Environment(cr_a, SUPERUSER_ID, {})
            brand_a = env_a["iys.brand"].browse(brand_id)
            cr_a.execute("SELECT count(*) FROM iys_outbox WHERE brand_id = %s", [brand_id])  # A's snapshot
            self.assertEqual(cr_a.fetchone()[0], 2)
            self.touched_by_another_worker(brand_id)  # worker B commits a change of the rows
            with patch.object(iys_outbox, "_logger") as outbox_log, patch.object(sql_db._logger, "error") as sql_error:
                claimed = env_a["iys.outbox"]._iys_claim_pending(brand_a, limit=10)
            # under tests nothing may be committed: nothing is claimed this time, and it says why,
            # without the cursor's ERROR with the whole statement
            self.assertFalse(claimed)
            outbox_log.info.assert_called_once()
            self.assertIn("changed by another worker", outbox_log.info.call_args[0][0])
            outbox_log.error.assert_not_called()
            sql_error.assert_not_called()

            # Outside tests the claim is retried in a fresh transaction and gets the rows.
            cr_a.rollback()
            cr_a.execute("SELECT count(*) FROM iys_outbox WHERE brand_id = %s", [brand_id])
            self.touched_by_another_worker(brand_id)
            with patch.object(iys_outbox, "in_test_mode", lambda: False), \
                    patch.object(iys_outbox, "commit", lambda env: env.cr.commit()), \
                    patch.object(iys_outbox, "_logger") as outbox_log, \
                    patch.object(sql_db._logger, "error") as sql_error:
                claimed = env_a["iys.outbox"]._iys_claim_pending(brand_a, limit=10)
            self.assertEqual(len(claimed), 2)
            outbox_log.info.assert_not_called()
            sql_error.assert_not_called()
            self.assertEqual(set(claimed.mapped("state")), {"pending"})
        finally:
            cr_a.rollback()
            cr_a.close()


@tagged("post_install", "-at_install", "l10n_tr_iys")
class TestIysOutboxIndexes(TransactionCase):
    """The outbox indexes only the rows its queries look for (see IysOutbox.init()): every update of
    a row writes an entry in each index whose predicate the new row matches."""

    EXPECTED = {
        "iys_outbox_pkey", "iys_outbox_pending_idx", "iys_outbox_sent_idx", "iys_outbox_open_consent_idx",
        "iys_outbox_sent_request_idx", "iys_outbox_pending_deadline_idx", "iys_outbox_refused_idx",
        "iys_outbox_result_at_idx",
    }

    def indexes(self, table):
        self.env.cr.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s", (table,))
        return {row[0] for row in self.env.cr.fetchall()}

    def test_indexes(self):
        self.assertEqual(self.indexes("iys_outbox"), self.EXPECTED)
        self.assertFalse({"iys_consent_event__request_id_index", "iys_consent_event__kind_index"}
                         & self.indexes("iys_consent_event"))
        # a done row is in no index but the primary key's; a pending one in three, a sent one in four
        self.env.cr.execute("""SELECT c.relname, pg_get_expr(i.indpred, i.indrelid) FROM pg_index i
                                 JOIN pg_class c ON c.oid = i.indexrelid
                                WHERE i.indrelid = 'iys_outbox'::regclass AND i.indpred IS NOT NULL""")
        predicates = dict(self.env.cr.fetchall())
        self.assertEqual(set(predicates), self.EXPECTED - {"iys_outbox_pkey"})
        self.assertTrue(all("'done'" not in predicate for predicate in predicates.values()))

    def test_update_drops_the_former_indexes(self):
        """Odoo keeps the index of a field that is no longer indexed: init() drops them, so an
        updated database ends with the indexes of a new one (and running it twice changes nothing)."""
        for column in ("state", "sent_at", "result_at", "brand_id"):
            self.env.cr.execute(f'CREATE INDEX "iys_outbox__{column}_index" ON iys_outbox ("{column}")')
        self.env.cr.execute("DROP INDEX iys_outbox_result_at_idx")
        self.env.cr.execute("CREATE INDEX iys_consent_event__request_id_index ON iys_consent_event (request_id) "
                            "WHERE request_id IS NOT NULL")
        self.env.cr.execute("CREATE INDEX iys_consent_event__kind_index ON iys_consent_event (kind)")
        self.env["iys.outbox"].init()
        self.env["iys.outbox"].init()
        self.env["iys.consent.event"].init()
        self.assertEqual(self.indexes("iys_outbox"), self.EXPECTED)
        self.assertFalse({"iys_consent_event__request_id_index", "iys_consent_event__kind_index"}
                         & self.indexes("iys_consent_event"))
