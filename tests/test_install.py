# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
from odoo.exceptions import AccessError
from odoo.tests import TransactionCase, new_test_user, tagged


@tagged("post_install", "-at_install", "l10n_tr_iys")
class TestInstall(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.plain_user = new_test_user(cls.env, login="iys_plain", groups="base.group_user")
        cls.iys_user = new_test_user(cls.env, login="iys_user", groups="base.group_user,l10n_tr_iys.group_iys_user")
        cls.iys_manager = new_test_user(
            cls.env, login="iys_manager", groups="base.group_user,l10n_tr_iys.group_iys_manager"
        )
        cls.account = cls.env["iys.account"].create(
            {"name": "Test account", "iys_code": "800001", "environment": "simulator", "password": "s3cret!"}
        )
        cls.brand = cls.env["iys.brand"].create(
            {"name": "Test brand", "code": "800001", "account_id": cls.account.id, "is_default": True}
        )

    def test_module_installed(self):
        module = self.env["ir.module.module"].search([("name", "=", "l10n_tr_iys")])
        self.assertEqual(module.state, "installed")

    def test_group_chain(self):
        user_group = self.env.ref("l10n_tr_iys.group_iys_user")
        manager_group = self.env.ref("l10n_tr_iys.group_iys_manager")
        self.assertIn(user_group, manager_group.implied_ids)
        self.assertIn(manager_group, self.env.ref("base.group_system").implied_ids)
        self.assertTrue(self.env.ref("base.user_admin").has_group("l10n_tr_iys.group_iys_manager"))
        self.assertTrue(self.iys_manager.has_group("l10n_tr_iys.group_iys_user"))
        self.assertFalse(self.iys_user.has_group("l10n_tr_iys.group_iys_manager"))
        self.assertFalse(self.plain_user.has_group("l10n_tr_iys.group_iys_user"))

    def test_menus_visible_per_group(self):
        root = self.env.ref("l10n_tr_iys.menu_iys_root")
        config = self.env.ref("l10n_tr_iys.menu_iys_configuration")

        def visible(user):
            return self.env["ir.ui.menu"].with_user(user)._visible_menu_ids()

        consents = self.env.ref("l10n_tr_iys.menu_iys_consent")
        events = self.env.ref("l10n_tr_iys.menu_iys_consent_event")

        # İYS users, and dealer users (issue 13: record rules limit what they see in it)
        self.assertEqual(root.groups_id,
                         self.env.ref("l10n_tr_iys.group_iys_user") | self.env.ref("l10n_tr_iys.group_iys_dealer"))
        self.assertNotIn(root.id, visible(self.plain_user))
        self.assertNotIn(consents.id, visible(self.plain_user))
        self.assertNotIn(config.id, visible(self.plain_user))
        # An İYS user sees the app, its consents and events, not its configuration.
        self.assertIn(root.id, visible(self.iys_user))
        self.assertIn(consents.id, visible(self.iys_user))
        self.assertIn(events.id, visible(self.iys_user))
        self.assertNotIn(config.id, visible(self.iys_user))
        self.assertIn(config.id, visible(self.iys_manager))
        self.assertIn(root.id, visible(self.iys_manager))

    def test_account_access_rights(self):
        Account = self.env["iys.account"]
        with self.assertRaises(AccessError):
            Account.with_user(self.plain_user).search([])
        # An İYS user sees the account but cannot change or create one.
        self.assertEqual(Account.with_user(self.iys_user).search([("id", "=", self.account.id)]), self.account)
        with self.assertRaises(AccessError):
            self.account.with_user(self.iys_user).write({"name": "Changed"})
        with self.assertRaises(AccessError):
            Account.with_user(self.iys_user).create({"name": "X", "iys_code": "1"})
        self.account.with_user(self.iys_manager).write({"name": "Renamed"})
        self.assertEqual(self.account.name, "Renamed")

    def test_password_readable_by_nobody(self):
        with self.assertRaises(AccessError):
            self.account.with_user(self.iys_user).read(["password"])
        with self.assertRaises(AccessError):
            self.account.with_user(self.iys_manager).read(["password"])
        self.assertEqual(self.account.sudo().password, "s3cret!")
        # The form field is write-only: it never returns the secret.
        self.assertFalse(self.account.with_user(self.iys_manager).password_input)
        self.account.with_user(self.iys_manager).password_input = "n3w-secret"
        self.assertEqual(self.account.password, "n3w-secret")
        self.assertTrue(self.account.with_user(self.iys_user).password_set)

    def test_multi_company_rule(self):
        other_company = self.env["res.company"].create({"name": "Other Co"})
        other_account = self.env["iys.account"].create(
            {"name": "Other", "iys_code": "800002", "company_id": other_company.id}
        )
        visible = self.env["iys.account"].with_user(self.iys_manager).search([])
        self.assertIn(self.account, visible)
        self.assertNotIn(other_account, visible)

    def test_settings_show_account(self):
        settings = self.env["res.config.settings"].create({})
        self.assertEqual(settings.iys_pending_policy, "block")
        self.assertEqual(self.env.company.iys_account_id.iys_code, self.env["iys.account"].search(
            [("company_id", "=", self.env.company.id)], order="sequence, id", limit=1).iys_code)
        self.assertEqual(self.account.default_brand_id, self.brand)
