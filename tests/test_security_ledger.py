# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
"""What each kind of user can do to the ledger, its events and the outbox, as a JSON-RPC client
can: through the ORM as that user, with any context it likes (a client sends the whole context)."""
from datetime import timedelta

from psycopg2 import IntegrityError

from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import Form, new_test_user, tagged
from odoo.tools import mute_logger

from ..iyslib.masking import mask_recipient
from ..models import iys_policy
from .common import IysCommon

#: what a client may put in its context to try to open the ledger
CLIENT_CONTEXT = {"iys_ledger_write": True, "iys_allow_event_unlink": True, "tracking_disable": True,
                  "iys_defer_refresh": True, "iys_skip_chatter": True}
REFUSED = UserError  # AccessError included


@tagged("post_install", "-at_install", "l10n_tr_iys")
class TestSecurityLedger(IysCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.marketing_user = new_test_user(
            cls.env, login="iys_t_marketing", groups="base.group_user,mass_mailing.group_mass_mailing_user"
        )
        cls.portal_user = new_test_user(cls.env, login="iys_t_portal", groups="base.group_portal")
        cls.other_company = cls.env["res.company"].create({"name": "Other İYS Co"})
        cls.other_account = cls.env["iys.account"].create(
            {"name": "Other", "iys_code": "900009", "company_id": cls.other_company.id}
        )
        cls.other_brand = cls.env["iys.brand"].create(
            {"name": "Other brand", "code": "900009", "account_id": cls.other_account.id}
        )
        cls.users = (cls.plain_user, cls.marketing_user, cls.iys_user, cls.iys_manager, cls.portal_user)
        # A refused number: ONAY, then RET.
        cls.record("05321112233")
        cls.refused = cls.record("05321112233", status="RET").consent

    def counts(self):
        return (self.env["iys.consent"].search_count([]), self.env["iys.consent.event"].search_count([]),
                self.env["iys.outbox"].search_count([]))

    def gate(self, address="+905321112233"):
        return self.Consent._iys_gate_decisions(self.brand, "MESAJ", [(address, "BIREYSEL")])[(address, "BIREYSEL")]

    def movement(self, address="05321114455", brand=None, **values):
        return {"brand_id": (brand or self.brand).id, "channel": "MESAJ", "recipient_type": "BIREYSEL",
                "address": address, "status": "ONAY", "source": "HS_WEB", "consent_date": self._next_date(), **values}

    # 1. No context a client can send opens the ledger -----------------------------------------
    def test_client_context_cannot_rewrite_a_consent(self):
        before = self.counts()
        forged = {"status": "ONAY", "sync_state": "confirmed", "iys_transaction_id": "f" * 64}
        for user in self.users:
            with self.subTest(user=user.login), self.assertRaises(REFUSED):
                self.refused.with_user(user).with_context(**CLIENT_CONTEXT).write(forged)
        # nor server code working as superuser for a request that carries the client's context
        with self.assertRaises(UserError):
            self.refused.sudo().with_context(**CLIENT_CONTEXT).write(forged)
        self.assertEqual((self.refused.status, self.refused.sync_state), ("RET", "pending"))
        self.assertFalse(self.refused.iys_transaction_id)
        self.assertEqual(self.counts(), before)
        self.assertEqual(self.gate(), iys_policy.REFUSED)

    def test_client_context_cannot_create_a_consent(self):
        before = self.counts()
        vals = {"brand_id": self.brand.id, "channel": "MESAJ", "recipient_type": "BIREYSEL",
                "address": "+905321119999", "status": "ONAY", "sync_state": "confirmed"}
        for user in self.users:
            with self.subTest(user=user.login), self.assertRaises(REFUSED):
                self.Consent.with_user(user).with_context(**CLIENT_CONTEXT).create(vals)
        with self.assertRaises(UserError):
            self.Consent.sudo().with_context(**CLIENT_CONTEXT).create(vals)
        self.assertEqual(self.counts(), before)
        self.assertEqual(self.gate("+905321119999"), iys_policy.NO_CONSENT)

    def test_no_group_may_write_consents_events_or_outbox(self):
        for model in ("iys.consent", "iys.consent.event", "iys.outbox"):
            for user in self.users:
                for operation in ("create", "write", "unlink"):
                    with self.subTest(model=model, user=user.login, operation=operation):
                        self.assertFalse(self.env[model].with_user(user).has_access(operation))

    def test_chatter_cannot_forge_a_consents_history(self):
        for user in (self.iys_user, self.iys_manager):
            with self.subTest(user=user.login):
                consent = self.refused.with_user(user).with_context(**CLIENT_CONTEXT)
                with self.assertRaises(AccessError):
                    consent.message_post(body="Status: RET → ONAY (confirmed by İYS)", message_type="comment",
                                         subtype_xmlid="mail.mt_note")
                with self.assertRaises(AccessError):
                    self.env["mail.message"].with_user(user).create({
                        "model": "iys.consent", "res_id": self.refused.id, "message_type": "notification",
                        "body": "Status: RET → ONAY",
                    })
        self.assertFalse(self.refused.message_ids.filtered(lambda m: "RET → ONAY" in (m.body or "")))

    def test_events_append_only_over_rpc(self):
        event = self.refused.event_ids[:1]
        before = self.counts()
        for user in self.users:
            with self.subTest(user=user.login):
                Event = self.env["iys.consent.event"].with_user(user).with_context(**CLIENT_CONTEXT)
                with self.assertRaises(AccessError):
                    Event.create({"consent_id": self.refused.id, "new_status": "ONAY", "origin": "api",
                                  "actor": "iys"})
                with self.assertRaises(AccessError):
                    event.with_user(user).with_context(**CLIENT_CONTEXT).write({"transaction_id": "e" * 64})
                with self.assertRaises(AccessError):
                    event.with_user(user).with_context(**CLIENT_CONTEXT).unlink()
        # the client's context does not open them to server code working as superuser either
        Event = self.env["iys.consent.event"].sudo().with_context(**CLIENT_CONTEXT)
        with self.assertRaises(AccessError):
            Event.create({"consent_id": self.refused.id, "new_status": "ONAY", "origin": "api", "actor": "iys"})
        with self.assertRaises(AccessError):
            event.sudo().with_context(**CLIENT_CONTEXT).write({"transaction_id": "e" * 64})
        with self.assertRaises(AccessError):
            event.sudo().with_context(**CLIENT_CONTEXT).unlink()
        self.assertTrue(event.exists())
        self.assertFalse(event.transaction_id)
        self.assertEqual(self.counts(), before)

    # The ledger's ways in check what the user may do -------------------------------------------
    def test_ways_in_check_the_user(self):
        before = self.counts()
        for user in (self.plain_user, self.marketing_user, self.portal_user):
            with self.subTest(user=user.login), self.assertRaises(AccessError):
                self.Consent.with_user(user)._iys_record_movements([self.movement()], "form")
            with self.subTest(user=user.login, bulk=True), self.assertRaises(AccessError):
                self.Consent.with_user(user)._iys_record_movements_bulk([self.movement()], "import")
        # a brand of a company the user does not work for
        for user in (self.iys_user, self.iys_manager):
            with self.subTest(user=user.login), self.assertRaises(AccessError):
                self.Consent.with_user(user)._iys_record_movements(
                    [self.movement(brand=self.other_brand)], "wizard")
            with self.subTest(user=user.login, bulk=True), self.assertRaises(AccessError):
                self.Consent.with_user(user)._iys_record_movements_bulk(
                    [self.movement(brand=self.other_brand)], "import")
        # "confirmed by İYS" only comes from the synchronisation
        reported = self.movement(status="ONAY", source="HS_WEB", transaction_id="a" * 64,
                                 creation_date=self._now())
        for user in (self.iys_user, self.iys_manager):
            with self.subTest(user=user.login), self.assertRaises(AccessError):
                self.Consent.with_user(user)._iys_record_movements([reported], "iys_pull")
        with self.assertRaises(AccessError):
            self.Consent.with_user(self.iys_user)._iys_record_movements_bulk(
                [self.movement()], "import", mode="registered")
        self.assertEqual(self.counts(), before)
        # what they may do still works, and is recorded as theirs
        result = self.Consent.with_user(self.iys_user).with_context(**CLIENT_CONTEXT)._iys_record_movements(
            [self.movement()], "wizard")[0]
        self.assertEqual((result.consent.status, result.consent.sync_state), ("ONAY", "pending"))
        self.assertEqual(result.event.sudo().user_id, self.iys_user)
        self.assertTrue(self.env["iys.outbox"].search([("event_id", "=", result.event.id)]))

    def test_consent_wizard_refuses_another_companys_brand(self):
        partner = self.env["res.partner"].create({"name": "Zeynep Ak", "mobile": "0532 111 99 88"})
        before = self.counts()
        Wizard = self.env["iys.consent.wizard"].with_user(self.iys_user).with_context(
            active_model="res.partner", active_id=partner.id, iys_channel="MESAJ", iys_mode="consent")
        form = Form(Wizard)
        form.source_consent = "HS_WEB"
        wizard = form.save()
        # what a client can send whatever the field's domain says
        wizard.write({"brand_id": self.other_brand.id})
        with self.assertRaises(UserError) as caught:
            wizard.action_confirm()
        self.assertIsInstance(caught.exception.__cause__, AccessError)
        self.assertEqual(self.counts(), before)
        self.assertFalse(self.Consent.search([("address", "=", "+905321119988")]))

    def test_client_cannot_skip_the_chatter_note_of_a_wizard_movement(self):
        partner = self.env["res.partner"].create({"name": "Ayşe Kaya"})
        evidence = {"partner_id": partner.id}
        self.Consent.with_user(self.iys_user).with_context(iys_skip_chatter=True)._iys_record_movements(
            [self.movement("05321117788", evidence=evidence)], "wizard")
        self.assertTrue(partner.message_ids.filtered(lambda m: "+905321117788" in (m.body or "")))

    # 8. Outbox rows are written by the synchronisation only ------------------------------------
    def test_manager_cannot_rewrite_outbox_rows(self):
        row = self.env["iys.outbox"].search([("consent_id", "=", self.refused.id)], limit=1)
        forged = {"payload": {"recipient": "+905320000000", "status": "ONAY"}, "state": "done",
                  "transaction_id": "f" * 64}
        for user in self.users:
            with self.subTest(user=user.login), self.assertRaises(AccessError):
                row.with_user(user).with_context(**CLIENT_CONTEXT).write(forged)
            with self.subTest(user=user.login, create=True), self.assertRaises(AccessError):
                self.env["iys.outbox"].with_user(user).with_context(**CLIENT_CONTEXT).create({
                    "event_id": row.event_id.id, "consent_id": row.consent_id.id, "brand_id": row.brand_id.id,
                    "payload": forged["payload"],
                })
        self.assertEqual(row.state, "pending")
        self.assertFalse(row.transaction_id)
        self.assertNotEqual(row.payload.get("recipient"), "+905320000000")

    def test_manager_resend_still_works_through_its_button(self):
        row = self.env["iys.outbox"].search([("consent_id", "=", self.refused.id)], order="id desc", limit=1)
        row._iys_refuse("H015", "İYS failed")  # İYS's own failure: a resend can succeed
        self.assertEqual(row.state, "failed")
        with self.assertRaises(AccessError):
            row.with_user(self.iys_user).action_iys_resend()
        row.with_user(self.iys_manager).action_iys_resend()
        self.assertEqual((row.state, row.consent_id.sync_state, row.event_id.push_state),
                         ("pending", "pending", "pending"))

    def test_manager_marks_a_deadline_activity_done(self):
        row = self.env["iys.outbox"].search([("consent_id", "=", self.refused.id)], limit=1)
        activity = row.activity_schedule("mail.mail_activity_data_todo", summary="İYS deadline",
                                         user_id=self.iys_manager.id)
        activity.with_user(self.iys_manager).action_feedback(feedback="Sent by hand")
        self.assertFalse(activity.exists())
        self.assertFalse(row.activity_ids)

    def test_manager_cannot_resend_another_companys_rows(self):
        other = self.record("05321116677", brand=self.other_brand)
        row = self.env["iys.outbox"].search([("event_id", "=", other.event.id)])
        row._iys_refuse("H178", "refused")
        with self.assertRaises(AccessError):
            row.with_user(self.iys_manager).action_iys_resend()
        with self.assertRaises(AccessError):
            self.env["iys.outbox"].with_user(self.iys_manager)._iys_resend_consents(
                other.consent.with_user(self.iys_manager))
        self.assertEqual(row.state, "failed")

    # Low: errors masked; deleting a contact ----------------------------------------------------
    def test_ledger_errors_mask_the_address(self):
        future = self._now() + timedelta(days=2)
        cases = [
            (self.movement("05321113344", consent_date=future), "+905321113344"),
            (self.movement("ali.veli@example.com", channel="EPOSTA", consent_date=future), "ali.veli@example.com"),
            (self.movement("05321113344", brand_id=False), "+905321113344"),
        ]
        for movement, address in cases:
            with self.subTest(address=address), self.assertRaises(ValidationError) as caught:
                self.Consent._iys_record_movements([movement], "wizard")
            message = caught.exception.args[0]
            self.assertNotIn(address, message)
            self.assertIn(mask_recipient(address), message)
        # an address the library cannot read is not quoted whole either
        for raw in ("0532 111 22 33 44 55", "ali.veli@@example"):
            channel = "EPOSTA" if "@" in raw else "MESAJ"
            with self.subTest(raw=raw):
                result = self.Consent._iys_record_movements(
                    [self.movement(raw, channel=channel)], "wizard", raise_on_error=False)[0]
                self.assertTrue(result.error)
                self.assertNotIn(raw, result.error)

    def test_contact_with_consent_evidence_is_not_deleted(self):
        partner = self.env["res.partner"].create({"name": "Mehmet Öz"})
        event = self.record("05321115566", evidence={"partner_id": partner.id}).event
        with mute_logger("odoo.sql_db"), self.assertRaises(IntegrityError), self.cr.savepoint():
            partner.unlink()
            self.env.flush_all()
        self.env.invalidate_all()
        self.assertEqual(event.partner_id, partner)
        partner.action_archive()
        self.assertEqual(event.partner_id, partner)
