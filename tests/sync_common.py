# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
"""Shared set-up of the synchronisation tests: the library's İYS simulator on 127.0.0.1 (a free
port), the test account pointed at it, and clients that never sleep for real."""
from datetime import timedelta
from unittest.mock import patch

from odoo import SUPERUSER_ID, api, fields

from odoo.addons.l10n_tr_iys.iyslib.simulator import IysSimulator, SimulatorServer
from odoo.addons.l10n_tr_iys.iyslib.throttle import Throttle
from odoo.addons.l10n_tr_iys.models.iys_account import IysAccount
from odoo.addons.l10n_tr_iys.models.iys_consent_event import _EVENT_UNLINK

from .common import IysCommon, isolate_iys_accounts

SIM_USER = "iys-demo"
SIM_PASSWORD = "iys-demo-secret"
SIM_IYS_CODE = 900001


def start_simulator(iys_code=SIM_IYS_CODE, brands=None, **kwargs):
    """A simulator answering at once (batch delay 0, no pull lag, no token limit unless asked)."""
    options = {"batch_delay": 0, "pull_lag": 0, "token_limit": None, "fault_delay": FAULT_DELAY}
    options.update(kwargs)
    sim = IysSimulator(
        username=SIM_USER, password=SIM_PASSWORD, iys_code=iys_code,
        brands=brands or {iys_code: "Brand A", iys_code + 1: "Brand B"}, **options,
    )
    return SimulatorServer(sim).start()


#: Read timeout of the clients in tests. A number, not a (connect, read) tuple: some 18.0 builds of
#: Odoo's test request handler compare it with 10 (and raise anything shorter to 10 s).
TEST_TIMEOUT = 0.5
#: The simulator's "timeout" fault answers after this long: later than any client timeout above.
FAULT_DELAY = 11.0


def client_options(account):
    # No real sleeping in back-offs, a short timeout, and a throttle that never waits.
    return {
        "sleep": lambda _seconds: None,
        "timeout": TEST_TIMEOUT,
        "throttle": Throttle(per_second=100000, hourly={}),
    }


class IysSyncMixin:
    """Simulator set-up usable by TransactionCase and HttpCase classes."""

    @classmethod
    def _start_sync(cls):
        isolate_iys_accounts(cls)
        cls.server = start_simulator()
        cls.addClassCleanup(cls.server.stop)
        cls.sim = cls.server.sim
        cls.startClassPatcher(patch.object(IysAccount, "_iys_client_options", client_options))
        cls.Outbox = cls.env["iys.outbox"].sudo()

    def setUp(self):
        super().setUp()
        self.sim.reset()

    # helpers -----------------------------------------------------------------------------------
    def outbox_of(self, result):
        return self.env["iys.outbox"].sudo().search([("event_id", "=", result.event.id)])

    def sim_movements(self, address, channel="MESAJ", brand=None):
        return self.sim.get_movements(int((brand or self.brand).code), address, channel)

    def make_due(self, rows):
        """Let time pass for these rows: their next attempt (or poll) is due now."""
        rows.sudo().write({"next_attempt_at": fields.Datetime.now() - timedelta(seconds=1)})


class IysSyncCommon(IysSyncMixin, IysCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._start_sync()
        cls.account.write({"simulator_url": cls.server.url, "poll_delay": 0})


class CommittedAccountMixin:
    """For tests that need real transactions on separate cursors (locks, serialization): an account
    on the test's simulator (``cls.server``), its brand and ONAY movements, committed in their own
    transaction and removed when the test ends. Set ``committed_iys_code`` on the class."""

    committed_iys_code = None

    def committed_account(self, movements=(), name="Committed"):
        """Commit an account, a brand and an ONAY movement per address; return their ids."""
        code = str(self.committed_iys_code)
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {"tracking_disable": True})
            account = env["iys.account"].create({
                "name": name, "iys_code": code, "environment": "simulator",
                "simulator_url": self.server.url, "poll_delay": 0, "username": SIM_USER, "password": SIM_PASSWORD,
            })
            brand = env["iys.brand"].create({"name": f"{name} brand", "code": code,
                                             "account_id": account.id, "is_default": True})
            now = fields.Datetime.now().replace(microsecond=0)
            env["iys.consent"]._iys_record_movements([
                {"brand_id": brand.id, "channel": "MESAJ", "address": address, "status": "ONAY",
                 "source": "HS_WEB", "consent_date": now - timedelta(minutes=10)}
                for address in movements
            ], "api")
            account_id, brand_id = account.id, brand.id
        self.addCleanup(self.drop_committed, account_id, brand_id)
        return account_id, brand_id

    def drop_committed(self, account_id, brand_id):
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {"iys_allow_event_unlink": _EVENT_UNLINK})
            env["iys.outbox"].search([("brand_id", "=", brand_id)]).unlink()
            env["iys.consent.event"].search([("brand_id", "=", brand_id)]).unlink()
            env["iys.consent"].search([("brand_id", "=", brand_id)]).unlink()
            env["iys.brand"].browse(brand_id).unlink()
            env["iys.account"].browse(account_id).unlink()  # its token rows go with it
