# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
"""Consents that carry dealers: the collecting dealer in the consent's body, access changes as
movements of their own, sent through İYS's access calls in batches, applied from İYS's reports."""
from unittest.mock import patch

from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import new_test_user, tagged

from odoo.addons.l10n_tr_iys.iyslib.simulator.core import _ckey
from odoo.addons.l10n_tr_iys.models import iys_retailer_access_change
from odoo.addons.l10n_tr_iys.models.iys_consent import ledger

from .sync_common import IysSyncCommon

CODE_A, CODE_B, CODE_UNKNOWN = 12345678, 12345679, 87654321


def phone(i):
    return "+90532%07d" % (4000000 + i)


@tagged("post_install", "-at_install")
class TestRetailerAccess(IysSyncCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        Retailer = cls.env["iys.retailer"].sudo()
        cls.dealer_a = Retailer.create({"name": "Bayi A", "brand_id": cls.brand.id, "code": str(CODE_A),
                                        "sync_state": "registered"})
        cls.dealer_b = Retailer.create({"name": "Bayi B", "brand_id": cls.brand.id, "code": str(CODE_B),
                                        "sync_state": "registered"})
        cls.dealer_draft = Retailer.create({"name": "Bayi taslak", "brand_id": cls.brand.id})
        cls.Queue = cls.env["iys.retailer.access.queue"].sudo()

    def setUp(self):
        super().setUp()
        # the dealers as İYS registered them (the simulator's own store of retailers)
        for code, title in ((CODE_A, "Bayi A"), (CODE_B, "Bayi B")):
            self.sim.retailers[code] = {
                "retailerCode": code, "title": title, "name": "Yetkili", "tckn": "10000000146",
                "tin": "1234567890", "city": {"code": "34", "name": "İSTANBUL"},
                "town": {"code": "1", "name": "KADIKÖY"}, "status": "active", "brandCode": int(self.brand.code),
            }

    # helpers ---------------------------------------------------------------------------------
    def on_iys(self, count, start=0, **extra):
        """*count* consents recorded in Odoo and confirmed by İYS (pushed and polled)."""
        results = self.Consent._iys_record_movements([
            {"brand_id": self.brand.id, "channel": "MESAJ", "address": phone(start + i), "status": "ONAY",
             "source": "HS_WEB", "consent_date": self._next_date(), **extra}
            for i in range(count)
        ], "api")
        self.sync_consents()
        consents = self.Consent.browse([r.consent.id for r in results])
        self.assertEqual(set(consents.mapped("sync_state")), {"confirmed"})
        return consents

    def sync_consents(self):
        self.Outbox._iys_push(brands=self.brand)
        self.Outbox._iys_poll(brands=self.brand)

    def access_calls(self, method=None, suffix="/consents/retailers/access"):
        return [e for e in self.sim.requests_log if e["path"].endswith(suffix)
                and (method is None or e["method"] == method)]

    def sim_access(self, consent):
        return self.sim.access.get(_ckey(int(self.brand.code), consent.recipient_type, consent.channel,
                                         consent.address), [])

    def wizard(self, user, **values):
        Wizard = self.env["iys.retailer.access.wizard"].with_user(user)
        return Wizard.create({"brand_id": self.brand.id, **values})

    def send(self):
        return self.Queue._iys_access_send(brands=self.brand)

    # the collecting dealer -------------------------------------------------------------------
    def test_consent_collected_by_a_dealer_carries_its_code(self):
        result = self.record(phone(1), retailer_id=self.dealer_a.id)
        consent = result.consent
        self.assertEqual(consent.retailer_id, self.dealer_a)
        self.assertEqual(result.event.retailer_id, self.dealer_a)
        self.assertEqual(self.outbox_of(result).payload["retailerCode"], CODE_A)
        self.assertNotIn("retailerAccess", self.outbox_of(result).payload)
        self.sync_consents()
        self.assertEqual(consent.sync_state, "confirmed")
        self.assertEqual(self.sim.consent_state(self.brand.code, phone(1), "MESAJ")["retailerCode"], CODE_A)

    def test_consent_with_initial_access_by_code(self):
        result = self.record(phone(2), retailer_code=str(CODE_A), retailer_access_codes=[str(CODE_B)])
        self.assertEqual(result.consent.retailer_access_ids, self.dealer_b)
        self.assertEqual(result.event.access_added_ids, self.dealer_b)
        payload = self.outbox_of(result).payload
        self.assertEqual((payload["retailerCode"], payload["retailerAccess"]), (CODE_A, [CODE_B]))
        self.sync_consents()
        self.assertEqual(self.sim_access(result.consent), [CODE_B])

    def test_unknown_or_unregistered_dealer_is_refused(self):
        with self.assertRaisesRegex(ValidationError, "not registered on İYS"):
            self.record(phone(3), retailer_id=self.dealer_draft.id)
        with self.assertRaisesRegex(ValidationError, "No dealer of this brand has the code"):
            self.record(phone(3), retailer_code=str(CODE_UNKNOWN))
        other = self.env["iys.retailer"].sudo().create({"name": "B bayisi", "brand_id": self.brand_b.id,
                                                         "code": "22222222", "sync_state": "registered"})
        with self.assertRaisesRegex(ValidationError, "another brand"):
            self.record(phone(3), retailer_id=other.id)
        self.assertFalse(self.Consent.search([("address", "=", phone(3))]))

    # access in bulk, batched -----------------------------------------------------------------
    def test_bulk_access_granted_and_removed_in_batches(self):
        consents = self.on_iys(150)
        wizard = self.wizard(self.iys_manager, scope="selected", consent_ids=[(6, 0, consents.ids)],
                             retailer_ids=[(6, 0, (self.dealer_a | self.dealer_b).ids)], note="Bayilik sözleşmesi")
        self.assertEqual(wizard.consent_count, 150)
        wizard.action_apply()
        change = self.env["iys.retailer.access.change"].sudo().search([], limit=1)
        self.assertEqual((change.state, change.changed_count, change.user_id), ("recorded", 150, self.iys_manager))
        self.assertEqual(consents[0].retailer_access_ids, self.dealer_a | self.dealer_b)
        events = self.env["iys.consent.event"].sudo().search([("consent_id", "in", consents.ids),
                                                               ("kind", "=", "dealer")])
        self.assertEqual(len(events), 150)
        self.assertEqual(set(events.mapped("user_id")), {self.iys_manager})
        self.assertEqual(events[0].access_added_ids, self.dealer_a | self.dealer_b)
        self.assertEqual(set(events.mapped("note")), {"Bayilik sözleşmesi"})
        self.assertEqual(set(events.mapped("push_state")), {"pending"})
        self.sim.requests_log.clear()
        stats = self.send()
        self.assertEqual(stats.confirmed, 150)
        calls = self.access_calls("PUT")
        self.assertEqual(len(calls), 2, "150 consents: two calls of at most 100")
        self.assertEqual(self.sim_access(consents[0]), [CODE_A, CODE_B])
        self.assertEqual(self.sim_access(consents[149]), [CODE_A, CODE_B])
        self.assertEqual(set(change.queue_ids.mapped("state")), {"done"})
        self.assertEqual(change.done_count, 150)
        self.assertEqual(set(events.mapped("push_state")), {"confirmed"})
        # Nothing left: a second run makes no call.
        self.sim.requests_log.clear()
        self.send()
        self.assertFalse(self.access_calls(suffix="/access") + self.access_calls(suffix="/remove"))
        # Removed again in bulk: two remove calls.
        self.wizard(self.iys_manager, operation="remove", scope="all", channel="MESAJ",
                    retailer_ids=[(6, 0, self.dealer_b.ids)]).action_apply()
        self.assertEqual(consents[5].retailer_access_ids, self.dealer_a)
        self.sim.requests_log.clear()
        self.send()
        self.assertEqual(len(self.access_calls("POST", "/consents/retailers/access/remove")), 2)
        self.assertEqual(self.sim_access(consents[5]), [CODE_A])
        removed = self.env["iys.consent.event"].sudo().search([("consent_id", "=", consents[5].id),
                                                                ("kind", "=", "dealer")], limit=1)
        self.assertEqual(removed.access_removed_ids, self.dealer_b)

    def test_unchanged_consents_are_skipped(self):
        consents = self.on_iys(3)
        self.Consent.with_user(self.iys_manager)._iys_record_access_changes(consents[:1], add=self.dealer_a)
        report = self.Consent.with_user(self.iys_manager)._iys_record_access_changes(consents, add=self.dealer_a)
        self.assertEqual((len(report["changed"]), report["unchanged"]), (2, 1))

    def test_single_consent_uses_the_add_call(self):
        consent = self.on_iys(1)
        self.Consent.with_user(self.iys_manager)._iys_record_access_changes(consent, add=self.dealer_a)
        self.sim.requests_log.clear()
        self.send()
        self.assertEqual(len(self.access_calls("POST")), 1)
        self.assertEqual(self.sim_access(consent), [CODE_A])

    def test_access_waits_until_the_consent_is_on_iys(self):
        result = self.record(phone(7))
        consent = result.consent
        self.assertEqual(consent.sync_state, "pending")
        self.Consent.with_user(self.iys_manager)._iys_record_access_changes(consent, add=self.dealer_a)
        row = consent.retailer_access_item_ids
        self.assertEqual(row.state, "pending")
        self.assertTrue(row.waiting_reason)
        self.sim.requests_log.clear()
        self.send()
        self.assertFalse(self.access_calls(), "no access call before the consent is on İYS (H401)")
        self.assertEqual(row.state, "pending")
        self.sync_consents()
        self.send()
        self.assertEqual(row.state, "done")
        self.assertEqual(self.sim_access(consent), [CODE_A])

    def test_access_waits_while_iys_does_not_hold_the_consent(self):
        result = self.record(phone(8))
        consent = result.consent
        # İYS refused the consent itself: nothing of it is on its way, and İYS does not hold it
        self.outbox_of(result).sudo().write({"state": "failed", "error_code": "H121"})
        ledger(consent).write({"sync_state": "rejected", "iys_error_code": "H121"})
        self.Consent.with_user(self.iys_manager)._iys_record_access_changes(consent, add=self.dealer_a)
        self.sim.requests_log.clear()
        self.send()
        self.assertFalse(self.access_calls(), "İYS would answer H401")
        self.assertEqual(consent.retailer_access_item_ids.state, "pending")
        self.assertTrue(consent.retailer_access_item_ids.waiting_reason)

    def test_iys_refusal_is_shown_on_the_change_and_the_consent(self):
        consent = self.on_iys(1)
        del self.sim.retailers[CODE_B]  # Odoo believes it registered, İYS does not know it
        self.Consent.with_user(self.iys_manager)._iys_record_access_changes(consent, add=self.dealer_b)
        self.send()
        row = consent.retailer_access_item_ids
        self.assertEqual((row.state, row.error_code), ("failed", "H180"))
        self.assertTrue(row.error_message)
        self.assertEqual((row.event_id.push_state, row.event_id.error_code), ("rejected", "H180"))
        self.assertEqual(consent.retailer_access_ids, self.dealer_b, "the ledger keeps the decision; İYS's "
                         "refusal is shown next to it")

    def test_transient_failure_is_retried_later(self):
        consent = self.on_iys(1)
        self.Consent.with_user(self.iys_manager)._iys_record_access_changes(consent, add=self.dealer_a)
        self.sim.inject_fault("503", count=10, path_prefix="/sps")
        stats = self.send()
        row = consent.retailer_access_item_ids
        self.assertEqual((row.state, stats.retried), ("pending", 1))
        self.assertTrue(row.next_attempt_at and row.attempts == 1)
        self.sim.clear_faults()
        self.sim.requests_log.clear()
        self.send()
        self.assertEqual(row.state, "pending", "not before its next attempt")
        self.assertFalse(self.access_calls())
        self.make_due(row)
        self.send()
        self.assertEqual(row.state, "done")
        # the add's outcome was unknown: it is retried as the idempotent replace
        self.assertEqual([c["method"] for c in self.access_calls()], ["PUT"])
        self.assertEqual(self.sim_access(consent), [CODE_A])

    def test_more_than_100_dealers_is_refused(self):
        consent = self.on_iys(1)
        Retailer = self.env["iys.retailer"].sudo()
        many = Retailer.create([{"name": f"Bayi {i}", "brand_id": self.brand.id, "code": str(30000000 + i),
                                 "sync_state": "registered"} for i in range(101)])
        report = self.Consent.with_user(self.iys_manager)._iys_record_access_changes(consent, add=many)
        self.assertIn("H126", report["errors"][0])
        self.assertFalse(consent.retailer_access_ids)

    def test_large_change_runs_in_the_background(self):
        consents = self.on_iys(12)
        with patch.object(iys_retailer_access_change, "BACKGROUND_THRESHOLD", 5), \
                patch("odoo.addons.l10n_tr_iys.wizards.iys_retailer_access_wizard.BACKGROUND_THRESHOLD", 5), \
                patch.object(iys_retailer_access_change, "CHUNK_SIZE", 5):
            self.wizard(self.iys_manager, scope="all", retailer_ids=[(6, 0, self.dealer_a.ids)]).action_apply()
            change = self.env["iys.retailer.access.change"].sudo().search([], limit=1)
            self.assertEqual((change.state, change.total, change.processed), ("to_record", 12, 0))
            self.assertFalse(consents[0].retailer_access_ids)
            progress = []
            with patch.object(type(self.env["ir.cron"]), "_notify_progress",
                              lambda _self, done, remaining, deactivate=False: progress.append((done, remaining))):
                change._iys_record_chunk(size=5)
                self.env["iys.retailer.access.change"]._cron_iys_access_record()
                self.env["iys.retailer.access.change"]._cron_iys_access_record()
        self.assertEqual(change.state, "recorded")
        self.assertEqual(change.changed_count, 12)
        self.assertTrue(progress)
        self.assertTrue(all(c.retailer_access_ids == self.dealer_a for c in consents))
        self.send()
        self.assertEqual(change.done_count, 12)

    # who may change access -------------------------------------------------------------------
    def test_only_iys_managers_of_the_brand_change_access(self):
        consent = self.on_iys(1)
        with self.assertRaises(AccessError):
            self.Consent.with_user(self.iys_user)._iys_record_access_changes(consent, add=self.dealer_a)
        with self.assertRaises(AccessError):
            self.wizard(self.iys_user, retailer_ids=[(6, 0, self.dealer_a.ids)]).action_apply()
        with self.assertRaises(AccessError):
            self.Consent.with_user(self.plain_user)._iys_record_access_changes(consent, add=self.dealer_a)
        other_company = self.env["res.company"].create({"name": "Başka Şirket"})
        outsider = new_test_user(self.env, login="iys_t_other_manager", company_id=other_company.id,
                                 company_ids=[(6, 0, other_company.ids)],
                                 groups="base.group_user,l10n_tr_iys.group_iys_manager")
        with self.assertRaises(AccessError):
            self.Consent.with_user(outsider)._iys_record_access_changes(consent, add=self.dealer_a)
        self.assertFalse(consent.retailer_access_ids)
        # nobody writes the ledger's dealer fields directly
        with self.assertRaises(UserError):
            consent.with_user(self.iys_manager).write({"retailer_access_ids": [(4, self.dealer_a.id)]})
        with self.assertRaises(UserError):
            consent.sudo().write({"retailer_id": self.dealer_a.id})

    # what İYS reports --------------------------------------------------------------------------
    def test_pull_applies_the_collecting_dealer(self):
        self.sim.inject_citizen_change(int(self.brand.code), phone(20), "MESAJ", "ONAY", retailer_code=CODE_A)
        self.sim.inject_citizen_change(int(self.brand.code), phone(21), "MESAJ", "ONAY", retailer_code=CODE_UNKNOWN)
        self.sim.advance_clock(1)  # İYS serves a movement once its second of recording is over
        self.brand._iys_pull()
        known = self.Consent.search([("address", "=", phone(20))])
        self.assertEqual(known.retailer_id, self.dealer_a)
        self.assertEqual(known.event_ids.retailer_id, self.dealer_a)
        unknown = self.Consent.search([("address", "=", phone(21))])
        self.assertEqual(unknown.status, "ONAY", "the movement itself is applied")
        self.assertFalse(unknown.retailer_id, "no dealer is invented")
        self.assertEqual(unknown.event_ids.retailer_code_raw, str(CODE_UNKNOWN))
        self.assertIn(str(CODE_UNKNOWN), unknown.event_ids.note)

    def test_reported_dealers_for_the_reconciliation(self):
        consents = self.on_iys(2)
        Consent = self.env["iys.consent"].sudo()
        report = Consent._iys_apply_reported_dealers(self.brand, [
            {"channel": "MESAJ", "recipient_type": "BIREYSEL", "address": consents[0].address,
             "retailer_code": CODE_B},
            {"channel": "MESAJ", "recipient_type": "BIREYSEL", "address": consents[1].address,
             "retailer_code": CODE_UNKNOWN},
            {"channel": "MESAJ", "recipient_type": "BIREYSEL", "address": phone(99), "retailer_code": CODE_A},
        ])
        self.assertEqual(report["applied"], consents[0])
        self.assertEqual(report["unknown"], {consents[1].address: CODE_UNKNOWN})
        self.assertEqual(report["missing"], 1)
        self.assertEqual(consents[0].retailer_id, self.dealer_b)
        event = consents[0].event_ids.filtered(lambda e: e.kind == "dealer")
        self.assertEqual((event.actor, event.retailer_id), ("iys", self.dealer_b))
        self.assertEqual(consents[1].event_ids.filtered(lambda e: e.kind == "dealer").retailer_code_raw,
                         str(CODE_UNKNOWN))
        with self.assertRaises(AccessError):
            self.env["iys.consent"].with_user(self.iys_manager)._iys_apply_reported_dealers(self.brand, [])

    # the consent wizard -------------------------------------------------------------------------
    def test_consent_wizard_records_the_collecting_dealer(self):
        partner = self.env["res.partner"].create({"name": "Bayi müşterisi", "mobile": phone(30)})
        wizard = self.env["iys.consent.wizard"].with_user(self.iys_user).with_context(
            active_model="res.partner", active_id=partner.id, iys_channel="MESAJ", iys_mode="consent",
        ).create({"source": "HS_FIZIKSEL_ORTAM", "retailer_id": self.dealer_a.id})
        wizard.action_confirm()
        consent = self.Consent.search([("address", "=", phone(30)), ("channel", "=", "MESAJ")])
        self.assertEqual(consent.retailer_id, self.dealer_a)
        outbox = self.Outbox.search([("consent_id", "=", consent.id)])
        self.assertEqual(outbox.payload["retailerCode"], CODE_A)
