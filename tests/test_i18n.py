# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
from odoo.exceptions import UserError
from odoo.tests import TransactionCase, tagged
from odoo.tools.misc import file_open


@tagged("post_install", "-at_install", "l10n_tr_iys")
class TestTurkishTranslation(TransactionCase):
    """The Turkish translation loads and is used, for data (menus, fields) and for code messages."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["res.lang"]._activate_lang("tr_TR")
        cls.env["ir.module.module"]._load_module_terms(["l10n_tr_iys"], ["tr_TR"], overwrite=True)

    def test_menu_and_field_labels(self):
        menu = self.env.ref("l10n_tr_iys.menu_iys_configuration")
        self.assertEqual(menu.with_context(lang="tr_TR").name, "Yapılandırma")
        self.assertEqual(menu.with_context(lang="en_US").name, "Configuration")
        fields_tr = self.env["iys.consent"].with_context(lang="tr_TR").fields_get(["recipient_type"])
        self.assertNotEqual(fields_tr["recipient_type"]["string"], "Recipient Type")

    def test_channel_labels_follow_the_reader(self):
        """A consent's name (shown in the request form, the Ask to confirm wizard, the sync preview)
        names its channel in the reader's language, as the selection does."""
        for lang, label in (("tr_TR", "E-posta"), ("en_US", "E-mail (EPOSTA)")):
            Consent = self.env["iys.consent"].with_context(lang=lang)
            self.assertEqual(dict(Consent._fields["channel"]._description_selection(Consent.env))["EPOSTA"], label)
            consent = Consent.new({"address": "ali@example.com", "channel": "EPOSTA"})
            self.assertEqual(consent.display_name, f"ali@example.com · {label}")

    def test_code_message_in_turkish(self):
        consent = self.env["iys.consent"].with_context(lang="tr_TR")
        with self.assertRaises(UserError) as caught:
            consent.create({"channel": "MESAJ", "address": "+905321112233", "status": "ONAY"})
        message = caught.exception.args[0]
        self.assertNotIn("Consents are recorded", message)
        self.assertIn("izin", message.lower())

    def test_odoo_terms_and_no_literal_renderings(self):
        """Odoo's own Turkish terms for the same concepts; the literal renderings are gone."""
        def tr(model, field):
            return self.env[model].with_context(lang="tr_TR").fields_get([field])[field]["string"]

        self.assertEqual(tr("iys.consent", "partner_ids"), "Kontaklar")  # Odoo: Contact = Kontak, not kişi
        import_states = dict(self.env["iys.consent.import"].with_context(lang="tr_TR")
                             .fields_get(["state"])["state"]["selection"])
        self.assertEqual(import_states["checked"], "Test")  # as base_import says, not "Deneme çalıştırması"
        self.assertEqual(tr("iys.consent.import", "count_local_only"), "Yalnızca Odoo'da kaydedilen")
        wizard = self.env["iys.consent.wizard"].with_context(lang="tr_TR")
        modes = dict(wizard.fields_get(["mode"])["mode"]["selection"])
        self.assertEqual(modes["refusal"], "Ret")  # not the double "Ret (RET)"
        po = file_open("l10n_tr_iys/i18n/tr.po").read()
        for literal in ("Deneme çalıştırması", "Burada tutulan, gönderilmeyen", "Ret (RET)",
                        "Dosyanın kontrol edilmesi hiçbir şey kaydetmez", "Kişiler\"", "TICARI"):
            self.assertNotIn(literal, po)
