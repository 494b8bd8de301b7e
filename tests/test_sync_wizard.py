# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
from datetime import timedelta

from lxml import etree

from odoo import fields
from odoo.exceptions import AccessError
from odoo.tests import tagged
from odoo.tools.safe_eval import datetime as safe_datetime
from odoo.tools.safe_eval import safe_eval

from .sync_common import IysSyncCommon

MAILS = ["same@example.com", "refused@example.com", "unknown@example.com", "absent@example.com"]


@tagged("post_install", "-at_install", "l10n_tr_iys")
class TestIysSyncWizard(IysSyncCommon):
    """The mass-sync wizard: push, status query and pull, for managers only."""

    def wizard(self, model=None, ids=None, **vals):
        context = {"active_model": model, "active_ids": ids} if model else {}
        vals.setdefault("brand_ids", [(6, 0, self.brand.ids)])
        return self.env["iys.sync.wizard"].with_user(self.iys_manager).with_context(**context).create(vals)

    def test_managers_only(self):
        with self.assertRaises(AccessError):
            self.env["iys.sync.wizard"].with_user(self.iys_user).create({"mode": "pull"})
        for xmlid in ("action_iys_sync_wizard", "action_iys_sync_wizard_partner", "action_iys_sync_wizard_consent"):
            action = self.env.ref(f"l10n_tr_iys.{xmlid}")
            self.assertEqual(action.groups_id, self.env.ref("l10n_tr_iys.group_iys_manager"))
        partner_bindings = self.env["ir.actions.actions"].with_user(self.iys_user).get_bindings("res.partner")
        self.assertNotIn(self.env.ref("l10n_tr_iys.action_iys_sync_wizard_partner").id,
                         [a["id"] for a in partner_bindings.get("action", [])])

    def test_push_mode_on_selected_consents(self):
        selected = self.record("+905321160001")
        other = self.record("+905321160002", channel="ARAMA")
        wiz = self.wizard("iys.consent", selected.consent.ids, mode="push")
        self.assertEqual(wiz.scope, "consents")
        wiz.action_preview()
        self.assertEqual(wiz.state, "preview")
        self.assertIn("Brand A", wiz.preview_html)
        self.assertIn("<td>1</td>", wiz.preview_html)
        wiz.action_run()
        self.assertEqual(wiz.state, "done")
        self.assertEqual((wiz.sent_count, wiz.confirmed_count, wiz.refused_count), (1, 1, 0))
        self.assertEqual(selected.consent.sync_state, "confirmed")
        self.assertEqual(self.outbox_of(other).state, "pending", "not selected")

    def test_query_mode_reconciles_without_inventing_refusals(self):
        same, refused, unknown, absent = MAILS
        partners = self.env["res.partner"].create([{"name": mail.split("@")[0], "email": mail} for mail in MAILS])
        # same: ONAY in Odoo and on İYS
        for mail in (same, refused):
            self.record(mail, channel="EPOSTA")
        self.Outbox._iys_push(brands=self.brand)
        self.Outbox._iys_poll(brands=self.brand)
        # refused: the citizen refused on İYS, Odoo has not heard of it yet (a few seconds later: İYS
        # gives movements of one address recorded in the same second the same transaction id)
        self.sim.advance_clock(2)
        self.sim.inject_citizen_change(int(self.brand.code), refused, "EPOSTA", "RET",
                                       consent_date=fields.Datetime.now() - timedelta(minutes=2))
        # unknown: ONAY on İYS, unknown to Odoo
        self.sim.inject_citizen_change(int(self.brand.code), unknown, "EPOSTA", "ONAY", source="IYS_WEB")
        # absent: Odoo holds a confirmed ONAY that İYS does not have at all
        self.Consent._iys_record_movements([{
            "brand_id": self.brand.id, "channel": "EPOSTA", "address": absent, "status": "ONAY",
            "source": "IYS_WEB", "consent_date": fields.Datetime.now() - timedelta(days=1),
            "transaction_id": "e" * 64,
        }], "iys_query")

        # First without looking anything up: differences are only reported.
        wiz = self.wizard("res.partner", partners.ids, mode="query")
        self.assertEqual(wiz.scope, "partners")
        wiz.action_preview()
        self.assertIn("<td>4</td>", wiz.preview_html)
        wiz.action_run()
        self.assertEqual((wiz.unchanged_count, wiz.difference_count, wiz.applied_count), (1, 3, 0))
        self.assertEqual(self.consent_of(refused).status, "ONAY", "an absent address proves nothing")
        self.assertFalse(self.consent_of(unknown))

        # Then asking İYS for each difference.
        wiz = self.wizard("res.partner", partners.ids, mode="query", fetch_details=True)
        wiz.action_preview()
        wiz.action_run()
        self.assertEqual((wiz.unchanged_count, wiz.difference_count, wiz.applied_count), (1, 3, 2))
        self.assertEqual((self.consent_of(refused).status, self.consent_of(refused).sync_state), ("RET", "confirmed"))
        latest = self.env["iys.consent.event"].search([("consent_id", "=", self.consent_of(refused).id)], limit=1)
        self.assertEqual(latest.origin, "iys_query")
        self.assertEqual(self.consent_of(unknown).status, "ONAY")
        self.assertEqual(self.consent_of(absent).status, "ONAY", "no refusal is invented")
        self.assertIn("no record", wiz.result_html)
        self.assertIn(absent, wiz.result_html)

    def consent_of(self, mail):
        return self.Consent.search(
            [("brand_id", "=", self.brand.id), ("channel", "=", "EPOSTA"), ("address", "=", mail)]
        )

    def test_pull_mode(self):
        self.sim.inject_citizen_change(int(self.brand.code), "+905321160003", "MESAJ", "ONAY")
        self.sim.advance_clock(1)  # served once its second of recording is over
        wiz = self.wizard(mode="pull")
        self.assertEqual(wiz.scope, "all")
        wiz.action_preview()
        self.assertIn("never", wiz.preview_html)
        wiz.action_run()
        self.assertEqual(wiz.applied_count, 1)
        self.assertTrue(self.brand.iys_last_pull_date)
        wiz.action_back()
        self.assertEqual(wiz.state, "draft")

    def test_nothing_to_do_is_information(self):
        wiz = self.wizard(mode="push")
        action = wiz.action_preview()
        self.assertEqual(action["tag"], "display_notification")
        self.assertEqual(action["params"]["type"], "info")
        self.assertIn("Nothing to do", action["params"]["message"])
        self.assertEqual(action["params"]["next"]["res_id"], wiz.id, "the wizard stays open")
        # The web client opens a notification's "next" action as it is: an act_window without
        # views fails there ("Cannot read properties of undefined (reading 'map')").
        self.assertEqual(action["params"]["next"]["views"], [(False, "form")])
        self.assertEqual(wiz.state, "draft")

    def test_push_says_what_waits_behind_an_earlier_movement(self):
        # A refusal recorded while İYS has not answered the consent sent before it goes to İYS only
        # after that answer: the result says so instead of "Unchanged".
        self.account.poll_delay = 300
        first = self.outbox_of(self.record("+905321160012"))
        self.wizard(mode="push").action_run()
        self.assertEqual(first.state, "sent")
        refusal = self.outbox_of(self.record("+905321160012", status="RET"))
        wiz = self.wizard(mode="push")
        wiz.action_preview()
        action = wiz.action_run()
        self.assertEqual(refusal.state, "pending")
        self.assertIn("Waiting for İYS's answer to an earlier movement of the same address: 1",
                      action["params"]["message"])
        self.assertNotIn("Unchanged", action["params"]["message"])

    def test_outbox_link_shows_what_a_run_changes(self):
        """The notification's "Open the outbox" groups by state what is on its way, needs attention
        or was answered since yesterday, not the whole history (the confirmed rows have no index)."""
        context = safe_eval(self.env.ref("l10n_tr_iys.action_iys_outbox_states").context)
        self.assertEqual({key for key, value in context.items() if value}, {
            "search_default_group_state", "search_default_filter_open", "search_default_filter_attention",
            "search_default_filter_answered"})
        arch = etree.fromstring(self.env.ref("l10n_tr_iys.view_iys_outbox_search").arch)
        node = arch.xpath("//filter[@name='filter_answered']")[0]
        domain = safe_eval(node.get("domain"), {"context_today": fields.Date.today, "datetime": safe_datetime})
        now = fields.Datetime.now()
        recent, old = (self.outbox_of(self.record(number)) for number in ("+905321160021", "+905321160022"))
        recent._iys_confirm("R" * 20, now, now=now)
        old._iys_confirm("O" * 20, now - timedelta(days=3), now=now - timedelta(days=3))
        found = self.env["iys.outbox"].search(domain + [("id", "in", (recent | old).ids)])
        self.assertEqual(found, recent)
        # the three filters are one OR group: a pending row is shown too
        self.assertEqual(node.getprevious().get("name"), "filter_attention")

    def test_push_result_links_reloads_and_says_when_answers_are_due(self):
        self.account.poll_delay = 300
        row = self.outbox_of(self.record("+905321160011"))
        wiz = self.wizard(mode="push")
        wiz.action_preview()
        action = wiz.action_run()
        self.assertEqual(row.state, "sent")
        params = action["params"]
        self.assertEqual(action["tag"], "display_notification")
        self.assertEqual(params["next"], {"type": "ir.actions.client", "tag": "soft_reload"},
                         "the view behind is reloaded and shows the new states")
        self.assertEqual(params["links"][0]["url"], "/odoo/action-l10n_tr_iys.action_iys_outbox_states")
        self.assertTrue(self.env.ref("l10n_tr_iys.action_iys_outbox_states"))
        self.assertEqual(params["message"].count("%s"), len(params["links"]))
        self.assertIn("due from", params["message"])
        # Before the account's waiting time, fetching the answers is not possible yet: said as information.
        wiz = self.wizard(mode="poll")
        action = wiz.action_preview()
        self.assertEqual((action["params"]["type"], wiz.state), ("info", "draft"))
        self.assertIn("cannot be fetched yet", action["params"]["message"])
        # Once it has passed, the wizard fetches them.
        row.sudo().write({"sent_at": fields.Datetime.now() - timedelta(seconds=301),
                          "next_attempt_at": fields.Datetime.now() - timedelta(seconds=1)})
        wiz.action_preview()
        self.assertEqual(wiz.state, "preview")
        action = wiz.action_run()
        self.assertEqual((row.state, wiz.confirmed_count), ("done", 1))
        self.assertEqual(action["params"]["type"], "success")
        self.assertNotIn("due from", action["params"]["message"])
