# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
from odoo.exceptions import AccessError
from odoo.tests import Form, tagged, users

from .common_gate import MAIL_NO_CONSENT, MAIL_REFUSED, MAIL_UNCONFIRMED, IysGateCommon

#: what a commercial e-mail does in each case, by default (unconfirmed ONAY blocked)
EXPECTED = {
    "none": MAIL_NO_CONSENT,
    "onay": "sent",
    "ret": MAIL_REFUSED,
    "pending": MAIL_UNCONFIRMED,
    "tacir": "sent",
    "tacir_ret": MAIL_REFUSED,
}


@tagged("post_install", "-at_install", "l10n_tr_iys", "iys_gate")
class TestSendGateMail(IysGateCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.partners = cls.create_partners()

    def create_mailing(self, model, domain=None, lists=None, **values):
        vals = {
            "name": "İYS gate",
            "subject": "Kış kampanyası",
            "body_html": "<p>Tüm ürünlerde %20 indirim!</p>",
            "mailing_type": "mail",
            "mailing_model_id": self.env["ir.model"]._get(model).id,
        }
        if domain is not None:
            vals["mailing_domain"] = repr(domain)
        if lists:
            vals["contact_list_ids"] = [(6, 0, lists.ids)]
        vals.update(values)
        return self.env["mailing.mailing"].create(vals)

    # ------------------------------------------------------------------------------------------
    # Mailings on partners, mailing contacts and leads
    # ------------------------------------------------------------------------------------------
    @users("user_marketing")
    def test_mailing_on_partners(self):
        partners = self.partners.with_env(self.env)
        mailing = self.create_mailing("res.partner", [("id", "in", partners.ids)])
        self.assertEqual(mailing.iys_brand_id, self.brand, "the company's default brand by default")
        self.assertEqual(mailing.iys_message_class, "commercial")
        # before sending, the form says what İYS will block
        self.assertEqual(self.forecast(mailing), (1, 2, 1))
        self.assertEqual(mailing.iys_forecast_total, 4)

        with self.mock_mail_gateway(mail_unlink_sent=False):
            mailing.action_send_mail()

        self.assertMailTraces(self.mail_expectations(partners, EXPECTED, partners=partners), mailing, partners)
        # after sending, the same numbers are the İYS cancellations, and nothing left to forecast
        self.assertEqual(self.blocked(mailing), (1, 2, 1))
        self.assertEqual(mailing.iys_blocked_total, 4)
        self.assertEqual(mailing.canceled, 4)
        self.assertEqual(mailing.sent, 2)
        self.assertEqual(mailing.iys_forecast_total, 0)
        self.assertEqual(len(self._mails), 2, "only the two allowed e-mails reached SMTP")

    def test_unconfirmed_allowed_by_setting(self):
        self.env.company.iys_pending_policy = "allow"
        mailing = self.create_mailing("res.partner", [("id", "in", self.partners.ids)])
        self.assertEqual(self.forecast(mailing), (1, 2, 0))
        with self.mock_mail_gateway(mail_unlink_sent=False):
            mailing.action_send_mail()
        self.assertMailTraces(
            self.mail_expectations(self.partners, dict(EXPECTED, pending="sent"), partners=self.partners),
            mailing, self.partners, author=self.env.user.partner_id,
        )

    def test_other_brand_has_its_own_consents(self):
        mailing = self.create_mailing("res.partner", [("id", "in", self.partners.ids)], iys_brand_id=self.brand_b.id)
        # nothing on record for Brand B: every individual is blocked, merchants pass
        self.assertEqual(self.forecast(mailing), (4, 0, 0))
        with self.mock_mail_gateway(mail_unlink_sent=False):
            mailing.action_send_mail()
        expected = dict.fromkeys(("none", "onay", "ret", "pending"), MAIL_NO_CONSENT) | {"tacir": "sent",
                                                                                          "tacir_ret": "sent"}
        self.assertMailTraces(self.mail_expectations(self.partners, expected, partners=self.partners),
                              mailing, self.partners, author=self.env.user.partner_id)

    @users("user_marketing")
    def test_mailing_on_mailing_list(self):
        mailing_list = self.env["mailing.list"].create({"name": "İYS list"})
        contacts = self.env["mailing.contact"].create([
            {"name": f"Contact {case}", "email": self.email[case].upper(), "list_ids": [(4, mailing_list.id)]}
            for case in self.CASES
        ])
        # No partner on a mailing contact: its type comes from a partner with the same address.
        self.assertEqual(contacts.mapped("iys_recipient_type"), ["BIREYSEL"] * 4 + ["TACIR"] * 2)
        mailing = self.create_mailing("mailing.list", lists=mailing_list)
        self.assertEqual(self.forecast(mailing), (1, 2, 1))
        with self.mock_mail_gateway(mail_unlink_sent=False):
            mailing.action_send_mail()
        self.assertMailTraces(self.mail_expectations(contacts, EXPECTED), mailing, contacts)
        self.assertEqual(self.blocked(mailing), (1, 2, 1))

    @users("admin")
    def test_mailing_on_leads(self):
        partners = self.partners.with_env(self.env)
        leads = self.env["crm.lead"].create([
            {"name": f"Lead {case}", "email_from": self.email[case]}
            if not case.startswith("tacir") else {"name": f"Lead {case}", "partner_id": partner.id}
            for case, partner in zip(self.CASES, partners, strict=True)
        ])
        self.assertEqual(leads.mapped("iys_recipient_type"), ["BIREYSEL"] * 4 + ["TACIR"] * 2)
        mailing = self.create_mailing("crm.lead", [("id", "in", leads.ids)])
        self.assertEqual(self.forecast(mailing), (1, 2, 1))
        with self.mock_mail_gateway(mail_unlink_sent=False):
            mailing.action_send_mail()
        # a lead is mailed at its own address (email_from, the partner's when it has one)
        self.assertMailTraces(self.mail_expectations(leads, EXPECTED), mailing, leads)
        self.assertEqual(self.blocked(mailing), (1, 2, 1))

    def test_blocked_recipients_action(self):
        mailing = self.create_mailing("res.partner", [("id", "in", self.partners.ids)])
        action = mailing.action_iys_view_blocked_recipients()
        self.assertEqual(action["res_model"], "res.partner")
        blocked = self.env["res.partner"].search(action["domain"])
        self.assertEqual(blocked, self.partners.filtered(lambda p: EXPECTED[p.name.split()[-1]] != "sent"))
        action = mailing.with_context(iys_reason="refused").action_iys_view_blocked_recipients()
        self.assertEqual(self.env["res.partner"].search(action["domain"]).mapped("name"),
                         ["Gate ret", "Gate tacir_ret"])

    def test_forecast_leaves_out_what_odoo_cancels_first(self):
        """Blacklisted addresses and recipients without e-mail are cancelled by Odoo itself."""
        self.env["mail.blacklist"].sudo()._add(self.email["none"])
        nomail = self.env["res.partner"].create({"name": "No e-mail"})
        records = self.partners | nomail
        mailing = self.create_mailing("res.partner", [("id", "in", records.ids)])
        self.assertEqual(self.forecast(mailing), (0, 2, 1))
        with self.mock_mail_gateway(mail_unlink_sent=False):
            mailing.action_send_mail()
        self.assertEqual(self.blocked(mailing), (0, 2, 1))
        traces = mailing.mailing_trace_ids
        self.assertEqual(traces.filtered(lambda t: t.res_id == self.partners[0].id).failure_type, "mail_bl")
        self.assertEqual(traces.filtered(lambda t: t.res_id == nomail.id).failure_type, "mail_email_missing")

    # ------------------------------------------------------------------------------------------
    # Transactional mailings: manager-only, with a reason
    # ------------------------------------------------------------------------------------------
    def test_transactional_is_manager_only(self):
        mailing = self.create_mailing("res.partner", [("id", "in", self.partners.ids)])
        as_marketing = mailing.with_user(self.user_marketing)
        with self.assertRaises(AccessError):
            as_marketing.write({"iys_message_class": "transactional"})
        with self.assertRaises(AccessError):
            as_marketing.action_iys_mark_transactional()
        with self.assertRaises(AccessError):
            self.env["iys.mailing.transactional"].with_user(self.user_marketing).create(
                {"mailing_id": mailing.id, "reason": "Fatura"}
            )
        with self.assertRaises(AccessError):
            self.env["mailing.mailing"].with_user(self.user_marketing).create({
                "subject": "x", "mailing_model_id": self.env["ir.model"]._get("res.partner").id,
                "iys_message_class": "transactional",
            })
        self.assertEqual(mailing.iys_message_class, "commercial")

        manager = self.user_iys_marketing_manager
        action = mailing.with_user(manager).action_iys_mark_transactional()
        wizard = Form(self.env[action["res_model"]].with_user(manager).with_context(**action["context"]))
        wizard.reason = "Abonelik sözleşmesi değişikliği bildirimi, reklam içermez."
        wizard.save().action_confirm()
        self.assertEqual(mailing.iys_message_class, "transactional")
        note = mailing.message_ids[0]
        self.assertIn("Meltem Manager", note.body)
        self.assertIn("Abonelik sözleşmesi değişikliği bildirimi", note.body)

        # A transactional mailing reaches everybody, consent or not.
        with self.mock_mail_gateway(mail_unlink_sent=False):
            mailing.action_send_mail()
        self.assertMailTraces(
            self.mail_expectations(self.partners, dict.fromkeys(self.CASES, "sent"), partners=self.partners),
            mailing, self.partners, author=self.env.user.partner_id,
        )
        self.assertEqual(mailing.iys_blocked_total, 0)

    def test_revert_to_commercial_and_content_change(self):
        mailing = self.create_mailing("res.partner", [("id", "in", self.partners.ids)])
        mailing.with_user(self.user_iys_marketing_manager).with_context(
            iys_transactional_reason="Kargo bildirimi").write({"iys_message_class": "transactional"})
        self.assertIn("Kargo bildirimi", mailing.message_ids[0].body)
        # a manager may edit it and it stays transactional
        mailing.with_user(self.user_iys_marketing_manager).write({"subject": "Kargonuz yolda"})
        self.assertEqual(mailing.iys_message_class, "transactional")
        # a mailing user saving the same subject changes nothing
        mailing.with_user(self.user_marketing).write({"subject": "Kargonuz yolda"})
        self.assertEqual(mailing.iys_message_class, "transactional")
        # a mailing user changing what is said makes it commercial again
        mailing.with_user(self.user_marketing).write({"body_html": "<p>Kargonuz yolda. Ayrıca %50 indirim!</p>"})
        self.assertEqual(mailing.iys_message_class, "commercial")
        self.assertIn("back to commercial", mailing.message_ids[0].body)
        # and anybody who may edit the mailing may turn it back to commercial
        mailing.with_user(self.user_iys_marketing_manager).with_context(
            iys_transactional_reason="Kargo bildirimi").write({"iys_message_class": "transactional"})
        mailing.with_user(self.user_marketing).action_iys_mark_commercial()
        self.assertEqual(mailing.iys_message_class, "commercial")
        # a copy is commercial until a manager says otherwise
        mailing.with_user(self.user_iys_marketing_manager).write({"iys_message_class": "transactional"})
        self.assertEqual(mailing.with_user(self.user_marketing).copy().iys_message_class, "commercial")

    # ------------------------------------------------------------------------------------------
    # Last check: consent revoked between queueing and sending
    # ------------------------------------------------------------------------------------------
    def test_refusal_after_queueing_stops_the_mail(self):
        self.env["ir.config_parameter"].sudo().set_param("mail.mail.force.send.limit", 0)
        mailing = self.create_mailing("res.partner", [("id", "in", self.partners.ids)])
        with self.mock_mail_gateway(mail_unlink_sent=False):
            mailing.action_send_mail()
            self._test_refusal_after_queueing(mailing)

    def _test_refusal_after_queueing(self, mailing):
        traces = mailing.mailing_trace_ids
        trace_of = {case: traces.filtered(lambda t, p=partner: t.res_id == p.id)
                    for case, partner in zip(self.CASES, self.partners, strict=True)}
        self.assertEqual(trace_of["onay"].trace_status, "outgoing", "queued, not sent yet")
        self.assertEqual(trace_of["tacir"].trace_status, "outgoing")
        self.assertEqual(self.blocked(mailing), (1, 2, 1))

        # The citizen refuses on İYS; the pull brings it in before the queue runs.
        self.confirmed(self.email["onay"], "EPOSTA", status="RET")
        # the merchant refuses too, locally (call centre)
        self.record(self.email["tacir"], status="RET", channel="EPOSTA", recipient_type="TACIR",
                    source="HS_CAGRI_MERKEZI")
        self.assertFalse(self._mails, "nothing reached SMTP yet")
        self.env["mail.mail"].sudo().process_email_queue()

        expected = dict(EXPECTED, onay=MAIL_REFUSED, tacir=MAIL_REFUSED)
        self.assertMailTraces(self.mail_expectations(self.partners, expected, partners=self.partners),
                              mailing, self.partners, author=self.env.user.partner_id)
        self.assertEqual(self.blocked(mailing), (1, 4, 1))
        reached = [address for mail in self._mails for address in mail["email_to"]]
        self.assertFalse([address for address in reached if self.email["onay"] in address])

    def test_queue_leaves_other_mails_alone(self):
        """Mails without mailing, and transactional mailings, are not re-checked."""
        self.env["ir.config_parameter"].sudo().set_param("mail.mail.force.send.limit", 0)
        mailing = self.create_mailing("res.partner", [("id", "in", self.partners.ids)])
        mailing.with_context(iys_transactional_reason="Fatura").write({"iys_message_class": "transactional"})
        with self.mock_mail_gateway(mail_unlink_sent=False):
            mailing.action_send_mail()
            plain = self.env["mail.mail"].sudo().create(
                {"email_to": self.email["none"], "subject": "Şifre sıfırlama", "body_html": "<p>x</p>"}
            )
            self.env["mail.mail"].sudo().process_email_queue()
        self.assertEqual(plain.state, "sent")
        self.assertEqual(set(mailing.mailing_trace_ids.mapped("trace_status")), {"sent"})

    # ------------------------------------------------------------------------------------------
    # The "Send email" list action: composer without mailing
    # ------------------------------------------------------------------------------------------
    @users("user_marketing")
    def test_composer_without_mailing_is_commercial(self):
        partners = self.partners.with_env(self.env)
        composer = Form(self.env["mail.compose.message"].with_context(
            default_composition_mode="mass_mail", default_model="res.partner", default_res_ids=partners.ids,
        ))
        composer.subject = "Kampanya"
        composer.body = "<p>İndirim</p>"
        composer = composer.save()
        self.assertEqual(composer.iys_brand_id, self.brand)
        with self.mock_mail_gateway(mail_unlink_sent=False):
            composer._action_send_mail()
        for case, partner in zip(self.CASES, partners, strict=True):
            with self.subTest(case=case):
                if EXPECTED[case] == "sent":
                    self.assertMailMail(partner, "sent", author=self.env.user.partner_id)
                else:
                    self.assertMailMail(partner, "cancel", author=self.env.user.partner_id,
                                        fields_values={"failure_type": EXPECTED[case]})

    def test_composer_transactional_flag_manager_only(self):
        context = {"default_composition_mode": "mass_mail", "default_model": "res.partner",
                   "default_res_ids": self.partners.ids}
        Composer = self.env["mail.compose.message"].with_context(**context)
        with self.assertRaises(AccessError):
            Composer.with_user(self.user_marketing).create(
                {"subject": "Fatura", "body": "<p>Fatura</p>", "iys_transactional": True}
            )
        composer = Composer.with_user(self.user_marketing).create({"subject": "Fatura", "body": "<p>Fatura</p>"})
        with self.assertRaises(AccessError):
            composer.write({"iys_transactional": True})
        composer = Composer.with_user(self.user_iys_marketing_manager).create(
            {"subject": "Fatura", "body": "<p>Faturanız hazır</p>", "iys_transactional": True,
             "mass_mailing_name": "Faturalar"}
        )
        with self.mock_mail_gateway(mail_unlink_sent=False):
            composer._action_send_mail()
        # the mailing created for the name keeps the class, and says who decided it
        mailing = composer.mass_mailing_id
        self.assertEqual(mailing.iys_message_class, "transactional")
        self.assertEqual(mailing.iys_brand_id, self.brand)
        self.assertIn("Meltem Manager", mailing.message_ids[0].body)
        self.assertEqual(set(mailing.mailing_trace_ids.mapped("trace_status")), {"sent"})

    def test_every_address_of_a_record_is_checked(self):
        """Odoo skips records with several addresses in its own loop; the gate does not."""
        composer = self.env["mail.compose.message"].with_context(
            default_composition_mode="mass_mail", default_model="res.partner",
            default_res_ids=self.partners[:2].ids,
        ).create({"subject": "x", "body": "<p>x</p>"})
        values = {
            self.partners[1].id: {"email_to": f"{self.email['onay']}, {self.email['none']}", "recipient_ids": [],
                                  "body": "<p>1</p>"},
            self.partners[0].id: {"email_to": "", "recipient_ids": [(4, self.partners[1].id)], "body": "<p>0</p>"},
        }
        values = composer._process_mail_values_state(values)
        self.assertEqual(values[self.partners[1].id]["failure_type"], MAIL_NO_CONSENT)
        self.assertEqual(values[self.partners[1].id]["state"], "cancel")
        # a record mailing a partner is checked on that partner's address (which has consent)
        self.assertNotEqual(values[self.partners[0].id].get("state"), "cancel")

    def test_mass_mail_about_documents_is_not_gated(self):
        """Without mailing, only partners, leads and mailing contacts are audiences: a mass e-mail
        about other records (event reminders, several quotations …) is transactional."""
        team = self.env["crm.team"].create({"name": "Satış"})
        composer = self.env["mail.compose.message"].with_context(
            default_composition_mode="mass_mail", default_model="crm.team", default_res_ids=team.ids,
        ).create({"subject": "Hatırlatma", "body": "<p>Etkinliğiniz yarın</p>"})
        self.assertFalse(composer.iys_gate_applies)
        values = composer._process_mail_values_state({team.id: {"email_to": self.email["none"], "body": "x"}})
        self.assertNotEqual(values[team.id].get("state"), "cancel")
        # ... unless it becomes a mailing
        composer.mass_mailing_name = "Kampanya"
        self.assertTrue(composer.iys_gate_applies)
        values = composer._process_mail_values_state({team.id: {"email_to": self.email["none"], "body": "x"}})
        self.assertEqual(values[team.id]["failure_type"], MAIL_NO_CONSENT)

    def test_forecast_python_path_matches_sql(self):
        """Models without the mixin are forecast in Python through the gate's own resolution: on
        mixin models both paths must agree."""
        mailing_list = self.env["mailing.list"].create({"name": "İYS list"})
        self.env["mailing.contact"].create([
            {"name": case, "email": self.email[case], "list_ids": [(4, mailing_list.id)]} for case in self.CASES
        ])
        leads = self.env["crm.lead"].create([{"name": case, "email_from": self.email[case]} for case in self.CASES])
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
class TestSendGateTransactionalMail(IysGateCommon):
    """Being transactional belongs to the content and recipients a manager approved, not to a
    mailing id anybody can quote (issue 15)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.partners = cls.create_partners()
        cls.mailing = cls.env["mailing.mailing"].create({
            "name": "Faturalar",
            "subject": "Faturanız hazır",
            "body_html": "<p>Faturanız hazır.</p>",
            "mailing_type": "mail",
            "mailing_model_id": cls.env["ir.model"]._get("res.partner").id,
            "mailing_domain": repr([("id", "in", (cls.partners[1] | cls.partners[4]).ids)]),  # onay, tacir
        })
        cls.mailing.with_user(cls.user_iys_marketing_manager).with_context(
            iys_transactional_reason="Fatura bildirimi").write({"iys_message_class": "transactional"})

    def compose(self, user, subject, body, partners):
        return self.env["mail.compose.message"].with_user(user).with_context(
            default_composition_mode="mass_mail", default_model="res.partner", default_res_ids=partners.ids,
        ).create({"subject": subject, "body": body, "mass_mailing_id": self.mailing.id})

    def test_quoting_a_transactional_mailing_does_not_open_the_gate(self):
        none = self.partners[0]
        for user in (self.user_employee, self.user_marketing):
            with self.subTest(user=user.login):
                composer = self.compose(user, "BIG SALE", "<p>BIG SALE %50</p>", none)
                with self.mock_mail_gateway(mail_unlink_sent=False):
                    try:
                        composer._action_send_mail()
                    except AccessError:
                        # Odoo itself refuses a mailing id to a user without mailing rights (18.0 of
                        # 2025-11): nothing is created, nothing sent
                        self.assertEqual(user, self.user_employee)
                    self.assertFalse([m for m in self._mails if self.email["none"] in "".join(m["email_to"])])
                mail = self.env["mail.mail"].sudo().search(
                    [("model", "=", "res.partner"), ("res_id", "=", none.id), ("subject", "=", "BIG SALE")],
                    order="id desc", limit=1)
                if mail:
                    self.assertEqual(mail.state, "cancel")
                    self.assertEqual(mail.failure_type, MAIL_NO_CONSENT)
                else:
                    self.assertEqual(user, self.user_employee)

    def test_approved_content_to_other_records_is_checked(self):
        """The approved subject and body, but to records outside the approved recipients."""
        none = self.partners[0]
        composer = self.compose(self.user_marketing, self.mailing.subject, self.mailing.body_html, none)
        with self.mock_mail_gateway(mail_unlink_sent=False):
            composer._action_send_mail()
        mail = self.env["mail.mail"].sudo().search(
            [("model", "=", "res.partner"), ("res_id", "=", none.id)], order="id desc", limit=1)
        self.assertEqual(mail.failure_type, MAIL_NO_CONSENT)

    def test_approved_content_without_the_exclusion_list_is_checked(self):
        """The approved content to approved recipients, but with Odoo's exclusion list (blacklist,
        opt-outs) turned off: not how the mailing sends, so not what the manager approved."""
        none = self.partners[0]
        self.mailing.mailing_domain = repr([("id", "in", self.partners.ids)])  # approved again (superuser)
        composer = self.compose(self.user_marketing, self.mailing.subject, self.mailing.body_html, none)
        composer.use_exclusion_list = False
        with self.mock_mail_gateway(mail_unlink_sent=False):
            composer._action_send_mail()
        mail = self.env["mail.mail"].sudo().search(
            [("model", "=", "res.partner"), ("res_id", "=", none.id)], order="id desc", limit=1)
        self.assertEqual(mail.failure_type, MAIL_NO_CONSENT)

    def test_approved_mailing_still_sends_to_everybody(self):
        self.mailing.mailing_domain = repr([("id", "in", self.partners.ids)])
        # changed by a manager (here the superuser): still approved, for the new recipients
        self.assertEqual(self.mailing.iys_message_class, "transactional")
        with self.mock_mail_gateway(mail_unlink_sent=False):
            self.mailing.action_send_mail()
        self.assertEqual(set(self.mailing.mailing_trace_ids.mapped("trace_status")), {"sent"})
        self.assertEqual(len(self.mailing.mailing_trace_ids), 6)

    def test_content_changed_behind_the_forms_back_is_commercial(self):
        """The class alone does not exempt: the content must still be the approved one, also at
        the last check before the queue sends."""
        self.mailing.mailing_domain = repr([("id", "in", self.partners.ids)])
        self.env["ir.config_parameter"].sudo().set_param("mail.mail.force.send.limit", 0)
        with self.mock_mail_gateway(mail_unlink_sent=False):
            self.mailing.action_send_mail()
            self.assertEqual(set(self.mailing.mailing_trace_ids.mapped("trace_status")), {"outgoing"})
            # the body changes without the ORM's write (an import, a module, SQL …)
            self.env.cr.execute("UPDATE mailing_mailing SET body_html = '<p>BIG SALE</p>' WHERE id = %s",
                                [self.mailing.id])
            self.mailing.invalidate_recordset()
            self.assertTrue(self.mailing._iys_is_commercial())
            self.env["mail.mail"].sudo().process_email_queue()
        traces = self.mailing.mailing_trace_ids
        self.assertEqual(traces.filtered(lambda t: t.res_id == self.partners[0].id).failure_type, MAIL_NO_CONSENT)
        self.assertEqual(traces.filtered(lambda t: t.res_id == self.partners[1].id).trace_status, "sent")

    def test_queued_mail_outside_the_recipients_is_checked(self):
        """A queued e-mail of a transactional mailing about a record the mailing does not target."""
        self.env["ir.config_parameter"].sudo().set_param("mail.mail.force.send.limit", 0)
        mail = self.env["mail.mail"].sudo().create({
            "subject": self.mailing.subject, "body_html": self.mailing.body_html, "email_to": self.email["none"],
            "model": "res.partner", "res_id": self.partners[0].id, "mailing_id": self.mailing.id,
        })
        with self.mock_mail_gateway(mail_unlink_sent=False):
            self.env["mail.mail"].sudo().process_email_queue()
        self.assertEqual(mail.state, "cancel")
        self.assertEqual(mail.failure_type, MAIL_NO_CONSENT)

    def test_fingerprint_is_not_writable(self):
        with self.assertRaises(AccessError):
            self.mailing.with_user(self.user_marketing).write({"iys_transactional_fingerprint": "x"})


@tagged("post_install", "-at_install", "l10n_tr_iys", "iys_gate")
class TestSendGateMailEvidence(IysGateCommon):
    """What a mailing leaves behind is true (issue 11 §2)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.partners = cls.create_partners()

    def create_mailing(self, records, **values):
        return self.env["mailing.mailing"].create({
            "name": "Kanıt",
            "subject": "Kış kampanyası",
            "body_html": "<p>Tüm ürünlerde büyük indirim!</p>",
            "mailing_type": "mail",
            "mailing_model_id": self.env["ir.model"]._get(records._name).id,
            "mailing_domain": repr([("id", "in", records.ids)]),
            **values,
        })

    def test_connection_failure_keeps_the_iys_reason(self):
        mailing = self.create_mailing(self.partners)
        with self.mock_mail_gateway(mail_unlink_sent=False):
            self.connect_mocked.side_effect = ConnectionRefusedError("SMTP down")
            mailing.action_send_mail()
        self.assertFalse(self._mails)
        expected = {
            "none": MAIL_NO_CONSENT, "onay": "mail_smtp", "ret": MAIL_REFUSED,
            "pending": MAIL_UNCONFIRMED, "tacir": "mail_smtp", "tacir_ret": MAIL_REFUSED,
        }
        for case, partner in zip(self.CASES, self.partners, strict=True):
            with self.subTest(case=case):
                trace = mailing.mailing_trace_ids.filtered(lambda t, p=partner: t.res_id == p.id)
                mail = self.env["mail.mail"].sudo().search([("mailing_trace_ids", "in", trace.ids)])
                self.assertEqual(trace.failure_type, expected[case])
                self.assertEqual(trace.trace_status, "error" if expected[case] == "mail_smtp" else "cancel")
                if expected[case] == "mail_smtp":
                    self.assertEqual(mail.state, "exception")  # Odoo notes the reason on the trace only
                else:
                    self.assertEqual((mail.state, mail.failure_type), ("cancel", expected[case]))
        self.assertEqual(self.blocked(mailing), (1, 2, 1))

    def test_iys_cancelled_trace_keeps_its_reason(self):
        mailing = self.create_mailing(self.partners)
        with self.mock_mail_gateway(mail_unlink_sent=False):
            mailing.action_send_mail()
        traces = mailing.mailing_trace_ids
        traces.set_failed(failure_type="mail_smtp")
        self.assertEqual(self.blocked(mailing), (1, 2, 1))
        traces.set_sent()
        self.assertEqual(self.blocked(mailing), (1, 2, 1))
        self.assertEqual(set(traces.filtered(lambda t: t.failure_type in (MAIL_NO_CONSENT, MAIL_REFUSED,
                                                                           MAIL_UNCONFIRMED)).mapped("trace_status")),
                         {"cancel"})

    def _shared_address_partners(self, individual_first):
        shared = f"ortak.{int(individual_first)}@example.com"
        self.record(shared, status="RET", channel="EPOSTA", source="HS_WEB")  # the individual refused
        names = ("A", "B") if individual_first else ("B", "A")
        individual = self.env["res.partner"].create({"name": f"{names[0]} Ayşe Yılmaz", "email": shared})
        company = self.env["res.partner"].create({"name": f"{names[1]} Yılmaz Ltd", "email": shared,
                                                  "is_company": True, "vat": "1234567890"})
        return shared, individual, company

    def test_shared_address_allowed_recipient_gets_one_message(self):
        for individual_first in (True, False):
            with self.subTest(individual_first=individual_first):
                shared, individual, company = self._shared_address_partners(individual_first)
                mailing = self.create_mailing(individual | company)
                self.assertEqual(
                    self.env["res.partner"].search(mailing._get_recipients_domain())[0],
                    individual if individual_first else company,
                )
                with self.mock_mail_gateway(mail_unlink_sent=False):
                    mailing.action_send_mail()
                traces = mailing.mailing_trace_ids
                self.assertEqual(traces.filtered(lambda t, c=company: t.res_id == c.id).trace_status, "sent")
                individual_trace = traces.filtered(lambda t, i=individual: t.res_id == i.id)
                self.assertEqual((individual_trace.trace_status, individual_trace.failure_type),
                                 ("cancel", MAIL_REFUSED))
                self.assertEqual(len([m for m in self._mails if shared in "".join(m["email_to"])]), 1)

    def test_blocked_address_is_not_seen_by_later_batches(self):
        """Odoo's duplicate list across batches is built from traces: an address the gate blocked
        for one record was not reached, and may still be reached through an allowed record."""
        shared, individual, company = self._shared_address_partners(True)
        mailing = self.create_mailing(individual | company)
        with self.mock_mail_gateway(mail_unlink_sent=False):
            mailing.action_send_mail(res_ids=individual.ids)
            self.assertNotIn(shared, mailing._get_seen_list())
            mailing.action_send_mail(res_ids=company.ids)
        self.assertEqual(mailing.mailing_trace_ids.filtered(lambda t: t.res_id == company.id).trace_status, "sent")

    def test_blocked_mail_does_not_look_sent_in_the_chatter(self):
        mailing = self.create_mailing(self.partners, keep_archives=True)
        with self.mock_mail_gateway(mail_unlink_sent=False):
            mailing.action_send_mail()
        allowed, refused = self.partners[1], self.partners[2]
        self.assertIn("büyük indirim", "".join(allowed.message_ids.mapped("body")), "sent: archived as sent")
        bodies = "".join(refused.message_ids.mapped("body"))
        self.assertNotIn("büyük indirim", bodies)
        self.assertIn("Not sent", bodies)
        self.assertIn("Refused (RET)", bodies)

    def test_one_vocabulary(self):
        labels = dict(self.env["mailing.trace"]._fields["failure_type"]._description_selection(self.env))
        states = dict(self.env["res.partner"]._fields["iys_email_state"]._description_selection(self.env))
        self.assertEqual(labels[MAIL_REFUSED], states["refused"])
        self.assertEqual(labels[MAIL_NO_CONSENT], states["no_consent"])
        self.assertEqual(labels[MAIL_UNCONFIRMED], states["unconfirmed"])
        self.assertEqual(labels["sms_iys_refused"], "Refused (RET)")
        mailing = self.create_mailing(self.partners)
        self.assertEqual(set(mailing._iys_reason_labels().values()),
                         {"No consent", "Refused (RET)", "Waiting for İYS"})
