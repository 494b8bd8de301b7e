# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
from unittest.mock import patch

from odoo.exceptions import UserError
from odoo.tests import TransactionCase, tagged

from odoo.addons.l10n_tr_iys.models.iys_account import IysAccount

from .sync_common import client_options, start_simulator


@tagged("post_install", "-at_install", "l10n_tr_iys")
class TestIysDemoSync(TransactionCase):
    """The demo's first synchronisation against an empty simulator ends without refusals, except the
    deliberate example, which says what to do and offers no Resend."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.account = cls.env.ref("l10n_tr_iys.demo_iys_account", raise_if_not_found=False)
        if not cls.account:
            return
        cls.server = start_simulator(iys_code=700001, brands={700001: "Demo Marka", 700002: "Demo Marka 2"})
        cls.addClassCleanup(cls.server.stop)
        cls.startClassPatcher(patch.object(IysAccount, "_iys_client_options", client_options))
        cls.account.write({"simulator_url": cls.server.url, "poll_delay": 0})
        cls.admin = cls.env.ref("base.user_admin")

    def setUp(self):
        super().setUp()
        if not self.account:
            self.skipTest("installed without demo data")

    def sync(self):
        wizard = self.env["iys.sync.wizard"].with_user(self.admin).create(
            {"mode": "push", "brand_ids": [(6, 0, self.account.brand_ids.ids)]}
        )
        wizard.action_preview()
        action = wizard.action_run()
        self.env.invalidate_all()
        return wizard, action

    def test_first_synchronisation_of_the_demo(self):
        Outbox = self.env["iys.outbox"].sudo()
        rows = Outbox.search([("account_id", "=", self.account.id)])
        rejected = rows.filtered(lambda r: r.address == "+905321000007")
        self.assertEqual(rejected.state, "failed")
        wizard, action = self.sync()
        self.assertTrue(wizard.sent_count)
        red = Outbox.search([("account_id", "=", self.account.id), ("state", "in", ("failed", "expired"))])
        self.assertEqual(red, rejected, "only the deliberate example is refused: %s" % red.mapped("error_code"))
        self.assertEqual(action["params"]["type"], "success")
        # The refusals waited for their consent and go with the next run; then everything is confirmed.
        self.assertEqual(rows.filtered(lambda r: r.status == "RET").mapped("state"), ["pending", "pending"])
        self.sync()
        self.assertEqual(set((rows - rejected).mapped("state")), {"done"})
        # The deliberate example says what to do, and cannot be sent again unchanged.
        self.assertFalse(rejected.can_resend)
        self.assertIn("Correct it on the contact", rejected.next_step)
        with self.assertRaisesRegex(UserError, "refused again"):
            rejected.with_user(self.admin).action_iys_resend()
