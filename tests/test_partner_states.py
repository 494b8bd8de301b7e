# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
from datetime import timedelta

from lxml import etree

from odoo.exceptions import ValidationError
from odoo.tests import Form, tagged
from odoo.tools import SQL
from odoo.tools.safe_eval import safe_eval

from ..models.iys_consent import ledger
from .common import IysCommon


class PartnerStatesCommon(IysCommon):
    """Contacts in every state."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env.company.country_id = cls.env.ref("base.tr")
        Partner = cls.env["res.partner"]
        cls.p_confirmed = Partner.create({"name": "Confirmed", "mobile": "0532 000 00 01", "email": "c@example.com"})
        cls.p_pending = Partner.create({"name": "Pending", "mobile": "0532 000 00 02"})
        cls.p_refused = Partner.create({"name": "Refused", "mobile": "0532 000 00 03"})
        cls.p_nothing = Partner.create({"name": "Nothing", "mobile": "0532 000 00 04"})
        cls.p_tacir = Partner.create({"name": "Tacir A.Ş.", "is_company": True, "vat": "1234567890",
                                      "phone": "0532 000 00 05"})
        cls.p_tacir_ret = Partner.create({"name": "Tacir RET", "is_company": True, "vat": "1234567891",
                                          "phone": "0532 000 00 06"})
        cls.p_rejected = Partner.create({"name": "Rejected", "mobile": "0532 000 00 07"})
        cls.p_no_phone = Partner.create({"name": "No phone"})
        cls.mine = cls.p_confirmed | cls.p_pending | cls.p_refused | cls.p_nothing | cls.p_tacir | cls.p_tacir_ret \
            | cls.p_rejected | cls.p_no_phone
        cls.confirm("+905320000001")
        cls.confirm("c@example.com", channel="EPOSTA")
        cls.record("+905320000002")
        cls.confirm("+905320000003")
        cls.record("+905320000003", status="RET", source="HS_CAGRI_MERKEZI")
        cls.record("+905320000006", status="RET", source="HS_KARAR", recipient_type="TACIR")
        rejected = cls.record("+905320000007").consent
        ledger(rejected).write({"sync_state": "rejected", "iys_error_code": "H121"})

    @classmethod
    def confirm(cls, address, channel="MESAJ", brand=None, recipient_type="BIREYSEL"):
        """An ONAY İYS confirmed (as reported by a status query)."""
        cls.env["iys.consent"]._iys_record_movements([{
            "brand_id": (brand or cls.brand).id, "channel": channel, "recipient_type": recipient_type,
            "address": address, "status": "ONAY", "source": "HS_WEB",
            "consent_date": cls._next_date() - timedelta(days=1),
            "transaction_id": f"{(brand or cls.brand).id}{address}{channel}".ljust(64, "0"),
        }], "iys_query")

    def states(self, records, fname="iys_sms_state"):
        return {record.name: record[fname] for record in records}

    def view_filter(self, xmlid, name):
        """The domain of a filter of a search view, as the web client applies it."""
        arch = etree.fromstring(self.env.ref(xmlid).arch)
        node = arch.xpath(f"//filter[@name='{name}']")
        self.assertTrue(node, f"no filter {name} in {xmlid}")
        return safe_eval(node[0].get("domain"))



@tagged("post_install", "-at_install", "l10n_tr_iys")
class TestPartnerStates(PartnerStatesCommon):
    """Stored per-channel states, the search filters, and how they stay fresh."""

    def test_states_per_combination(self):
        self.assertEqual(self.states(self.mine), {
            "Confirmed": "allowed",
            "Pending": "unconfirmed",
            "Refused": "refused",
            "Nothing": "no_consent",
            "Tacir A.Ş.": "allowed",
            "Tacir RET": "refused",
            "Rejected": "no_consent",
            "No phone": False,
        })
        self.assertEqual(self.p_confirmed.iys_email_state, "allowed")
        self.assertEqual(self.p_pending.iys_email_state, False)
        self.assertEqual(self.p_confirmed.iys_call_state, "no_consent")  # consents are per channel
        # The stored column holds what the policy (and its SQL twin) says.
        self.env.flush_all()
        self.env.cr.execute(SQL("SELECT iys_sms_state FROM res_partner WHERE id = %s", self.p_refused.id))
        self.assertEqual(self.env.cr.fetchone()[0], "refused")

    def test_partner_filters_of_the_search_view(self):
        xmlid = "l10n_tr_iys.view_res_partner_search"
        Partner = self.env["res.partner"]
        in_mine = [("id", "in", self.mine.ids)]
        self.assertEqual(Partner.search(self.view_filter(xmlid, "iys_sms_allowed") + in_mine),
                         self.p_confirmed | self.p_tacir)
        self.assertEqual(Partner.search(self.view_filter(xmlid, "iys_email_allowed") + in_mine), self.p_confirmed)
        # A merchant's SMS refusal leaves calls allowed: consents are per channel.
        self.assertEqual(Partner.search(self.view_filter(xmlid, "iys_call_allowed") + in_mine),
                         self.p_tacir | self.p_tacir_ret)
        self.assertEqual(Partner.search(self.view_filter(xmlid, "iys_waiting") + in_mine),
                         self.p_pending | self.p_refused)
        self.assertEqual(Partner.search(self.view_filter(xmlid, "iys_rejected") + in_mine), self.p_rejected)
        self.assertEqual(Partner.search([("iys_waiting", "=", False)] + in_mine),
                         self.mine - self.p_pending - self.p_refused)
        self.assertEqual(Partner.search([("iys_rejected", "!=", True)] + in_mine), self.mine - self.p_rejected)
        # The computed flags agree with their searches.
        self.assertEqual(self.mine.filtered("iys_waiting"), self.p_pending | self.p_refused)
        self.assertEqual(self.mine.filtered("iys_rejected"), self.p_rejected)

    def test_group_by_state(self):
        groups = self.env["res.partner"].read_group([("id", "in", self.mine.ids)], ["iys_sms_state"],
                                                   ["iys_sms_state"])
        counts = {g["iys_sms_state"]: g["iys_sms_state_count"] for g in groups}
        self.assertEqual(counts, {"allowed": 2, "unconfirmed": 1, "refused": 2, "no_consent": 2, False: 1})

    def test_bulk_recompute_after_pending_policy_changes(self):
        self.assertEqual(self.p_pending.iys_sms_state, "unconfirmed")
        queries_before = self.cr.sql_log_count
        self.env.company.iys_pending_policy = "allow"
        self.assertLess(self.cr.sql_log_count - queries_before, 40)  # SQL, not one compute per record
        self.assertEqual(self.p_pending.iys_sms_state, "allowed")
        self.assertEqual(self.p_refused.iys_sms_state, "refused")
        # İYS refused it: never allowed, and no longer "waiting" (the badge and the sentence agree)
        self.assertEqual(self.p_rejected.iys_sms_state, "no_consent")
        self.assertEqual(self.env["res.partner"].search([("iys_sms_state", "=", "allowed"),
                                                          ("id", "in", self.mine.ids)]),
                         self.p_confirmed | self.p_pending | self.p_tacir)
        self.env.company.iys_pending_policy = "block"
        self.assertEqual(self.p_pending.iys_sms_state, "unconfirmed")

    def test_bulk_recompute_matches_the_orm_compute(self):
        """The SQL UPDATE and the ORM compute give the same answer on every record."""
        Partner = self.env["res.partner"].with_context(active_test=False)
        partners = Partner.search([])
        for policy in ("allow", "block"):
            self.env.company.iys_pending_policy = policy
            by_sql = {p.id: (p.iys_sms_state, p.iys_call_state, p.iys_email_state) for p in partners}
            self.env.add_to_compute(Partner._fields["iys_sms_state"], partners)
            self.env.add_to_compute(Partner._fields["iys_call_state"], partners)
            self.env.add_to_compute(Partner._fields["iys_email_state"], partners)
            partners.flush_recordset()
            by_orm = {p.id: (p.iys_sms_state, p.iys_call_state, p.iys_email_state) for p in partners}
            self.assertEqual(by_sql, by_orm)

    def test_default_brand_change_recomputes(self):
        self.assertEqual(self.p_confirmed.iys_sms_state, "allowed")
        self.brand.is_default = False
        self.brand_b.is_default = True
        self.assertEqual(self.env.company.iys_default_brand_id, self.brand_b)
        self.assertEqual(self.p_confirmed.iys_sms_state, "no_consent")  # nothing on record for brand B
        self.assertEqual(self.p_tacir.iys_sms_state, "allowed")
        self.brand_b.is_default = False
        self.brand.is_default = True
        self.assertEqual(self.p_confirmed.iys_sms_state, "allowed")
        # Without a brand marked as default, the first by sequence is the default.
        self.brand.is_default = False
        self.assertEqual(self.p_confirmed.iys_sms_state, "allowed")
        self.brand_b.sequence = 0
        self.assertEqual(self.env.company.iys_default_brand_id, self.brand_b)
        self.assertEqual(self.p_confirmed.iys_sms_state, "no_consent")

    def test_new_default_brand_in_one_save(self):
        """Ticking another brand as default on the account form is saved as is: the former default
        stops being one in the same save, and the contacts follow the new default brand."""
        self.assertEqual(self.p_confirmed.iys_sms_state, "allowed")
        with Form(self.account.with_user(self.iys_manager)) as account_form:
            with account_form.brand_ids.edit(1) as line:
                self.assertEqual(line.name, "Brand B")
                line.is_default = True
        self.assertEqual((self.brand.is_default, self.brand_b.is_default), (False, True))
        self.assertEqual(self.account.default_brand_id, self.brand_b)
        self.assertEqual(self.env.company.iys_default_brand_id, self.brand_b)
        self.assertEqual(self.p_confirmed.iys_sms_state, "no_consent")  # nothing on record for brand B
        # a new brand created as the default takes over too
        brand_c = self.env["iys.brand"].create({"name": "Brand C", "code": "900003", "account_id": self.account.id,
                                                "is_default": True})
        self.assertEqual((self.brand_b.is_default, brand_c.is_default), (False, True))
        # two brands of one account ticked in one write: which one is meant is unknown, refused
        with self.assertRaises(ValidationError):
            (self.brand | self.brand_b).write({"is_default": True})

    def test_sync_confirmation_refreshes_states(self):
        consent = self.Consent.search([("address", "=", "+905320000002")])
        self.assertEqual(self.p_pending.iys_sms_state, "unconfirmed")
        # What the synchronisation writes when İYS accepted the movement.
        ledger(consent).write({"sync_state": "confirmed"})
        self.assertEqual(self.p_pending.iys_sms_state, "allowed")
        self.assertFalse(self.p_pending.iys_waiting)

    def test_address_and_type_changes_recompute(self):
        self.p_nothing.mobile = "0532 000 00 01"  # now the confirmed number
        self.assertEqual(self.p_nothing.iys_sms_state, "allowed")
        self.p_nothing.mobile = False
        self.assertFalse(self.p_nothing.iys_sms_state)
        self.p_pending.iys_recipient_type = "TACIR"
        self.assertEqual(self.p_pending.iys_sms_state, "allowed")

    def test_leads_and_mailing_contacts(self):
        lead = self.env["crm.lead"].create({"name": "Lead", "phone": "0532 000 00 02", "email_from": "c@example.com"})
        contact = self.env["mailing.contact"].create({"name": "Contact", "email": "C@example.com"})
        self.assertEqual((lead.iys_sms_state, lead.iys_email_state), ("unconfirmed", "allowed"))
        self.assertEqual(contact.iys_email_state, "allowed")
        self.assertTrue(lead.iys_waiting)
        self.assertIn(lead, self.env["crm.lead"].search(
            self.view_filter("l10n_tr_iys.view_crm_lead_search", "iys_email_allowed")))
        self.assertIn(lead, self.env["crm.lead"].search(
            self.view_filter("l10n_tr_iys.view_crm_opportunity_search", "iys_waiting")))
        self.assertIn(contact, self.env["mailing.contact"].search(
            self.view_filter("l10n_tr_iys.view_mailing_contact_search", "iys_email_allowed")))
        # A refusal of the e-mail reaches the lead and the contact too.
        self.record("c@example.com", channel="EPOSTA", status="RET", source="HS_EPOSTA")
        self.assertEqual((lead.iys_email_state, contact.iys_email_state), ("refused", "refused"))
        self.env.company.iys_pending_policy = "allow"
        self.assertEqual(lead.iys_sms_state, "allowed")

    def test_multi_company(self):
        other = self.env["res.company"].create({"name": "Co 2", "country_id": self.env.ref("base.tr").id})
        account = self.env["iys.account"].create({"name": "Co 2", "iys_code": "900077", "company_id": other.id})
        brand = self.env["iys.brand"].create({"name": "Co 2", "code": "900077", "account_id": account.id})
        theirs = self.env["res.partner"].create({"name": "Theirs", "mobile": "0532 000 00 01", "company_id": other.id})
        # Company 2's default brand has nothing for the number company 1 has a confirmed ONAY for.
        self.assertEqual(theirs.iys_sms_state, "no_consent")
        self.confirm("+905320000001", brand=brand)
        self.assertEqual(theirs.iys_sms_state, "allowed")
        # Company 2's policy is recomputed alone.
        self.record("+905320000002", brand=brand)
        theirs.mobile = "0532 000 00 02"
        self.assertEqual((theirs.iys_sms_state, self.p_pending.iys_sms_state), ("unconfirmed", "unconfirmed"))
        other.iys_pending_policy = "allow"
        self.assertEqual((theirs.iys_sms_state, self.p_pending.iys_sms_state), ("allowed", "unconfirmed"))
        # "Waiting for İYS" only looks at consents of the user's companies.
        self.iys_user.write({"company_ids": [(6, 0, [other.id])], "company_id": other.id})
        Partner = self.env["res.partner"].with_user(self.iys_user).with_context(allowed_company_ids=[other.id])
        self.assertFalse(Partner.search([("iys_waiting", "=", True), ("id", "in", self.p_refused.ids)]))


@tagged("post_install", "-at_install", "l10n_tr_iys")
class TestPartnerFormSignals(PartnerStatesCommon):
    """What the contact form tells at a glance (issue 11 §3)."""

    def test_why_says_whether_a_message_may_go_now(self):
        why = {p.name: p.iys_sms_why for p in self.mine}
        self.assertTrue(why["Confirmed"].startswith("May go now"), why["Confirmed"])
        self.assertIn("confirmed by İYS", why["Confirmed"])
        self.assertTrue(why["Pending"].startswith("Blocked until İYS confirms"), why["Pending"])
        self.assertTrue(why["Refused"].startswith("Blocked"), why["Refused"])
        self.assertIn("RET", why["Refused"])
        self.assertIn("needs a consent", why["Nothing"])
        self.assertIn("merchant (TACIR)", why["Tacir A.Ş."])
        self.assertTrue(why["Tacir A.Ş."].startswith("May go now"))
        self.assertIn("İYS rejected", why["Rejected"])
        self.assertIn("H121", why["Rejected"])
        self.assertIn("no usable number", why["No phone"])
        # Everything blocked says "Blocked", everything allowed says "May go now": never both.
        for partner in self.mine.filtered("iys_sms_state"):
            self.assertEqual(partner.iys_sms_why.startswith("May go now"), partner.iys_sms_state == "allowed")

    def test_no_toggle_says_on_while_sending_is_blocked(self):
        arch = self.env["res.partner"].get_view(self.env.ref("base.view_partner_form").id)["arch"]
        tree = etree.fromstring(arch)
        # (every button of the tab but "Ask to confirm", which sends a request and records nothing)
        labels = {button.get("string")
                  for button in tree.xpath("//page[@name='iys']//button[@name!='action_iys_ask_confirmation']")}
        self.assertEqual(labels, {"Record consent", "Record refusal"})

    def test_phone_badges_sit_on_the_number_odoo_sends_to(self):
        mobile_only = self.env["res.partner"].create({"name": "M", "mobile": "0532 000 00 11"})
        phone_only = self.env["res.partner"].create({"name": "P", "phone": "0532 000 00 12"})
        both = self.env["res.partner"].create({"name": "B", "phone": "0212 000 00 13", "mobile": "0532 000 00 13"})
        self.assertEqual(mobile_only.iys_phone_field, "mobile")
        self.assertEqual(phone_only.iys_phone_field, "phone")
        self.assertEqual(both.iys_phone_field, "mobile")  # SMS go to the mobile, as phone_sanitized says
        self.assertFalse(self.p_no_phone.iys_phone_field)
        arch = self.env["res.partner"].get_view(self.env.ref("base.view_partner_form").id)["arch"]
        tree = etree.fromstring(arch)
        for fname in ("phone", "mobile"):
            span = tree.xpath(f"//field[@name='{fname}']/following-sibling::span[contains(@class, 'o_iys_badges')]")
            self.assertTrue(span, f"no İYS badges next to {fname}")
            self.assertIn(f"iys_phone_field != '{fname}'", span[0].get("invisible"))

    def test_recipient_type_rule_and_reason(self):
        Partner = self.env["res.partner"]
        company = Partner.create({"name": "Acme A.Ş.", "is_company": True, "vat": "1234567890"})
        us_company = Partner.create({"name": "Acme Inc.", "is_company": True})
        employee = Partner.create({"name": "John", "parent_id": company.id, "mobile": "0532 000 00 21"})
        person = Partner.create({"name": "Ali"})
        self.assertEqual(
            [p.iys_recipient_type for p in (company, us_company, employee, person)],
            ["TACIR", "BIREYSEL", "BIREYSEL", "BIREYSEL"],
        )
        self.assertIn("tax number", company.iys_recipient_type_reason)
        self.assertIn("without a tax number", us_company.iys_recipient_type_reason)
        self.assertIn("even at a company", employee.iys_recipient_type_reason)
        self.assertEqual(employee.iys_sms_state, "no_consent")  # an employee's mobile needs a consent
        lead = self.env["crm.lead"].create({"name": "Deal", "partner_id": company.id})
        self.assertEqual(lead.iys_recipient_type, "TACIR")
        self.assertIn("Acme A.Ş.", lead.iys_recipient_type_reason)

    def test_lead_and_mailing_contact_forms_tell_the_same(self):
        lead = self.env["crm.lead"].create({"name": "Deal", "phone": "0532 000 00 02"})
        self.assertEqual(lead.iys_sms_state, "unconfirmed")  # the pending consent of p_pending
        self.assertEqual(lead.iys_sms_why, self.p_pending.iys_sms_why)
        mailing_contact = self.env["mailing.contact"].create({"name": "C", "email": "c@example.com"})
        self.assertEqual(mailing_contact.iys_email_why, self.p_confirmed.iys_email_why)
        for model, xmlid in (("crm.lead", "crm.crm_lead_view_form"),
                             ("mailing.contact", "mass_mailing.mailing_contact_view_form")):
            tree = etree.fromstring(self.env[model].get_view(self.env.ref(xmlid).id)["arch"])
            page = tree.xpath("//page[@name='iys']")
            self.assertTrue(page, model)
            self.assertTrue(page[0].xpath(".//field[@name='iys_recipient_type_reason']"), model)
            self.assertTrue(page[0].xpath(".//field[@name='iys_email_why']"), model)
            self.assertFalse(page[0].xpath(".//group[@string]"), model)

    def test_reason_never_contradicts_the_type(self):
        # A contact typed under the previous rule (a person at a company was a merchant), stored as is.
        person = self.env["res.partner"].create({"name": "Old", "mobile": "0532 000 00 31"})
        self.env.cr.execute(SQL("UPDATE res_partner SET iys_recipient_type = 'TACIR' WHERE id = %s", person.id))
        person.invalidate_recordset()
        self.assertEqual(person.iys_recipient_type, "TACIR")
        self.assertIn("Not the default rule's type", person.iys_recipient_type_reason)
        self.assertIn("Individual (BIREYSEL)", person.iys_recipient_type_reason)

    def test_people_are_not_merchants_by_default(self):
        # Odoo's demo made every company's employee a merchant; now only companies with a tax number are.
        Partner = self.env["res.partner"].with_context(active_test=False)
        self.assertFalse(Partner.search([
            ("is_company", "=", False), ("iys_recipient_type", "=", "TACIR"), ("iys_recipient_type_manual", "=", False),
        ]))
        self.assertFalse(Partner.search([
            ("iys_recipient_type", "=", "TACIR"), ("iys_recipient_type_manual", "=", False), ("vat", "=", False),
        ]))

    def test_section_titles_are_not_uppercased_by_css(self):
        # CSS text-transform without a lang attribute makes "Ticari İletiler" "TICARI ILETILER":
        # the addon's own titles are plain text, no group string (which Odoo uppercases).
        for model, view in (("res.partner", "base.view_partner_form"),
                            ("iys.consent.wizard", "l10n_tr_iys.view_iys_consent_wizard_form")):
            tree = etree.fromstring(self.env[model].get_view(self.env.ref(view).id)["arch"])
            scope = tree.xpath("//page[@name='iys']") if model == "res.partner" else [tree]
            self.assertFalse(scope[0].xpath(".//group[@string] | .//separator[@string]"), model)
            titles = scope[0].xpath(".//div[contains(@class, 'o_iys_title')]")
            self.assertTrue(titles)
            self.assertFalse([t for t in titles if "text-uppercase" in t.get("class")])
