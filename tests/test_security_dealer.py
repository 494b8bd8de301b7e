# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
"""Dealer users (issue 13): record rules, not hidden menus, keep a dealer user to the consents their
dealer may use and to the mailings on its behalf, over the ORM as that user and over JSON-RPC."""
import json

from odoo.exceptions import AccessError, UserError
from odoo.tests import HttpCase, new_test_user, tagged
from odoo.tools import mute_logger

from odoo.addons.l10n_tr_iys.models.iys_consent import ledger

from .common import IysCommon
from .test_dealer_gate import ON_BEHALF_OF_A, DealerGateCommon


class DealerUsersCommon(DealerGateCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        env = cls.env
        # with the right to export, so that the exports below show what the record rules let through
        dealer_groups = "base.group_user,base.group_allow_export,l10n_tr_iys.group_iys_dealer"
        cls.dealer_user_a = new_test_user(env, login="iys_t_dealer_a", name="Ayşe Bayi", groups=dealer_groups)
        cls.dealer_user_b = new_test_user(env, login="iys_t_dealer_b", name="Burak Bayi", groups=dealer_groups)
        cls.dealer_and_iys_user = new_test_user(env, login="iys_t_dealer_iys", groups=dealer_groups
                                                + ",l10n_tr_iys.group_iys_user")
        cls.dealer_a.user_ids = [(4, cls.dealer_user_a.id), (4, cls.dealer_and_iys_user.id)]
        cls.dealer_b.user_ids = [(4, cls.dealer_user_b.id)]
        Consent = env["iys.consent"]
        cls.consents = {
            case: Consent.search([("address", "in", [cls.email[case], cls.number[case]])])
            for case in ("access", "collected", "other", "pending_access", "onay", "tacir_ret")
        }
        cls.mine_a = cls.consents["access"] | cls.consents["collected"] | cls.consents["pending_access"]
        cls.mine_b = cls.consents["access"] | cls.consents["other"]
        cls.foreign_a = cls.consents["other"] | cls.consents["onay"] | cls.consents["tacir_ret"]
        # a mailing of dealer B, made by the brand
        cls.mailing_b = cls.env["mailing.mailing"].create({
            "name": "B", "subject": "Bayi B kampanyası", "body_html": "<p>B</p>", "mailing_type": "mail",
            "mailing_model_id": env["ir.model"]._get("res.partner").id,
            "mailing_domain": repr([("id", "in", cls.partners.ids)]), "iys_retailer_id": cls.dealer_b.id,
        })
        cls.mailing_brand = cls.env["mailing.mailing"].create({
            "name": "Brand", "subject": "Marka kampanyası", "body_html": "<p>M</p>", "mailing_type": "mail",
            "mailing_model_id": env["ir.model"]._get("res.partner").id,
            "mailing_domain": repr([("id", "in", cls.partners.ids)]),
        })


@tagged("post_install", "-at_install", "l10n_tr_iys", "l10n_tr_iys_security", "iys_dealer")
class TestDealerUserConsents(DealerUsersCommon):
    def test_group(self):
        group = self.env.ref("l10n_tr_iys.group_iys_dealer")
        self.assertEqual(group.category_id, self.env.ref("l10n_tr_iys.module_category_iys"))
        self.assertIn(self.env.ref("mass_mailing.group_mass_mailing_user"), group.implied_ids)
        self.assertFalse(self.dealer_user_a.has_group("l10n_tr_iys.group_iys_user"),
                         "a dealer user is not an İYS user: the dealer group restricts, it adds no İYS right")
        self.assertEqual(self.dealer_user_a.iys_retailer_ids, self.dealer_a)

    def test_sees_only_the_consents_its_dealer_may_use(self):
        Consent = self.env["iys.consent"]
        for user, mine in ((self.dealer_user_a, self.mine_a), (self.dealer_user_b, self.mine_b)):
            with self.subTest(user=user.login):
                as_user = Consent.with_user(user)
                self.assertEqual(as_user.search([]), mine.with_user(user))
                self.assertEqual(as_user.search_count([]), len(mine))
                self.assertEqual(sorted(r["id"] for r in as_user.search_read([], ["address"])), sorted(mine.ids))
                groups = as_user.read_group([], ["channel"], ["channel"])
                self.assertEqual(sum(g["channel_count"] for g in groups), len(mine))
                self.assertEqual(sum(count for _c, count in as_user._read_group([], ["channel"], ["__count"])),
                                 len(mine))
                exported = as_user.search([]).export_data(["address"])["datas"]
                self.assertEqual(sorted(row[0] for row in exported), sorted(mine.mapped("address")))
                # a filter cannot widen it
                self.assertFalse(as_user.search([("id", "in", (Consent.search([]) - mine).ids)]))

    def test_foreign_consent_by_id_is_refused(self):
        for consent in self.foreign_a:
            with self.subTest(address=consent.address), self.assertRaises(AccessError):
                consent.with_user(self.dealer_user_a).read(["address", "status"])
        with self.assertRaises(AccessError):
            self.foreign_a.with_user(self.dealer_user_a).export_data(["address"])
        with self.assertRaises(AccessError):
            self.consents["other"][:1].with_user(self.dealer_user_a).address  # noqa: B018
        # and never written, own or not (the ledger)
        with self.assertRaises(UserError):  # refused (AccessError is one): only the ledger's ways in write it
            self.mine_a[:1].with_user(self.dealer_user_a).write({"status": "RET"})

    def test_events_and_dealers(self):
        Event = self.env["iys.consent.event"]
        as_a = Event.with_user(self.dealer_user_a)
        self.assertEqual(set(as_a.search([]).mapped("consent_id").ids), set(self.mine_a.ids))
        foreign_event = Event.search([("consent_id", "in", self.foreign_a.ids)], limit=1)
        with self.assertRaises(AccessError):
            foreign_event.with_user(self.dealer_user_a).read(["new_status"])
        Dealer = self.env["iys.retailer"]
        self.assertEqual(Dealer.with_user(self.dealer_user_a).search([]), self.dealer_a)
        with self.assertRaises(AccessError):
            self.dealer_b.with_user(self.dealer_user_a).read(["name"])
        with self.assertRaises(AccessError):
            self.dealer_a.with_user(self.dealer_user_a).write({"name": "Mine now"})

    def test_iys_users_see_everything_of_the_company(self):
        for user in (self.iys_user, self.dealer_and_iys_user):
            with self.subTest(user=user.login):
                everything = self.env["iys.consent"].search([("company_id", "in", user.company_ids.ids)])
                self.assertEqual(set(self.env["iys.consent"].with_user(user).search([]).ids), set(everything.ids))
                self.assertTrue(self.foreign_a <= everything)
                self.assertEqual(self.env["iys.retailer"].with_user(user).search([]),
                                 self.dealer_a | self.dealer_b)

    def test_menus(self):
        visible = self.env["ir.ui.menu"].with_user(self.dealer_user_a)._visible_menu_ids()
        for xmlid in ("menu_iys_root", "menu_iys_consent", "menu_iys_dealer_mailings", "menu_iys_dealer_mailings_mail"):
            self.assertIn(self.env.ref(f"l10n_tr_iys.{xmlid}").id, visible, xmlid)
        for xmlid in ("menu_iys_configuration", "menu_iys_account", "menu_iys_outbox", "menu_iys_consent_import"):
            self.assertNotIn(self.env.ref(f"l10n_tr_iys.{xmlid}").id, visible, xmlid)


@tagged("post_install", "-at_install", "l10n_tr_iys", "l10n_tr_iys_security", "iys_dealer")
class TestDealerUserMailings(DealerUsersCommon):
    def mailing_vals(self, **values):
        return {
            "name": "Bayi A", "subject": "Bayi A kampanyası", "body_html": "<p>A</p>", "mailing_type": "mail",
            "mailing_model_id": self.env["ir.model"]._get("res.partner").id,
            "mailing_domain": repr([("id", "in", self.partners.ids)]), **values,
        }

    def test_mailings_only_on_behalf_of_its_dealer(self):
        Mailing = self.env["mailing.mailing"].with_user(self.dealer_user_a)
        # by default, on behalf of the user's dealer, for its brand
        mine = Mailing.create(self.mailing_vals())
        self.assertEqual(mine.iys_retailer_id, self.dealer_a)
        self.assertEqual(mine.iys_brand_id, self.brand)
        self.assertTrue(mine.iys_dealer_required)
        with self.assertRaises(AccessError):
            Mailing.create(self.mailing_vals(iys_retailer_id=False))
        with self.assertRaises(AccessError):
            Mailing.create(self.mailing_vals(iys_retailer_id=self.dealer_b.id))
        with self.assertRaises(AccessError):
            mine.write({"iys_retailer_id": self.dealer_b.id})
        with self.assertRaises(AccessError):
            mine.write({"iys_retailer_id": False})
        self.assertEqual(Mailing.search([]), mine)
        for other in (self.mailing_b, self.mailing_brand):
            with self.subTest(mailing=other.name):
                theirs = other.with_user(self.dealer_user_a)
                with self.assertRaises(AccessError):
                    theirs.read(["subject"])
                with self.assertRaises(AccessError):
                    theirs.write({"subject": "Hijacked"})
                with self.assertRaises(AccessError):
                    theirs.action_send_mail()
                with self.assertRaises(AccessError):
                    theirs.action_launch()
                self.assertFalse(other.sudo().mailing_trace_ids)
                self.assertEqual(other.sudo().state, "draft")
        # the brand's staff still sees every mailing
        self.assertIn(self.mailing_brand, self.env["mailing.mailing"].with_user(self.dealer_and_iys_user).search([]))

    def test_dealer_user_sends_its_mailing_through_the_gate(self):
        mine = self.env["mailing.mailing"].with_user(self.dealer_user_a).create(self.mailing_vals())
        mine.invalidate_recordset()
        self.assertEqual(mine.iys_forecast_no_dealer_access, 3)
        with self.mock_mail_gateway(mail_unlink_sent=False):
            mine.action_send_mail()
        self.assert_traces(mine, ON_BEHALF_OF_A, "mail", "sent")
        # its traces are its own, dealer B's are not
        Trace = self.env["mailing.trace"].with_user(self.dealer_user_a)
        self.assertEqual(Trace.search([]), mine.mailing_trace_ids.with_user(self.dealer_user_a))
        self.assertFalse(self.env["mailing.trace"].with_user(self.dealer_user_b).search([]))

    def test_composer_needs_the_dealer(self):
        Composer = self.env["mail.compose.message"].with_user(self.dealer_user_a).with_context(
            default_composition_mode="mass_mail", default_model="res.partner", default_res_ids=self.partners.ids,
        )
        composer = Composer.create({"subject": "Bayi", "body": "<p>Bayi</p>"})
        self.assertEqual(composer.iys_retailer_id, self.dealer_a, "the user's dealer by default")
        with self.assertRaises(AccessError):
            Composer.create({"subject": "Bayi", "body": "<p>Bayi</p>", "iys_retailer_id": self.dealer_b.id})
        composer = Composer.create({"subject": "Bayi", "body": "<p>Bayi</p>", "iys_retailer_id": False})
        with self.mock_mail_gateway(mail_unlink_sent=False), self.assertRaises(UserError):
            composer._action_send_mail()


@tagged("post_install", "-at_install", "l10n_tr_iys", "l10n_tr_iys_security", "iys_dealer")
class TestDealerUserJsonRpc(HttpCase, IysCommon):
    """The same over HTTP, as a client of the dealer user's choosing would ask (any context)."""

    def _call(self, model, method, args, kwargs=None):
        payload = {"jsonrpc": "2.0", "method": "call", "id": 1, "params": {
            "model": model, "method": method, "args": args, "kwargs": kwargs or {}}}
        response = self.url_open(f"/web/dataset/call_kw/{model}/{method}", data=json.dumps(payload),
                                 headers={"Content-Type": "application/json"})
        return response.json()

    def test_dealer_user_over_json_rpc(self):
        Dealer = self.env["iys.retailer"]
        dealer_a = Dealer.create({"name": "Bayi A", "brand_id": self.brand.id, "code": "12345678",
                                  "sync_state": "registered"})
        dealer_b = Dealer.create({"name": "Bayi B", "brand_id": self.brand.id, "code": "12345679",
                                  "sync_state": "registered"})
        user = new_test_user(self.env, login="iys_t_dealer_rpc",
                             groups="base.group_user,base.group_allow_export,l10n_tr_iys.group_iys_dealer")
        dealer_a.user_ids = [(4, user.id)]
        access = self.record("+905321230101").consent
        ledger(access).write({"retailer_access_ids": [(4, dealer_a.id)]})
        collected = self.record("+905321230102").consent
        ledger(collected).write({"retailer_id": dealer_a.id})
        theirs = self.record("+905321230103").consent
        ledger(theirs).write({"retailer_access_ids": [(4, dealer_b.id)]})
        brands = self.record("+905321230104").consent
        mine = access | collected
        self.authenticate(user.login, user.login)
        context = {"active_test": False, "iys_ledger_write": True, "allowed_company_ids": [self.env.company.id]}
        answer = self._call("iys.consent", "search_read", [[]], {"fields": ["address"], "context": context})
        self.assertEqual(sorted(r["id"] for r in answer["result"]), sorted(mine.ids))
        answer = self._call("iys.consent", "read_group", [[], ["channel"], ["channel"]], {"context": context})
        self.assertEqual(sum(g["channel_count"] for g in answer["result"]), len(mine))
        with mute_logger("odoo.http"):
            for foreign in (theirs, brands):
                answer = self._call("iys.consent", "read", [foreign.ids, ["address"]], {"context": context})
                self.assertIn("error", answer)
                answer = self._call("iys.consent", "export_data", [foreign.ids, ["address"]], {"context": context})
                self.assertIn("error", answer)
            answer = self._call("mailing.mailing", "create", [{
                "subject": "RPC", "mailing_model_id": self.env["ir.model"]._get("res.partner").id,
                "iys_retailer_id": dealer_b.id}], {"context": context})
            self.assertIn("error", answer)
        self.assertFalse(self.env["mailing.mailing"].search([("subject", "=", "RPC")]))
        answer = self._call("iys.retailer", "search_read", [[]], {"fields": ["name"], "context": context})
        self.assertEqual([r["id"] for r in answer["result"]], dealer_a.ids)
