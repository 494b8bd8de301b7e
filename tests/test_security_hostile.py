# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
"""Hostile input to the addon's routes and wizards: forged unsubscribe links, HTML where a text is
expected, malformed push bodies. Nothing is recorded that the input does not prove, and nothing a
person reads turns input into markup."""
import base64
import contextlib
import json

from odoo.tests import HttpCase, new_test_user, tagged
from odoo.tools import mute_logger

from .common import IysCommon

HOSTILE_HTML = '<img src=x onerror="alert(1)"><script>alert(2)</script><b>bold</b>'


@tagged("post_install", "-at_install", "l10n_tr_iys", "l10n_tr_iys_security")
class TestHostileText(IysCommon):
    """Texts a user types end up in chatter notes and events as text, never as markup."""

    def assert_no_markup(self, bodies):
        html = "".join(str(b) for b in bodies)
        for tag in ("<img", "<script", "<b>"):
            self.assertNotIn(tag, html)

    def test_consent_wizard_note_is_text(self):
        partner = self.env["res.partner"].create({"name": "Ali Veli", "mobile": "0532 222 33 44"})
        action = partner.with_user(self.iys_user).with_context(
            iys_channel="MESAJ", iys_mode="consent").action_iys_open_consent_wizard()
        wizard = self.env["iys.consent.wizard"].with_user(self.iys_user).with_context(**action["context"]).create(
            {"note": HOSTILE_HTML, "consent_date": self._next_date()})
        wizard.action_confirm()
        event = self.Consent.search([("address", "=", "+905322223344")]).event_ids
        self.assertEqual(event.evidence_note, HOSTILE_HTML, "kept as typed (evidence)")
        self.assert_no_markup(partner.message_ids.mapped("body"))

    def test_transactional_reason_is_text(self):
        mailing = self.env["mailing.mailing"].create({
            "subject": "Fatura", "body_html": "<p>Faturanız hazır</p>", "mailing_type": "mail",
            "mailing_model_id": self.env["ir.model"]._get_id("res.partner"),
        })
        manager = new_test_user(self.env, login="iys_h_manager", groups="base.group_user,"
                                "l10n_tr_iys.group_iys_manager,mass_mailing.group_mass_mailing_user")
        wizard = self.env["iys.mailing.transactional"].with_user(manager).create(
            {"mailing_id": mailing.id, "reason": HOSTILE_HTML})
        wizard.action_confirm()
        self.assertEqual(mailing.iys_message_class, "transactional")
        self.assert_no_markup(mailing.message_ids.mapped("body"))

    def test_import_file_name_is_text(self):
        content = (
            "recipient,type,source,status,consentDate,recipientType\n"
            f"+905322223355,MESAJ,HS_WEB,ONAY,{self._iys_recent()},BIREYSEL\n"
        ).encode()
        manager = new_test_user(self.env, login="iys_h_importer", groups="base.group_user,"
                                "l10n_tr_iys.group_iys_manager,base.group_partner_manager")
        imp = self.env["iys.consent.import"].with_user(manager).create({
            "file": base64.b64encode(content), "file_name": f"{HOSTILE_HTML}.csv", "brand_id": self.brand.id,
            "create_partners": True,
        })
        imp.action_check()
        imp.action_import()
        created = self.env["res.partner"].search([("phone_sanitized", "=", "+905322223355")])
        self.assertTrue(created, "the row's contact is created")
        self.assert_no_markup(created.message_ids.mapped("body"))

    @classmethod
    def _iys_recent(cls):
        from ..iyslib.dates import to_iys_date

        return to_iys_date(cls._next_date())


