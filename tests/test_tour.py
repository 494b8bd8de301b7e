# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
from odoo.tests import HttpCase, tagged

from .common import IysCommon


@tagged("post_install", "-at_install", "l10n_tr_iys")
class TestPartnerConsentTour(HttpCase, IysCommon):
    def test_partner_sms_consent_tour(self):
        partner = self.env["res.partner"].create({
            "name": "Tour Müşteri", "country_id": self.env.ref("base.tr").id, "mobile": "0532 123 45 67",
        })
        self.start_tour(
            f"/odoo/action-base.action_partner_form/{partner.id}",
            "l10n_tr_iys_partner_sms_consent",
            login=self.iys_user.login,
        )
        consent = self.Consent.search([("address", "=", "+905321234567"), ("channel", "=", "MESAJ")])
        self.assertEqual((consent.status, consent.source, consent.brand_id), ("ONAY", "HS_FIZIKSEL_ORTAM", self.brand))
        self.assertEqual(consent.event_ids.origin, "wizard")
        self.assertEqual(consent.event_ids.user_id, self.iys_user)
        self.assertEqual(consent.event_ids.evidence_note, "Signed at the store counter")
        self.assertEqual(partner.iys_sms_state, "unconfirmed")
