# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
"""Several workers at once: rows claimed with SKIP LOCKED, one token for all workers, the H084
lock honoured by every worker. These tests use separate database cursors (real transactions,
committed and cleaned up afterwards), since a lock is only visible to another transaction."""
import threading
from datetime import timedelta
from unittest.mock import patch

from odoo import SUPERUSER_ID, api, fields
from odoo.tests import TransactionCase, tagged

from odoo.addons.l10n_tr_iys.iyslib.client import IysClient, IysConfig
from odoo.addons.l10n_tr_iys.iyslib.errors import IysTokenLockError
from odoo.addons.l10n_tr_iys.iyslib.throttle import Throttle
from odoo.addons.l10n_tr_iys.models.iys_account import IysAccount
from odoo.addons.l10n_tr_iys.models.iys_token import DbTokenStore

from .sync_common import SIM_PASSWORD, SIM_USER, CommittedAccountMixin, client_options, start_simulator

IYS_CODE = 900777
ADDRESSES = ["+905321130001", "+905321130002", "+905321130003"]


@tagged("post_install", "-at_install", "l10n_tr_iys")
class TestIysConcurrency(CommittedAccountMixin, TransactionCase):
    committed_iys_code = IYS_CODE

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server = start_simulator(iys_code=IYS_CODE, brands={IYS_CODE: "Committed brand"})
        cls.addClassCleanup(cls.server.stop)
        cls.sim = cls.server.sim
        cls.startClassPatcher(patch.object(IysAccount, "_iys_client_options", client_options))

    def setUp(self):
        super().setUp()
        self.sim.reset()

    # tests -------------------------------------------------------------------------------------
    def test_overlapping_runs_never_send_a_row_twice(self):
        account_id, brand_id = self.committed_account(ADDRESSES)
        with self.registry.cursor() as cr:  # the workers share a token fetched earlier
            env = api.Environment(cr, SUPERUSER_ID, {})
            account = env["iys.account"].browse(account_id)
            account._iys_client(account.default_brand_id).get_access_token()
        # Run 1 has claimed the first two rows and is busy sending them (its transaction is open).
        cr_a = self.registry.cursor()
        try:
            env_a = api.Environment(cr_a, SUPERUSER_ID, {})
            claimed = env_a["iys.outbox"]._iys_claim_pending(env_a["iys.brand"].browse(brand_id), limit=2)
            self.assertEqual(claimed.mapped("address"), ADDRESSES[:2])
            # Run 2 starts in another worker: it skips the locked rows and sends only the third.
            with self.registry.cursor() as cr_b:
                env_b = api.Environment(cr_b, SUPERUSER_ID, {})
                stats = env_b["iys.outbox"]._iys_push(brands=env_b["iys.brand"].browse(brand_id))
                self.assertEqual(stats.sent, 1)
                sent = env_b["iys.outbox"].search([("brand_id", "=", brand_id), ("state", "=", "sent")])
                self.assertEqual(sent.address, ADDRESSES[2])
            # Run 1 goes on with the batch it claimed, as _iys_push_brand does, and commits.
            brand_a = env_a["iys.brand"].browse(brand_id)
            client = brand_a.account_id._iys_client(brand_a)
            stats = claimed._iys_send_batch(client, brand_a)
            client.token_store.release()
            self.assertEqual(stats.sent, 2)
            cr_a.commit()
            # Its next claim finds nothing left to send.
            self.assertFalse(env_a["iys.outbox"]._iys_claim_pending(brand_a, limit=10))
        finally:
            cr_a.close()
        for address in ADDRESSES:
            self.assertEqual(len(self.sim.get_movements(IYS_CODE, address, "MESAJ")), 1)
        self.assertEqual(self.sim.summary()["batches"], 2)
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            env["iys.outbox"]._iys_poll(brands=env["iys.brand"].browse(brand_id))
            rows = env["iys.outbox"].search([("brand_id", "=", brand_id)])
            self.assertEqual(set(rows.mapped("state")), {"done"})

    def _client(self, account_id, own_cursor=True, timeout=15):
        config = IysConfig(self.server.url, SIM_USER, SIM_PASSWORD, IYS_CODE)
        config.timeout = timeout
        store = DbTokenStore(self.env, account_id=account_id, own_cursor=own_cursor)
        return IysClient(config, token_store=store, throttle=Throttle(per_second=100000, hourly={}),
                         sleep=lambda _s: None)

    def token_calls(self):
        return [e for e in self.sim.requests_log if e["path"] == "/oauth2/token"]

    def test_two_workers_fetch_a_single_token(self):
        account_id, _brand_id = self.committed_account()
        # The token service answers slowly (1 s): both workers need a token meanwhile.
        self.patch(self.sim, "fault_delay", 1.0)
        self.sim.inject_fault("timeout", count=2, path_prefix="/oauth2/token")
        clients = [self._client(account_id), self._client(account_id)]
        barrier = threading.Barrier(len(clients))
        tokens, errors = [], []

        def work(client):
            try:
                barrier.wait(timeout=5)
                tokens.append(client.get_access_token())
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
            finally:
                client.token_store.release()

        threads = [threading.Thread(target=work, args=(client,)) for client in clients]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=20)
        self.assertEqual(errors, [])
        self.assertEqual(len(tokens), 2)
        self.assertEqual(tokens[0], tokens[1], "the second worker used the token the first one stored")
        self.assertEqual(len(self.token_calls()), 1)
        with self.registry.cursor() as cr:
            cr.execute("SELECT key, access_token IS NOT NULL FROM iys_token WHERE account_id = %s", [account_id])
            rows = cr.fetchall()
        self.assertEqual(len(rows), 1)
        self.assertNotIn(SIM_USER, rows[0][0], "the key is a hash, not the API user")
        self.assertTrue(rows[0][1])

    def test_h084_lock_is_honoured_by_every_worker(self):
        account = self.env["iys.account"].create({
            "name": "Lock", "iys_code": str(IYS_CODE), "environment": "simulator", "simulator_url": self.server.url,
            "poll_delay": 0, "username": SIM_USER, "password": SIM_PASSWORD,
        })
        brand = self.env["iys.brand"].create({"name": "Lock brand", "code": str(IYS_CODE), "account_id": account.id})
        self.patch(self.sim, "token_limit", 1)
        first = self._client(account.id, own_cursor=False)
        first.get_access_token()
        first.invalidate_token()
        # İYS answers H084: the lock is stored for everybody. (Not inside assertRaises: Odoo's rolls
        # the test cursor back to a savepoint, and in tests the store writes through that cursor.)
        locked = None
        try:
            first.get_access_token()
        except IysTokenLockError as exc:
            locked = exc
        self.assertIsNotNone(locked, "İYS answered H084")
        calls = len(self.token_calls())
        self.assertEqual(calls, 2)
        # Another worker (its own client and store, the same database) does not even try.
        second = self._client(account.id, own_cursor=False)
        with self.assertRaises(IysTokenLockError) as caught:
            second.get_access_token()
        self.assertGreater(caught.exception.retry_after, 3000)
        self.assertEqual(len(self.token_calls()), calls)
        account.invalidate_recordset(["token_locked_until"])
        self.assertGreater(account.token_locked_until, fields.Datetime.now() + timedelta(minutes=55))
        # The send cron postpones the movements until the lock ends, without calling İYS.
        result = self.env["iys.consent"]._iys_record_movements([{
            "brand_id": brand.id, "channel": "MESAJ", "address": ADDRESSES[0], "status": "ONAY",
            "source": "HS_WEB", "consent_date": fields.Datetime.now().replace(microsecond=0) - timedelta(minutes=1),
        }], "api")[0]
        stats = self.env["iys.outbox"]._iys_push(brands=brand)
        row = self.env["iys.outbox"].search([("event_id", "=", result.event.id)])
        self.assertEqual((stats.sent, stats.retried, row.state, row.error_code), (0, 1, "pending", "H084"))
        self.assertGreater(row.next_attempt_at, fields.Datetime.now() + timedelta(minutes=55))
        self.assertEqual(len(self.token_calls()), calls)
        health = account._iys_health()
        self.assertTrue(health["token_locked_until"])
        self.assertEqual(health["pending"], 1)