@tagged("post_install", "-at_install", "l10n_tr_iys", "l10n_tr_iys_security")
class TestHostileRoutes(HttpCase, IysCommon):
    """Opt-out routes: a refusal is recorded for the address a valid link proves, never for an
    address or record a visitor makes up."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.partner = cls.env["res.partner"].create(
            {"name": "Optout Target", "email": "target@example.com", "mobile": "0532 333 44 55"})
        cls.record("target@example.com", channel="EPOSTA")
        cls.record("+905323334455")
        cls.mailing = cls.env["mailing.mailing"].create({
            "subject": "Kampanya", "body_html": "<p>Merhaba</p>", "mailing_type": "mail",
            "mailing_model_id": cls.env["ir.model"]._get_id("res.partner"),
        })

    def statuses(self):
        self.env.invalidate_all()
        return sorted(self.Consent.search([("address", "in", ["target@example.com", "+905323334455"])])
                      .mapped(lambda c: (c.channel, c.status)))

    def test_forged_unsubscribe_links_record_nothing(self):
        before = self.statuses()
        token = self.mailing._generate_mailing_recipient_token(self.partner.id, "target@example.com")
        forged = [
            f"/mailing/{self.mailing.id}/unsubscribe?document_id={self.partner.id}&email=target%40example.com"
            "&hash_token=0000",
            # a valid token for the record, another address
            f"/mailing/{self.mailing.id}/unsubscribe?document_id={self.partner.id}&email=other%40example.com"
            f"&hash_token={token}",
            "/mailing/999999/unsubscribe?document_id=1&email=target%40example.com&hash_token=x",
        ]
        with mute_logger("odoo.http", "odoo.addons.mass_mailing.controllers.main", "werkzeug"):
            for url in forged:
                response = self.url_open(url)
                self.assertLess(response.status_code, 500, url)
            # a document id that is no number: Odoo's own route fails on it (HTTP 500); the addon
            # must still record nothing
            self.url_open(f"/mailing/{self.mailing.id}/unsubscribe?document_id=abc&email=%3Cscript%3E"
                          f"&hash_token={token}")
        self.assertEqual(self.statuses(), before)
        self.assertFalse(self.env["mail.blacklist"].search([("email", "in", ["target@example.com",
                                                                             "other@example.com"])]))

    def test_forged_sms_unsubscribe_records_nothing(self):
        before = self.statuses()
        sms_mailing = self.mailing.copy({"mailing_type": "sms", "body_plaintext": "Kampanya",
                                         "sms_allow_unsubscribe": True})
        with mute_logger("odoo.http", "werkzeug"):
            for url in (f"/sms/{sms_mailing.id}/unsubscribe/WRONGCODE?sms_number=%2B905323334455",
                        f"/sms/{sms_mailing.id}/unsubscribe/x?sms_number=%3Cscript%3E"):
                response = self.url_open(url)
                self.assertLess(response.status_code, 500, url)
        self.assertEqual(self.statuses(), before)

    def test_blocklist_rpc_with_a_bad_token_records_nothing(self):
        before = self.statuses()
        with mute_logger("odoo.http"), contextlib.suppress(Exception):
            # Odoo answers with an error (or nothing): what matters is what was recorded
            self.make_jsonrpc_request("/mailing/blocklist/add", {
                "mailing_id": self.mailing.id, "document_id": self.partner.id, "email": "target@example.com",
                "hash_token": "forged"})
        self.assertEqual(self.statuses(), before)


@tagged("post_install", "-at_install", "l10n_tr_iys", "l10n_tr_iys_security")
class TestHostilePushBodies(HttpCase, IysCommon):
    """The push endpoint, with valid credentials and bodies no İYS would send."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.user, cls.password = cls.account._iys_push_credentials()
        cls.url = f"/l10n_tr_iys/push/{cls.account.id}"

    def post(self, data):
        token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        self.env.flush_all()
        with mute_logger("odoo.http", "odoo.addons.l10n_tr_iys.controllers.iys_push"):
            return self.url_open(self.url, data=data, headers={
                "Content-Type": "application/json", "Authorization": f"Basic {token}"})

    def test_malformed_bodies_are_refused_and_record_nothing(self):
        consents = self.Consent.search_count([])
        bodies = [
            "[" * 5000 + "]" * 5000,  # deep nesting
            json.dumps({"list": {"recipient": "+905321112233"}}),  # an object where a list belongs
            json.dumps({"list": [[1, 2], None, 3]}),
            json.dumps({"list": [{"recipient": "x" * 100000, "type": "MESAJ"}]}),
            "\x00\x01\x02",
            json.dumps("just a string"),
        ]
        for body in bodies:
            response = self.post(body)
            self.assertLess(response.status_code, 500, body[:40])
            self.assertGreaterEqual(response.status_code, 200, body[:40])
            if response.status_code == 200:
                result = response.json()
                self.assertEqual(result.get("applied"), 0, body[:40])
        self.assertEqual(self.Consent.search_count([]), consents)
