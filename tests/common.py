# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
import socket
from datetime import timedelta
from unittest.mock import patch

from odoo import fields
from odoo.tests import TransactionCase, new_test_user


def isolate_iys_accounts(cls):
    """Point every İYS account of the database, and every account a test creates, at an endpoint of
    the test's own that refuses connections (a port bound here and never listened on), so that no test
    ever reaches a simulator or an Odoo someone runs on this machine (the demo's account points at the
    simulator ``./scripts/run`` starts). Tests that need İYS point their account at a simulator they
    start themselves (see sync_common). Returns the refused URL."""
    if cls.__dict__.get("iys_dead_url"):
        return cls.iys_dead_url
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    cls.addClassCleanup(sock.close)
    cls.iys_dead_url = url = "http://127.0.0.1:%d" % sock.getsockname()[1]
    cls.startClassPatcher(patch("odoo.addons.l10n_tr_iys.models.iys_account._default_simulator_url", return_value=url))
    cls.env["iys.account"].sudo().with_context(active_test=False).search([]).write({"simulator_url": url})
    return url


class IysCommon(TransactionCase):
    """An İYS account on the simulator with two brands, and users of each group."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env = cls.env(context=dict(cls.env.context, tracking_disable=True))
        isolate_iys_accounts(cls)
        # Sequence 1: the company's first account (demo data has one at sequence 10), so that
        # cls.brand is the company's default brand, the one contact states and the wizard use.
        cls.account = cls.env["iys.account"].create(
            {"name": "Test İYS", "iys_code": "900001", "environment": "simulator", "sequence": 1,
             "username": "iys-demo", "password": "iys-demo-secret"}
        )
        cls.brand = cls.env["iys.brand"].create(
            {"name": "Brand A", "code": "900001", "account_id": cls.account.id, "is_default": True, "sequence": 1}
        )
        cls.brand_b = cls.env["iys.brand"].create(
            {"name": "Brand B", "code": "900002", "account_id": cls.account.id, "sequence": 2}
        )
        cls.plain_user = new_test_user(cls.env, login="iys_t_plain", groups="base.group_user")
        cls.iys_user = new_test_user(cls.env, login="iys_t_user", groups="base.group_user,l10n_tr_iys.group_iys_user")
        cls.iys_manager = new_test_user(
            cls.env, login="iys_t_manager", groups="base.group_user,l10n_tr_iys.group_iys_manager"
        )
        cls.Consent = cls.env["iys.consent"]

    _tick = 0

    @classmethod
    def _now(cls):
        return fields.Datetime.now().replace(microsecond=0)

    @classmethod
    def _next_date(cls):
        """A recent consent date, one second later at each call, so movements stay in order."""
        IysCommon._tick += 1
        return cls._now() - timedelta(minutes=30) + timedelta(seconds=IysCommon._tick)

    @classmethod
    def record(cls, address, status="ONAY", channel="MESAJ", recipient_type="BIREYSEL", source="HS_WEB",
               consent_date=None, brand=None, origin="api", **extra):
        """Record one movement and return its MovementResult (raises on invalid input)."""
        mov = {
            "brand_id": (brand or cls.brand).id,
            "channel": channel,
            "recipient_type": recipient_type,
            "address": address,
            "status": status,
            "source": source,
            "consent_date": consent_date if consent_date is not None else cls._next_date(),
            **extra,
        }
        return cls.env["iys.consent"]._iys_record_movements([mov], origin)[0]
