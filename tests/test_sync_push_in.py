# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
import base64
import json
from datetime import timedelta
from unittest.mock import patch

from odoo import fields
from odoo.tests import HttpCase, tagged

from odoo.addons.l10n_tr_iys.models.iys_account import IysAccount

from .sync_common import IysSyncMixin, client_options

PHONE = "+905321140001"
MAIL = "push.citizen@example.com"


@tagged("post_install", "-at_install", "l10n_tr_iys")
class TestIysPushIn(IysSyncMixin, HttpCase):
    """İYS -> Odoo: the push endpoint (Basic auth, JSON list) and its registration with İYS."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.account = cls.env["iys.account"].create({
            "name": "Push account", "iys_code": "900001", "environment": "simulator",
            "username": "iys-demo", "password": "iys-demo-secret",
        })
        cls.brand = cls.env["iys.brand"].create(
            {"name": "Brand A", "code": "900001", "account_id": cls.account.id, "is_default": True}
        )
        cls._start_sync()
        # İYS calls the endpoint while the registration request waits: give it time (the test
        # thread must not use the shared test cursor before the server thread is done).
        cls.startClassPatcher(patch.object(
            IysAccount, "_iys_client_options", lambda account: dict(client_options(account), timeout=20)
        ))
        cls.account.write({"simulator_url": cls.server.url, "poll_delay": 0})
        cls.user, cls.password = cls.account._iys_push_credentials()
        cls.url = f"/l10n_tr_iys/push/{cls.account.id}"

    def post(self, body, user=None, password=None, raw=None, url=None):
        headers = {"Content-Type": "application/json"}
        if user is not None:
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        self.env.flush_all()
        data = raw if raw is not None else json.dumps(body)
        return self.url_open(url or self.url, data=data, headers=headers)

    def movement(self, address=PHONE, status="RET", channel="MESAJ", **extra):
        now = fields.Datetime.now() + timedelta(hours=3)  # Turkish time
        return {
            "iysCode": 900001, "brandCode": 900001, "recipient": address, "recipientType": "BIREYSEL",
            "type": channel, "status": status, "source": "IYS_MOBIL",
            "consentDate": (now - timedelta(minutes=3)).strftime("%Y-%m-%d %H:%M:%S"),
            "creationDate": (now - timedelta(minutes=3)).strftime("%Y-%m-%d %H:%M:%S"),
            "transactionId": "ab" * 32, **extra,
        }

    def consent(self, address=PHONE, channel="MESAJ"):
        self.env.invalidate_all()
        return self.env["iys.consent"].search([("brand_id", "=", self.brand.id), ("address", "=", address),
                                               ("channel", "=", channel)])

    def test_valid_push_is_applied(self):
        response = self.post({"list": [self.movement(status="ONAY")]}, self.user, self.password)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.json()["applied"], 1)
        consent = self.consent()
        self.assertEqual((consent.status, consent.sync_state), ("ONAY", "confirmed"))
        self.assertEqual(consent.event_ids.origin, "iys_push")
        self.assertEqual(consent.iys_transaction_id, "ab" * 32)
        # The same movement again (İYS may deliver twice) is recognised by its transaction id.
        response = self.post({"list": [self.movement(status="ONAY")]}, self.user, self.password)
        self.assertEqual(response.json()["applied"], 0)
        self.assertEqual(len(self.consent().event_ids), 1)

    def test_credentials_and_body_are_checked(self):
        body = {"list": [self.movement()]}
        self.assertEqual(self.post(body).status_code, 401)
        self.assertIn("Basic", self.post(body).headers.get("WWW-Authenticate", ""))
        self.assertEqual(self.post(body, self.user, "wrong").status_code, 401)
        self.assertEqual(self.post(body, "someone", self.password).status_code, 401)
        self.assertEqual(self.post(body, self.user, self.password, url="/l10n_tr_iys/push/999999").status_code, 401)
        self.assertFalse(self.consent(), "nothing applied without valid credentials")
        self.assertEqual(self.post(None, self.user, self.password, raw="{not json").status_code, 400)
        self.assertEqual(self.post({"items": []}, self.user, self.password).status_code, 400)
        self.assertEqual(self.post({"list": ["x"]}, self.user, self.password).status_code, 400)
        self.assertEqual(self.url_open(self.url).status_code, 405, "POST only")

    def test_iys_test_payload_and_foreign_brands_are_acknowledged_and_ignored(self):
        test_item = self.movement(address="pushtest@iys.org.tr", channel="EPOSTA", iysCode=121212, brandCode=121212)
        foreign = self.movement(address=MAIL, channel="EPOSTA", brandCode=555555, transactionId="cd" * 32)
        response = self.post({"list": [test_item, foreign]}, self.user, self.password)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.json(), {"received": 2, "applied": 0, "ignored": 2, "invalid": 0, "deferred": 0})
        self.assertFalse(self.env["iys.consent"].search([("address", "in", ["pushtest@iys.org.tr", MAIL])]))

    def test_invalid_items_are_counted(self):
        good = self.movement(status="ONAY")
        bad = self.movement(address="not-a-number", transactionId="ef" * 32)
        response = self.post({"list": [good, bad]}, self.user, self.password)
        self.assertEqual(response.status_code, 200)
        result = response.json()
        self.assertEqual((result["received"], result["applied"], result["invalid"]), (2, 1, 1))
        self.assertEqual(result["received"], result["applied"] + result["ignored"] + result["invalid"]
                         + result["deferred"], "every item is counted once")

    def test_only_json_is_accepted(self):
        token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        body = json.dumps({"list": [self.movement(status="ONAY")]})
        for content_type in ("text/plain", "application/x-www-form-urlencoded"):
            self.env.flush_all()
            response = self.url_open(self.url, data=body, headers={
                "Content-Type": content_type, "Authorization": f"Basic {token}"})
            self.assertEqual(response.status_code, 415, content_type)
        self.assertFalse(self.consent(), "nothing applied from a body that is not declared JSON")

    def test_chunked_body_over_the_cap_is_refused(self):
        token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        head = json.dumps({"list": [self.movement(status="ONAY")], "padding": ""})[:-2].encode()

        def chunks():  # a generator: requests sends it chunked, without Content-Length
            yield head
            for _i in range(11):
                yield b"x" * (1024 * 1024)
            yield b'"}'

        self.env.flush_all()
        response = self.url_open(self.url, data=chunks(), timeout=60, headers={
            "Content-Type": "application/json", "Authorization": f"Basic {token}"})
        self.assertEqual(response.status_code, 413)
        self.assertFalse(self.consent(), "nothing applied from an oversized body")

    def test_large_push_is_bounded_and_left_to_the_pull(self):
        items = [self.movement(address=f"+9053211410{i:02d}", transactionId=f"{i:02x}" * 32, status="ONAY")
                 for i in range(3)]
        result = self.account._iys_receive_push(items, budget=-1)
        self.assertEqual((result["applied"], result["deferred"]), (0, 3))
        cron = self.env.ref("l10n_tr_iys.ir_cron_iys_pull")
        self.assertTrue(self.env["ir.cron.trigger"].search([("cron_id", "=", cron.id)]), "the pull is triggered")
        result = self.account._iys_receive_push(items)
        self.assertEqual((result["applied"], result["deferred"]), (3, 0))

    def test_register_with_iys_and_receive_citizen_changes(self):
        self.env["ir.config_parameter"].sudo().set_param("web.base.url", self.base_url())
        self.account.with_user(self.env.ref("base.user_admin")).action_iys_push_register()
        self.assertIn("Bağlantı Oluşturuldu", self.account.push_info)
        connections = self.sim.push
        self.assertEqual(len(connections), 3, "one connection per channel of the brand")
        self.assertTrue(all(conn["active"] for conn in connections))
        self.assertEqual({conn["url"] for conn in connections}, {self.account.push_url})
        # İYS checked that the endpoint refuses calls without credentials, then sent its test payload.
        self.assertEqual([entry["status"] for entry in self.sim.push_log[:2]], [401, 200])
        # A citizen refuses on the İYS app: İYS pushes it, Odoo applies it at once.
        self.env.flush_all()
        self.sim.inject_citizen_change(900001, MAIL, "EPOSTA", "ONAY", source="IYS_WEB")
        self.assertEqual(self.sim.push_log[-1]["status"], 200)
        consent = self.consent(MAIL, "EPOSTA")
        self.assertEqual((consent.status, consent.event_ids.origin), ("ONAY", "iys_push"))
        self.account.action_iys_push_unregister()
        self.assertEqual(self.sim.push, [])
