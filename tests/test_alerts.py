# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
"""Alerts that reach people: each condition raises exactly one alert, one activity per recipient and
one e-mail; a second check raises nothing new; the alert clears (activities done) when the condition
goes away; a failing mail server loses nothing; an alert of another company is not visible."""
import smtplib
from datetime import timedelta
from unittest.mock import patch

from psycopg2 import IntegrityError

from odoo import Command, fields
from odoo.exceptions import AccessError, UserError
from odoo.tests import new_test_user, tagged
from odoo.tools import mute_logger

from odoo.addons.base.models.ir_mail_server import IrMailServer
from odoo.addons.l10n_tr_iys.iyslib import dates
from odoo.addons.mail.models.mail_template import MailTemplate

from .sync_common import IysSyncCommon

PHONE_A = "+905321180001"
PHONE_B = "+905321180002"


@tagged("post_install", "-at_install", "l10n_tr_iys")
class TestIysAlerts(IysSyncCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Alert = cls.env["iys.alert"].sudo()
        cls.responsible = new_test_user(
            cls.env, login="iys_t_responsible", email="responsible@example.com",
            groups="base.group_user,l10n_tr_iys.group_iys_user",
        )
        cls.iys_manager.email = "manager@example.com"
        # Brands created long ago and pulled recently: no pull alert unless a test wants one.
        (cls.brand | cls.brand_b).sudo().write({"iys_last_pull_date": fields.Datetime.now()})

    def setUp(self):
        super().setUp()
        self.now = fields.Datetime.now().replace(microsecond=0)
        self.account.responsible_user_id = self.responsible

    # helpers -----------------------------------------------------------------------------------
    def check(self, now=None, kinds=None):
        return self.Alert._iys_check_account(self.account, now or self.now, kinds=kinds)

    def alerts(self, kind, state=None):
        domain = [("account_id", "=", self.account.id), ("kind", "=", kind)]
        if state:
            domain.append(("state", "=", state))
        return self.Alert.search(domain)

    def mails(self, alerts):
        return self.env["mail.mail"].sudo().search([("model", "=", "iys.alert"), ("res_id", "in", alerts.ids)])

    def assert_raised_once(self, kind, users):
        """Exactly one open alert of *kind*, one activity per user of *users*, one e-mail to them; a
        second check raises nothing more."""
        alert = self.alerts(kind)
        self.assertEqual(len(alert), 1, f"one {kind} alert")
        self.assertEqual(alert.state, "open")
        self.assertEqual(alert.activity_ids.user_id, users)
        self.assertEqual(len(alert.activity_ids), len(users))
        mail = self.mails(alert)
        self.assertEqual(len(mail), 1, "one e-mail")
        self.assertEqual(mail.recipient_ids, users.partner_id)
        self.assertEqual(mail.state, "outgoing")
        self.assertIn(alert.name, mail.subject)
        # No flood: the next checks only refresh the figures.
        self.assertFalse(self.check(now=self.now + timedelta(minutes=30)))
        self.assertFalse(self.check(now=self.now + timedelta(minutes=60)))
        self.assertEqual(self.alerts(kind), alert)
        self.assertEqual(len(alert.activity_ids), len(users))
        self.assertEqual(len(self.mails(alert)), 1)
        self.assertEqual(alert.last_checked, self.now + timedelta(minutes=60))
        self.assertEqual(alert.raised_on, self.now)
        return alert

    def assert_cleared(self, alert, now):
        self.assertEqual((alert.state, alert.cleared_on), ("cleared", now))
        self.assertFalse(alert.activity_ids, "the activities are done")
        done = self.env["mail.message"].sudo().search([
            ("model", "=", "iys.alert"), ("res_id", "=", alert.id), ("mail_activity_type_id", "!=", False),
        ])
        self.assertTrue(done)
        self.assertTrue(all("no longer holds" in (m.body or "") for m in done))

    def make_deadline_close(self):
        urgent = self.outbox_of(self.record(PHONE_A))
        relaxed = self.outbox_of(self.record(PHONE_B))
        urgent.write({"deadline": self.now + timedelta(hours=2)})
        relaxed.write({"deadline": dates.add_business_days(self.now, 2)})
        return urgent, relaxed

    # conditions --------------------------------------------------------------------------------
    def test_nothing_to_report(self):
        self.assertFalse(self.check())
        self.assertFalse(self.Alert.search([("account_id", "=", self.account.id)]))

    def test_deadline_one_alert_for_many_rows(self):
        urgent, relaxed = self.make_deadline_close()
        more = self.outbox_of(self.record("+905321180003"))
        more.write({"deadline": self.now + timedelta(hours=5)})
        raised = self.check()
        self.assertEqual(raised.kind, "deadline")
        alert = self.assert_raised_once("deadline", self.responsible)
        self.assertEqual(alert.target_count, 2)
        self.assertIn("2 ", alert.message)
        self.assertIn("H467", alert.message)
        # No activity per row any more; the rows counted are marked.
        self.assertFalse((urgent | relaxed | more).activity_ids)
        self.assertTrue(urgent.deadline_warned and more.deadline_warned)
        self.assertFalse(relaxed.deadline_warned)
        # The button opens exactly the rows counted.
        action = alert.action_iys_open_records()
        self.assertEqual(self.env["iys.outbox"].search(action["domain"]), urgent | more)
        # One row is sent: the figures follow, nothing new is raised.
        self.Outbox._iys_push(brands=self.brand, outbox_ids=more.ids)
        self.Outbox._iys_poll(brands=self.brand)
        self.assertEqual(more.state, "done")
        self.assertFalse(self.check(now=self.now + timedelta(hours=1)))
        self.assertEqual((alert.state, alert.target_count), ("open", 1))
        # The last one expires: the watch refuses it, the alert clears.
        later = self.now + timedelta(hours=3)
        expired, _soon = self.Outbox._cron_iys_deadline_watch(now=later)
        self.assertEqual(expired, urgent)
        self.check(now=later)
        self.assert_cleared(alert, later)
        # It comes back: a new alert (and a new e-mail), the old one stays as history.
        other = self.outbox_of(self.record("+905321180004"))
        other.write({"deadline": later + timedelta(hours=1)})
        self.check(now=later)
        self.assertEqual(len(self.alerts("deadline")), 2)
        self.assertEqual(len(self.alerts("deadline", "open")), 1)

    def refused_by_iys(self, address):
        """İYS refuses our RET over the citizen's RET given through İYS."""
        self.sim.inject_citizen_change(int(self.brand.code), address, "MESAJ", "RET",
                                       consent_date=fields.Datetime.now() - timedelta(minutes=5))
        self.record(address, "RET")
        self.Outbox._iys_push(brands=self.brand)
        self.Outbox._iys_poll(brands=self.brand)

    def test_success_ratio(self):
        for i in range(2):
            self.record(f"+90532118010{i}")
        self.record("+905321180109")
        self.Outbox._iys_push(brands=self.brand)
        self.Outbox._iys_poll(brands=self.brand)
        self.refused_by_iys("+905321180109")
        now = fields.Datetime.now()
        self.assertAlmostEqual(self.account._iys_health(now=now)["success_ratio"], 0.75)
        self.now = now
        self.check(kinds=["success_ratio"])
        alert = self.assert_raised_once("success_ratio", self.responsible)
        for text in ("75%", "70%", "96", "80%"):
            self.assertIn(text, alert.message)
        self.assertIn("75%", str(alert.figures))
        refused = self.env["iys.outbox"].search(alert.action_iys_open_records()["domain"])
        self.assertEqual(refused.mapped("address"), ["+905321180109"])
        # The daily summary keeps the warning (in the log) and does not post in the chatter.
        with self.assertLogs("odoo.addons.l10n_tr_iys.models.iys_account", "WARNING") as logs:
            self.env["iys.account"]._cron_iys_health_summary(now=now)
        self.assertIn("75%", "\n".join(logs.output))
        self.assertFalse(self.account.message_ids.filtered(lambda m: "summary" in (m.body or "")))
        self.assertEqual(self.alerts("success_ratio"), alert, "the summary raises nothing twice")
        # A day later nothing was answered: no ratio, the alert clears.
        self.check(now=now + timedelta(hours=25), kinds=["success_ratio"])
        self.assert_cleared(alert, now + timedelta(hours=25))

    def test_success_ratio_warning_kept_by_the_daily_summary(self):
        """Even with the hourly check off, the daily summary raises the ratio alert."""
        self.record("+905321180209")
        self.Outbox._iys_push(brands=self.brand)
        self.Outbox._iys_poll(brands=self.brand)
        self.refused_by_iys("+905321180209")
        self.env["iys.account"]._cron_iys_health_summary(now=fields.Datetime.now())
        self.assertEqual(len(self.alerts("success_ratio", "open")), 1)
        self.assertIn("50%", self.alerts("success_ratio").message)

    def test_no_ratio_without_answers(self):
        self.record("+905321180301")  # waiting, never answered
        self.assertFalse(self.check(kinds=["success_ratio"]))

    def test_pull_failing(self):
        self.brand_b.sudo().write({"iys_last_pull_date": self.now - timedelta(hours=25),
                                   "iys_pull_error": "H084: token limit"})
        self.check(kinds=["pull"])
        alert = self.assert_raised_once("pull", self.responsible)
        self.assertEqual((alert.brand_id, alert.key), (self.brand_b, f"brand:{self.brand_b.id}"))
        self.assertIn("H084", str(alert.figures))
        self.assertEqual(alert.action_iys_open_records()["res_id"], self.brand_b.id)
        # A pull succeeds: cleared.
        later = self.now + timedelta(hours=2)
        self.brand_b.sudo().iys_last_pull_date = later
        self.check(now=later, kinds=["pull"])
        self.assert_cleared(alert, later)

    def test_pull_never_succeeded(self):
        brand = self.env["iys.brand"].create({"name": "Brand C", "code": "900003", "account_id": self.account.id})
        (self.brand | self.brand_b).sudo().write({"iys_last_pull_date": brand.create_date + timedelta(hours=24)})
        self.assertFalse(self.check(kinds=["pull"]), "a brand created just now is not late")
        self.assertEqual(len(self.check(now=brand.create_date + timedelta(hours=25), kinds=["pull"])), 1)
        self.assertIn("never", str(self.alerts("pull").figures))
        # An archived brand does not count: the alert clears.
        brand.active = False
        self.check(now=brand.create_date + timedelta(hours=26), kinds=["pull"])
        self.assertEqual(self.alerts("pull").state, "cleared")

    def test_cron_failing(self):
        cron = self.env.ref("l10n_tr_iys.ir_cron_iys_pull").sudo()
        cron.write({"failure_count": 1, "first_failure_date": self.now - timedelta(hours=1)})
        self.assertFalse(self.check(kinds=["cron"]), "one failure is not yet repeated")
        cron.failure_count = 2
        self.check(kinds=["cron"])
        alert = self.assert_raised_once("cron", self.responsible)
        self.assertIn(cron.name, alert.message)
        self.assertEqual(alert.key, f"cron:{cron.id}")
        # an İYS manager who is not a Settings administrator is told whom to ask, not shown an access error
        self.assertFalse(self.iys_manager.has_group("base.group_system"))
        with self.assertRaisesRegex(UserError, "Settings administrator"):
            alert.with_user(self.iys_manager).action_iys_open_records()
        self.assertEqual(alert.action_iys_open_records()["res_id"], cron.id)
        # Odoo deactivates it and resets its counter: still not solved, the alert stays open.
        cron.write({"failure_count": 0, "first_failure_date": False, "active": False})
        self.assertFalse(self.check(kinds=["cron"]))
        self.assertEqual(alert.state, "open")
        self.assertIn("no longer active", alert.message)
        # Active again and running: cleared.
        cron.active = True
        self.check(kinds=["cron"])
        self.assert_cleared(alert, self.now)
        # A cron of another addon is none of our business.
        other = self.env.ref("mail.ir_cron_mail_scheduler_action").sudo()
        other.failure_count = 5
        self.assertFalse(self.check(kinds=["cron"]))

    def test_reconciliation_differences(self):
        if "iys.reconciliation" not in self.env:
            self.assertEqual(self.Alert._iys_eval_reconciliation(self.account, self.now), [])
            self.skipTest("iys.reconciliation is not installed on this branch")
        Reconciliation = self.env["iys.reconciliation"].sudo()
        day = fields.Date.today() - timedelta(days=1)
        rec = Reconciliation.create({"brand_id": self.brand.id, "report_date": day})
        rec.write({"state": "differences", "difference_count": 3})
        self.check(kinds=["reconciliation"])
        alert = self.assert_raised_once("reconciliation", self.responsible)
        self.assertEqual(self.env["iys.reconciliation"].search(alert.action_iys_open_records()["domain"]), rec)
        rec.write({"state": "accepted"})
        self.check(kinds=["reconciliation"])
        self.assert_cleared(alert, self.now)

    # recipients, mail failures -----------------------------------------------------------------
    def test_managers_of_the_company_without_a_responsible(self):
        self.account.responsible_user_id = False
        other_company = self.env["res.company"].create({"name": "İYS other company"})
        outsider = new_test_user(self.env, login="iys_t_mgr_other", email="other@example.com",
                                 company_id=other_company.id, company_ids=[Command.set(other_company.ids)],
                                 groups="base.group_user,l10n_tr_iys.group_iys_manager")
        self.make_deadline_close()
        self.check(kinds=["deadline"])
        alert = self.alerts("deadline")
        users = alert.activity_ids.user_id
        self.assertIn(self.iys_manager, users)
        self.assertIn(self.env.ref("base.user_admin"), users)
        self.assertNotIn(self.iys_user, users)
        self.assertNotIn(outsider, users, "a manager of another company only")
        self.assertNotIn(self.env.ref("base.user_root"), users)
        mail = self.mails(alert)
        self.assertEqual(len(mail), 1)
        self.assertIn(self.iys_manager.partner_id, mail.recipient_ids)
        self.assertNotIn(outsider.partner_id, mail.recipient_ids)

    def test_failing_mail_server_loses_nothing(self):
        self.make_deadline_close()
        self.check(kinds=["deadline"])
        alert = self.alerts("deadline")
        mail = self.mails(alert)
        with patch.object(IrMailServer, "connect", side_effect=smtplib.SMTPConnectError(421, "down")), \
                mute_logger("odoo.addons.mail.models.mail_mail"):
            mail.send(raise_exception=False)
        self.assertEqual(mail.state, "exception")
        self.assertEqual((alert.state, len(alert.activity_ids)), ("open", 1))
        self.assertFalse(self.check(kinds=["deadline"]), "no second alert for the failed e-mail")

    def test_mail_that_cannot_be_prepared_loses_nothing(self):
        self.make_deadline_close()
        with patch.object(MailTemplate, "send_mail", side_effect=ValueError("template broken")), \
                mute_logger("odoo.addons.l10n_tr_iys.models.iys_alert"):
            raised = self.check(kinds=["deadline"])
        self.assertEqual(len(raised), 1)
        self.assertEqual((raised.state, len(raised.activity_ids)), ("open", 1))
        self.assertFalse(self.mails(raised))
        self.assertTrue(raised.message_ids.filtered(lambda m: "template broken" in (m.body or "")))

    def test_one_open_alert_per_condition_enforced(self):
        self.make_deadline_close()
        alert = self.check(kinds=["deadline"])
        with self.assertRaises(IntegrityError), mute_logger("odoo.sql_db"), self.env.cr.savepoint():
            self.Alert.create({"name": "twin", "account_id": self.account.id, "kind": "deadline", "key": alert.key})
        # A cleared one does not count.
        alert.write({"state": "cleared"})
        alert.flush_recordset()
        self.Alert.create({"name": "next", "account_id": self.account.id, "kind": "deadline", "key": alert.key})

    def test_cron_runs_every_account(self):
        self.make_deadline_close()
        self.env["iys.alert"]._cron_iys_check_alerts(now=self.now)
        self.assertEqual(len(self.alerts("deadline", "open")), 1)
        self.env["iys.alert"]._cron_iys_check_alerts(now=self.now)
        self.assertEqual(len(self.alerts("deadline")), 1)
        # An archived account's alerts clear.
        self.account.active = False
        self.env["iys.alert"]._cron_iys_check_alerts(now=self.now)
        self.assertEqual(self.alerts("deadline").state, "cleared")

    # access --------------------------------------------------------------------------------------
    def test_access(self):
        self.make_deadline_close()
        alert = self.check(kinds=["deadline"])
        # Users read, nobody creates, edits or deletes by hand.
        self.assertEqual(self.env["iys.alert"].with_user(self.iys_user).search([("id", "=", alert.id)]), alert)
        for user in (self.iys_user, self.iys_manager):
            with self.assertRaises(AccessError):
                alert.with_user(user).write({"state": "cleared"})
            with self.assertRaises(AccessError):
                alert.with_user(user).unlink()
            with self.assertRaises(AccessError):
                self.env["iys.alert"].with_user(user).create(
                    {"name": "x", "account_id": self.account.id, "kind": "cron", "key": "x"})
        with self.assertRaises(AccessError):
            self.env["iys.alert"].with_user(self.plain_user).search([])
        with self.assertRaises(AccessError):
            alert.with_user(self.iys_user).write({"acknowledge_reason": "seen"})
        # A manager acknowledges with a reason: activities done, alert still open.
        with self.assertRaises(UserError):
            alert.with_user(self.iys_manager).action_iys_acknowledge()
        alert.with_user(self.iys_manager).write({"acknowledge_reason": "Data fixed, resending tonight"})
        with self.assertRaises(AccessError):
            alert.with_user(self.iys_user).action_iys_acknowledge()
        alert.with_user(self.iys_manager).action_iys_acknowledge()
        self.assertEqual((alert.state, alert.acknowledged_by), ("open", self.iys_manager))
        self.assertFalse(alert.activity_ids)
        self.assertTrue(alert.message_ids.filtered(lambda m: "resending tonight" in (m.body or "")))
        self.assertFalse(self.check(kinds=["deadline"]), "acknowledged: still no second alert")

    def test_other_company_alert_is_not_visible(self):
        company_b = self.env["res.company"].create({"name": "İYS alerts B"})
        account_b = self.env["iys.account"].create(
            {"name": "İYS B", "iys_code": "900201", "environment": "simulator", "company_id": company_b.id})
        alert_b = self.Alert.create({"name": "B", "account_id": account_b.id, "kind": "cron", "key": "cron:1"})
        self.assertEqual(alert_b.company_id, company_b)
        for user in (self.iys_user, self.iys_manager):
            self.assertFalse(self.env["iys.alert"].with_user(user).search([("id", "=", alert_b.id)]))
            with self.assertRaises(AccessError):
                alert_b.with_user(user).read(["name"])

    # panel ---------------------------------------------------------------------------------------
    def test_panel_section(self):
        Alert = self.env["iys.alert"]
        section = Alert._iys_panel_section(self.brand | self.brand_b)
        self.assertEqual([c["value"] for c in section["cards"]], [0])
        self.make_deadline_close()
        self.brand_b.sudo().write({"iys_last_pull_date": self.now - timedelta(hours=30)})
        self.check()
        as_user = Alert.with_user(self.iys_user)
        section = as_user._iys_panel_section((self.brand | self.brand_b).with_user(self.iys_user))
        cards = {c["key"]: c for c in section["cards"]}
        self.assertEqual(set(cards), {"deadline", "pull"})
        for card in cards.values():
            self.assertEqual(card["value"], Alert.search_count(card["action"]["domain"]))
            self.assertEqual(card["action"]["res_id"], Alert.search(card["action"]["domain"]).id)
        # Only brand A shown: brand B's pull alert is not counted.
        section = Alert._iys_panel_section(self.brand)
        self.assertEqual({c["key"] for c in section["cards"]}, {"deadline"})
        self.assertIsNone(Alert._iys_panel_section(self.env["iys.brand"]))
