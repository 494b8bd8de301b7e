# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
import base64

from odoo.exceptions import AccessError
from odoo.tests import Form, new_test_user, tagged

from .common import IysCommon


@tagged("post_install", "-at_install", "l10n_tr_iys")
class TestSecurityContact(IysCommon):
    """What a user may do through the contact's İYS controls: evidence files, recipient type."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.partner = cls.env["res.partner"].create({
            "name": "Ayşe Yılmaz", "country_id": cls.env.ref("base.tr").id, "mobile": "0532 111 22 33",
        })
        cls.import_job = cls.env["iys.consent.import"].create({})

    def attachment(self, user=None, **vals):
        Attachment = self.env["ir.attachment"].with_user(user) if user else self.env["ir.attachment"]
        return Attachment.create({"name": "evidence.pdf", "datas": base64.b64encode(b"%PDF-1.4"), **vals})

    def wizard(self, attachments, user=None):
        user = user or self.iys_user
        partner = self.partner.with_user(user)
        action = partner.with_context(iys_channel="MESAJ", iys_mode="consent").action_iys_open_consent_wizard()
        Wizard = self.env["iys.consent.wizard"].with_user(user).with_context(**action["context"])
        return Wizard.create({"attachment_ids": [(6, 0, attachments.ids)], "consent_date": self._next_date()})

    def assert_nothing_recorded(self):
        self.assertFalse(self.Consent.search([("address", "=", "+905321112233")]))

    # ------------------------------------------------------------------------------------------
    # Evidence files
    # ------------------------------------------------------------------------------------------
    def test_evidence_uploaded_in_the_wizard_is_linked_to_the_event(self):
        upload = self.attachment(user=self.iys_user, res_model="iys.consent.wizard", res_id=0)
        self.wizard(upload).action_confirm()
        event = self.Consent.search([("address", "=", "+905321112233")]).event_ids
        self.assertEqual(event.attachment_ids, upload)
        self.assertEqual((upload.res_model, upload.res_id), ("iys.consent.event", event.id))

    def test_evidence_cannot_take_a_file_the_user_may_not_read(self):
        # e.g. an import's error report: İYS users may not read imports, only managers.
        report = self.attachment(res_model="iys.consent.import", res_id=self.import_job.id)
        with self.assertRaises(AccessError):
            report.with_user(self.iys_user).check("read")
        wizard = self.wizard(report)
        with self.assertRaises(AccessError):
            wizard.action_confirm()
        self.assert_nothing_recorded()
        self.assertEqual((report.res_model, report.res_id), ("iys.consent.import", self.import_job.id))

    def test_evidence_cannot_take_a_file_of_another_record(self):
        # Readable, but it belongs to the contact: it must not move to the consent's event.
        contract = self.attachment(res_model="res.partner", res_id=self.partner.id)
        with self.assertRaises(AccessError):
            self.wizard(contract).action_confirm()
        self.assert_nothing_recorded()
        self.assertEqual((contract.res_model, contract.res_id), ("res.partner", self.partner.id))

    def test_evidence_cannot_take_another_users_upload(self):
        other = self.env["res.users"].create({
            "name": "Other İYS", "login": "iys_t_other",
            "groups_id": [(6, 0, [self.env.ref("l10n_tr_iys.group_iys_user").id])],
        })
        upload = self.attachment(user=other, res_model="iys.consent.wizard", res_id=0)
        with self.assertRaises(AccessError):
            self.wizard(upload).action_confirm()
        self.assert_nothing_recorded()

    # ------------------------------------------------------------------------------------------
    # Recipient type
    # ------------------------------------------------------------------------------------------
    EDITOR_GROUPS = ("base.group_user,base.group_partner_manager,sales_team.group_sale_salesman_all_leads,"
                     "mass_mailing.group_mass_mailing_user")

    def editor(self, iys=False):
        """A user who may edit contacts, leads and mailing contacts, with or without the İYS right."""
        if iys:
            return new_test_user(self.env, login="iys_t_iys_editor", name="İYS Editor",
                                 groups=self.EDITOR_GROUPS + ",l10n_tr_iys.group_iys_user")
        return new_test_user(self.env, login="iys_t_editor", groups=self.EDITOR_GROUPS)

    def test_recipient_type_needs_the_iys_right_on_every_model(self):
        editor = self.editor()
        lead = self.env["crm.lead"].create({"name": "Lead", "phone": "0532 111 22 33"})
        mailing_contact = self.env["mailing.contact"].create({"name": "MC", "email": "mc@example.com"})
        for record in (self.partner, lead, mailing_contact):
            with self.subTest(model=record._name):
                self.assertEqual(record.iys_recipient_type, "BIREYSEL")
                with self.assertRaises(AccessError):
                    record.with_user(editor).write({"iys_recipient_type": "TACIR"})
                with self.assertRaises(AccessError):
                    record.with_user(editor).with_context(tracking_disable=True).write(
                        {"iys_recipient_type_manual": True})
                self.assertEqual(record.iys_recipient_type, "BIREYSEL")
                with self.assertRaises(AccessError):
                    record.with_user(editor).create({"name": "New", "iys_recipient_type": "TACIR"})
        # Other fields stay editable, and the safe type may be given when creating.
        self.partner.with_user(editor).write({"function": "Buyer"})
        new = self.env["res.partner"].with_user(editor).create({"name": "New", "iys_recipient_type": "BIREYSEL"})
        self.assertEqual(new.iys_recipient_type, "BIREYSEL")

    def test_tax_number_does_not_make_a_merchant_without_the_iys_right(self):
        editor = self.editor()
        with self.assertRaises(AccessError):
            self.partner.with_user(editor).write({"is_company": True, "vat": "1234567890"})
        self.assertEqual(self.partner.iys_recipient_type, "BIREYSEL")
        # An İYS user may: the default rule makes the company a merchant, and the chatter says so.
        self.partner.with_user(self.editor(iys=True)).write({"is_company": True, "vat": "1234567890"})
        self.assertEqual(self.partner.iys_recipient_type, "TACIR")
        self.assertFalse(self.partner.iys_recipient_type_manual)
        self.assertIn("Individual (BIREYSEL) → Merchant (TACIR)", self.last_note(self.partner).body)

    def test_form_following_the_rule_is_no_choice(self):
        # The form sends the type the rule recomputed when a tax number is typed: still the rule's.
        user = self.editor(iys=True)
        with Form(self.partner.with_user(user)) as form:
            form.company_type = "company"
            form.vat = "1234567890"
            self.assertEqual(form.iys_recipient_type, "TACIR")
        self.assertEqual(self.partner.iys_recipient_type, "TACIR")
        self.assertFalse(self.partner.iys_recipient_type_manual)
        self.assertIn("tax number", self.partner.iys_recipient_type_reason)
        # Choosing the other type is a choice; choosing the rule's type again gives it back to the rule.
        with Form(self.partner.with_user(user)) as form:
            form.iys_recipient_type = "BIREYSEL"
        self.assertTrue(self.partner.iys_recipient_type_manual)
        self.partner.with_user(user).write({"iys_recipient_type": "TACIR"})
        self.assertFalse(self.partner.iys_recipient_type_manual)
        # A user without the right may send the type unchanged (an import, a form that shows it).
        self.partner.with_user(self.editor()).write({"iys_recipient_type": "TACIR", "function": "Owner"})
        self.assertEqual(self.partner.function, "Owner")

    def last_note(self, record):
        return record.message_ids.sorted("id", reverse=True)[:1]

    def test_recipient_type_change_is_traced_whatever_the_context(self):
        lead = self.env["crm.lead"].create({"name": "Lead", "phone": "0532 111 22 33"})
        mailing_contact = self.env["mailing.contact"].create({"name": "MC", "email": "mc@example.com"})
        user = self.editor(iys=True)
        for record in (self.partner, lead, mailing_contact):
            with self.subTest(model=record._name):
                record.with_user(user).with_context(
                    tracking_disable=True, mail_notrack=True).write({"iys_recipient_type": "TACIR"})
                self.assertEqual(record.iys_recipient_type, "TACIR")
                self.assertTrue(record.iys_recipient_type_manual)
                note = self.last_note(record)
                self.assertIn("Individual (BIREYSEL) → Merchant (TACIR)", note.body)
                self.assertIn(user.name, note.body)
                self.assertEqual(note.author_id, user.partner_id)
        # A type chosen by hand no longer follows the default rule.
        self.partner.write({"is_company": True})
        self.partner.write({"is_company": False})
        self.assertEqual(self.partner.iys_recipient_type, "TACIR")
        self.assertIn("Chosen by an İYS user", self.partner.iys_recipient_type_reason)
