# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
from datetime import timedelta

from odoo.tests import HttpCase, tagged

from .common import IysCommon


@tagged("post_install", "-at_install", "l10n_tr_iys")
class TestPanelTour(HttpCase, IysCommon):
    def test_panel_tour(self):
        self.env.company.country_id = self.env.ref("base.tr")
        Partner = self.env["res.partner"]
        allowed = Partner.create({"name": "Tour Allowed", "mobile": "0532 111 00 01"})
        blocked = Partner.create({"name": "Tour Blocked", "mobile": "0532 111 00 02"})
        self.env["iys.consent"]._iys_record_movements([{
            "brand_id": self.brand.id, "channel": "MESAJ", "recipient_type": "BIREYSEL",
            "address": "+905321110001", "status": "ONAY", "source": "HS_WEB",
            "consent_date": self._now() - timedelta(days=1), "transaction_id": "T" * 40,
        }], "iys_query")
        self.assertEqual((allowed.iys_sms_state, blocked.iys_sms_state), ("allowed", "no_consent"))
        # the tour clicks the first row of the table: the default brand (Brand A), SMS
        self.start_tour("/odoo", "l10n_tr_iys_panel",
                        login=self.iys_user.login)
