# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
from datetime import timedelta
from unittest.mock import patch

from freezegun import freeze_time

from odoo.tests import HttpCase, tagged

from ..models import iys_consent as iys_consent_module
from .common import IysCommon


class OptoutCommon(IysCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env.company.country_id = cls.env.ref("base.tr")
        cls.partner = cls.env["res.partner"].create({
            "name": "Opt-out", "email": "optout@example.com", "mobile": "0532 444 55 66",
        })

    def events(self, address, channel):
        """The events of the address for the test's default brand, individual type."""
        return self.env["iys.consent.event"].search([
            ("address", "=", address), ("channel", "=", channel), ("brand_id", "=", self.brand.id),
            ("recipient_type", "=", "BIREYSEL"),
        ])

    def last_event(self, address, channel, brand=None, recipient_type="BIREYSEL"):
        return self.env["iys.consent.event"].search([
            ("address", "=", address), ("channel", "=", channel), ("brand_id", "=", (brand or self.brand).id),
            ("recipient_type", "=", recipient_type),
        ], limit=1)

    def outbox(self, event):
        return self.env["iys.outbox"].search([("event_id", "=", event.id)])

    def assertRefusal(self, address, channel, origin, source, sent=True, brand=None):
        event = self.last_event(address, channel, brand)
        self.assertTrue(event, f"no event for {address}")
        self.assertEqual((event.new_status, event.origin, event.source), ("RET", origin, source))
        self.assertEqual(bool(self.outbox(event)), sent)
        self.assertEqual(event.consent_id.status, "RET")
        return event


@tagged("post_install", "-at_install", "l10n_tr_iys")
class TestBlacklistBridge(OptoutCommon):
    """Odoo's e-mail and phone blacklists feed the ledger with refusals (RET)."""

    def test_mail_blacklist_add_records_ret_and_queues_it(self):
        self.record("optout@example.com", channel="EPOSTA")
        self.assertEqual(self.partner.iys_email_state, "unconfirmed")
        self.env["mail.blacklist"]._add("OptOut@Example.com")
        event = self.assertRefusal("optout@example.com", "EPOSTA", "blacklist", "HS_KARAR")
        self.assertEqual(self.outbox(event).payload["status"], "RET")
        self.assertEqual(self.partner.iys_email_state, "refused")
        self.assertIn("Refusal (RET)", self.partner.message_ids[:1].body)
        # SMS and calls are other channels.
        self.assertFalse(self.events("+905324445566", "MESAJ"))

    def test_every_entry_point_and_reactivation(self):
        Blacklist = self.env["mail.blacklist"]
        for address, add in (
            ("create@example.com", lambda address: Blacklist.create({"email": address})),
            ("action@example.com", lambda address: Blacklist.new({"email": address}).action_add()),
        ):
            with self.subTest(address=address):
                self.record(address, channel="EPOSTA")
                add(address)
                self.assertRefusal(address, "EPOSTA", "blacklist", "HS_KARAR")
        # An archived entry made active again is a new refusal (after a new, explicit consent).
        earlier = self._now() - timedelta(hours=2)
        with freeze_time(earlier):
            self.record("again@example.com", channel="EPOSTA", consent_date=earlier - timedelta(minutes=5))
            entry = Blacklist.create({"email": "again@example.com"})
            self.assertRefusal("again@example.com", "EPOSTA", "blacklist", "HS_KARAR")
            entry.action_archive()  # removal: no consent comes back
        self.assertEqual(self.last_event("again@example.com", "EPOSTA").new_status, "RET")
        self.record("again@example.com", channel="EPOSTA")  # an explicit new consent
        entry.action_unarchive()
        self.assertEqual(self.events("again@example.com", "EPOSTA").mapped("new_status"),
                         ["RET", "ONAY", "RET", "ONAY"])

    def test_removal_never_creates_a_consent(self):
        self.env["mail.blacklist"]._add("gone@example.com")
        before = self.events("gone@example.com", "EPOSTA")
        self.assertEqual(before.mapped("new_status"), ["RET"])
        self.env["mail.blacklist"]._remove("gone@example.com")
        self.env["phone.blacklist"]._remove(["+905324445566"])
        self.assertEqual(self.events("gone@example.com", "EPOSTA"), before)
        self.assertFalse(self.env["iys.consent"].search([("address", "in", ["gone@example.com", "+905324445566"]),
                                                         ("status", "=", "ONAY")]))

    def test_already_refused_is_skipped_silently(self):
        self.record("twice@example.com", channel="EPOSTA")
        self.record("twice@example.com", channel="EPOSTA", status="RET", source="HS_EPOSTA")
        before = self.events("twice@example.com", "EPOSTA")
        self.env["mail.blacklist"]._add("twice@example.com")  # no error
        self.assertEqual(self.events("twice@example.com", "EPOSTA"), before)

    def test_refusal_the_ledger_rejects_is_logged_masked_and_blacklist_kept(self):
        # İYS reports a consent dated after the opt-out (clock skew): the ledger refuses the RET
        # (H178); the visitor's opt-out itself must still be saved.
        self.Consent._iys_record_movements([{
            "brand_id": self.brand.id, "channel": "EPOSTA", "recipient_type": "BIREYSEL",
            "address": "later@example.com", "status": "ONAY", "source": "HS_WEB",
            "consent_date": self._now() + timedelta(hours=1), "transaction_id": "f" * 64,
        }], "iys_pull")
        with patch.object(iys_consent_module, "_logger") as logger:
            entry = self.env["mail.blacklist"]._add("later@example.com")
        self.assertTrue(entry.active)
        self.assertEqual(self.last_event("later@example.com", "EPOSTA").new_status, "ONAY")
        # The other brands of the company, with nothing on record, do record the refusal.
        self.assertEqual(self.last_event("later@example.com", "EPOSTA", brand=self.brand_b).new_status, "RET")
        logged = [call.args[0] % call.args[1:] for call in logger.info.call_args_list]
        skipped = [line for line in logged if "skipped" in line]
        self.assertEqual(len(skipped), 1)
        self.assertIn("H178", skipped[0])
        self.assertIn("l***@example.com", skipped[0])
        self.assertNotIn("later@example.com", "\n".join(logged))

    def test_brands_and_recipient_types(self):
        """Every active brand of the companies that hold a consent of the address, plus the default
        brand; for the recipient types on record."""
        tacir = self.env["res.partner"].create({"name": "Tacir", "is_company": True, "vat": "1234567890",
                                                "email": "shop@example.com"})
        self.assertEqual(tacir.iys_email_state, "allowed")  # a merchant may be messaged until RET
        self.record("shop@example.com", channel="EPOSTA", recipient_type="BIREYSEL", brand=self.brand_b)
        self.env["mail.blacklist"]._add("shop@example.com")
        # Brand B held an individual's ONAY: refused there and queued for İYS.
        self.assertRefusal("shop@example.com", "EPOSTA", "blacklist", "HS_KARAR", brand=self.brand_b)
        # Every active brand of the company (brand A, the default, included), for both types on record.
        brands = self.env["iys.brand"].search([("company_id", "=", self.env.company.id)])
        self.assertIn(self.brand, brands)
        consents = self.Consent.search([("address", "=", "shop@example.com")])
        self.assertEqual(
            {(c.brand_id, c.recipient_type, c.status, c.sync_state) for c in consents},
            {(brand, rtype, "RET", "pending" if (brand, rtype) == (self.brand_b, "BIREYSEL") else "none")
             for brand in brands for rtype in ("BIREYSEL", "TACIR")},
        )
        # The merchant's refusal blocks it although İYS had nothing to withdraw.
        self.assertEqual(tacir.iys_email_state, "refused")

    def test_phone_blacklist_is_an_sms_refusal_only(self):
        self.record("+905324445566", channel="MESAJ")
        self.record("+905324445566", channel="ARAMA")
        self.env["phone.blacklist"].add("0532 444 55 66")
        self.assertRefusal("+905324445566", "MESAJ", "blacklist", "HS_KARAR")
        self.assertEqual(self.last_event("+905324445566", "ARAMA").new_status, "ONAY")
        self.assertEqual((self.partner.iys_sms_state, self.partner.iys_call_state), ("refused", "unconfirmed"))

    def test_phone_blacklist_from_the_partner_and_reactivation(self):
        other = self.env["res.partner"].create({"name": "Other", "mobile": "0532 444 55 77"})
        earlier = self._now() - timedelta(hours=2)
        with freeze_time(earlier):
            self.record("+905324445577", consent_date=earlier - timedelta(minutes=5))
            other._phone_set_blacklisted()
            self.assertRefusal("+905324445577", "MESAJ", "blacklist", "HS_KARAR")
            other._phone_reset_blacklisted()
        self.record("+905324445577")
        self.env["phone.blacklist"].create([{"number": "+905324445577"}])  # reactivates the archived entry
        self.assertEqual(self.events("+905324445577", "MESAJ").mapped("new_status"), ["RET", "ONAY", "RET", "ONAY"])
        self.env["phone.blacklist"]._add(["+905324445577"])  # already active, already refused: nothing new
        self.assertEqual(len(self.events("+905324445577", "MESAJ")), 4)


@tagged("post_install", "-at_install", "l10n_tr_iys")
class TestUnsubscribeBridge(HttpCase, OptoutCommon):
    """The unsubscribe pages of mass mailing and SMS marketing, as a recipient uses them."""

    def mailing(self, **values):
        return self.env["mailing.mailing"].create({
            "subject": "Kampanya", "body_html": "<p>Merhaba</p>", "mailing_type": "mail",
            "mailing_model_id": self.env["ir.model"]._get_id("res.partner"), **values,
        })

    def test_unsubscribe_link_of_a_mailing_on_contacts(self):
        self.record("optout@example.com", channel="EPOSTA")
        mailing = self.mailing()
        # The unsubscribe page itself (later 18.0 releases link a confirmation page first, which
        # posts to the same code path).
        token = mailing._generate_mailing_recipient_token(self.partner.id, "optout@example.com")
        response = self.url_open(f"/mailing/{mailing.id}/unsubscribe?document_id={self.partner.id}"
                                 f"&email=optout%40example.com&hash_token={token}")
        self.assertEqual(response.status_code, 200)
        self.env.invalidate_all()
        event = self.assertRefusal("optout@example.com", "EPOSTA", "unsubscribe", "HS_EPOSTA")
        self.assertEqual(event.ip_address, "127.0.0.1")
        self.assertIn("Kampanya", event.evidence_note)
        self.assertTrue(self.partner.is_blacklisted)
        self.assertEqual(self.partner.iys_email_state, "refused")

    def test_one_click_unsubscribe_of_a_mailing_on_lists(self):
        contact = self.env["mailing.contact"].create({"name": "Listed", "email": "listed@example.com"})
        mlist = self.env["mailing.list"].create({"name": "Bülten", "contact_ids": [(4, contact.id)]})
        self.record("listed@example.com", channel="EPOSTA")
        mailing = self.mailing(mailing_model_id=self.env["ir.model"]._get_id("mailing.list"),
                               contact_list_ids=[(4, mlist.id)])
        # The one-click unsubscribe a mail client posts (List-Unsubscribe-Post).
        # (Mail clients post "List-Unsubscribe=One-Click", which Odoo ignores with a warning; any
        # body makes it a POST.)
        response = self.url_open(mailing._get_unsubscribe_oneclick_url("listed@example.com", contact.id),
                                 data={"document_id": contact.id})
        self.assertEqual(response.status_code, 200)
        self.env.invalidate_all()
        self.assertTrue(contact.subscription_ids.opt_out)
        self.assertFalse(contact.is_blacklisted)  # Odoo only opts out of the list...
        self.assertRefusal("listed@example.com", "EPOSTA", "unsubscribe", "HS_EPOSTA")  # ...İYS gets the RET
        self.assertEqual(contact.iys_email_state, "refused")

    def test_blocklist_button_of_the_subscription_page(self):
        self.record("optout@example.com", channel="EPOSTA")
        mailing = self.mailing()
        result = self.make_jsonrpc_request("/mailing/blocklist/add", {
            "mailing_id": mailing.id, "document_id": self.partner.id, "email": "optout@example.com",
            "hash_token": mailing._generate_mailing_recipient_token(self.partner.id, "optout@example.com"),
        })
        self.assertTrue(result)
        self.env.invalidate_all()
        self.assertRefusal("optout@example.com", "EPOSTA", "unsubscribe", "HS_WEB")

    def sms_trace(self, mailing, record, number):
        return self.env["mailing.trace"].create({
            "trace_type": "sms", "mass_mailing_id": mailing.id, "model": record._name, "res_id": record.id,
            "sms_number": number,
        })

    def test_sms_unsubscribe_page_blacklists_and_refuses(self):
        self.record("+905324445566")
        mailing = self.mailing(mailing_type="sms", body_plaintext="Kampanya", sms_allow_unsubscribe=True)
        trace = self.sms_trace(mailing, self.partner, "+905324445566")
        response = self.url_open(f"/sms/{mailing.id}/unsubscribe/{trace.sms_code}?sms_number=%2B905324445566")
        self.assertEqual(response.status_code, 200)
        self.env.invalidate_all()
        self.assertTrue(self.partner.phone_sanitized_blacklisted)
        self.assertRefusal("+905324445566", "MESAJ", "unsubscribe", "HS_MESAJ")
        self.assertEqual(self.partner.iys_sms_state, "refused")

    def test_sms_unsubscribe_page_on_lists(self):
        contact = self.env["mailing.contact"].create({"name": "SMS listed", "mobile": "0532 444 55 88"})
        mlist = self.env["mailing.list"].create({"name": "SMS", "contact_ids": [(4, contact.id)]})
        self.record("+905324445588")
        mailing = self.mailing(mailing_type="sms", body_plaintext="Kampanya", sms_allow_unsubscribe=True,
                               mailing_model_id=self.env["ir.model"]._get_id("mailing.list"),
                               contact_list_ids=[(4, mlist.id)])
        trace = self.sms_trace(mailing, contact, "+905324445588")
        response = self.url_open(f"/sms/{mailing.id}/unsubscribe/{trace.sms_code}?sms_number=%2B905324445588")
        self.assertEqual(response.status_code, 200)
        self.env.invalidate_all()
        self.assertTrue(contact.subscription_ids.opt_out)
        self.assertRefusal("+905324445588", "MESAJ", "unsubscribe", "HS_MESAJ")
        self.assertEqual(contact.iys_sms_state, "refused")

    def test_backend_list_opt_out_is_not_a_refusal(self):
        contact = self.env["mailing.contact"].create({"name": "Housekeeping", "email": "keep@example.com"})
        mlist = self.env["mailing.list"].create({"name": "Old list", "contact_ids": [(4, contact.id)]})
        self.record("keep@example.com", channel="EPOSTA")
        contact.subscription_ids.filtered(lambda s: s.list_id == mlist).opt_out = True
        self.assertEqual(self.last_event("keep@example.com", "EPOSTA").new_status, "ONAY")
