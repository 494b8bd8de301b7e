# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
import os
from unittest.mock import patch

from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.modules.migration import load_script
from odoo.tests import new_test_user, tagged
from odoo.tools import SQL

from .common import IysCommon


@tagged("post_install", "-at_install", "l10n_tr_iys")
class TestIysAccountSecrets(IysCommon):
    """The İYS API password never goes back to any browser; the push password is not stored; the
    account's URL cannot send the credentials anywhere."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.settings_admin = new_test_user(
            cls.env, login="iys_t_settings", groups="base.group_user,base.group_system"
        )
        export = cls.env.ref("base.group_allow_export", raise_if_not_found=False)  # later 18.0 builds
        if export:
            (cls.iys_manager | cls.settings_admin).write({"groups_id": [(4, export.id)]})

    def test_password_cannot_be_read_searched_grouped_or_exported(self):
        for user in (self.iys_manager, self.settings_admin):
            account = self.account.with_user(user)
            Account = self.env["iys.account"].with_user(user)
            self.assertTrue(user.has_group("l10n_tr_iys.group_iys_manager"))
            with self.assertRaises(AccessError, msg=user.login):
                account.read(["password"])
            with self.assertRaises(AccessError, msg=user.login):
                _secret = account.password
            with self.assertRaises(AccessError, msg=user.login):
                Account.search([("password", "=like", "iys-demo%")])
            with self.assertRaises(AccessError, msg=user.login):
                Account.read_group([], ["name"], ["password"])
            self.assertEqual(account.export_data(["name"])["datas"], [[self.account.name]])
            with self.assertRaises(AccessError, msg=user.login):
                account.export_data(["password"])
            self.assertNotIn("password", Account.fields_get(), user.login)
            # The write-only input still replaces it, and says that one is set.
            self.assertFalse(account.password_input)
            account.password_input = f"new-{user.login}"
            self.assertEqual(self.account.sudo().password, f"new-{user.login}")
            self.assertTrue(account.password_set)

    def test_push_password_is_not_stored(self):
        user, password = self.account._iys_push_credentials()
        self.assertTrue(user and password and len(password) >= 32)
        self.env.flush_all()
        self.env.cr.execute(SQL("SELECT row_to_json(a)::text FROM iys_account a WHERE id = %s", self.account.id))
        self.assertNotIn(password, self.env.cr.fetchone()[0], "the password is nowhere in the account's row")
        # The same credentials again (register and unregister must present the same), new ones on request.
        self.assertEqual(self.account._iys_push_credentials(), (user, password))
        new_user, new_password = self.account._iys_push_credentials(regenerate=True)
        self.assertNotEqual(new_user, user)
        self.assertNotEqual(new_password, password)

    def test_simulator_url_stays_on_this_machine(self):
        for url in ("http://127.0.0.1:8099", "http://localhost:8099/", "http://[::1]:8099", "http://127.0.0.2:9"):
            self.account.simulator_url = url
        for url in ("http://attacker.example.com:8099", "http://10.0.0.5:8099", "ftp://127.0.0.1/",
                    "http://user:pw@127.0.0.1:8099"):
            with self.assertRaises(ValidationError, msg=url):
                self.account.simulator_url = url
        # An administrator may allow another simulator host; so may the server's environment.
        self.env["ir.config_parameter"].sudo().set_param("l10n_tr_iys.simulator_hosts", "sim.internal, other")
        self.account.simulator_url = "http://sim.internal:8099"
        with patch.dict(os.environ, {"IYS_SIMULATOR_URL": "http://iys-simulator:8099"}):
            self.account.simulator_url = "http://iys-simulator:8099"
        # Changed behind the form (or the allow-list shrank): nothing is posted there.
        self.env["ir.config_parameter"].sudo().set_param("l10n_tr_iys.simulator_hosts", "")
        self.env.flush_all()
        self.env.cr.execute(SQL("UPDATE iys_account SET simulator_url = 'http://sim.internal:8099' WHERE id = %s",
                                self.account.id))
        self.env.invalidate_all()
        with self.assertRaisesRegex(UserError, "sim.internal"):
            self.account._get_client_config()

    def test_live_environments_use_iys_hosts_only(self):
        self.account.write({"environment": "production", "poll_delay": 300,
                            "simulator_url": "http://127.0.0.1:8099"})
        self.assertEqual(self.account._get_client_config().base_url, "https://api.iys.org.tr")

    def test_upgrade_forgets_a_clear_push_password(self):
        # A database from before: the clear password in its own column.
        self.env.flush_all()
        self.env.cr.execute(SQL("ALTER TABLE iys_account ADD COLUMN push_password varchar"))
        self.env.cr.execute(SQL("UPDATE iys_account SET push_username = 'old-user', push_password = 'clear' "
                                "WHERE id = %s", self.account.id))
        post_migrate = load_script("l10n_tr_iys/migrations/18.0.1.2.0/post-migrate.py", "iys_post_migrate_1_2")
        post_migrate.migrate(self.env.cr, "18.0.1.1.0")
        self.env.cr.execute(SQL("SELECT 1 FROM information_schema.columns "
                                "WHERE table_name = 'iys_account' AND column_name = 'push_password'"))
        self.assertFalse(self.env.cr.fetchone(), "the clear column is gone")
        self.env.invalidate_all()
        self.assertFalse(self.account.push_username)
        self.assertIn("register the endpoint", self.account.push_info)
