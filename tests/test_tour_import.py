# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
from odoo.tests import HttpCase, tagged

from .common import IysCommon


@tagged("post_install", "-at_install", "l10n_tr_iys")
class TestConsentImportTour(HttpCase, IysCommon):
    def test_consent_import_tour(self):
        Import = self.env["iys.consent.import"]
        before = Import.search([])
        self.start_tour("/odoo/action-l10n_tr_iys.action_iys_consent_import", "l10n_tr_iys_consent_import",
                        login=self.iys_manager.login)
        wizard = Import.search([]) - before
        self.assertEqual(len(wizard), 1)
        self.assertEqual((wizard.state, wizard.file_name, wizard.count_valid, wizard.count_invalid),
                         ("done", "tour_consents.csv", 1, 1))
        consent = self.Consent.search([("address", "=", "+905321000801"), ("channel", "=", "MESAJ")])
        self.assertEqual((consent.status, consent.brand_id), ("ONAY", self.brand))
        self.assertEqual(consent.event_ids.user_id, self.iys_manager)
        self.assertEqual(wizard.error_line_ids.mapped("error_code"), ["H121"])
