# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
from odoo.exceptions import UserError
from odoo.tests import TransactionCase, tagged


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

    def test_code_message_in_turkish(self):
        consent = self.env["iys.consent"].with_context(lang="tr_TR")
        with self.assertRaises(UserError) as caught:
            consent.create({"channel": "MESAJ", "address": "+905321112233", "status": "ONAY"})
        message = caught.exception.args[0]
        self.assertNotIn("Consents are recorded", message)
        self.assertIn("izin", message.lower())
