# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
"""A second probe (after issue 15's fixes): what each kind of user can still do over the ORM, with
any context a JSON-RPC client can send, in a database with two companies."""
from odoo.exceptions import AccessError
from odoo.tests import new_test_user, tagged

from .common import IysCommon


@tagged("post_install", "-at_install", "l10n_tr_iys")
class TestSecurityReview(IysCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.marketing_user = new_test_user(
            cls.env, login="iys_t_review_marketing",
            groups="base.group_user,mass_mailing.group_mass_mailing_user",
        )
        cls.other_company = cls.env["res.company"].create({"name": "Other İYS Co (review)"})
        cls.other_account = cls.env["iys.account"].create(
            {"name": "Other", "iys_code": "900019", "company_id": cls.other_company.id}
        )
        cls.other_brand = cls.env["iys.brand"].create(
            {"name": "Other brand", "code": "900019", "account_id": cls.other_account.id, "is_default": True}
        )

    def events_of(self, address, channel="EPOSTA"):
        return self.env["iys.consent.event"].search(
            [("consent_id.address", "=", address), ("consent_id.channel", "=", channel)]
        )

    # The opt-out details (origin, source, evidence) come from the unsubscribe pages only --------
    def test_client_context_cannot_forge_an_optouts_origin_or_evidence(self):
        """A marketing user may blacklist an address (a refusal the company decided: HS_KARAR, origin
        blacklist); the context a client sends must not make the ledger say that İYS reported it (never
        sent to İYS then) or that the recipient clicked a link from some IP."""
        forged = {"origin": "iys_pull", "source": "HS_WEB", "ip_address": "203.0.113.9",
                  "user_agent": "forged", "note": "The recipient asked on the phone"}
        self.env["mail.blacklist"].with_user(self.marketing_user).with_context(iys_optout=forged).create(
            {"email": "forged.optout@example.com"}
        )
        event = self.events_of("forged.optout@example.com")
        self.assertEqual(len(event), 1)
        self.assertEqual((event.origin, event.actor, event.source), ("blacklist", "user", "HS_KARAR"))
        self.assertFalse(event.ip_address)
        self.assertNotEqual(event.user_agent, "forged")
        self.assertNotEqual(event.evidence_note, forged["note"])
        # a refusal Odoo decided is sent to İYS (unless İYS has nothing to refuse): not taken as İYS's fact
        self.assertNotEqual(event.consent_id.sync_state, "confirmed")

    def test_client_context_cannot_make_a_list_edit_a_recipients_refusal(self):
        """Opting a contact out of a list in the back end is list housekeeping: a client's
        ``iys_optout`` context must not turn it into a refusal "from the recipient's unsubscribe"."""
        mailing_list = self.env["mailing.list"].create({"name": "Review list"})
        contact = self.env["mailing.contact"].create({"name": "Liste Kişisi", "email": "list.housekeeping@example.com"})
        subscription = self.env["mailing.subscription"].create({"contact_id": contact.id, "list_id": mailing_list.id})
        subscription.with_user(self.marketing_user).with_context(
            iys_optout={"channel": "EPOSTA", "origin": "unsubscribe", "source": "HS_EPOSTA"}
        ).write({"opt_out": True})
        self.assertTrue(subscription.opt_out)
        self.assertFalse(self.events_of("list.housekeeping@example.com"))

    # The consent wizard's record is one the user may read ----------------------------------------
    def _wizard_for(self, record, user):
        """A wizard as a client can create it: every field given, whatever the form shows."""
        return self.env["iys.consent.wizard"].with_user(user).create({
            "res_model": record._name, "res_id": record.id, "mode": "consent", "channel": "MESAJ",
            "company_id": self.env.company.id, "brand_id": self.brand.id, "recipient_type": "BIREYSEL",
            "source": "HS_WEB", "address_ids": [(0, 0, {"raw": "0532 444 55 66", "selected": True})],
        })

    def test_consent_wizard_refuses_a_record_of_another_company(self):
        """The wizard links the movement's evidence to its record (and notes it in that record's
        chatter): a record the user may not read (another company's contact) is refused."""
        stranger = self.env["res.partner"].create({"name": "Başka Şirket Kişisi", "company_id": self.other_company.id})
        with self.assertRaises(AccessError):
            stranger.with_user(self.iys_user).check_access("read")  # the premise: not the user's to read
        wizard = self._wizard_for(stranger, self.iys_user)
        with self.assertRaises(AccessError):
            wizard.action_confirm()
        self.assertFalse(self.Consent.search([("address", "=", "+905324445566")]))
        self.assertFalse(stranger.message_ids.filtered(lambda m: "+905324445566" in (m.body or "")))

    def test_consent_wizard_refuses_a_model_without_consents(self):
        """Only the records that carry İYS consents (partners, leads, mailing contacts) may be the
        wizard's record: not a user, whose partner the evidence would name."""
        wizard = self._wizard_for(self.iys_manager, self.iys_user)
        with self.assertRaises(AccessError):
            wizard.action_confirm()
        self.assertFalse(self.Consent.search([("address", "=", "+905324445566")]))

    # The stored per-channel states are the ledger's, not a client's ----------------------------
    def test_stored_states_cannot_be_written_by_a_client(self):
        """The İYS tab, the filters and the mailing forecast read the stored states: a user who may
        edit a contact must not set them (e.g. "allowed" on a contact without consent)."""
        partner = self.env["res.partner"].create({"name": "Durum Kişisi", "mobile": "+90 532 777 88 99",
                                                  "email": "durum@example.com"})
        lead = self.env["crm.lead"].create({"name": "Durum fırsatı", "email_from": "durum@example.com"})
        contact = self.env["mailing.contact"].create({"name": "Durum", "email": "durum@example.com"})
        self.assertEqual(partner.iys_sms_state, "no_consent")
        editors = "base.group_user,base.group_partner_manager,sales_team.group_sale_salesman_all_leads," \
                  "mass_mailing.group_mass_mailing_user"
        editor = new_test_user(self.env, login="iys_t_review_editor", groups=editors)
        iys_editor = new_test_user(self.env, login="iys_t_review_iys_editor",
                                   groups=editors + ",l10n_tr_iys.group_iys_manager")
        attempts = [(user, record, fname) for user in (editor, iys_editor)
                    for record in (partner, lead, contact)
                    for fname in ("iys_sms_state", "iys_email_state", "iys_call_state")]
        for user, record, fname in attempts:
            with self.subTest(user=user.login, model=record._name, field=fname):
                record.with_user(user).write({"name": f"{record.name}."})  # the premise: the user may edit it
                before = record[fname]
                self.assertNotEqual(before, "allowed")
                with self.assertRaises(AccessError):
                    record.with_user(user).write({fname: "allowed"})
                record.invalidate_recordset([fname])
                self.assertEqual(record[fname], before)
        with self.assertRaises(AccessError):
            self.env["res.partner"].with_user(editor).create(
                {"name": "Sahte", "email": "sahte@example.com", "iys_email_state": "allowed"}
            )
        # the same value a form may send back unchanged is no change
        partner.with_user(editor).write({"iys_sms_state": "no_consent", "name": "Durum Kişisi 2"})
        self.assertEqual(partner.name, "Durum Kişisi 2")

    # A mailing's brand is one of the user's companies -------------------------------------------
    def test_mailing_brand_of_another_company_refused(self):
        """The gate checks the consents of the mailing's brand: a marketing user must not point a
        mailing at another company's brand, whose recipients consented to that company only."""
        self.record("konsent@example.com", channel="EPOSTA", brand=self.other_brand)
        Mailing = self.env["mailing.mailing"].with_user(self.marketing_user)
        values = {"name": "Başka marka", "subject": "Kampanya", "body_html": "<p>İndirim</p>", "mailing_type": "mail",
                  "mailing_model_id": self.env["ir.model"]._get("res.partner").id}
        with self.assertRaises(AccessError):
            Mailing.create(dict(values, iys_brand_id=self.other_brand.id))
        mailing = Mailing.create(values)
        self.assertEqual(mailing.iys_brand_id, self.brand)
        with self.assertRaises(AccessError):
            mailing.write({"iys_brand_id": self.other_brand.id})
        self.assertEqual(mailing.iys_brand_id, self.brand)

    def test_composer_brand_of_another_company_refused(self):
        """The mass e-mail and SMS composers (any employee's) name a brand when no mailing is given:
        the same rule."""
        partner = self.env["res.partner"].create({"name": "Kompozitör", "email": "konsent@example.com",
                                                  "mobile": "+90 532 666 77 88"})
        composers = (
            ("mail.compose.message", {"composition_mode": "mass_mail", "model": "res.partner",
                                      "res_ids": repr(partner.ids), "subject": "Kampanya", "body": "<p>İndirim</p>"}),
            ("sms.composer", {"composition_mode": "mass", "res_model": "res.partner", "res_ids": repr(partner.ids),
                              "body": "İndirim"}),
        )
        for model, values in composers:
            with self.subTest(model=model):
                Composer = self.env[model].with_user(self.plain_user)
                with self.assertRaises(AccessError):
                    Composer.create(dict(values, iys_brand_id=self.other_brand.id))
                composer = Composer.create(values)
                self.assertEqual(composer.iys_brand_id, self.brand)
                with self.assertRaises(AccessError):
                    composer.write({"iys_brand_id": self.other_brand.id})

    # A user's blacklist is a decision of the user's companies ---------------------------------
    def test_user_blacklist_does_not_refuse_for_another_company(self):
        """A marketing user of one company blacklisting an address records the company's own decision
        (HS_KARAR) for the brands of the user's companies: not a refusal sent to İYS in the name of a
        company the user does not belong to, which would withdraw the consent it holds there."""
        self.record("iki.sirket@example.com", channel="EPOSTA", brand=self.other_brand)
        self.assertNotIn(self.other_company, self.marketing_user.company_ids)
        self.env["mail.blacklist"].with_user(self.marketing_user)._add("iki.sirket@example.com")
        consents = self.Consent.search([("address", "=", "iki.sirket@example.com")])
        self.assertEqual(consents.filtered(lambda c: c.brand_id == self.other_brand).status, "ONAY")
        self.assertEqual(consents.filtered(lambda c: c.brand_id == self.brand).status, "RET")
        # the superuser (e.g. the recipient's own unsubscribe link) still refuses everywhere
        self.env["mail.blacklist"]._remove("iki.sirket@example.com")
        self.env["mail.blacklist"].sudo()._add("iki.sirket@example.com")
        self.assertEqual(consents.filtered(lambda c: c.brand_id == self.other_brand).status, "RET")

    # An approved transactional mailing's attachments are approved as they were -----------------
    def test_attachment_content_swapped_behind_a_transactional_mailing(self):
        """A manager approved this content, attachments included: a marketing user who replaces an
        attached file's content (the attachment is the mailing's, so its editors may write it) makes
        the mailing commercial again, as any other change of content does."""
        invoice = self.env["ir.attachment"].create({"name": "fatura.pdf", "raw": b"%PDF-1.4 fatura"})
        mailing = self.env["mailing.mailing"].create({
            "name": "Fatura", "subject": "Faturanız", "body_html": "<p>Faturanız ektedir.</p>", "mailing_type": "mail",
            "mailing_model_id": self.env["ir.model"]._get("res.partner").id,
            "attachment_ids": [(6, 0, invoice.ids)],
        })
        mailing.with_context(iys_transactional_reason="Fatura").write({"iys_message_class": "transactional"})
        self.assertEqual((invoice.res_model, invoice.res_id), ("mailing.mailing", mailing.id))
        self.assertFalse(mailing._iys_is_commercial())
        invoice.with_user(self.marketing_user).write({"raw": b"%PDF-1.4 BUYUK INDIRIM"})
        mailing.invalidate_recordset()
        self.assertTrue(mailing._iys_is_commercial())

    def test_ledger_notes_stay_in_their_company(self):
        """A movement of one company's brand is noted on the records of that company and on shared
        records, never on another company's record of the same address."""
        theirs = self.env["res.partner"].create(
            {"name": "Their contact", "email": "shared.note@example.com", "company_id": self.other_company.id})
        ours = self.env["res.partner"].create(
            {"name": "Our contact", "email": "shared.note@example.com", "company_id": self.env.company.id})
        shared = self.env["res.partner"].create({"name": "Shared contact", "email": "shared.note@example.com"})
        self.record("shared.note@example.com", channel="EPOSTA")
        self.env.invalidate_all()

        def notes(partner):
            return [m for m in partner.message_ids if "shared.note@example.com" in str(m.body or "")]

        self.assertFalse(notes(theirs), "another company's record hears nothing")
        self.assertEqual(len(notes(ours)), 1)
        self.assertEqual(len(notes(shared)), 1)

    def test_mailing_contact_type_from_this_companys_contacts_only(self):
        """A mailing contact takes the type of the contacts holding its e-mail: shared ones or the
        current company's, and a merchant only when they all are."""
        self.env["res.partner"].create({"name": "Their merchant", "is_company": True, "vat": "1234567890",
                                        "email": "theirs.merchant@example.com",
                                        "company_id": self.other_company.id})
        borrowed = self.env["mailing.contact"].create({"name": "X", "email": "theirs.merchant@example.com"})
        self.assertEqual(borrowed.iys_recipient_type, "BIREYSEL", "another company's merchant says nothing here")
        self.env["res.partner"].create({"name": "Shared merchant", "is_company": True, "vat": "1234567891",
                                        "email": "mixed@example.com"})
        merchant = self.env["mailing.contact"].create({"name": "Y", "email": "mixed@example.com"})
        self.assertEqual(merchant.iys_recipient_type, "TACIR")
        self.env["res.partner"].create({"name": "A person", "email": "mixed@example.com"})
        mixed = self.env["mailing.contact"].create({"name": "Z", "email": "mixed@example.com"})
        self.assertEqual(mixed.iys_recipient_type, "BIREYSEL", "contacts that disagree: the strict choice")
