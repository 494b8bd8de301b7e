# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
from collections import Counter
from datetime import timedelta

from odoo import fields
from odoo.exceptions import AccessError, UserError
from odoo.tests import new_test_user, tagged
from odoo.tools.misc import format_datetime

from ..iyslib.errors import explain
from ..models import iys_panel
from ..models.iys_consent import ledger
from ..models.iys_policy import decide
from .test_partner_states import PartnerStatesCommon

CHANNEL_FIELDS = {"MESAJ": ("iys_sms_state", "phone_sanitized"), "ARAMA": ("iys_call_state", "phone_sanitized"),
                  "EPOSTA": ("iys_email_state", "email_normalized")}
STATES = ("allowed", "no_consent", "refused", "unconfirmed")


@tagged("post_install", "-at_install", "l10n_tr_iys")
class TestPanel(PartnerStatesCommon):
    """Every figure of the panel against a count written independently of it, and every drill-down."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.now = fields.Datetime.now().replace(microsecond=0)
        # a non-default brand: counted on its ledger
        cls.confirm("+905320000001", brand=cls.brand_b)
        cls.record("+905320000002", brand=cls.brand_b)
        cls.record("b-ret@example.com", status="RET", channel="EPOSTA", brand=cls.brand_b)
        cls.record("b-tacir@example.com", channel="EPOSTA", recipient_type="TACIR", brand=cls.brand_b)
        rejected = cls.record("b-rej@example.com", channel="EPOSTA", brand=cls.brand_b).consent
        ledger(rejected).write({"sync_state": "rejected"})
        cls.record("+905320000009", channel="ARAMA", source="HS_CAGRI_MERKEZI", origin="import")
        # the queue: rows in every state
        Outbox = cls.env["iys.outbox"].sudo()
        rows = Outbox.browse()
        for i in range(9):
            rows |= cls.outbox_of(cls.record(f"queue{i}@example.com", channel="EPOSTA"))
        assert len(rows) == 9, "each local movement has its outbox row"
        cls.done = rows[0]
        cls.done._iys_confirm("T" * 20, cls.now - timedelta(hours=2), now=cls.now - timedelta(hours=2))
        rows[1]._iys_refuse("H121", explain("H121"), now=cls.now - timedelta(hours=3))
        rows[2]._iys_refuse("H121", explain("H121"), now=cls.now - timedelta(days=2))
        rows[3]._iys_refuse("H175", explain("H175"), now=cls.now - timedelta(days=3))
        rows[4]._iys_refuse("H121", explain("H121"), locally=True, now=cls.now - timedelta(hours=1))
        rows[5]._iys_refuse("H175", explain("H175"), now=cls.now - timedelta(days=9))   # older than 7 days
        ledger(rows[6]).write({"state": "sent", "sent_at": cls.now - timedelta(minutes=10), "request_id": "r1"})
        ledger(rows[7]).write({"state": "expired", "result_at": cls.now - timedelta(days=1)})
        cls.brand.iys_last_pull_date = cls.now - timedelta(hours=1)
        # a brand of another company: never shown to a user of this company
        cls.company2 = cls.env["res.company"].create({"name": "Other Co"})
        cls.account2 = cls.env["iys.account"].create({"name": "Other İYS", "iys_code": "900777",
                                                      "company_id": cls.company2.id})
        cls.brand2 = cls.env["iys.brand"].create({"name": "Other brand", "code": "900777",
                                                  "account_id": cls.account2.id, "is_default": True})
        cls.record("other@example.com", channel="EPOSTA", brand=cls.brand2)
        cls.Panel = cls.env["iys.panel"]

    @classmethod
    def outbox_of(cls, result):
        return cls.env["iys.outbox"].sudo().search([("event_id", "=", result.event.id)])

    def panel(self, user=None, brands=None):
        env = self.env(user=user or self.iys_user)
        return self.progressive(env, brand_ids=(brands or (self.brand | self.brand_b)).ids)

    def progressive(self, env, brand_ids=None):
        """The panel as the web client builds it: the first call (``lazy``), then one
        ``get_panel_section`` call per deferred part, the parts' rows merged in their order."""
        Panel = env["iys.panel"]
        data = Panel.get_panel_data(brand_ids=brand_ids, now=self.now, lazy=True)
        self.assertFalse({s["key"] for s in data["sections"]} & set(iys_panel.HEAVY_SECTIONS),
                         "the first call leaves the heavy sections out")
        sections = list(data["sections"])
        for deferred in data["deferred"]:
            parts = [Panel.get_panel_section(deferred["key"], brand_ids=ids, now=self.now) for ids in deferred["parts"]]
            self.assertTrue(all(parts), deferred["key"])
            for part in parts:
                self.assertEqual((part["key"], part["title"], part["sequence"]),
                                 (deferred["key"], deferred["title"], deferred["sequence"]))
            sections.append(dict(parts[0], rows=[row for part in parts for row in part.get("rows", [])]))
        return dict(data, sections=sorted(sections, key=lambda s: s.get("sequence", 100)))

    def section(self, data, key):
        found = [s for s in data["sections"] if s["key"] == key]
        self.assertEqual(len(found), 1, f"one section {key}")
        return found[0]

    def count(self, action, user=None):
        env = self.env(user=user or self.iys_user)
        return env[action["res_model"]].with_context(**action.get("context", {})).search_count(action["domain"])

    # ------------------------------------------------------------------------------------------
    def test_access(self):
        with self.assertRaises(AccessError):
            self.env(user=self.plain_user)["iys.panel"].get_panel_data()
        for key in iys_panel.HEAVY_SECTIONS:
            with self.assertRaises(AccessError):
                self.env(user=self.plain_user)["iys.panel"].get_panel_section(key)
        with self.assertRaises(UserError):
            self.env(user=self.iys_user)["iys.panel"].get_panel_section("nothing")
        self.assertTrue(self.panel(user=self.iys_manager)["sections"])

    def test_multi_company(self):
        data = self.env(user=self.iys_user)["iys.panel"].get_panel_data(now=self.now)
        brand_ids = {b["id"] for b in data["brands"]}
        self.assertIn(self.brand.id, brand_ids)
        self.assertNotIn(self.brand2.id, brand_ids)
        # asking for the other company's brand by id gives nothing of it
        data = self.env(user=self.iys_user)["iys.panel"].get_panel_data(brand_ids=[self.brand2.id], now=self.now)
        self.assertEqual(data["brand_ids"], [])
        self.assertFalse(data["sections"])
        data = self.env(user=self.iys_user)["iys.panel"].get_panel_data(brand_ids=[self.brand2.id], now=self.now,
                                                                        lazy=True)
        self.assertFalse(data["sections"] or data["deferred"])
        for key in iys_panel.HEAVY_SECTIONS:
            self.assertIsNone(self.env(user=self.iys_user)["iys.panel"].get_panel_section(
                key, brand_ids=[self.brand2.id], now=self.now))
            # asked with both, the other company's brand is dropped
            section = self.env(user=self.iys_user)["iys.panel"].get_panel_section(
                key, brand_ids=[self.brand.id, self.brand2.id], now=self.now)
            self.assertNotIn(self.brand2.display_name, str(section))
        # a user of both companies sees it only when the company is selected
        both = new_test_user(self.env, login="iys_t_both", groups="base.group_user,l10n_tr_iys.group_iys_user",
                             company_ids=[(6, 0, [self.env.company.id, self.company2.id])])
        env1 = self.env(user=both, context={"allowed_company_ids": [self.env.company.id]})
        data = env1["iys.panel"].get_panel_data(now=self.now)
        self.assertNotIn(self.brand2.id, {b["id"] for b in data["brands"]})
        env2 = self.env(user=both, context={"allowed_company_ids": [self.env.company.id, self.company2.id]})
        data = self.progressive(env2)
        self.assertIn(self.brand2.id, {b["id"] for b in data["brands"]})
        audience = self.section(data, "audience")
        other = [r for r in audience["rows"] if r["cells"][0] == self.brand2.display_name]
        self.assertEqual(len(other), 3)
        eposta = next(r for r in other if r["key"].endswith("EPOSTA"))
        self.assertEqual(eposta["cells"][2]["value"], 0)  # no contact of Other Co has an e-mail

    def test_audience_default_brand(self):
        rows = {r["key"]: r for r in self.section(self.panel(), "audience")["rows"]}
        Partner = self.env(user=self.iys_user)["res.partner"]
        company = self.env.company
        scope = Partner.search(["|", ("company_id", "=", False), ("company_id", "=", company.id)])
        for channel, (fname, column) in CHANNEL_FIELDS.items():
            cells = rows[f"{self.brand.id}-{channel}"]["cells"]
            expected = Counter(p[fname] for p in scope if p[column])
            self.assertEqual(cells[2]["value"], sum(1 for p in scope if p[column]), channel)
            for i, state in enumerate(STATES):
                self.assertEqual(cells[3 + i]["value"], expected.get(state, 0), (channel, state))
                self.assertEqual(self.count(cells[3 + i]["action"]), cells[3 + i]["value"], (channel, state))
            self.assertEqual(self.count(cells[2]["action"]), cells[2]["value"])
        sms = rows[f"{self.brand.id}-MESAJ"]["cells"]
        self.assertGreaterEqual(sms[3]["value"], 2)  # confirmed + merchant
        self.assertGreaterEqual(sms[5]["value"], 2)  # refused, merchant refused
        self.assertEqual(sms[3]["share"], f"{round(100 * sms[3]['value'] / sms[2]['value'])} %")
        # the test contacts are in the lists behind the numbers
        allowed = self.env["res.partner"].search(sms[3]["action"]["domain"])
        self.assertIn(self.p_confirmed, allowed)
        self.assertNotIn(self.p_pending, allowed)

    def _check_ledger_brand(self, policy):
        self.env.company.iys_pending_policy = policy
        rows = {r["key"]: r for r in self.section(self.panel(), "audience")["rows"]}
        Consent = self.env["iys.consent"]
        for channel in CHANNEL_FIELDS:
            cells = rows[f"{self.brand_b.id}-{channel}"]["cells"]
            consents = Consent.search([("brand_id", "=", self.brand_b.id), ("channel", "=", channel)])
            expected = Counter(decide(c.recipient_type, c.status, c.sync_state, policy) for c in consents)
            self.assertEqual(cells[2]["value"], len(consents))
            for i, state in enumerate(STATES):
                self.assertEqual(cells[3 + i]["value"], expected.get(state, 0), (policy, channel, state))
                found = Consent.search(cells[3 + i]["action"]["domain"])
                self.assertEqual(len(found), cells[3 + i]["value"], (policy, channel, state))
                self.assertTrue(all(decide(c.recipient_type, c.status, c.sync_state, policy) == state
                                    for c in found), (policy, channel, state))
        return rows

    def test_audience_other_brand_block(self):
        rows = self._check_ledger_brand("block")
        eposta = rows[f"{self.brand_b.id}-EPOSTA"]["cells"]
        self.assertEqual([eposta[3 + i]["value"] for i in range(4)], [1, 1, 1, 0])  # TACIR, rejected, RET
        self.assertEqual(rows[f"{self.brand_b.id}-MESAJ"]["cells"][6]["value"], 1)  # ONAY waiting

    def test_audience_other_brand_allow(self):
        rows = self._check_ledger_brand("allow")
        self.assertEqual(rows[f"{self.brand_b.id}-MESAJ"]["cells"][6]["value"], 0)

    def test_queue(self):
        section = self.section(self.panel(), "queue")
        cards = {c["key"]: c for c in section["cards"]}
        Outbox = self.env["iys.outbox"]
        mine = Outbox.search([("brand_id", "in", (self.brand | self.brand_b).ids)])
        by_state = Counter(mine.mapped("state"))
        for key in ("pending", "sent", "expired"):
            self.assertEqual(cards[key]["value"], by_state[key], key)
        self.assertEqual(by_state["sent"], 1)
        self.assertEqual(by_state["expired"], 1)
        recent = mine.filtered(lambda r: r.state == "failed" and r.result_at >= self.now - timedelta(days=7))
        self.assertEqual(cards["refused"]["value"], len(recent))
        self.assertEqual(len(recent), 4)
        codes = Counter(recent.mapped("error_code"))
        table = {row["cells"][0]: row["cells"] for row in section["rows"]}
        self.assertEqual({code: cells[3]["value"] for code, cells in table.items()}, dict(codes))
        self.assertEqual(table["H121"][1], explain("H121", "en"))
        self.assertIn("Correct it on the contact", table["H121"][2])
        self.assertIn("nothing to withdraw", table["H175"][2])
        oldest = mine.filtered(lambda r: r.state == "pending").sorted("id")[:1]
        self.assertEqual(self.env["iys.outbox"].search(cards["oldest"]["action"]["domain"]), oldest)
        for card in section["cards"]:
            if isinstance(card["value"], int):
                self.assertEqual(self.count(card["action"]), card["value"], card["key"])
        for cells in table.values():
            self.assertEqual(self.count(cells[3]["action"]), cells[3]["value"])

    def test_queue_turkish(self):
        self.env["res.lang"]._activate_lang("tr_TR")
        env = self.env(user=self.iys_user, context={"lang": "tr_TR"})
        data = env["iys.panel"].get_panel_data(brand_ids=self.brand.ids, now=self.now)
        table = {row["cells"][0]: row["cells"] for row in self.section(data, "queue")["rows"]}
        self.assertEqual(table["H121"][1], explain("H121", "tr"))

    def test_health(self):
        cards = {c["key"]: c for c in self.section(self.panel(), "health")["cards"]}
        Outbox = self.env["iys.outbox"]
        for key, delta in (("24h", timedelta(hours=24)), ("7d", timedelta(days=7))):
            rows = Outbox.search([("account_id", "=", self.account.id)]).filtered(
                lambda r, d=delta: r.result_at and r.result_at >= self.now - d)
            done = len(rows.filtered(lambda r: r.state == "done"))
            refused = len(rows.filtered(lambda r: r.state in ("failed", "expired") and not r.refused_locally))
            card = cards[f"ratio-{self.account.id}-{key}"]
            self.assertEqual(card["count"], done + refused)
            self.assertEqual(self.count(card["action"]), done + refused)
            self.assertEqual(card["value"], f"{round(100 * done / (done + refused))} %")
        # 24 h: 1 done, 1 refused by İYS (the local refusal does not count), expired a day ago counts
        self.assertEqual(cards[f"ratio-{self.account.id}-24h"]["count"], 3)
        self.assertEqual(cards[f"ratio-{self.account.id}-24h"]["level"], "danger")

    def test_sync_and_crons(self):
        section = self.section(self.panel(), "sync")
        rows = {r["cells"][0]: r["cells"] for r in section["rows"]}
        # last push: the sent row (10 min ago); last poll: the latest answer (the local refusal, 1 h ago)
        user_env = self.env(user=self.iys_user)
        self.assertEqual(rows[self.brand.display_name][1], format_datetime(user_env, self.now - timedelta(minutes=10)))
        self.assertEqual(rows[self.brand.display_name][2], format_datetime(user_env, self.now - timedelta(hours=1)))
        self.assertEqual(rows[self.brand.display_name][3]["value"],
                         format_datetime(self.env(user=self.iys_user), self.brand.iys_last_pull_date))
        self.assertFalse(rows[self.brand.display_name][3]["level"])
        self.assertNotEqual(rows[self.brand_b.display_name][3]["value"], rows[self.brand.display_name][3]["value"])
        self.assertEqual(rows[self.brand_b.display_name][3]["level"], "warning")  # never pulled
        crons = section["subtables"][0]["rows"]
        names = {r["cells"][0] for r in crons}
        self.assertIn(self.env.ref("l10n_tr_iys.ir_cron_iys_send").name, names)
        self.assertIn(self.env.ref("l10n_tr_iys.ir_cron_iys_consent_import").name, names)
        cron = self.env.ref("l10n_tr_iys.ir_cron_iys_poll")
        cron.write({"failure_count": 3, "first_failure_date": self.now})
        crons = self.section(self.panel(), "sync")["subtables"][0]["rows"]
        poll = next(r for r in crons if r["cells"][0] == cron.name)
        self.assertEqual(poll["cells"][1]["level"], "danger")
        self.assertFalse(poll["action"])  # not an administrator
        self.assertFalse(section["cards"])  # no token lock
        self.env["iys.token"].sudo().create({"key": "k" * 64, "account_id": self.account.id,
                                             "lock_until": self.now.timestamp() + 3600})
        section = self.section(self.panel(), "sync")
        self.assertEqual([c["key"] for c in section["cards"]], [f"token-{self.account.id}"])

    def test_last_push_and_poll(self):
        """The sync section's last push and poll are read through the indexes on sent and answered
        rows: once every sent row is answered, the last push is the push of the latest answer."""
        user_env = self.env(user=self.iys_user)
        sent = self.env["iys.outbox"].sudo().search([("brand_id", "=", self.brand.id), ("state", "=", "sent")])
        self.assertEqual(len(sent), 1)
        sent._iys_confirm("S" * 20, self.now - timedelta(minutes=2), now=self.now - timedelta(minutes=1))
        rows = {r["cells"][0]: r["cells"] for r in self.section(self.panel(), "sync")["rows"]}
        self.assertEqual(rows[self.brand.display_name][1], format_datetime(user_env, self.now - timedelta(minutes=10)))
        self.assertEqual(rows[self.brand.display_name][2], format_datetime(user_env, self.now - timedelta(minutes=1)))
        # a brand without any push or poll: never
        self.assertEqual(rows[self.brand_b.display_name][1:3], [self.env._("never")] * 2)

    def test_movements(self):
        # a movement the reconciliation applied counts among İYS's, a dealer access change is no
        # consent movement at all
        from ..iyslib.client import ConsentRecord
        self.brand_b._iys_apply_incoming([ConsentRecord(
            recipient="+905320000077", type="MESAJ", recipient_type="BIREYSEL", status="RET", source="IYS_MOBIL",
            consent_date=self.now - timedelta(minutes=5), creation_date=self.now - timedelta(minutes=4),
            transaction_id="R" * 20)], "reconciliation")
        some = self.env["iys.consent"].search([("brand_id", "=", self.brand.id)], limit=1)
        ledger(self.env["iys.consent.event"]).create({
            "consent_id": some.id, "kind": "dealer", "origin": "wizard", "new_status": some.status,
            "old_status": some.status, "note": "dealer access"})
        section = self.section(self.panel(), "movements")
        chart = section["chart"]
        Event = self.env["iys.consent.event"]
        events = Event.search([("brand_id", "in", (self.brand | self.brand_b).ids), ("kind", "=", "status")])
        self.assertTrue(events)
        self.assertTrue(events.filtered(lambda e: e.origin == "reconciliation"))
        imports = {"import"}
        citizens = {"iys_pull", "iys_push", "iys_query", "reconciliation"}

        def klass(origin):
            return "import" if origin in imports else "citizen" if origin in citizens else "own"

        for view, key_of in (("channel", lambda e: e.channel), ("source", lambda e: klass(e.origin))):
            totals = Counter((e.new_status, key_of(e)) for e in events)
            for ds in chart["views"][view]:
                status, key = ds["status"], ds["key"].split("-", 1)[1]
                self.assertEqual(ds["total"], totals.get((status, key), 0), (view, ds["key"]))
                for day, value in enumerate(ds["data"]):
                    if value:
                        domain = chart["action"]["domain"] + chart["day_domains"][day] + ds["domain"]
                        self.assertEqual(Event.search_count(domain), value)
                self.assertEqual(sum(ds["data"]), ds["total"])
        self.assertEqual(sum(ds["total"] for ds in chart["views"]["channel"]), len(events))
        self.assertGreaterEqual(next(d for d in chart["views"]["source"] if d["key"] == "ONAY-import")["total"], 1)
        self.assertGreaterEqual(next(d for d in chart["views"]["source"] if d["key"] == "ONAY-citizen")["total"], 1)
        for row in section["rows"]:
            for cell in row["cells"][1:]:
                self.assertEqual(self.count(cell["action"]), cell["value"])

    def test_every_number_opens_its_rows(self):
        data = self.panel(user=self.iys_manager)
        checked = 0
        for section in data["sections"]:
            for card in section.get("cards", []):
                if card.get("action") and isinstance(card["value"], int):
                    self.assertEqual(self.count(card["action"], self.iys_manager), card["value"], card["key"])
                    checked += 1
            for table in [section, *section.get("subtables", [])]:
                for row in table.get("rows", []):
                    for cell in row["cells"]:
                        if isinstance(cell, dict) and cell.get("action") and isinstance(cell["value"], int):
                            self.assertEqual(self.count(cell["action"], self.iys_manager), cell["value"])
                            checked += 1
        self.assertGreater(checked, 40)

    def test_progressive_equals_full(self):
        """The first call plus the section calls give exactly what the one-call panel gives."""
        env = self.env(user=self.iys_manager)
        brand_ids = (self.brand | self.brand_b).ids
        full = env["iys.panel"].get_panel_data(brand_ids=brand_ids, now=self.now)
        lazy = env["iys.panel"].get_panel_data(brand_ids=brand_ids, now=self.now, lazy=True)
        self.assertEqual(full["deferred"], [])
        self.assertEqual([d["key"] for d in lazy["deferred"]], ["audience", "movements"])
        self.assertEqual(lazy["deferred"][0]["parts"], [[brand_id] for brand_id in full["brand_ids"]])
        self.assertEqual(lazy["deferred"][1]["parts"], [brand_ids])
        merged = self.progressive(env, brand_ids=brand_ids)
        self.assertEqual(merged["sections"], full["sections"])
        self.assertLessEqual({"audience", "movements", "queue"}, {s["key"] for s in full["sections"]})

    def test_empty_states(self):
        company = self.env["res.company"].create({"name": "Fresh Co"})
        user = new_test_user(self.env, login="iys_t_fresh", groups="base.group_user,l10n_tr_iys.group_iys_manager",
                             company_id=company.id, company_ids=[(6, 0, company.ids)])
        data = self.env(user=user)["iys.panel"].get_panel_data(now=self.now)
        self.assertEqual(data["empty"]["kind"], "no_account")
        self.assertEqual(data["empty"]["action"]["res_model"], "iys.account")
        self.assertFalse(data["sections"])
        account = self.env["iys.account"].create({"name": "Fresh", "iys_code": "900888", "company_id": company.id})
        self.env["iys.brand"].create({"name": "Fresh", "code": "900888", "account_id": account.id})
        data = self.env(user=user)["iys.panel"].get_panel_data(now=self.now)
        self.assertEqual(data["empty"]["kind"], "no_consent")
        self.assertTrue(data["sections"])
        self.assertFalse(self.panel()["empty"])

    def test_extension_sections(self):
        """A feature's ``_iys_panel_section`` is called with the shown brands and its section kept."""
        calls = []

        def section(model, brands):
            calls.append(brands)
            return {"key": "ext", "title": "Ext", "sequence": 55, "cards": []}

        Partner = type(self.env["res.partner"])
        self.patch(iys_panel, "EXTENSION_MODELS", ("res.partner",))
        Partner._iys_panel_section = section
        try:
            data = self.panel()
        finally:
            del Partner._iys_panel_section
        self.assertEqual(calls[0], self.brand | self.brand_b)
        keys = [s["key"] for s in data["sections"]]
        self.assertEqual(keys.index("ext"), keys.index("movements") - 1)
