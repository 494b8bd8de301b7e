# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
from datetime import timedelta

from odoo import fields
from odoo.exceptions import AccessError, ValidationError
from odoo.tests import tagged
from odoo.tools import file_open

from odoo.addons.l10n_tr_iys.iyslib.dates import to_iys_date

from .sync_common import IysSyncCommon


@tagged("post_install", "-at_install", "l10n_tr_iys")
class TestIysHealth(IysSyncCommon):
    """Daily health summary, settings, neutralisation."""

    def _messages(self):
        return self.account.message_ids.filtered(lambda m: "daily summary" in (m.body or ""))

    def test_summary_with_a_low_success_ratio(self):
        for i in range(2):
            self.record(f"+90532117000{i}")
        # refused by İYS: RET over a citizen's RET
        self.record("+905321170009")
        self.Outbox._iys_push(brands=self.brand)
        self.Outbox._iys_poll(brands=self.brand)
        self.sim.inject_citizen_change(int(self.brand.code), "+905321170009", "MESAJ", "RET",
                                       consent_date=fields.Datetime.now() - timedelta(minutes=5))
        self.record("+905321170009", "RET")
        # caught before sending: too old
        late = self.outbox_of(self.record("+905321170008"))
        late.write({"payload": dict(late.payload, consentDate=to_iys_date(fields.Datetime.now() - timedelta(days=9)))})
        self.record("+905321170007")  # still waiting
        self.Outbox._iys_push(brands=self.brand, outbox_ids=(self.Outbox.search([]) - self.Outbox.search(
            [("address", "=", "+905321170007")])).ids)
        self.Outbox._iys_poll(brands=self.brand)
        health = self.account._iys_health()
        self.assertEqual((health["done_24h"], health["refused_24h"], health["caught_24h"]), (3, 1, 1))
        self.assertEqual((health["pending"], health["failed"]), (1, 2))
        self.assertAlmostEqual(health["success_ratio"], 0.75)
        self.assertFalse(health["token_locked_until"])
        # The daily summary logs the warning and raises the success-ratio alert (never lost), without
        # posting in the account's chatter.
        with self.assertLogs("odoo.addons.l10n_tr_iys.models.iys_account", "WARNING") as logs:
            result = self.env["iys.account"]._cron_iys_health_summary()
        self.assertAlmostEqual(result[self.account.id]["success_ratio"], 0.75)
        self.assertIn("75%", "\n".join(logs.output))
        alert = self.env["iys.alert"].sudo().search([("account_id", "=", self.account.id), ("state", "=", "open")])
        self.assertEqual(alert.kind, "success_ratio")
        self.assertIn("75%", alert.message)
        self.assertIn("whitelist", alert.message)
        self.assertFalse(self._messages())

    def test_summary_cron_logs_every_account(self):
        self.record("+905321170001")
        self.Outbox._iys_push(brands=self.brand)
        self.Outbox._iys_poll(brands=self.brand)
        result = self.env["iys.account"]._cron_iys_health_summary()
        self.assertEqual(result[self.account.id]["success_ratio"], 1.0)
        self.assertEqual(result[self.account.id]["done_24h"], 1)
        self.assertFalse(self._messages(), "nothing posted in a chatter nobody reads")
        self.assertFalse(self.env["iys.alert"].sudo().search([("account_id", "=", self.account.id)]))

    def test_settings_are_checked(self):
        self.account.poll_delay = 0  # allowed with the simulator
        with self.assertRaises(ValidationError):
            self.account.write({"environment": "sandbox"})
        with self.assertRaises(ValidationError):
            self.account.batch_size = 1001
        self.account.write({"environment": "sandbox", "poll_delay": 300})

    def test_neutralize_forgets_tokens_and_push_credentials(self):
        self.account._iys_push_credentials()
        self.account._iys_client(self.brand).get_access_token()
        self.brand.sudo().iys_pull_after = "1_" + "a" * 64
        self.assertTrue(self.env["iys.token"].sudo().search_count([("account_id", "=", self.account.id)]))
        self.env.flush_all()
        with file_open("l10n_tr_iys/data/neutralize.sql") as handle:
            self.env.cr.execute(handle.read())
        self.env.invalidate_all()
        self.assertFalse(self.env["iys.token"].sudo().search_count([]))
        self.assertFalse(self.account.sudo().push_username)
        self.assertFalse(self.brand.sudo().iys_pull_after)

    def test_token_table_is_for_the_system_only(self):
        self.account._iys_client(self.brand).get_access_token()
        with self.assertRaises(AccessError):
            self.env["iys.token"].with_user(self.iys_manager).search([])
        self.assertEqual(self.account.with_user(self.iys_user).push_url,
                         f"{self.env['ir.config_parameter'].sudo().get_param('web.base.url')}"
                         f"/l10n_tr_iys/push/{self.account.id}")

    def test_test_connection(self):
        action = self.account.with_user(self.iys_manager).action_iys_test_connection()
        self.assertEqual(action["tag"], "display_notification")
        self.assertEqual(action["params"]["type"], "success", action["params"]["message"])
        self.assertFalse(self.sim.consents, "nothing was sent")
        # A brand İYS does not know is named.
        self.env["iys.brand"].create({"name": "Unknown", "code": "912345", "account_id": self.account.id})
        action = self.account.action_iys_test_connection()
        self.assertEqual(action["params"]["type"], "warning")
        self.assertIn("912345", action["params"]["message"])
        # Wrong credentials: İYS's explanation, in red.
        self.account.password = "wrong"
        self.env["iys.token"].sudo().search([("account_id", "=", self.account.id)]).unlink()
        action = self.account.action_iys_test_connection()
        self.assertEqual(action["params"]["type"], "danger")
        self.assertIn("credentials", action["params"]["message"].lower())
        with self.assertRaises(AccessError):
            self.account.with_user(self.iys_user).action_iys_test_connection()
