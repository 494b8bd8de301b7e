# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
import itertools
from datetime import datetime, timedelta

from psycopg2 import IntegrityError

from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import new_test_user, tagged
from odoo.tools import SQL, mute_logger

from ..iyslib.masking import mask_recipient
from ..models import iys_policy
from ..models.iys_consent import ledger
from .common import IysCommon


@tagged("post_install", "-at_install", "l10n_tr_iys")
class TestConsentLedger(IysCommon):
    def test_onay_creates_consent_event_and_outbox(self):
        result = self.record("0532 111 22 33")
        consent = result.consent
        self.assertTrue(result.ok)
        self.assertEqual(consent.address, "+905321112233")
        self.assertEqual(consent.status, "ONAY")
        self.assertEqual(consent.sync_state, "pending")
        self.assertTrue(consent.deadline)
        self.assertEqual(len(consent.event_ids), 1)
        event = consent.event_ids
        self.assertEqual((event.old_status, event.new_status, event.origin), (False, "ONAY", "api"))
        self.assertEqual(event.push_state, "pending")
        outbox = self.env["iys.outbox"].search([("event_id", "=", event.id)])
        self.assertEqual(outbox.state, "pending")
        self.assertEqual(outbox.payload["recipient"], "+905321112233")
        self.assertEqual(outbox.payload["type"], "MESAJ")
        self.assertRegex(outbox.payload["consentDate"], r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")

    def test_turkish_number_spellings_share_one_consent(self):
        first = self.record("0532 111 22 33").consent
        for spelling in ("05321112233", "905321112233", "+90 532 111 22 33", "532 111 22 33", "(0532) 111-22-33"):
            with self.subTest(spelling=spelling):
                self.assertEqual(self.Consent._iys_normalize("MESAJ", spelling), "+905321112233")
        later = self.record("+90 532 111 22 33", status="RET", source="HS_CAGRI_MERKEZI").consent
        self.assertEqual(first, later)
        self.assertEqual(first.status, "RET")
        events = self.env["iys.consent.event"].search([("consent_id", "=", first.id)])
        self.assertEqual(events.mapped("new_status"), ["RET", "ONAY"])
        self.assertEqual(events.mapped("old_status"), ["ONAY", False])

    def test_email_normalised(self):
        consent = self.record("  Ayse.Yilmaz@Example.COM ", channel="EPOSTA", source="HS_WEB").consent
        self.assertEqual(consent.address, "ayse.yilmaz@example.com")

    def test_malformed_addresses_refused(self):
        for channel, address in (("MESAJ", "12345"), ("MESAJ", "+9005321112233"), ("EPOSTA", "not-an-email"),
                                 ("EPOSTA", "çiğdem@example.com"), ("MESAJ", "ayse@example.com")):
            with self.subTest(address=address), self.assertRaises(ValidationError) as caught:
                self.record(address, channel=channel)
            self.assertIn("H12", caught.exception.args[0] + " H12")  # H120/H121/H464 codes are quoted
        self.assertFalse(self.Consent.search([("brand_id", "=", self.brand.id)]))

    def test_future_date_refused_with_specific_message(self):
        with self.assertRaises(ValidationError) as caught:
            self.record("05321112233", consent_date=self._now() + timedelta(days=2))
        self.assertIn("H162", caught.exception.args[0])
        self.assertFalse(self.Consent.search([("address", "=", "+905321112233")]))

    def test_unknown_source_refused(self):
        with self.assertRaises(ValidationError) as caught:
            self.record("05321112233", source="HS_TELEPATI")
        self.assertIn("H119", caught.exception.args[0])

    def test_iys_source_cannot_be_sent_by_us(self):
        with self.assertRaises(ValidationError):
            self.record("05321112233", source="IYS_WEB")

    def test_hs_karar_only_for_ret(self):
        with self.assertRaises(ValidationError) as caught:
            self.record("05321112233", source="HS_KARAR", status="ONAY")
        self.assertIn("H408", caught.exception.args[0])

    def test_hs_2015_pinned_date(self):
        with self.assertRaises(ValidationError) as caught:
            self.record("05321112233", source="HS_2015", consent_date=datetime(2014, 3, 1))
        self.assertIn("H15", caught.exception.args[0])
        # 2015-05-01 00:00:00 Turkish time is 2015-04-30 21:00:00 UTC.
        consent = self.record("05321112233", source="HS_2015", consent_date=datetime(2015, 4, 30, 21, 0, 0)).consent
        self.assertEqual(consent.source, "HS_2015")
        self.assertFalse(consent.deadline)

    def test_older_than_three_business_days(self):
        old = self._now() - timedelta(days=15)
        with self.assertRaises(ValidationError) as caught:
            self.record("05321112233", consent_date=old)
        self.assertIn("H467", caught.exception.args[0])
        # A refusal that comes too late for İYS is still honoured in Odoo, and not sent.
        result = self.record("05321112244", status="RET", source="HS_CAGRI_MERKEZI", consent_date=old)
        self.assertEqual(result.consent.status, "RET")
        self.assertEqual(result.consent.sync_state, "none")
        self.assertIn("H467", result.consent.iys_error_message)
        self.assertFalse(self.env["iys.outbox"].search([("consent_id", "=", result.consent.id)]))

    def test_first_record_ret_kept_locally_not_sent(self):
        result = self.record("05321112233", status="RET", source="HS_MESAJ")
        self.assertEqual(result.consent.status, "RET")
        self.assertEqual(result.consent.sync_state, "none")
        self.assertFalse(result.event.to_send)

    def test_ret_over_ret_and_older_date_refused(self):
        self.record("05321112233")
        self.record("05321112233", status="RET", source="HS_CAGRI_MERKEZI")
        with self.assertRaises(ValidationError) as caught:
            self.record("05321112233", status="RET", source="HS_CAGRI_MERKEZI")
        self.assertIn("H174", caught.exception.args[0])
        with self.assertRaises(ValidationError) as caught:
            self.record("05321112233", status="ONAY", consent_date=self._now() - timedelta(hours=3))
        self.assertIn("H178", caught.exception.args[0])

    def test_bireysel_and_tacir_side_by_side(self):
        bireysel = self.record("05321112233").consent
        tacir = self.record("05321112233", recipient_type="TACIR", status="RET", source="HS_KARAR").consent
        self.assertNotEqual(bireysel, tacir)
        self.assertEqual((bireysel.status, tacir.status), ("ONAY", "RET"))

    def test_tacir_first_record_without_date(self):
        result = self.record("05321112255", recipient_type="TACIR", source=False, consent_date=False)
        self.assertTrue(result.ok)
        self.assertNotIn("consentDate", result.event and self.env["iys.outbox"].search(
            [("event_id", "=", result.event.id)]).payload)

    def test_batch_keeps_good_rows(self):
        movs = [
            {"brand_id": self.brand.id, "channel": "MESAJ", "recipient_type": "BIREYSEL", "address": a,
             "status": "ONAY", "source": "HS_WEB", "consent_date": self._now() - timedelta(minutes=1)}
            for a in ("05321110001", "garbage", "05321110003")
        ]
        results = self.Consent._iys_record_movements(movs, "import", raise_on_error=False)
        self.assertEqual([r.ok for r in results], [True, False, True])
        # the input is quoted masked (Odoo logs error texts): "ga***ge"
        self.assertIn(mask_recipient("garbage"), results[1].error)
        self.assertNotIn("garbage", results[1].error)
        self.assertEqual(self.Consent.search_count([("address", "in", ["+905321110001", "+905321110003"])]), 2)

    def test_unique_index(self):
        consent = self.record("05321112233").consent
        with mute_logger("odoo.sql_db"), self.assertRaises(IntegrityError), self.cr.savepoint():
            ledger(self.Consent).create(
                {"brand_id": consent.brand_id.id, "channel": "MESAJ", "recipient_type": "BIREYSEL",
                 "address": "+905321112233", "status": "ONAY"}
            )

    def test_direct_writes_refused(self):
        consent = self.record("05321112233").consent
        with self.assertRaises(UserError):
            consent.write({"status": "RET"})
        with self.assertRaises(UserError):
            self.Consent.create({"brand_id": self.brand.id, "channel": "MESAJ", "address": "+905321119999",
                                 "status": "ONAY"})
        with self.assertRaises(UserError):
            consent.with_user(self.iys_manager).unlink()

    def test_events_append_only_even_for_managers(self):
        event = self.record("05321112233").event
        for user in (self.iys_user, self.iys_manager):
            with self.assertRaises(AccessError):
                event.with_user(user).write({"new_status": "RET"})
            with self.assertRaises(AccessError):
                event.with_user(user).unlink()
            with self.assertRaises(AccessError):
                self.env["iys.consent.event"].with_user(user).create(
                    {"consent_id": event.consent_id.id, "new_status": "RET", "origin": "api"}
                )
        # Even the ledger may only add İYS receipts, never rewrite the movement.
        with self.assertRaises(AccessError):
            ledger(event).write({"new_status": "RET"})
        ledger(event).write({"transaction_id": "a" * 64})
        self.assertEqual(event.transaction_id, "a" * 64)
        self.assertEqual(event.with_user(self.iys_user).new_status, "ONAY")

    def test_incoming_movement_deduplicated_and_newest_wins(self):
        self.record("05321112233")
        consent = self.Consent.search([("address", "=", "+905321112233")])
        citizen = {
            "brand_id": self.brand.id, "channel": "MESAJ", "recipient_type": "BIREYSEL",
            "address": "+905321112233", "status": "RET", "source": "IYS_KISAMESAJ",
            "consent_date": self._now() - timedelta(minutes=1), "transaction_id": "b" * 64,
            "creation_date": self._now(),
        }
        first = self.Consent._iys_record_movements([citizen], "iys_pull")[0]
        self.assertEqual((consent.status, consent.sync_state, consent.source), ("RET", "confirmed", "IYS_KISAMESAJ"))
        self.assertFalse(first.event.to_send)
        again = self.Consent._iys_record_movements([citizen], "iys_push")[0]
        self.assertTrue(again.skipped)
        self.assertEqual(self.env["iys.consent.event"].search_count([("transaction_id", "=", "b" * 64)]), 1)
        stale = dict(citizen, status="ONAY", transaction_id="c" * 64, consent_date=self._now() - timedelta(days=1))
        self.assertTrue(self.Consent._iys_record_movements([stale], "iys_pull")[0].skipped)
        self.assertEqual(consent.status, "RET")
        unknown = dict(citizen, status="ONAY", source="IYS_YEPYENI", transaction_id="d" * 64,
                       consent_date=self._now())
        self.Consent._iys_record_movements([unknown], "iys_pull")
        self.assertEqual(consent.source, "IYS_DIGER")
        last_event = self.env["iys.consent.event"].search([("consent_id", "=", consent.id)], limit=1)
        self.assertEqual(last_event.source_raw, "IYS_YEPYENI")

    def test_access_rights_per_group(self):
        consent = self.record("05321112233").consent
        with self.assertRaises(AccessError):
            consent.with_user(self.plain_user).read(["status"])
        self.assertEqual(consent.with_user(self.iys_user).status, "ONAY")
        # An İYS user records movements through the ledger; events are created by the system for them.
        result = self.Consent.with_user(self.iys_user)._iys_record_movements(
            [{"brand_id": self.brand.id, "channel": "EPOSTA", "recipient_type": "BIREYSEL",
              "address": "x@example.com", "status": "ONAY", "source": "HS_WEB",
              "consent_date": self._now() - timedelta(minutes=1)}], "form")[0]
        self.assertEqual(result.event.user_id, self.iys_user)

    def test_multi_company_isolation(self):
        other_company = self.env["res.company"].create({"name": "Other İYS Co"})
        other_account = self.env["iys.account"].create(
            {"name": "Other", "iys_code": "900009", "company_id": other_company.id}
        )
        other_brand = self.env["iys.brand"].create({"name": "Other", "code": "900009", "account_id": other_account.id})
        mine = self.record("05321112233").consent
        theirs = self.record("05321112233", brand=other_brand).consent
        visible = self.Consent.with_user(self.iys_manager).search([("address", "=", "+905321112233")])
        self.assertEqual(visible, mine)
        self.assertNotIn(theirs, visible)


@tagged("post_install", "-at_install", "l10n_tr_iys")
class TestPolicy(IysCommon):
    def test_policy_rules(self):
        decide = iys_policy.decide
        self.assertEqual(decide("BIREYSEL", None, None), iys_policy.NO_CONSENT)
        self.assertEqual(decide("BIREYSEL", "ONAY", "confirmed"), iys_policy.ALLOWED)
        self.assertEqual(decide("BIREYSEL", "ONAY", "pending"), iys_policy.UNCONFIRMED)
        self.assertEqual(decide("BIREYSEL", "ONAY", "pending", "allow"), iys_policy.ALLOWED)
        # İYS rejected the ONAY (or it is kept in Odoo only): İYS holds no consent, and never will
        self.assertEqual(decide("BIREYSEL", "ONAY", "rejected", "allow"), iys_policy.NO_CONSENT)
        self.assertEqual(decide("BIREYSEL", "ONAY", "rejected", "block"), iys_policy.NO_CONSENT)
        self.assertEqual(decide("BIREYSEL", "ONAY", "none", "allow"), iys_policy.NO_CONSENT)
        self.assertEqual(decide("BIREYSEL", "RET", "confirmed"), iys_policy.REFUSED)
        self.assertEqual(decide("TACIR", None, None), iys_policy.ALLOWED)
        self.assertEqual(decide("TACIR", "ONAY", "pending"), iys_policy.ALLOWED)
        self.assertEqual(decide("TACIR", "RET", "none"), iys_policy.REFUSED)

    def test_sql_twin_matches_python_on_every_combination(self):
        rtypes = ("BIREYSEL", "TACIR", None)
        statuses = ("ONAY", "RET", None)
        syncs = ("none", "pending", "sent", "confirmed", "rejected", None)
        # the dealer dimension: no dealer (the brand sends), or a dealer with or without access
        accesses = (None, True, False)
        seen = set()
        for policy in ("block", "allow"):
            combos = list(itertools.product(rtypes, statuses, syncs, accesses))
            self.env.cr.execute(SQL(
                "SELECT r, s, y, a, %s, %s FROM unnest(%s::varchar[], %s::varchar[], %s::varchar[], %s::boolean[])"
                " AS t(r, s, y, a)",
                iys_policy.decide_sql(SQL("t.r"), SQL("t.s"), SQL("t.y"), policy),
                iys_policy.decide_sql(SQL("t.r"), SQL("t.s"), SQL("t.y"), policy, SQL("t.a")),
                [c[0] for c in combos], [c[1] for c in combos], [c[2] for c in combos], [c[3] for c in combos],
            ))
            rows = self.env.cr.fetchall()
            self.assertEqual(len(rows), len(combos))
            for r, s, y, a, without_dealer, with_dealer in rows:
                with self.subTest(policy=policy, rtype=r, status=s, sync=y, access=a):
                    if a is None:
                        self.assertEqual(without_dealer, iys_policy.decide(r, s, y, policy))
                        # a dealer whose access is unknown (NULL) has no access
                        self.assertEqual(with_dealer, iys_policy.decide(r, s, y, policy, False))
                    else:
                        self.assertEqual(with_dealer, iys_policy.decide(r, s, y, policy, a))
                    seen.add(with_dealer)
        self.assertIn(iys_policy.NO_DEALER_ACCESS, seen, "the dealer dimension is exercised")

    def test_policy_dealer_rules(self):
        decide = iys_policy.decide
        # the brand sends: as before
        self.assertEqual(decide("BIREYSEL", "ONAY", "confirmed", dealer_access=None), iys_policy.ALLOWED)
        # a dealer: an individual's consent it may use, or not
        self.assertEqual(decide("BIREYSEL", "ONAY", "confirmed", dealer_access=True), iys_policy.ALLOWED)
        self.assertEqual(decide("BIREYSEL", "ONAY", "confirmed", dealer_access=False), iys_policy.NO_DEALER_ACCESS)
        self.assertEqual(decide("BIREYSEL", "ONAY", "pending", dealer_access=True), iys_policy.UNCONFIRMED)
        self.assertEqual(decide("BIREYSEL", "ONAY", "pending", "allow", dealer_access=True), iys_policy.ALLOWED)
        self.assertEqual(decide("BIREYSEL", "ONAY", "pending", dealer_access=False), iys_policy.NO_DEALER_ACCESS)
        # no consent is no consent, for the brand and its dealers
        self.assertEqual(decide("BIREYSEL", None, None, dealer_access=False), iys_policy.NO_CONSENT)
        self.assertEqual(decide("BIREYSEL", "ONAY", "rejected", dealer_access=True), iys_policy.NO_CONSENT)
        # a refusal always wins; merchants until they refuse
        self.assertEqual(decide("BIREYSEL", "RET", "confirmed", dealer_access=True), iys_policy.REFUSED)
        self.assertEqual(decide("TACIR", "RET", "confirmed", dealer_access=True), iys_policy.REFUSED)
        self.assertEqual(decide("TACIR", None, None, dealer_access=False), iys_policy.ALLOWED)
        self.assertEqual(decide("TACIR", "ONAY", "confirmed", dealer_access=False), iys_policy.ALLOWED)

    def test_gate_decisions_bulk(self):
        self.record("05321110001")  # BIREYSEL ONAY pending
        self.record("05321110002", status="RET", source="HS_WEB")  # first RET: local only
        self.Consent._iys_record_movements([{
            "brand_id": self.brand.id, "channel": "MESAJ", "recipient_type": "BIREYSEL", "address": "05321110003",
            "status": "ONAY", "source": "IYS_WEB", "consent_date": self._now(), "transaction_id": "e" * 64,
        }], "iys_pull")
        decisions = self.Consent._iys_gate_decisions(self.brand, "MESAJ", [
            ("+905321110001", "BIREYSEL"), ("+905321110002", "BIREYSEL"), ("+905321110003", "BIREYSEL"),
            ("+905321110004", "BIREYSEL"), ("+905321110004", "TACIR"), ("+905321110002", "TACIR"),
        ])
        self.assertEqual(decisions, {
            ("+905321110001", "BIREYSEL"): "unconfirmed",
            ("+905321110002", "BIREYSEL"): "refused",
            ("+905321110003", "BIREYSEL"): "allowed",
            ("+905321110004", "BIREYSEL"): "no_consent",
            ("+905321110004", "TACIR"): "allowed",
            ("+905321110002", "TACIR"): "allowed",
        })
        # Another brand has nothing on record.
        other = self.Consent._iys_gate_decisions(self.brand_b, "MESAJ", [("+905321110003", "BIREYSEL")])
        self.assertEqual(other, {("+905321110003", "BIREYSEL"): "no_consent"})
        self.env.company.iys_pending_policy = "allow"
        decisions = self.Consent._iys_gate_decisions(self.brand, "MESAJ", [("+905321110001", "BIREYSEL")])
        self.assertEqual(decisions, {("+905321110001", "BIREYSEL"): "allowed"})


@tagged("post_install", "-at_install", "l10n_tr_iys")
class TestRecipientTypes(IysCommon):
    def test_partner_type_from_company(self):
        # Conservative default rule: only a company with a tax number is a merchant.
        company = self.env["res.partner"].create({"name": "Acme A.Ş.", "is_company": True, "vat": "1234567890"})
        no_vat = self.env["res.partner"].create({"name": "Acme 2", "is_company": True})
        person = self.env["res.partner"].create({"name": "Ayşe", "parent_id": company.id})
        alone = self.env["res.partner"].create({"name": "Mehmet"})
        self.assertEqual(company.iys_recipient_type, "TACIR")
        self.assertEqual(no_vat.iys_recipient_type, "BIREYSEL")
        self.assertEqual(person.iys_recipient_type, "BIREYSEL")
        self.assertEqual(alone.iys_recipient_type, "BIREYSEL")
        alone.iys_recipient_type = "TACIR"  # editable
        self.assertEqual(alone._iys_recipient_types(), {alone.id: "TACIR"})

    def test_lead_and_contact_types(self):
        company = self.env["res.partner"].create({"name": "Acme", "is_company": True, "vat": "1234567890",
                                                  "email": "info@acme.com.tr"})
        lead = self.env["crm.lead"].create({"name": "Deal", "partner_id": company.id})
        orphan = self.env["crm.lead"].create({"name": "Walk-in", "email_from": "x@example.com"})
        self.assertEqual(lead.iys_recipient_type, "TACIR")
        self.assertEqual(orphan.iys_recipient_type, "BIREYSEL")
        # Linking a lead with an address of its own to a merchant does not make that address a
        # merchant's (anyone who may edit a lead could then message it without consent).
        salesman = new_test_user(self.env, login="iys_t_salesman", groups="sales_team.group_sale_salesman")
        walk_in = self.env["crm.lead"].with_user(salesman).create({"name": "Walk-in", "phone": "+90 532 555 66 77"})
        walk_in.write({"partner_id": company.id})
        self.assertEqual(walk_in.phone_sanitized, "+905325556677", "the lead keeps its own number")
        self.assertEqual(walk_in.iys_recipient_type, "BIREYSEL")
        self.assertIn("not its merchant contact's", walk_in.iys_recipient_type_reason)
        contact = self.env["mailing.contact"].create({"name": "Acme", "email": "INFO@acme.com.tr"})
        stranger = self.env["mailing.contact"].create({"name": "S", "email": "s@example.com"})
        self.assertEqual(contact.iys_recipient_type, "TACIR")
        self.assertEqual(stranger.iys_recipient_type, "BIREYSEL")

    def test_two_numbers_two_addresses(self):
        partner = self.env["res.partner"].create(
            {"name": "Two phones", "mobile": "0532 111 22 33", "phone": "+90 212 555 11 22",
             "email": "Two@Example.com"}
        )
        self.assertEqual(partner._iys_addresses("MESAJ")[partner.id], ["+905321112233", "+902125551122"])
        self.assertEqual(partner._iys_addresses("EPOSTA")[partner.id], ["two@example.com"])
