# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
from datetime import timedelta

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import tagged
from odoo.tools.safe_eval import safe_eval

from .sync_common import IysSyncCommon

PHONE_A = "+905321150001"
PHONE_B = "+905321150002"


@tagged("post_install", "-at_install", "l10n_tr_iys")
class TestIysDeadline(IysSyncCommon):
    """Movements close to or past their İYS deadline (3 business days)."""

    def setUp(self):
        super().setUp()
        self.now = fields.Datetime.now()

    def _deadline_alerts(self):
        return self.env["iys.alert"].sudo().search([("account_id", "=", self.account.id), ("kind", "=", "deadline")])

    def test_one_alert_when_less_than_a_business_day_is_left(self):
        """Rows close to their deadline are reported by ONE alert of the account (one activity, one
        e-mail), not by an activity per row: many rows make no flood."""
        self.account.responsible_user_id = self.iys_manager
        urgent = self.outbox_of(self.record(PHONE_A))
        urgent_too = self.outbox_of(self.record("+905321150003"))
        relaxed = self.outbox_of(self.record(PHONE_B))
        (urgent | urgent_too).write({"deadline": self.now + timedelta(hours=2)})
        self.assertGreater(relaxed.deadline, self.now + timedelta(days=2))
        _expired, soon = self.Outbox._cron_iys_deadline_watch(now=self.now)
        self.assertEqual(soon, urgent | urgent_too)
        self.assertFalse((urgent | urgent_too | relaxed).activity_ids, "no activity per row any more")
        self.env["iys.alert"]._cron_iys_check_alerts(now=self.now)
        alert = self._deadline_alerts()
        self.assertEqual(len(alert), 1)
        self.assertEqual(alert.target_count, 2)
        self.assertEqual(alert.activity_ids.user_id, self.iys_manager)
        self.assertEqual(len(alert.activity_ids), 1)
        self.assertIn("H467", alert.message)
        self.assertTrue(urgent.deadline_warned and urgent_too.deadline_warned, "counted in the alert")
        self.assertFalse(relaxed.deadline_warned)
        # The next runs add no alert, no activity.
        for _i in range(2):
            self.Outbox._cron_iys_deadline_watch(now=self.now)
            self.env["iys.alert"]._cron_iys_check_alerts(now=self.now)
        self.assertEqual(self._deadline_alerts(), alert)
        self.assertEqual(len(alert.activity_ids), 1)
        self.assertFalse((urgent | urgent_too).activity_ids)

    def test_managers_are_warned_without_a_responsible(self):
        row = self.outbox_of(self.record(PHONE_A))
        row.write({"deadline": self.now + timedelta(hours=3)})
        self.Outbox._cron_iys_deadline_watch(now=self.now)
        self.env["iys.alert"]._cron_iys_check_alerts(now=self.now)
        users = self._deadline_alerts().activity_ids.user_id
        self.assertIn(self.iys_manager, users)
        self.assertIn(self.env.ref("base.user_admin"), users)
        self.assertNotIn(self.iys_user, users)
        self.assertFalse(row.activity_ids)

    def test_past_the_deadline_stops_sending(self):
        res = self.record(PHONE_A)
        row = self.outbox_of(res)
        row.write({"deadline": self.now - timedelta(minutes=1)})
        expired, _warned = self.Outbox._cron_iys_deadline_watch()
        self.assertEqual(expired, row)
        self.assertEqual((row.state, row.error_code, row.refused_locally), ("expired", "H467", True))
        self.assertIn("H467", row.error_message)
        self.assertIn("fresh consent", row.error_message)
        self.assertEqual((res.consent.sync_state, res.consent.iys_error_code), ("rejected", "H467"))
        self.assertEqual(res.event.push_state, "rejected")
        self.assertEqual(self.Outbox._iys_push(brands=self.brand).sent, 0)
        self.assertEqual(self.sim_movements(PHONE_A), [])
        with self.assertRaises(UserError):
            row.with_user(self.iys_manager).action_iys_resend()

    def test_deadline_dashboard(self):
        first = self.outbox_of(self.record(PHONE_A))
        second = self.outbox_of(self.record(PHONE_B))
        # half an hour of margin: the time left is shown in whole hours, counted from the real clock
        first.write({"deadline": fields.Datetime.now() + timedelta(days=2, hours=5, minutes=30)})
        second.write({"deadline": fields.Datetime.now() + timedelta(hours=5, minutes=30)})
        action = self.env["ir.actions.act_window"]._for_xml_id("l10n_tr_iys.action_iys_outbox_deadlines")
        view = self.env.ref("l10n_tr_iys.view_iys_outbox_deadline_list")
        self.assertEqual(action["view_id"][0], view.id)
        self.assertIn('default_order="deadline, id"', view.arch)
        domain = safe_eval(action["domain"]) + [("id", "in", (first | second).ids)]
        rows = self.env["iys.outbox"].search(domain, order="deadline, id")
        self.assertEqual(rows.ids, [second.id, first.id])
        self.assertEqual(first.time_left, "2 d 5 h")
        self.assertTrue(second.time_left.startswith("5 h"))
        self.assertAlmostEqual(second.time_left_hours, 5.5, delta=0.1)
