# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
"""Dealers sending (issue 13): a mailing sent on behalf of a dealer reaches an individual only
through a consent the dealer may use (dealer access, or collected by the dealer); merchants until
they refuse; a refusal always wins. Mailings without a dealer: as before."""
from odoo.exceptions import ValidationError
from odoo.tests import tagged

from odoo.addons.l10n_tr_iys.models import iys_policy
from odoo.addons.l10n_tr_iys.models.iys_consent import ledger

from .common_gate import IysGateCommon

#: the dealer cases added to IysGateCommon.CASES (all ONAY of individuals, Brand A)
DEALER_CASES = ("access", "collected", "other", "pending_access")
ALL_CASES = IysGateCommon.CASES + DEALER_CASES

#: what a commercial message does per case, sent on behalf of dealer A
ON_BEHALF_OF_A = {
    "none": iys_policy.NO_CONSENT,
    "onay": iys_policy.NO_DEALER_ACCESS,  # the brand's consent, dealer A has no access to it
    "ret": iys_policy.REFUSED,
    "pending": iys_policy.NO_DEALER_ACCESS,  # even once İYS confirms it, it is not dealer A's
    "tacir": "sent",
    "tacir_ret": iys_policy.REFUSED,
    "access": "sent",  # dealer A is in the consent's dealer access
    "collected": "sent",  # dealer A collected it
    "other": iys_policy.NO_DEALER_ACCESS,  # only dealer B has access
    "pending_access": iys_policy.UNCONFIRMED,
}
#: the same recipients when the brand sends (no dealer): the dealer dimension does not exist
BRAND_SENDS = {
    "none": iys_policy.NO_CONSENT,
    "onay": "sent",
    "ret": iys_policy.REFUSED,
    "pending": iys_policy.UNCONFIRMED,
    "tacir": "sent",
    "tacir_ret": iys_policy.REFUSED,
    "access": "sent",
    "collected": "sent",
    "other": "sent",
    "pending_access": iys_policy.UNCONFIRMED,
}


