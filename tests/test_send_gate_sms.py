# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
from odoo.exceptions import AccessError
from odoo.tests import tagged, users

from .common_gate import SMS_NO_CONSENT, SMS_REFUSED, SMS_UNCONFIRMED, IysGateCommon

#: what a commercial SMS does in each case, by default (unconfirmed ONAY blocked)
EXPECTED = {
    "none": SMS_NO_CONSENT,
    "onay": "sent",
    "ret": SMS_REFUSED,
    "pending": SMS_UNCONFIRMED,
    "tacir": "sent",
    "tacir_ret": SMS_REFUSED,
}


@tagged("post_install", "-at_install", "l10n_tr_iys", "iys_gate")
class TestSendGateSms(IysGateCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.partners = cls.create_partners()

    def create_mailing(self, model, domain=None, lists=None, **values):
        vals = {
            "name": "İYS gate SMS",
            "subject": "Kış kampanyası",
            "body_plaintext": "Tüm ürünlerde %20 indirim!",
            "mailing_type": "sms",
            "mailing_model_id": self.env["ir.model"]._get(model).id,
            "sms_allow_unsubscribe": False,
        }
        if domain is not None:
            vals["mailing_domain"] = repr(domain)
        if lists:
            vals["contact_list_ids"] = [(6, 0, lists.ids)]
        vals.update(values)
        return self.env["mailing.mailing"].create(vals)

    # ------------------------------------------------------------------------------------------
    # SMS mailings on partners, mailing contacts and leads
    # ------------------------------------------------------------------------------------------
    @users("user_marketing")
    def test_sms_mailing_on_partners(self):
        partners = self.partners.with_env(self.env)
        mailing = self.create_mailing("res.partner", [("id", "in", partners.ids)])
        self.assertEqual(mailing.iys_brand_id, self.brand)
        self.assertEqual(self.forecast(mailing), (1, 2, 1))
        with self.mockSMSGateway():
            mailing.action_send_sms()
            self.assertSMSTraces(self.sms_expectations(partners, EXPECTED, partners=partners), mailing, partners)
            self.assertEqual(self.blocked(mailing), (1, 2, 1))
            self.assertEqual(mailing.canceled, 4)
            self.assertEqual(mailing.iys_forecast_total, 0)
            # the queue sends what the gate let through
            self.env["sms.sms"].sudo()._process_queue()
        self.assertSMSTraces(self.sms_expectations(partners, EXPECTED, partners=partners, sent_status="pending"),
                             mailing, partners, check_sms=False)
        self.assertSMSIapSent([self.number["onay"], self.number["tacir"]])
        self.assertEqual(len(self._sms), 2)

    def test_unconfirmed_allowed_by_setting(self):
        self.env.company.iys_pending_policy = "allow"
        mailing = self.create_mailing("res.partner", [("id", "in", self.partners.ids)])
        self.assertEqual(self.forecast(mailing), (1, 2, 0))
        with self.mockSMSGateway():
            mailing.action_send_sms()
            self.assertSMSTraces(
                self.sms_expectations(self.partners, dict(EXPECTED, pending="sent"), partners=self.partners),
                mailing, self.partners,
            )

    @users("user_marketing")
    def test_sms_mailing_on_mailing_list(self):
        mailing_list = self.env["mailing.list"].create({"name": "İYS SMS list"})
        contacts = self.env["mailing.contact"].create([
            {"name": f"Contact {case}", "email": self.email[case], "mobile": self.number[case],
             "list_ids": [(4, mailing_list.id)]}
            for case in self.CASES
        ])
        mailing = self.create_mailing("mailing.list", lists=mailing_list)
        self.assertEqual(self.forecast(mailing), (1, 2, 1))
        with self.mockSMSGateway():
            mailing.action_send_sms()
            self.assertSMSTraces(self.sms_expectations(contacts, EXPECTED, partners=[self.env["res.partner"]] * 6),
                                 mailing, contacts)
        self.assertEqual(self.blocked(mailing), (1, 2, 1))

    @users("admin")
    def test_sms_mailing_on_leads(self):
        partners = self.partners.with_env(self.env)
        leads = self.env["crm.lead"].create([
            {"name": f"Lead {case}", "mobile": self.number[case],
             "partner_id": partner.id if case.startswith("tacir") else False}
            for case, partner in zip(self.CASES, partners, strict=True)
        ])
        self.assertEqual(leads.mapped("iys_recipient_type"), ["BIREYSEL"] * 4 + ["TACIR"] * 2)
        mailing = self.create_mailing("crm.lead", [("id", "in", leads.ids)])
        self.assertEqual(self.forecast(mailing), (1, 2, 1))
        with self.mockSMSGateway():
            mailing.action_send_sms()
            lead_partners = [self.env["res.partner"]] * 4 + list(partners[4:])
            self.assertSMSTraces(self.sms_expectations(leads, EXPECTED, partners=lead_partners), mailing, leads)
        self.assertEqual(self.blocked(mailing), (1, 2, 1))

    def test_transactional_sms_mailing(self):
        mailing = self.create_mailing("res.partner", [("id", "in", self.partners.ids)])
        with self.assertRaises(AccessError):
            mailing.with_user(self.user_marketing).write({"iys_message_class": "transactional"})
        mailing.with_user(self.user_iys_marketing_manager).with_context(
            iys_transactional_reason="Randevu hatırlatması").write({"iys_message_class": "transactional"})
        self.assertEqual(self.forecast(mailing), (0, 0, 0))
        with self.mockSMSGateway():
            mailing.action_send_sms()
            self.assertSMSTraces(
                self.sms_expectations(self.partners, dict.fromkeys(self.CASES, "sent"), partners=self.partners),
                mailing, self.partners,
            )
            self.env["sms.sms"].sudo()._process_queue()
        self.assertEqual(len(self._sms), 6)

    # ------------------------------------------------------------------------------------------
    # Last check: consent revoked between queueing and sending
    # ------------------------------------------------------------------------------------------
    def test_refusal_after_queueing_stops_the_sms(self):
        mailing = self.create_mailing("res.partner", [("id", "in", self.partners.ids)])
        with self.mockSMSGateway():
            mailing.action_send_sms()
            self.assertSMSTraces(self.sms_expectations(self.partners, EXPECTED, partners=self.partners),
                                 mailing, self.partners)
            # The citizen sends RET to 3338; the pull brings it in before the queue runs.
            self.confirmed(self.number["onay"], "MESAJ", status="RET")
            self.env["sms.sms"].sudo()._process_queue()
            expected = dict(EXPECTED, onay=SMS_REFUSED)
            self.assertSMSTraces(self.sms_expectations(self.partners, expected, partners=self.partners,
                                                       sent_status="pending"),
                                 mailing, self.partners, check_sms=False)
            self.assertSMSCanceled(self.partners[1], self.number["onay"], SMS_REFUSED)
        self.assertEqual([sms["number"] for sms in self._sms], [self.number["tacir"]])
        self.assertEqual(self.blocked(mailing), (1, 3, 1))

    # ------------------------------------------------------------------------------------------
    # The "Send SMS" list action: mass composer without mailing
    # ------------------------------------------------------------------------------------------
    @users("user_marketing")
    def test_mass_composer_without_mailing(self):
        partners = self.partners.with_env(self.env)
        # the partner list's "Send SMS" action (sms.res_partner_act_window_sms_composer_multi)
        composer = self.env["sms.composer"].with_context(
            active_model="res.partner", active_ids=partners.ids,
            default_composition_mode="mass", default_mass_keep_log=True, default_res_ids=partners.ids,
        ).create({"body": "Hafta sonu indirimi!"})
        self.assertEqual(composer.iys_brand_id, self.brand)
        with self.mockSMSGateway():
            composer._action_send_sms()
        for case, partner in zip(self.CASES, partners, strict=True):
            with self.subTest(case=case):
                if EXPECTED[case] == "sent":
                    self.assertSMSOutgoing(partner, self.number[case])
                else:
                    self.assertSMSCanceled(partner, self.number[case], EXPECTED[case])

    def test_mass_composer_transactional_flag_manager_only(self):
        Composer = self.env["sms.composer"].with_context(
            active_model="res.partner", active_ids=self.partners.ids,
            default_composition_mode="mass", default_res_ids=self.partners.ids,
        )
        with self.assertRaises(AccessError):
            Composer.with_user(self.user_marketing).create(
                {"body": "Siparişiniz kargoda", "iys_transactional": True}
            )
        composer = Composer.with_user(self.user_marketing).create({"body": "Siparişiniz kargoda"})
        with self.assertRaises(AccessError):
            composer.write({"iys_transactional": True})
        composer = Composer.with_user(self.user_iys_marketing_manager).create(
            {"body": "Siparişiniz kargoda", "iys_transactional": True, "mass_keep_log": False}
        )
        with self.mockSMSGateway():
            composer._action_send_sms()
        for case, partner in zip(self.CASES, self.partners, strict=True):
            with self.subTest(case=case):
                self.assertSMSOutgoing(partner, self.number[case])

    def test_other_channel_consent_does_not_count(self):
        """An e-mail consent is no SMS consent: channels are separate in İYS."""
        partner = self.env["res.partner"].create({"name": "Email only", "email": "only.mail@example.com",
                                                  "mobile": "+905321119999"})
        self.confirmed("only.mail@example.com", "EPOSTA")
        # the partner list's "Send SMS" action on a single selected partner
        composer = self.env["sms.composer"].with_context(
            active_model="res.partner", active_ids=partner.ids,
            default_composition_mode="mass", default_mass_keep_log=True, default_res_ids=partner.ids,
        ).create({"body": "Kampanya"})
        self.assertEqual(composer.composition_mode, "mass")
        with self.mockSMSGateway():
            composer.action_send_sms()
        self.assertSMSCanceled(partner, "+905321119999", SMS_NO_CONSENT)

    def test_mass_sms_about_documents_is_not_gated(self):
        team = self.env["crm.team"].create({"name": "Satış"})
        composer = self.env["sms.composer"].with_context(
            default_composition_mode="mass", default_res_model="crm.team", default_res_ids=team.ids,
        ).create({"body": "Etkinliğiniz yarın"})
        self.assertFalse(composer.iys_gate_applies)
        self.assertFalse(composer._iys_is_commercial())
        partners = self.env["sms.composer"].with_context(
            default_composition_mode="mass", default_res_model="res.partner", default_res_ids=self.partners.ids,
        ).create({"body": "Kampanya"})
        self.assertTrue(partners._iys_is_commercial())

    def test_forecast_python_path_matches_sql(self):
        mailing_list = self.env["mailing.list"].create({"name": "İYS SMS list"})
        self.env["mailing.contact"].create([
            {"name": case, "email": self.email[case], "mobile": self.number[case], "list_ids": [(4, mailing_list.id)]}
            for case in self.CASES
        ])
        leads = self.env["crm.lead"].create([
            {"name": case, "mobile": self.number[case], "partner_id": partner.id if case.startswith("tacir") else False}
            for case, partner in zip(self.CASES, self.partners, strict=True)
        ])
        for mailing in (
            self.create_mailing("res.partner", [("id", "in", self.partners.ids)]),
            self.create_mailing("mailing.list", lists=mailing_list),
            self.create_mailing("crm.lead", [("id", "in", leads.ids)]),
        ):
            with self.subTest(model=mailing.mailing_model_real):
                Model = self.env[mailing.mailing_model_real]
                reasons = ("no_consent", "refused", "unconfirmed")
                self.assertEqual(mailing._iys_forecast_python(Model, reasons, False),
                                 mailing._iys_forecast_sql(Model, reasons, False))
                self.assertEqual(sorted(mailing._iys_forecast_python(Model, reasons, True)),
                                 sorted(mailing._iys_forecast_sql(Model, reasons, True)))


@tagged("post_install", "-at_install", "l10n_tr_iys", "iys_gate")
class TestSendGateTransactionalSms(IysGateCommon):
    """Being transactional belongs to the SMS text and recipients a manager approved (issue 15)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.partners = cls.create_partners()
        cls.mailing = cls.env["mailing.mailing"].create({
            "name": "Randevular",
            "subject": "Randevu",
            "body_plaintext": "Yarın saat 10:00 randevunuz var.",
            "mailing_type": "sms",
            "mailing_model_id": cls.env["ir.model"]._get("res.partner").id,
            "mailing_domain": repr([("id", "in", (cls.partners[1] | cls.partners[4]).ids)]),  # onay, tacir
            "sms_allow_unsubscribe": False,
        })
        cls.mailing.with_user(cls.user_iys_marketing_manager).with_context(
            iys_transactional_reason="Randevu hatırlatması").write({"iys_message_class": "transactional"})

    def compose(self, user, body, partners):
        return self.env["sms.composer"].with_user(user).with_context(
            active_model="res.partner", active_ids=partners.ids,
            default_composition_mode="mass", default_res_ids=partners.ids,
        ).create({"body": body, "mailing_id": self.mailing.id, "mass_keep_log": False})

    def test_quoting_a_transactional_mailing_does_not_open_the_gate(self):
        none = self.partners[0]
        for user in (self.user_employee, self.user_marketing):
            with self.subTest(user=user.login):
                with self.mockSMSGateway():
                    try:
                        self.compose(user, "BIG SALE %50", none)._action_send_sms()
                    except AccessError:
                        # Odoo itself refuses a mailing id to a user without mailing rights
                        self.assertEqual(user, self.user_employee)
                    self.env["sms.sms"].sudo()._process_queue()
                self.assertFalse([sms for sms in self._sms if sms["number"] == self.number["none"]])
                sms = self.env["sms.sms"].sudo().search([("number", "=", self.number["none"])],
                                                        order="id desc", limit=1)
                if sms:
                    self.assertEqual(sms.state, "canceled")
                    self.assertEqual(sms.failure_type, SMS_NO_CONSENT)
                else:
                    self.assertEqual(user, self.user_employee)

    def test_approved_text_to_other_records_is_checked(self):
        with self.mockSMSGateway():
            self.compose(self.user_marketing, self.mailing.body_plaintext, self.partners[0])._action_send_sms()
        sms = self.env["sms.sms"].sudo().search([("number", "=", self.number["none"])], order="id desc", limit=1)
        self.assertEqual(sms.failure_type, SMS_NO_CONSENT)

    def test_approved_mailing_still_sends_and_last_check_follows_content(self):
        self.mailing.mailing_domain = repr([("id", "in", self.partners.ids)])
        with self.mockSMSGateway():
            self.mailing.action_send_sms()
            self.assertEqual(set(self.mailing.mailing_trace_ids.mapped("trace_status")), {"outgoing"})
            self.env.cr.execute("UPDATE mailing_mailing SET body_plaintext = 'BIG SALE' WHERE id = %s",
                                [self.mailing.id])
            self.mailing.invalidate_recordset()
            self.env["sms.sms"].sudo()._process_queue()
        traces = self.mailing.mailing_trace_ids
        self.assertEqual(traces.filtered(lambda t: t.res_id == self.partners[0].id).failure_type, SMS_NO_CONSENT)
        self.assertEqual(traces.filtered(lambda t: t.res_id == self.partners[1].id).trace_status, "pending")


@tagged("post_install", "-at_install", "l10n_tr_iys", "iys_gate")
class TestSendGateSmsEvidence(IysGateCommon):
    """What an SMS mailing leaves behind is true (issue 11 §2)."""

    def create_mailing(self, records, **values):
        return self.env["mailing.mailing"].create({
            "name": "Kanıt SMS",
            "subject": "Kış",
            "body_plaintext": "Tüm ürünlerde büyük indirim!",
            "mailing_type": "sms",
            "mailing_model_id": self.env["ir.model"]._get(records._name).id,
            "mailing_domain": repr([("id", "in", records.ids)]),
            "sms_allow_unsubscribe": False,
            **values,
        })

    def test_shared_number_allowed_recipient_gets_one_sms(self):
        for individual_first in (True, False):
            with self.subTest(individual_first=individual_first):
                shared = f"+90532999887{int(individual_first)}"
                self.record(shared, status="RET", channel="MESAJ", source="HS_WEB")  # the individual refused
                names = ("A", "B") if individual_first else ("B", "A")
                individual = self.env["res.partner"].create({"name": f"{names[0]} Ayşe", "mobile": shared})
                company = self.env["res.partner"].create({"name": f"{names[1]} Ltd", "mobile": shared,
                                                          "is_company": True, "vat": "1234567890"})
                mailing = self.create_mailing(individual | company)
                with self.mockSMSGateway():
                    mailing.action_send_sms()
                    self.env["sms.sms"].sudo()._process_queue()
                traces = mailing.mailing_trace_ids
                self.assertEqual(traces.filtered(lambda t, c=company: t.res_id == c.id).trace_status, "pending")
                individual_trace = traces.filtered(lambda t, i=individual: t.res_id == i.id)
                self.assertEqual((individual_trace.trace_status, individual_trace.failure_type),
                                 ("cancel", SMS_REFUSED))
                self.assertEqual(len([sms for sms in self._sms if sms["number"] == shared]), 1)

    def test_blocked_sms_does_not_look_sent_in_the_chatter(self):
        partners = self.create_partners()
        mailing = self.create_mailing(partners, keep_archives=True)
        with self.mockSMSGateway():
            mailing.action_send_sms()
        allowed, refused = partners[1], partners[2]
        self.assertIn("büyük indirim", "".join(allowed.message_ids.mapped("body")))
        bodies = "".join(refused.message_ids.mapped("body"))
        self.assertNotIn("büyük indirim", bodies)
        self.assertIn("Not sent", bodies)
        self.assertIn("Refused (RET)", bodies)
