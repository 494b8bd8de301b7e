# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
import base64
from datetime import datetime, timedelta

from odoo import fields
from odoo.exceptions import AccessError, UserError
from odoo.tests import Form, tagged

from .common import IysCommon


@tagged("post_install", "-at_install", "l10n_tr_iys")
class TestConsentWizard(IysCommon):
    """The contact form's toggles and the consent wizard they open."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tr = cls.env.ref("base.tr")
        cls.partner = cls.env["res.partner"].create({
            "name": "Ayşe Yılmaz", "country_id": cls.tr.id, "mobile": "0532 111 22 33",
            "email": "ayse@example.com",
        })

    def open_wizard(self, record, channel="MESAJ", mode="consent", user=None):
        """What clicking a toggle does: the record's action, then the wizard form it opens."""
        record = record.with_user(user) if user else record
        action = record.with_context(iys_channel=channel, iys_mode=mode).action_iys_open_consent_wizard()
        self.assertEqual(action["res_model"], "iys.consent.wizard")
        self.assertEqual(action["target"], "new")
        Wizard = self.env["iys.consent.wizard"].with_context(**action["context"])
        if user:
            Wizard = Wizard.with_user(user)
        return Form(Wizard)

    def consents(self, address, channel="MESAJ"):
        return self.Consent.search([("address", "=", address), ("channel", "=", channel)])

    def test_toggle_on_records_consent_through_the_ledger(self):
        self.assertEqual(self.partner.iys_sms_state, "no_consent")
        form = self.open_wizard(self.partner)
        self.assertEqual(form.mode, "consent")
        self.assertEqual(form.channel, "MESAJ")
        self.assertEqual(form.brand_id, self.brand)
        self.assertEqual(form.recipient_type, "BIREYSEL")
        self.assertEqual(form.source, "HS_MESAJ")
        self.assertAlmostEqual(form.consent_date, fields.Datetime.now(), delta=timedelta(minutes=1))
        self.assertEqual(len(form.address_ids), 1)
        with form.address_ids.edit(0) as line:
            self.assertTrue(line.selected)
            self.assertEqual(line.address, "+905321112233")
            self.assertEqual(line.current_status, "Nothing on record")
        form.source_consent = "HS_FIZIKSEL_ORTAM"
        form.consent_date = self._next_date()
        wizard = form.save()
        action = wizard.action_confirm()
        self.assertEqual(action["params"]["type"], "success")
        self.assertEqual(action["params"]["next"], {"type": "ir.actions.act_window_close"})
        consent = self.consents("+905321112233")
        self.assertEqual((consent.status, consent.source, consent.sync_state), ("ONAY", "HS_FIZIKSEL_ORTAM", "pending"))
        event = consent.event_ids
        self.assertEqual((event.origin, event.partner_id, event.user_id), ("wizard", self.partner, self.env.user))
        self.assertTrue(self.env["iys.outbox"].search([("event_id", "=", event.id), ("state", "=", "pending")]))
        # Block policy (default): an individual's ONAY waits for İYS before commercial SMS may go.
        self.assertEqual(self.partner.iys_sms_state, "unconfirmed")
        self.assertTrue(self.partner.iys_waiting)
        self.assertEqual(self.partner.iys_sms_source, "HS_FIZIKSEL_ORTAM")
        self.assertEqual(self.partner.iys_sms_date, consent.consent_date)
        self.assertEqual(self.partner.iys_call_state, "no_consent")  # other channels untouched

    def test_toggle_off_records_refusal(self):
        self.record("+905321112233")
        self.assertEqual(self.partner.iys_sms_state, "unconfirmed")
        form = self.open_wizard(self.partner, mode="refusal")
        self.assertEqual(form.mode, "refusal")
        self.assertEqual(form.source, "HS_MESAJ")  # the channel the refusal came through
        with form.address_ids.edit(0) as line:
            self.assertIn("Consent (ONAY)", line.current_status)
        form.source = "HS_KARAR"  # our own decision
        form.save().action_confirm()
        consent = self.consents("+905321112233")
        self.assertEqual((consent.status, consent.source, consent.sync_state), ("RET", "HS_KARAR", "pending"))
        self.assertEqual(consent.event_ids.mapped("new_status"), ["RET", "ONAY"])
        self.assertEqual(self.partner.iys_sms_state, "refused")

    def test_refusal_without_record_is_kept_in_odoo_and_said_so(self):
        action = self.open_wizard(self.partner, channel="ARAMA", mode="refusal").save().action_confirm()
        consent = self.consents("+905321112233", "ARAMA")
        self.assertEqual((consent.status, consent.sync_state), ("RET", "none"))
        self.assertEqual(action["params"]["type"], "warning")
        self.assertIn("H175", action["params"]["message"])
        self.assertFalse(self.env["iys.outbox"].search([("consent_id", "=", consent.id)]))
        self.assertEqual(self.partner.iys_call_state, "refused")

    def test_evidence_attachment_and_note_on_the_event(self):
        scan = self.env["ir.attachment"].create({
            "name": "islak-imza.pdf", "datas": base64.b64encode(b"%PDF-1.4 signed form"),
            "res_model": "iys.consent.wizard", "res_id": 0,
        })
        form = self.open_wizard(self.partner, channel="EPOSTA")
        self.assertEqual(form.source, "HS_EPOSTA")
        form.source_consent = "HS_ISLAK_IMZA"
        form.consent_date = self._next_date()
        form.attachment_ids.add(scan)
        form.note = "Signed at the Kadıköy store"
        form.notice_version = "ETK-2026-01"
        form.save().action_confirm()
        event = self.consents("ayse@example.com", "EPOSTA").event_ids
        self.assertEqual(event.attachment_ids, scan)
        self.assertEqual((scan.res_model, scan.res_id), ("iys.consent.event", event.id))
        self.assertEqual(event.evidence_note, "Signed at the Kadıköy store")
        self.assertEqual(event.notice_version, "ETK-2026-01")
        self.assertEqual(self.partner.iys_email_state, "unconfirmed")

    def test_two_numbers_default_all_or_one_chosen(self):
        partner = self.env["res.partner"].create({
            "name": "Two numbers", "country_id": self.tr.id, "mobile": "0532 111 22 44", "phone": "0542 111 22 55",
        })
        form = self.open_wizard(partner)
        self.assertEqual(len(form.address_ids), 2)
        with form.address_ids.edit(1) as line:
            self.assertEqual(line.address, "+905421112255")
            line.selected = False
        form.consent_date = self._next_date()
        form.save().action_confirm()
        self.assertTrue(self.consents("+905321112244"))
        self.assertFalse(self.consents("+905421112255"))
        # Default: every number.
        form = self.open_wizard(partner, channel="ARAMA")
        form.consent_date = self._next_date()
        form.save().action_confirm()
        self.assertEqual(len(self.Consent.search([("channel", "=", "ARAMA"), ("address", "in", [
            "+905321112244", "+905421112255"])])), 2)
        self.assertEqual(partner.iys_call_state, "unconfirmed")

    def test_validation_messages_surface_and_nothing_is_saved(self):
        # Future date (H162).
        form = self.open_wizard(self.partner)
        form.consent_date = fields.Datetime.now() + timedelta(days=1)
        with self.assertRaisesRegex(UserError, r"(?s)Nothing was recorded.*H162"):
            form.save().action_confirm()
        # A source only valid for refusals (H408): not offered for a consent, refused if sent anyway;
        # and a source that is no HS_* code (H119).
        wizard = self.open_wizard(self.partner).save()
        wizard.source = "HS_KARAR"
        self.assertIn("H408", wizard.address_ids.error)
        with self.assertRaisesRegex(UserError, "H408") as caught:
            wizard.action_confirm()
        self.assertEqual(caught.exception.args[0].count("H408"), 1, caught.exception.args[0])
        with self.assertRaisesRegex(UserError, r"H119.*HS_TELEPATI"):
            self.env["iys.consent.wizard"].create({
                "res_model": "res.partner", "res_id": self.partner.id, "channel": "MESAJ", "mode": "consent",
                "company_id": self.env.company.id, "brand_id": self.brand.id, "recipient_type": "BIREYSEL",
                "source": "HS_TELEPATI",
            })
        self.assertFalse(self.Consent.search([("address", "=", "+905321112233")]))
        # Impossible transitions: RET over RET (H174), a date not after the one on record (H178).
        self.record("+905321112233")
        self.record("+905321112233", status="RET", source="HS_MESAJ")
        form = self.open_wizard(self.partner, mode="refusal")
        with self.assertRaisesRegex(UserError, "H174"):
            form.save().action_confirm()
        form = self.open_wizard(self.partner)
        form.consent_date = fields.Datetime.now() - timedelta(hours=2)
        with self.assertRaisesRegex(UserError, "H178"):
            form.save().action_confirm()
        self.assertEqual(len(self.consents("+905321112233").event_ids), 2)

    def test_sources_offered_fit_the_status(self):
        form = self.open_wizard(self.partner)
        self.assertEqual(form.source_consent, "HS_MESAJ")
        offered = [code for code, _label in self.env["iys.consent.wizard"]._fields["source_consent"].selection]
        self.assertNotIn("HS_KARAR", offered)
        self.assertIn("HS_FIZIKSEL_ORTAM", offered)
        offered_refusal = [code for code, _label in self.env["iys.consent.wizard"]._fields["source"].selection]
        self.assertIn("HS_KARAR", offered_refusal)
        form = self.open_wizard(self.partner, mode="refusal")
        form.source = "HS_KARAR"
        with form.address_ids.edit(0) as line:
            self.assertFalse(line.error)

    def test_problems_shown_on_the_row_before_confirming(self):
        form = self.open_wizard(self.partner)
        with form.address_ids.edit(0) as line:
            self.assertFalse(line.error)
        form.consent_date = fields.Datetime.now() + timedelta(days=1)
        with form.address_ids.edit(0) as line:
            self.assertIn("H162", line.error)
            self.assertNotIn("+905321112233", line.error)  # the row says which address already
        form.consent_date = self._next_date()
        with form.address_ids.edit(0) as line:
            self.assertFalse(line.error)

    def test_malformed_number_refused_and_other_number_not_half_saved(self):
        partner = self.env["res.partner"].create({
            "name": "Bad number", "country_id": self.tr.id, "mobile": "0532 111 22 66", "phone": "12345",
        })
        form = self.open_wizard(partner)
        with form.address_ids.edit(1) as line:
            self.assertFalse(line.address)
            self.assertIn("H121", line.error)
        form.consent_date = self._next_date()
        with self.assertRaisesRegex(UserError, r"(?s)Nothing was recorded.*H121"):
            form.save().action_confirm()
        # The good number came first, and is not recorded either.
        self.assertFalse(self.consents("+905321112266"))
        self.assertFalse(self.env["iys.consent.event"].search([("address", "=", "+905321112266")]))

    def test_no_address_for_the_channel(self):
        partner = self.env["res.partner"].create({"name": "No e-mail", "country_id": self.tr.id})
        form = self.open_wizard(partner, channel="EPOSTA")
        self.assertFalse(form.address_ids)
        with self.assertRaisesRegex(UserError, "has no address"):
            form.save().action_confirm()

    def test_date_shown_in_turkish_time_for_iys(self):
        form = self.open_wizard(self.partner)
        form.consent_date = datetime(2026, 1, 5, 9, 0, 0)  # stored in UTC
        self.assertEqual(form.consent_date_iys, "2026-01-05 12:00:00, Turkish time")

    def test_chatter_tells_who_what_and_how(self):
        form = self.open_wizard(self.partner, user=self.iys_user)
        form.consent_date = self._next_date()
        form.save().action_confirm()
        body = self.partner.message_ids[:1].body
        for expected in ("SMS (MESAJ)", "+905321112233", "no record", "Consent (ONAY)", "HS_MESAJ",
                         self.iys_user.name, "Consent wizard"):
            self.assertIn(expected, body)
        self.assertEqual(self.partner.message_ids[:1].author_id, self.iys_user.partner_id)

    def test_access_rights_per_group(self):
        # A plain user: no toggle, no wizard, no consent.
        with self.assertRaises(AccessError):
            self.partner.with_user(self.plain_user).with_context(iys_channel="MESAJ").action_iys_open_consent_wizard()
        with self.assertRaises(AccessError):
            self.env["iys.consent.wizard"].with_user(self.plain_user).create({
                "res_model": "res.partner", "res_id": self.partner.id, "channel": "MESAJ",
                "company_id": self.env.company.id, "brand_id": self.brand.id, "recipient_type": "BIREYSEL",
                "source": "HS_WEB",
            })
        with self.assertRaises(AccessError):
            self.Consent.with_user(self.plain_user).search([])
        with self.assertRaises(AccessError):
            self.partner.with_user(self.plain_user).read(["iys_consent_ids"])
        # The plain user still sees the states (and the call warning).
        self.assertEqual(self.partner.with_user(self.plain_user).iys_call_state, "no_consent")
        # An İYS user and a manager record.
        for user, channel in ((self.iys_user, "MESAJ"), (self.iys_manager, "EPOSTA")):
            form = self.open_wizard(self.partner, channel=channel, user=user)
            form.consent_date = self._next_date()
            form.save().action_confirm()
            address = "+905321112233" if channel == "MESAJ" else "ayse@example.com"
            consent = self.Consent.with_user(user).search([("channel", "=", channel), ("address", "=", address)])
            self.assertEqual(consent.event_ids.user_id, user)
        self.assertEqual(self.partner.with_user(self.iys_user).iys_consent_count, 2)

    def test_turkish_number_spellings_through_the_partner(self):
        """Whatever the spelling typed on the contact, the consent lands on one E.164 address
        and the contacts' stored states follow it."""
        partners = self.env["res.partner"].create([
            {"name": f"Spelling {i}", "country_id": self.tr.id, "mobile": spelling}
            for i, spelling in enumerate(("0532 777 88 99", "905327778899", "+90 532 777 88 99", "532 777 88 99",
                                          "(0532) 777-88-99"))
        ])
        self.assertEqual(set(partners.mapped("phone_sanitized")), {"+905327778899"})
        for partner in partners:
            form = self.open_wizard(partner)
            form.consent_date = self._next_date()
            with form.address_ids.edit(0) as line:
                self.assertEqual(line.address, "+905327778899")
            form.save().action_confirm()
        consent = self.consents("+905327778899")
        self.assertEqual(len(consent), 1)
        self.assertEqual(len(consent.event_ids), 5)
        self.assertEqual(set(partners.mapped("iys_sms_state")), {"unconfirmed"})
        self.assertEqual(consent.partner_ids, partners)

    def test_multi_company_wizard_uses_the_contact_company_brand(self):
        other = self.env["res.company"].create({"name": "İYS Co 2", "country_id": self.tr.id})
        account = self.env["iys.account"].create({"name": "Co 2", "iys_code": "900055", "company_id": other.id})
        brand = self.env["iys.brand"].create({"name": "Co 2 brand", "code": "900055", "account_id": account.id,
                                              "is_default": True})
        self.iys_manager.write({"company_ids": [(4, other.id)]})
        partner = self.env["res.partner"].create({
            "name": "Co 2 customer", "country_id": self.tr.id, "mobile": "0532 333 44 55", "company_id": other.id,
        })
        form = self.open_wizard(partner.with_context(allowed_company_ids=[other.id, self.env.company.id]),
                                user=self.iys_manager)
        self.assertEqual(form.brand_id, brand)
        form.consent_date = self._next_date()
        form.save().action_confirm()
        consent = self.consents("+905323334455")
        self.assertEqual((consent.brand_id, consent.company_id), (brand, other))
        self.assertEqual(partner.iys_sms_state, "unconfirmed")
        # The company without the consent sees nothing of it.
        self.assertFalse(self.Consent.with_user(self.iys_user).search([("address", "=", "+905323334455")]))