class DealerGateCommon(IysGateCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        Dealer = cls.env["iys.retailer"]
        cls.dealer_a = Dealer.create({"name": "Bayi A", "brand_id": cls.brand.id, "code": "12345678",
                                      "sync_state": "registered"})
        cls.dealer_b = Dealer.create({"name": "Bayi B", "brand_id": cls.brand.id, "code": "12345679",
                                      "sync_state": "registered"})
        start = len(cls.CASES) + 1
        for index, case in enumerate(DEALER_CASES, start=start):
            cls.email[case] = f"gate.{case}@example.com"
            cls.number[case] = f"+90532111{index:04d}"
        for channel, addresses in (("EPOSTA", cls.email), ("MESAJ", cls.number)):
            access = cls.confirmed(addresses["access"], channel).consent
            ledger(access).write({"retailer_access_ids": [(4, cls.dealer_a.id), (4, cls.dealer_b.id)]})
            collected = cls.confirmed(addresses["collected"], channel).consent
            ledger(collected).write({"retailer_id": cls.dealer_a.id})
            other = cls.confirmed(addresses["other"], channel).consent
            ledger(other).write({"retailer_access_ids": [(4, cls.dealer_b.id)]})
            pending = cls.record(addresses["pending_access"], channel=channel).consent
            ledger(pending).write({"retailer_access_ids": [(4, cls.dealer_a.id)]})
        cls.partners = cls.env["res.partner"].create([
            {
                "name": f"Dealer gate {case}",
                "email": cls.email[case],
                "mobile": cls.number[case],
                "is_company": case.startswith("tacir"),
                "vat": "1234567890" if case.startswith("tacir") else False,
            }
            for case in ALL_CASES
        ])
        cls.partner = dict(zip(ALL_CASES, cls.partners, strict=True))

    def create_mailing(self, mailing_type="mail", **values):
        vals = {
            "name": "Bayi kampanyası",
            "subject": "Bayimizden kış kampanyası",
            "mailing_type": mailing_type,
            "mailing_model_id": self.env["ir.model"]._get("res.partner").id,
            "mailing_domain": repr([("id", "in", self.partners.ids)]),
        }
        if mailing_type == "sms":
            vals.update(body_plaintext="Bayimizde %20 indirim!", sms_allow_unsubscribe=False)
        else:
            vals["body_html"] = "<p>Bayimizde %20 indirim!</p>"
        vals.update(values)
        return self.env["mailing.mailing"].create(vals)

    def assert_traces(self, mailing, expected, prefix, sent_status):
        """Every partner's trace says what ``expected`` says (a reason: cancelled with its failure type)."""
        traces = mailing.mailing_trace_ids
        for case, partner in self.partner.items():
            with self.subTest(case=case):
                trace = traces.filtered(lambda t, p=partner: t.res_id == p.id)
                self.assertEqual(len(trace), 1)
                if expected[case] == "sent":
                    self.assertEqual(trace.trace_status, sent_status)
                    self.assertFalse(trace.failure_type)
                else:
                    self.assertEqual((trace.trace_status, trace.failure_type),
                                     ("cancel", f"{prefix}_iys_{expected[case]}"))

    def full_forecast(self, mailing):
        mailing.invalidate_recordset()
        return {
            iys_policy.NO_CONSENT: mailing.iys_forecast_no_consent,
            iys_policy.REFUSED: mailing.iys_forecast_refused,
            iys_policy.UNCONFIRMED: mailing.iys_forecast_unconfirmed,
            iys_policy.NO_DEALER_ACCESS: mailing.iys_forecast_no_dealer_access,
            "total": mailing.iys_forecast_total,
        }

    def full_blocked(self, mailing):
        mailing.invalidate_recordset()
        return {
            iys_policy.NO_CONSENT: mailing.iys_blocked_no_consent,
            iys_policy.REFUSED: mailing.iys_blocked_refused,
            iys_policy.UNCONFIRMED: mailing.iys_blocked_unconfirmed,
            iys_policy.NO_DEALER_ACCESS: mailing.iys_blocked_no_dealer_access,
            "total": mailing.iys_blocked_total,
        }

    @staticmethod
    def counts(expected):
        result = dict.fromkeys((iys_policy.NO_CONSENT, iys_policy.REFUSED, iys_policy.UNCONFIRMED,
                                iys_policy.NO_DEALER_ACCESS), 0)
        for reason in expected.values():
            if reason != "sent":
                result[reason] += 1
        result["total"] = sum(result.values())
        return result


@tagged("post_install", "-at_install", "l10n_tr_iys", "iys_gate", "iys_dealer")
class TestDealerGateMail(DealerGateCommon):
    def test_mailing_on_behalf_of_a_dealer(self):
        mailing = self.create_mailing(iys_retailer_id=self.dealer_a.id)
        expected = self.counts(ON_BEHALF_OF_A)
        self.assertEqual(expected[iys_policy.NO_DEALER_ACCESS], 3)
        self.assertEqual(self.full_forecast(mailing), expected)
        # both forecast paths (SQL for mixin models, Python for the others) agree
        Model = self.env["res.partner"]
        self.assertEqual(mailing._iys_forecast_python(Model, tuple(expected)[:4], False),
                         mailing._iys_forecast_sql(Model, tuple(expected)[:4], False))
        action = mailing.with_context(iys_reason="no_dealer_access").action_iys_view_blocked_recipients()
        self.assertEqual(set(self.env["res.partner"].search(action["domain"]).mapped("name")),
                         {"Dealer gate onay", "Dealer gate pending", "Dealer gate other"})
        self.assertEqual(action["name"], "Blocked by İYS: No access for this dealer")

        with self.mock_mail_gateway(mail_unlink_sent=False):
            mailing.action_send_mail()

        self.assert_traces(mailing, ON_BEHALF_OF_A, "mail", "sent")
        self.assertEqual(self.full_blocked(mailing), expected)
        self.assertEqual(self.full_forecast(mailing)["total"], 0)
        reached = {email for mail in self._mails for email in mail["email_to"]}
        self.assertEqual({e.split("<")[-1].rstrip(">") for e in reached},
                         {self.email[c] for c, r in ON_BEHALF_OF_A.items() if r == "sent"})
        # the cancelled traces and the mails say why, in their own words
        labels = dict(self.env["mailing.trace"]._fields["failure_type"]._description_selection(self.env))
        self.assertEqual(labels["mail_iys_no_dealer_access"], "No access for this dealer")
        self.assertEqual(labels["sms_iys_no_dealer_access"], "No access for this dealer")
        mail = self.env["mail.mail"].sudo().search([("mailing_trace_ids.res_id", "=", self.partner["other"].id),
                                                    ("mailing_id", "=", mailing.id)])
        self.assertEqual((mail.state, mail.failure_type), ("cancel", "mail_iys_no_dealer_access"))
        self.assertIn("No access for this dealer", mail.body_html)
        self.assertIn("No access for this dealer", mailing._iys_reason_labels().values())
        action = mailing.with_context(iys_reason="no_dealer_access").action_iys_view_blocked_traces()
        traces = self.env["mailing.trace"].search(action["domain"] + [("mass_mailing_id", "=", mailing.id)])
        self.assertEqual(len(traces), 3)

    def test_mailing_without_dealer_is_as_before(self):
        mailing = self.create_mailing()
        self.assertFalse(mailing.iys_retailer_id)
        self.assertEqual(self.full_forecast(mailing), self.counts(BRAND_SENDS))
        self.assertNotIn("No access for this dealer", mailing._iys_reason_labels().values())
        with self.mock_mail_gateway(mail_unlink_sent=False):
            mailing.action_send_mail()
        self.assert_traces(mailing, BRAND_SENDS, "mail", "sent")
        self.assertEqual(self.full_blocked(mailing), self.counts(BRAND_SENDS))

    def test_last_check_before_sending_sees_access_removed(self):
        """Access withdrawn while the mailing waits in the queue: the last check cancels it."""
        self.env["ir.config_parameter"].sudo().set_param("mail.mail.force.send.limit", 0)
        mailing = self.create_mailing(iys_retailer_id=self.dealer_a.id)
        with self.mock_mail_gateway(mail_unlink_sent=False):
            mailing.action_send_mail()
            trace = mailing.mailing_trace_ids.filtered(lambda t: t.res_id == self.partner["access"].id)
            self.assertEqual(trace.trace_status, "outgoing")
            consent = self.env["iys.consent"].search([("address", "=", self.email["access"])])
            ledger(consent).write({"retailer_access_ids": [(3, self.dealer_a.id)]})
            self.env["mail.mail"].sudo().process_email_queue()
        self.assertEqual((trace.trace_status, trace.failure_type), ("cancel", "mail_iys_no_dealer_access"))
        collected = mailing.mailing_trace_ids.filtered(lambda t: t.res_id == self.partner["collected"].id)
        self.assertEqual(collected.trace_status, "sent")
        self.assertEqual(self.full_blocked(mailing)[iys_policy.NO_DEALER_ACCESS], 4)

    def test_dealer_that_may_not_send_reaches_no_individual(self):
        """Not registered on İYS, not active there, or archived: access to nothing."""
        consent = self.env["iys.consent"].search([("address", "=", self.email["access"])])
        for code, values in (("32345678", {"sync_state": "deleted"}), ("32345679", {"status": "suspended"}),
                             ("32345670", {"active": False})):
            with self.subTest(**values):
                dealer = self.env["iys.retailer"].create({"name": f"Bayi {code}", "brand_id": self.brand.id,
                                                          "code": code, "sync_state": "registered", **values})
                ledger(consent).write({"retailer_access_ids": [(4, dealer.id)]})
                mailing = self.create_mailing(iys_retailer_id=dealer.id)
                expected = {case: iys_policy.NO_DEALER_ACCESS
                            if reason in ("sent", iys_policy.UNCONFIRMED) and not case.startswith("tacir") else reason
                            for case, reason in ON_BEHALF_OF_A.items()}
                self.assertEqual(self.full_forecast(mailing), self.counts(expected))

    def test_dealer_of_another_brand_is_refused(self):
        other = self.env["iys.retailer"].create({"name": "Bayi C", "brand_id": self.brand_b.id, "code": "22345678",
                                                 "sync_state": "registered"})
        with self.assertRaises(ValidationError):
            self.create_mailing(iys_retailer_id=other.id)
        mailing = self.create_mailing(iys_retailer_id=other.id, iys_brand_id=self.brand_b.id)
        with self.assertRaises(ValidationError):
            mailing.iys_brand_id = self.brand

    def test_transactional_mailing_of_a_dealer_is_outside_the_consent_rule(self):
        mailing = self.create_mailing(iys_retailer_id=self.dealer_a.id)
        mailing.with_context(iys_transactional_reason="Fatura").write({"iys_message_class": "transactional"})
        self.assertEqual(self.full_forecast(mailing)["total"], 0)
        with self.mock_mail_gateway(mail_unlink_sent=False):
            mailing.action_send_mail()
        self.assertEqual(set(mailing.mailing_trace_ids.mapped("trace_status")), {"sent"})

    def test_composer_on_behalf_of_a_dealer(self):
        composer = self.env["mail.compose.message"].with_context(
            default_composition_mode="mass_mail", default_model="res.partner", default_res_ids=self.partners.ids,
        ).create({"subject": "Bayi", "body": "<p>Bayimizde indirim</p>", "iys_retailer_id": self.dealer_a.id})
        with self.mock_mail_gateway(mail_unlink_sent=False):
            composer._action_send_mail()
        mails = self.env["mail.mail"].sudo().search([("model", "=", "res.partner"), ("res_id", "in", self.partners.ids),
                                                     ("subject", "=", "Bayi")])
        by_partner = {mail.res_id: mail for mail in mails}
        for case, reason in ON_BEHALF_OF_A.items():
            with self.subTest(case=case):
                mail = by_partner[self.partner[case].id]
                if reason == "sent":
                    self.assertNotEqual(mail.state, "cancel")
                else:
                    self.assertEqual((mail.state, mail.failure_type), ("cancel", f"mail_iys_{reason}"))


@tagged("post_install", "-at_install", "l10n_tr_iys", "iys_gate", "iys_dealer")
class TestDealerGateSms(DealerGateCommon):
    def test_sms_mailing_on_behalf_of_a_dealer(self):
        mailing = self.create_mailing("sms", iys_retailer_id=self.dealer_a.id)
        expected = self.counts(ON_BEHALF_OF_A)
        self.assertEqual(self.full_forecast(mailing), expected)
        with self.mockSMSGateway():
            mailing.action_send_sms()
            self.assert_traces(mailing, ON_BEHALF_OF_A, "sms", "outgoing")
            self.assertEqual(self.full_blocked(mailing), expected)
            self.env["sms.sms"].sudo()._process_queue()
        self.assertSMSIapSent([self.number[c] for c, r in ON_BEHALF_OF_A.items() if r == "sent"])
        self.assertEqual(len(self._sms), 3)

    def test_sms_mailing_without_dealer_is_as_before(self):
        mailing = self.create_mailing("sms")
        self.assertEqual(self.full_forecast(mailing), self.counts(BRAND_SENDS))
        with self.mockSMSGateway():
            mailing.action_send_sms()
            self.assert_traces(mailing, BRAND_SENDS, "sms", "outgoing")

    def test_last_check_before_sending_sms(self):
        mailing = self.create_mailing("sms", iys_retailer_id=self.dealer_a.id)
        with self.mockSMSGateway():
            mailing.action_send_sms()
            consent = self.env["iys.consent"].search([("address", "=", self.number["collected"])])
            ledger(consent).write({"retailer_id": False})
            self.env["sms.sms"].sudo()._process_queue()
        trace = mailing.mailing_trace_ids.filtered(lambda t: t.res_id == self.partner["collected"].id)
        self.assertEqual((trace.trace_status, trace.failure_type), ("cancel", "sms_iys_no_dealer_access"))
        self.assertEqual(len(self._sms), 2)
