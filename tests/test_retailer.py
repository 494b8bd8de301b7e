# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
"""Dealers (bayi) in step with İYS: register, fetch, refresh and delete against the simulator, the
checks before anything is sent, the city and town codes, and who may do what."""
from odoo.exceptions import AccessError, UserError
from odoo.tests import Form, tagged

from odoo.addons.l10n_tr_iys.iyslib.identity import example_tckn, example_vkn
from odoo.addons.l10n_tr_iys.iyslib.simulator.data import CITIES, TOWNS
from odoo.addons.l10n_tr_iys.models.iys_consent import ledger

from .sync_common import IysSyncCommon


@tagged("post_install", "-at_install")
class TestRetailer(IysSyncCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Dealer = cls.env["iys.retailer"].with_user(cls.iys_manager)
        cls.env["iys.city"]._iys_fetch_places(cls.account)
        cls.istanbul = cls.env["iys.city"].search([("code", "=", "34")])
        cls.kadikoy = cls.env["iys.town"].search([("code", "=", "429")])

    def sim_retailer(self, n, brand_code=900001, **kw):
        data = {"title": f"Bayi {n}", "name": f"Yetkili {n}", "tckn": example_tckn(n), "tin": example_vkn(n),
                "city": {"code": 34, "name": "İstanbul"}, "town": {"code": 429, "name": "Kadıköy"}, **kw}
        return self.sim.add_retailer(brand_code, data)

    def new_dealer(self, n=1, **kw):
        vals = {"name": f"Kadıköy Bayi {n}", "brand_id": self.brand.id, "authorized_person": "Ayşe Yılmaz",
                "tckn": example_tckn(n), "tin": example_vkn(n), "city_id": self.istanbul.id,
                "town_id": self.kadikoy.id, "mobile": "0532 111 22 33", **kw}
        return self.Dealer.create(vals)

    def registered(self, n=1, **kw):
        dealer = self.new_dealer(n, **kw)
        dealer.action_iys_register()
        self.assertEqual(dealer.sync_state, "registered", dealer.iys_error)
        return dealer

    # ------------------------------------------------------------------------------- register
    def test_register_stores_the_code_iys_returns(self):
        dealer = self.new_dealer(mersis="0123456789012346", alias="Kadikoy")
        self.assertEqual((dealer.city_code, dealer.city_name, dealer.town_code, dealer.town_name),
                         ("34", "İstanbul", "429", "Kadıköy"))
        result = dealer.action_iys_register()
        self.assertEqual(result["params"]["type"], "success")
        self.assertEqual(dealer.sync_state, "registered")
        self.assertRegex(dealer.code, r"^\d{8}$")
        on_iys = self.sim.retailers[int(dealer.code)]
        self.assertEqual(on_iys["title"], "Kadıköy Bayi 1")
        self.assertEqual(on_iys["tckn"], example_tckn(1))
        self.assertEqual(on_iys["city"], {"code": 34, "name": "İstanbul"})
        self.assertEqual(on_iys["town"], {"code": 429, "name": "Kadıköy"})
        self.assertEqual(on_iys["mobile"], "+905321112233")
        self.assertEqual(on_iys["mersis"], "0123456789012346")
        self.assertEqual(dealer.mobile, "+905321112233")
        self.assertFalse(dealer.iys_error)

    def test_register_refused_before_sending(self):
        dealer = self.new_dealer(tckn="10000000147", tin="1234567891", town_id=False, mobile="12")
        with self.assertRaises(UserError) as ctx:
            dealer.action_iys_register()
        message = ctx.exception.args[0]
        for code in ("H225", "H243", "H224"):
            self.assertIn(code, message)
        self.assertIn("nothing was sent", message)
        self.assertEqual(dealer.sync_state, "draft")
        self.assertFalse(dealer.code)
        self.assertFalse(self.sim.retailers, "nothing may reach İYS")
        self.assertEqual(
            [code for code, _text in dealer._iys_validation_problems()], ["H225", "H243", "H220", "H224"],
        )
        dealer.write({"tckn": example_tckn(1), "tin": example_tckn(2), "town_id": self.kadikoy.id,
                      "mobile": "+905321112233"})
        self.assertFalse(dealer._iys_validation_problems(), "a TCKN is a valid tax number of a sole trader")

    def test_register_refused_by_iys_is_kept(self):
        self.sim_retailer(1)  # İYS already has a dealer with this TCKN for the brand
        dealer = self.new_dealer(1)
        result = dealer.action_iys_register()
        self.assertEqual(result["params"]["type"], "danger")
        self.assertEqual(dealer.sync_state, "error")
        self.assertFalse(dealer.code)
        self.assertIn("H231", dealer.iys_error)
        self.assertIn("H231", result["params"]["message"])
        self.assertEqual(len(self.sim.retailers), 1)
        # corrected, it goes through
        dealer.write({"tckn": example_tckn(5)})
        dealer.action_iys_register()
        self.assertEqual(dealer.sync_state, "registered")
        self.assertFalse(dealer.iys_error)
        with self.assertRaises(UserError):
            dealer.action_iys_register()

    def test_registered_dealer_is_locked(self):
        dealer = self.registered()
        with self.assertRaisesRegex(UserError, "no way to change a dealer"):
            dealer.write({"name": "Another name"})
        with self.assertRaises(UserError):
            dealer.write({"status": "passive"})
        dealer.write({"name": dealer.name, "partner_id": self.iys_manager.partner_id.id})
        self.assertEqual(dealer.partner_id, self.iys_manager.partner_id)

    # ---------------------------------------------------------------------------------- fetch
    def test_fetch_pages_without_duplicates(self):
        codes = [self.sim_retailer(n) for n in range(1, 131)]
        passive = self.sim_retailer(200, status="passive")
        other_brand = self.sim_retailer(300, brand_code=900002)
        known = self.Dealer.with_context(iys_retailer_sync=True).create(
            {"name": "Old name", "brand_id": self.brand.id, "code": str(codes[0]), "sync_state": "registered"})
        waiting = self.new_dealer(2)  # registered on İYS meanwhile, by another way: adopted, not duplicated
        wizard = self.env["iys.retailer.fetch"].with_user(self.iys_manager).create(
            {"brand_ids": [(6, 0, self.brand.ids)]})
        result = wizard.action_fetch()
        self.assertEqual(result["params"]["type"], "success", result["params"]["message"])
        dealers = self.Dealer.search([("brand_id", "=", self.brand.id)])
        self.assertEqual(len(dealers), 131)
        self.assertEqual(sorted(int(c) for c in dealers.mapped("code")), sorted([*codes, passive]))
        self.assertEqual(known.name, "Bayi 1")
        self.assertEqual(waiting.code, str(codes[1]))
        self.assertEqual(waiting.sync_state, "registered")
        self.assertIn("129 new, 2 updated", result["params"]["message"])
        one = dealers.filtered(lambda d: d.code == str(codes[50]))
        self.assertEqual((one.name, one.authorized_person, one.tckn, one.city_id, one.town_id, one.status),
                         ("Bayi 51", "Yetkili 51", example_tckn(51), self.istanbul, self.kadikoy, "active"))
        self.assertEqual(dealers.filtered(lambda d: d.code == str(passive)).status, "passive")
        self.assertFalse(self.Dealer.search([("code", "=", str(other_brand))]))
        # again: nothing new; a dealer İYS no longer lists is marked deleted
        with self.sim.lock:
            del self.sim.retailers[codes[-1]]
        result = wizard.action_fetch()
        self.assertIn("0 new, 0 updated, 130 unchanged, 1 no longer on İYS", result["params"]["message"])
        self.assertEqual(self.Dealer.search_count([("brand_id", "=", self.brand.id)]), 131)
        gone = dealers.filtered(lambda d: d.code == str(codes[-1]))
        self.assertEqual(gone.sync_state, "deleted")

    def test_fetch_active_only(self):
        self.sim_retailer(1)
        self.sim_retailer(2, status="suspended")
        wizard = self.env["iys.retailer.fetch"].with_user(self.iys_manager).create(
            {"brand_ids": [(6, 0, self.brand.ids)], "include_all": False})
        wizard.action_fetch()
        self.assertEqual(self.Dealer.search([("brand_id", "=", self.brand.id)]).mapped("name"), ["Bayi 1"])

    # -------------------------------------------------------------------------------- refresh
    def test_refresh_from_iys(self):
        dealer = self.registered()
        with self.sim.lock:
            self.sim.retailers[int(dealer.code)].update(status="suspended", title="Kadıköy Bayi (yeni)")
        dealer.action_iys_refresh()
        self.assertEqual((dealer.status, dealer.name, dealer.sync_state), ("suspended", "Kadıköy Bayi (yeni)",
                                                                            "registered"))
        with self.sim.lock:
            del self.sim.retailers[int(dealer.code)]
        result = dealer.action_iys_refresh()
        self.assertEqual(result["params"]["type"], "warning")
        self.assertEqual(dealer.sync_state, "deleted")
        self.assertIn("H180", dealer.iys_error)

    # --------------------------------------------------------------------------------- delete
    def test_delete_refused_while_a_consent_is_linked(self):
        dealer = self.registered()
        consent = self.record("+905321112233").consent
        ledger(consent).write({"retailer_access_ids": [(4, dealer.id)]})
        self.assertEqual(dealer.access_consent_count, 1)
        with self.assertRaisesRegex(UserError, "1 consent"):
            dealer.action_iys_delete()
        ledger(consent).write({"retailer_access_ids": [(3, dealer.id)], "retailer_id": dealer.id})
        dealer.invalidate_recordset(["collected_consent_count", "access_consent_count"])
        self.assertEqual((dealer.collected_consent_count, dealer.access_consent_count), (1, 0))
        with self.assertRaises(UserError):
            dealer.action_iys_delete()
        self.assertIn(int(dealer.code), self.sim.retailers)
        self.assertEqual(dealer.action_open_consents()["domain"], [("retailer_access_ids", "in", dealer.ids)])
        collected = dealer.with_context(iys_consents="collected").action_open_consents()
        self.assertEqual(self.env["iys.consent"].search(collected["domain"]), consent)
        ledger(consent).write({"retailer_id": False})
        result = dealer.action_iys_delete()
        self.assertEqual(result["params"]["type"], "success")
        self.assertEqual(dealer.sync_state, "deleted")
        self.assertNotIn(int(dealer.code), self.sim.retailers)

    def test_delete_refused_by_iys_and_not_found(self):
        dealer = self.registered()
        with self.sim.lock:  # İYS knows a consent of this dealer that Odoo does not
            self.sim.access["900001|BIREYSEL|MESAJ|+905321112299"] = [int(dealer.code)]
        result = dealer.action_iys_delete()
        self.assertEqual(result["params"]["type"], "danger")
        self.assertEqual(dealer.sync_state, "registered")
        self.assertIn("H172", dealer.iys_error)
        with self.sim.lock:
            self.sim.access.clear()
            del self.sim.retailers[int(dealer.code)]
        result = dealer.action_iys_delete()
        self.assertEqual(result["params"]["type"], "warning")
        self.assertEqual(dealer.sync_state, "deleted")
        self.assertIn("H058", dealer.iys_error)

    # ----------------------------------------------------------------------- cities and towns
    def test_city_and_town_codes(self):
        City, Town = self.env["iys.city"], self.env["iys.town"]
        self.assertEqual(City.search_count([]), len(CITIES))
        self.assertEqual(Town.search_count([]), len(TOWNS))
        self.assertEqual(self.kadikoy.city_id, self.istanbul)
        result = self.account.with_user(self.iys_manager).action_iys_fetch_places()
        self.assertEqual(result["params"]["type"], "success")
        self.assertEqual(City.search_count([]), len(CITIES), "no duplicate on a second fetch")
        # the first dealer form fetches them when the cache is empty
        Town.search([]).unlink()
        City.search([]).unlink()
        form = Form(self.Dealer)
        form.name = "Yeni Bayi"
        form.brand_id = self.brand
        istanbul = City.search([("code", "=", "34")])
        self.assertTrue(istanbul)
        form.city_id = istanbul
        form.town_id = Town.search([("code", "=", "429")])
        form.city_id = City.search([("code", "=", "6")])
        self.assertFalse(form.town_id, "a town of another city is cleared")
        form.town_id = Town.search([("city_id.code", "=", "6")], limit=1)
        dealer = form.save()
        self.assertEqual(dealer.city_code, "6")
        self.assertEqual(dealer.town_code, dealer.town_id.code)
        self.assertEqual(dealer.city_name, dealer.city_id.name)

    # --------------------------------------------------------------------------------- access
    def test_access(self):
        dealer = self.new_dealer()
        as_user = dealer.with_user(self.iys_user)
        self.assertEqual(as_user.name, dealer.name)
        for action in ("action_iys_register", "action_iys_refresh", "action_iys_delete"):
            with self.assertRaises(AccessError):
                getattr(as_user, action)()
        with self.assertRaises(AccessError):
            self.env["iys.retailer"].with_user(self.iys_user)._iys_fetch_brand(self.brand)
        with self.assertRaises(AccessError):
            self.env["iys.city"].with_user(self.iys_user)._iys_fetch_places(self.account)
        with self.assertRaises(AccessError):
            as_user.write({"alias": "x"})
        self.assertFalse(self.sim.retailers)
        other_company = self.env["res.company"].create({"name": "Other company"})
        other_account = self.env["iys.account"].create(
            {"name": "Other İYS", "iys_code": "900009", "company_id": other_company.id})
        other_brand = self.env["iys.brand"].create(
            {"name": "Other brand", "code": "900009", "account_id": other_account.id})
        other = self.env["iys.retailer"].create({"name": "Other dealer", "brand_id": other_brand.id})
        self.assertEqual(other.company_id, other_company)
        self.assertNotIn(other, self.Dealer.search([]))
        self.assertIn(dealer, self.Dealer.search([]))
        with self.assertRaises(AccessError):
            other.with_user(self.iys_manager).read(["name"])
