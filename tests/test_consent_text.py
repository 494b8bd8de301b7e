# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
from datetime import timedelta

from lxml import etree

from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import Form, tagged

from ..iyslib.dates import to_iys_date
from ..models.iys_consent_text import next_version_label
from .common import IysCommon
from .common_import import ImportFilesMixin

TEXT_HEADER = ("recipient", "type", "source", "status", "consentDate", "recipientType", "retailerCode",
               "Metin sürümü")


@tagged("post_install", "-at_install", "l10n_tr_iys")
class TestConsentText(ImportFilesMixin, IysCommon):
    """Versions of the consent text shown: put in use, superseded, frozen once shown, linked from
    every capture (wizard, import, the resolver the API and the self-service page use), printed."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["res.lang"]._activate_lang("tr_TR")
        cls.Text = cls.env["iys.consent.text"]
        cls.Import = cls.env["iys.consent.import"]
        cls.partner = cls.env["res.partner"].create({
            "name": "Ayşe Yılmaz", "country_id": cls.env.ref("base.tr").id, "mobile": "0532 111 22 33",
            "email": "ayse@example.com", "lang": "en_US",
        })

    @classmethod
    def make_text(cls, version="ETK-2026-01", channel="MESAJ", lang="en_US", brand=None, use=True, **vals):
        text = cls.Text.create({
            "name": "Commercial SMS consent", "brand_id": (brand or cls.brand).id, "channel": channel,
            "lang": lang, "version": version, "body": "<p>I agree to receive SMS from Brand A.</p>", **vals,
        })
        if use:
            text.action_put_in_use()
        return text

    # ------------------------------------------------------------------------------------------
    # Versions
    # ------------------------------------------------------------------------------------------
    def test_next_version_label(self):
        self.assertEqual(next_version_label("ETK-2026-01"), "ETK-2026-02")
        self.assertEqual(next_version_label("v9"), "v10")
        self.assertEqual(next_version_label("3.09 (final)"), "3.10 (final)")
        self.assertEqual(next_version_label("ETK"), "ETK-2")

    def test_put_in_use_supersedes_previous(self):
        Text = self.Text.with_user(self.iys_manager)
        first = self.make_text().with_user(self.iys_manager)
        other_lang = self.make_text(lang="tr_TR")
        other_channel = self.make_text(channel="EPOSTA")
        self.assertEqual(first.state, "active")
        self.assertTrue(first.date_active)
        action = first.action_new_version()
        second = Text.browse(action["res_id"])
        self.assertEqual((second.state, second.version, second.name), ("draft", "ETK-2026-02", first.name))
        self.assertEqual(second.body, first.body)
        self.assertFalse(second.date_active)
        self.assertEqual(first.state, "active", "a new draft changes nothing until it is put in use")
        self.assertEqual(Text._iys_current_text(self.brand, "MESAJ", "en_US"), first)
        second.action_put_in_use()
        self.assertEqual(second.state, "active")
        self.assertEqual((first.state, first.superseded_by_id), ("superseded", second))
        self.assertTrue(first.date_superseded)
        self.assertEqual(Text._iys_current_text(self.brand, "MESAJ", "en_US"), second)
        # only the same brand, channel and language is superseded
        self.assertEqual((other_lang.state, other_channel.state), ("active", "active"))
        # a third version skips the labels taken
        third = Text.browse(first.action_new_version()["res_id"])
        self.assertEqual(third.version, "ETK-2026-03")
        with self.assertRaisesRegex(UserError, "Only a draft can be put in use"):
            first.action_put_in_use()
        # two versions in use at once are refused, whatever the way
        with self.assertRaisesRegex(ValidationError, "already in use"):
            third.write({"state": "active"})

    def test_frozen_once_shown(self):
        text = self.make_text().with_user(self.iys_manager)
        self.assertTrue(text.is_frozen)
        with self.assertRaisesRegex(UserError, "cannot be changed"):
            text.write({"body": "<p>Something else</p>"})
        with self.assertRaisesRegex(UserError, "cannot be changed"):
            text.write({"version": "ETK-2026-01b"})
        with self.assertRaisesRegex(UserError, "kept as evidence"):
            text.unlink()
        # superseding it (a state change) is allowed, and it stays frozen
        new = text.browse(text.action_new_version()["res_id"])
        new.write({"body": "<p>I agree, version 2.</p>"})  # a draft never shown is edited freely
        new.action_put_in_use()
        self.assertEqual(text.state, "superseded")
        with self.assertRaisesRegex(UserError, "cannot be changed"):
            text.write({"name": "Renamed"})
        text.write({"active": False})  # archived: allowed
        # the ledger never links a draft (never shown), nor another brand's or channel's text, as shown
        draft = self.make_text(version="ETK-DRAFT", use=False)
        self.assertFalse(draft.is_frozen)
        other_brand = self.make_text(version="ETK-B", brand=self.brand_b)
        other_channel = self.make_text(version="ETK-E", channel="EPOSTA")
        for wrong in (draft, other_brand, other_channel):
            with self.assertRaisesRegex(ValidationError, "not a text in use or superseded"):
                self.record("+905321112200", evidence={"consent_text_id": wrong.id})
        self.assertFalse(self.env["iys.consent"].search([("address", "=", "+905321112200")]))
        draft.invalidate_recordset(["is_frozen"])
        self.assertFalse(draft.is_frozen)
        self.record("+905321112200", evidence={"consent_text_id": text.id})
        self.assertEqual(self.env["iys.consent.event"].search(
            [("consent_id.address", "=", "+905321112200")]).consent_text_id, text)
        # an unused draft can be deleted; a user (not a manager) may only read
        spare = self.make_text(version="ETK-SPARE", use=False)
        with self.assertRaises(AccessError):
            spare.with_user(self.iys_user).write({"name": "x"})
        self.assertEqual(spare.with_user(self.iys_user).version, "ETK-SPARE")
        spare.with_user(self.iys_manager).unlink()
        self.assertFalse(spare.exists())

    def test_form_captures_and_event_history(self):
        form = Form(self.Text.with_user(self.iys_manager))
        form.name = "E-mail consent"
        form.brand_id = self.brand
        form.channel = "EPOSTA"
        form.lang = "en_US"
        form.version = "MAIL-1"
        form.body = "<p>I agree to receive e-mails.</p>"
        text = form.save()
        self.assertEqual(text.state, "draft")
        self.assertEqual(text.display_name, "E-mail consent (MAIL-1)")
        text.action_put_in_use()
        self.assertEqual(text.capture_count, 0)
        result = self.record("ayse@example.com", channel="EPOSTA", evidence={"consent_text_id": text.id})
        self.record("ayse2@example.com", channel="EPOSTA", evidence={"consent_text_id": text.id})
        text.invalidate_recordset(["capture_count"])
        self.assertEqual(text.capture_count, 2)
        action = text.action_view_captures()
        self.assertEqual(self.env["iys.consent.event"].search(action["domain"]), text.event_ids)
        self.assertEqual(result.event.notice_version, "MAIL-1", "the ledger takes the text's label")
        # the consent's history and the event show the text
        for view, model in (("l10n_tr_iys.view_iys_consent_form", "iys.consent"),
                            ("l10n_tr_iys.view_iys_consent_event_form", "iys.consent.event"),
                            ("l10n_tr_iys.view_iys_consent_event_list", "iys.consent.event")):
            arch = self.env[model].get_view(self.env.ref(view).id)["arch"]
            self.assertIn('name="consent_text_id"', arch, view)

    # ------------------------------------------------------------------------------------------
    # Captures: the wizard and the import link the version shown
    # ------------------------------------------------------------------------------------------
    def open_wizard(self, mode="consent", channel="MESAJ"):
        action = self.partner.with_user(self.iys_manager).with_context(
            iys_channel=channel, iys_mode=mode).action_iys_open_consent_wizard()
        return Form(self.env["iys.consent.wizard"].with_user(self.iys_manager).with_context(**action["context"]))

    def test_wizard_links_the_version_shown(self):
        old = self.make_text(version="SMS-1")
        self.make_text(version="SMS-1", lang="tr_TR")
        current = self.Text.browse(old.action_new_version()["res_id"])
        current.action_put_in_use()
        form = self.open_wizard()
        self.assertEqual(form.consent_text_id, current, "the version in use, in the contact's language")
        # the person was shown the former version (e.g. a paper form printed earlier)
        form.consent_text_id = old
        form.source_consent = "HS_ISLAK_IMZA"
        form.consent_date = self._next_date()
        wizard = form.save()
        wizard.notice_version = "typed by hand"  # (hidden when a text is chosen; a client may still send it)
        wizard.action_confirm()
        event = self.Consent.search([("address", "=", "+905321112233"), ("channel", "=", "MESAJ")]).event_ids
        self.assertEqual((event.consent_text_id, event.notice_version), (old, "SMS-1"))
        # a text not kept in Odoo: the typed version stays
        form = self.open_wizard(channel="EPOSTA")
        self.assertFalse(form.consent_text_id, "no e-mail text in use")
        form.notice_version = "Paper form v3"
        form.consent_date = self._next_date()
        form.save().action_confirm()
        event = self.Consent.search([("address", "=", "ayse@example.com")]).event_ids
        self.assertEqual((event.consent_text_id.id, event.notice_version), (False, "Paper form v3"))
        # a refusal shows no consent text
        self.assertFalse(self.open_wizard(mode="refusal").consent_text_id)

    def test_wizard_refuses_a_text_of_another_brand_channel_or_a_draft(self):
        self.make_text()
        draft = self.make_text(version="SMS-DRAFT", use=False)
        other_brand = self.make_text(brand=self.brand_b)
        other_channel = self.make_text(channel="ARAMA")
        for text in (draft, other_brand, other_channel):
            with self.subTest(text=text.version):
                form = self.open_wizard()
                form.consent_date = self._next_date()
                wizard = form.save()
                wizard.consent_text_id = text
                with self.assertRaisesRegex(UserError, "not a version in use or superseded"):
                    wizard.action_confirm()
        self.assertFalse(self.Consent.search([("address", "=", "+905321112233")]))

    def test_import_links_texts_by_label(self):
        old = self.make_text(version="SMS-1")
        new = self.Text.browse(old.action_new_version()["res_id"])
        new.action_put_in_use()
        mail = self.make_text(version="MAIL-1", channel="EPOSTA")
        self.make_text(version="DRAFT-9", use=False)
        recent = to_iys_date(self._now() - timedelta(hours=1))
        content = self._csv([
            ["05321000041", "MESAJ", "HS_WEB", "ONAY", recent, "BIREYSEL", "", "SMS-1"],  # row 2: superseded one
            ["05321000042", "MESAJ", "HS_WEB", "ONAY", recent, "BIREYSEL", "", "SMS-7"],  # row 3: unknown
            ["05321000043", "MESAJ", "HS_WEB", "ONAY", recent, "BIREYSEL", "", ""],  # row 4: the option's
            ["a.kaya@example.com", "EPOSTA", "HS_WEB", "ONAY", recent, "BIREYSEL", "", " MAIL-1 "],  # row 5
            ["b.kaya@example.com", "EPOSTA", "HS_WEB", "ONAY", recent, "BIREYSEL", "", ""],  # row 6: no option
            ["05321000046", "MESAJ", "HS_WEB", "ONAY", recent, "BIREYSEL", "", "DRAFT-9"],  # row 7: a draft
            ["05321000047", "MESAJ", "HS_WEB", "ONAY", recent, "BIREYSEL", "", "MAIL-1"],  # row 8: other channel
        ], header=TEXT_HEADER)
        wizard = self._wizard(content, consent_text_ids=[(6, 0, new.ids)])
        wizard.action_check()
        self.assertEqual((wizard.count_rows, wizard.count_valid, wizard.count_invalid), (7, 4, 3))
        self.assertIn("consentTextVersion", wizard.column_map)
        wizard.action_import()
        self.assertEqual((wizard.state, wizard.count_valid, wizard.count_invalid), ("done", 4, 3))

        def text_of(address, channel="MESAJ"):
            event = self.Consent.search([("address", "=", address), ("channel", "=", channel)]).event_ids
            self.assertEqual(len(event), 1, address)
            return event.consent_text_id, event.notice_version

        self.assertEqual(text_of("+905321000041"), (old, "SMS-1"))
        self.assertEqual(text_of("+905321000043"), (new, "SMS-2"))
        self.assertEqual(text_of("a.kaya@example.com", "EPOSTA"), (mail, "MAIL-1"))
        self.assertEqual(text_of("b.kaya@example.com", "EPOSTA"), (self.Text, False))
        self.assertFalse(self.Consent.search([("address", "in", ("+905321000042", "+905321000046",
                                                                 "+905321000047"))]))
        _header, report = self._report_rows(wizard)
        self.assertEqual(sorted(report), [3, 7, 8])
        self.assertEqual({row[-2] for row in report.values()}, {"TEXT"})
        self.assertIn("Unknown consent text version “SMS-7”", report[3][-1])
        self.assertIn("still a draft", report[7][-1])
        self.assertIn("Unknown consent text version “MAIL-1”", report[8][-1])

    def _report_rows(self, wizard):
        import csv
        import io

        data = wizard.report_id.sudo().raw.decode("utf-8-sig")
        rows = list(csv.reader(io.StringIO(data), delimiter=wizard.file_delimiter or ";"))
        return rows[0], {int(row[0]): row for row in rows[1:]}

    def test_import_option_one_text_per_channel_of_the_brand(self):
        first = self.make_text(version="A")
        second = self.make_text(version="B", lang="tr_TR")
        other_brand = self.make_text(version="C", brand=self.brand_b)
        content = self._csv([["05321000051", "MESAJ", "HS_WEB", "ONAY", "", "BIREYSEL", ""]])
        with self.assertRaisesRegex(UserError, "at most one consent text per channel"):
            self._wizard(content, consent_text_ids=[(6, 0, (first | second).ids)])
        with self.assertRaisesRegex(UserError, "of the brand Brand A"):
            self._wizard(content, consent_text_ids=[(6, 0, other_brand.ids)])

    # ------------------------------------------------------------------------------------------
    # The resolver of the API and the self-service page
    # ------------------------------------------------------------------------------------------
    def test_resolve(self):
        Text = self.Text.with_user(self.iys_user).with_context(lang="en_US")
        self.assertFalse(Text._iys_resolve(self.brand, "MESAJ"), "nothing in use: an empty recordset")
        en = self.make_text(version="ETK-1")
        tr = self.make_text(version="ETK-1", lang="tr_TR")
        en2 = self.Text.browse(en.action_new_version()["res_id"])
        en2.action_put_in_use()
        self.make_text(version="ETK-9", use=False)
        self.assertEqual(Text._iys_resolve(self.brand, "MESAJ"), en2)
        self.assertEqual(Text._iys_resolve(self.brand.id, "MESAJ", lang="tr_TR"), tr)
        self.assertEqual(Text._iys_resolve(self.brand, "MESAJ", "ETK-1", lang="tr_TR"), tr)
        self.assertEqual(Text._iys_resolve(self.brand, "MESAJ", "ETK-1", lang="en_US"), en)
        self.assertEqual(Text._iys_resolve(self.brand, "MESAJ", " ETK-2 "), en2)
        with self.assertRaisesRegex(ValidationError, "Unknown consent text version “ETK-3” for Brand A and SMS"):
            Text._iys_resolve(self.brand, "MESAJ", "ETK-3")
        with self.assertRaisesRegex(ValidationError, "Unknown consent text version"):
            Text._iys_resolve(self.brand, "EPOSTA", "ETK-1")  # another channel's label
        with self.assertRaisesRegex(ValidationError, "still a draft"):
            Text._iys_resolve(self.brand, "MESAJ", "ETK-9")
        # what the API and the self-service page do with it: the ledger links it
        result = self.record("+905321112299", evidence={"consent_text_id": Text._iys_resolve(self.brand, "MESAJ").id})
        self.assertEqual((result.event.consent_text_id, result.event.notice_version), (en2, "ETK-2"))

    def test_multi_company(self):
        other_company = self.env["res.company"].create({"name": "Other İYS Co (texts)"})
        account = self.env["iys.account"].create({
            "name": "Other İYS", "iys_code": "900301", "environment": "simulator", "company_id": other_company.id,
            "username": "x", "password": "y"})
        other_brand = self.env["iys.brand"].create({"name": "Other brand", "code": "900301",
                                                    "account_id": account.id, "is_default": True})
        foreign = self.make_text(version="F-1", brand=other_brand)
        self.assertEqual(foreign.company_id, other_company)
        for user in (self.iys_user, self.iys_manager):
            Text = self.Text.with_user(user)
            self.assertFalse(Text.search([("id", "=", foreign.id)]), user.login)
            with self.assertRaises(AccessError):
                foreign.with_user(user).read(["body"])
            with self.assertRaisesRegex(ValidationError, "Unknown consent text version “F-1”"):
                Text._iys_resolve(other_brand, "MESAJ", "F-1")
        # the wizard refuses a text the user cannot read (another company's)
        self.make_text()
        form = self.open_wizard()
        form.consent_date = self._next_date()
        wizard = form.save()
        wizard.consent_text_id = foreign.id
        with self.assertRaises(AccessError):
            wizard.action_confirm()
        self.assertFalse(self.Consent.search([("address", "=", "+905321112233")]))

    # ------------------------------------------------------------------------------------------
    # Printing
    # ------------------------------------------------------------------------------------------
    def test_report_renders(self):
        text = self.make_text(version="ETK-PRINT")
        self.record("+905321112277", evidence={"consent_text_id": text.id})
        report = self.env.ref("l10n_tr_iys.action_report_iys_consent_text")
        self.assertEqual(report.binding_model_id.model, "iys.consent.text")
        html, kind = self.env["ir.actions.report"].with_user(self.iys_user)._render_qweb_html(
            report.report_name, text.ids)
        self.assertEqual(kind, "html")
        html = html.decode()
        for expected in ("ETK-PRINT", "Brand A", "900001", "I agree to receive SMS from Brand A.", "In use since",
                         "Captures"):
            self.assertIn(expected, html)
        self.assertRegex(html, r"Captures</th>\s*<td><span>1</span>")

    def test_demo_texts_in_use(self):
        sms = self.env.ref("l10n_tr_iys.demo_iys_consent_text_sms", raise_if_not_found=False)
        if not sms:
            self.skipTest("installed without demo data")
        brand = self.env.ref("l10n_tr_iys.demo_iys_brand_main")
        for channel in ("MESAJ", "ARAMA", "EPOSTA"):
            text = self.Text._iys_current_text(brand, channel, "tr_TR")
            self.assertEqual((text.lang, text.state), ("tr_TR", "active"), channel)
            self.assertTrue(text.is_frozen)
        self.assertEqual(self.Text._iys_resolve(brand, "MESAJ", "ETK-SMS-2026-01"), sms)
        email = self.env.ref("l10n_tr_iys.demo_iys_consent_text_email")
        elif_sahin = self.env.ref("l10n_tr_iys.demo_partner_two_numbers")
        self.assertEqual(email.event_ids.partner_id, elif_sahin)
        self.assertEqual((email.event_ids.new_status, email.event_ids.notice_version), ("ONAY", "ETK-EPOSTA-2026-01"))

    def test_list_names_channels_as_everywhere_and_sizes_its_columns(self):
        """The consent texts list shows the channel with the labels of the ledger, the requests and
        the contact form's sections, and every column but the title has a width (or starts hidden),
        so the version label and the channel are not cut."""
        labels = {
            model: dict(self.env[model]._fields["channel"]._description_selection(self.env))
            for model in ("iys.consent.text", "iys.consent", "iys.consent.request", "iys.consent.request.wizard")
        }
        self.assertEqual(len({tuple(sorted(found.items())) for found in labels.values()}), 1, labels)
        partner_form = etree.fromstring(self.env.ref("l10n_tr_iys.view_res_partner_form").arch)
        sections = {node.get("for"): node.get("string") for node in partner_form.xpath("//label[@string]")}
        self.assertEqual(
            (sections.get("iys_sms_state"), sections.get("iys_call_state"), sections.get("iys_email_state")),
            (labels["iys.consent.text"]["MESAJ"], labels["iys.consent.text"]["ARAMA"],
             labels["iys.consent.text"]["EPOSTA"]),
        )
        arch = etree.fromstring(self.env.ref("l10n_tr_iys.view_iys_consent_text_list").arch)
        for node in arch.xpath("//field"):
            if node.get("name") == "name":
                continue
            self.assertTrue(node.get("width") or node.get("optional") == "hide", node.get("name"))
        self.assertGreaterEqual(int(arch.xpath("//field[@name='version']")[0].get("width").rstrip("px")), 180)
