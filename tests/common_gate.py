# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
from uuid import uuid4

from odoo.tests import new_test_user

from odoo.addons.mass_mailing_sms.tests.common import MassSMSCommon

from .common import IysCommon

MAIL_NO_CONSENT, MAIL_REFUSED, MAIL_UNCONFIRMED = "mail_iys_no_consent", "mail_iys_refused", "mail_iys_unconfirmed"
SMS_NO_CONSENT, SMS_REFUSED, SMS_UNCONFIRMED = "sms_iys_no_consent", "sms_iys_refused", "sms_iys_unconfirmed"


class IysGateCommon(MassSMSCommon, IysCommon):
    """Odoo's mass mail and SMS test harness (mocked SMTP and IAP) with an İYS account, two brands,
    and recipients in every consent situation on both channels:

    ========== ========= ================================= =====================
    name        type      ledger (Brand A, EPOSTA and MESAJ)  commercial message
    ========== ========= ================================= =====================
    none        BIREYSEL  nothing                            blocked: no consent
    onay        BIREYSEL  ONAY confirmed by İYS              sent
    ret         BIREYSEL  RET                                blocked: refused
    pending     BIREYSEL  ONAY waiting for İYS               blocked: unconfirmed (allowed by setting)
    tacir       TACIR     nothing                            sent
    tacir_ret   TACIR     RET                                blocked: refused
    ========== ========= ================================= =====================
    """

    CASES = ("none", "onay", "ret", "pending", "tacir", "tacir_ret")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # Our account first, so that the company's default brand is Brand A and not the demo's.
        cls.account.sequence = 0
        cls.env.invalidate_all()
        cls.user_iys_marketing_manager = new_test_user(
            cls.env, login="iys_t_mkt_manager", name="Meltem Manager",
            groups="base.group_user,base.group_partner_manager,mass_mailing.group_mass_mailing_user,"
            "l10n_tr_iys.group_iys_manager",
        )
        cls.email = {case: f"gate.{case}@example.com" for case in cls.CASES}
        cls.number = {case: f"+90532111{index:04d}" for index, case in enumerate(cls.CASES, start=1)}
        for case in cls.CASES:
            cls.set_case(case, cls.email[case], cls.number[case])

    @classmethod
    def set_case(cls, case, email=None, number=None, brand=None):
        """Put ``email`` (EPOSTA) and ``number`` (MESAJ) in the ledger situation ``case``."""
        for channel, address in (("EPOSTA", email), ("MESAJ", number)):
            if not address:
                continue
            if case == "onay":
                cls.confirmed(address, channel, brand=brand)
            elif case == "ret":
                cls.record(address, status="RET", channel=channel, source="HS_WEB", brand=brand)
            elif case == "pending":
                cls.record(address, channel=channel, brand=brand)
            elif case == "tacir_ret":
                cls.record(address, status="RET", channel=channel, recipient_type="TACIR", source="HS_WEB",
                           brand=brand)

    @classmethod
    def confirmed(cls, address, channel, status="ONAY", recipient_type="BIREYSEL", brand=None):
        """A movement İYS reports (pull): the ledger holds it as confirmed."""
        return cls.record(address, status=status, channel=channel, recipient_type=recipient_type,
                          source="IYS_WEB", origin="iys_pull", transaction_id=uuid4().hex * 2, brand=brand)

    @classmethod
    def create_partners(cls, prefix="", **extra):
        """One partner per case (merchants are companies with a tax number), with the case's e-mail and mobile."""
        return cls.env["res.partner"].create([
            {
                "name": f"{prefix}Gate {case}",
                "email": cls.email[case],
                "mobile": cls.number[case],
                "is_company": case.startswith("tacir"),
                "vat": "1234567890" if case.startswith("tacir") else False,
                **extra,
            }
            for case in cls.CASES
        ])

    def mail_expectations(self, records, statuses, partners=None, emails=None):
        """assertMailTraces input from ``{case: failure_type or 'sent'}`` in CASES order."""
        infos = []
        for index, case in enumerate(self.CASES):
            expected = statuses[case]
            info = {"record": records[index]}
            if partners is not None:
                info["partner"] = partners[index]
            else:
                info["email"] = (emails or self.email)[case]
            if expected == "sent":
                info["trace_status"] = "sent"
            else:
                info.update(trace_status="cancel", failure_type=expected)
            infos.append(info)
        return infos

    def sms_expectations(self, records, statuses, partners=None, sent_status="outgoing"):
        infos = []
        for index, case in enumerate(self.CASES):
            expected = statuses[case]
            info = {"number": self.number[case]}
            if partners is not None:
                info["partner"] = partners[index]
            if expected == "sent":
                info["trace_status"] = sent_status
            else:
                info.update(trace_status="cancel", failure_type=expected)
            infos.append(info)
        return infos

    def forecast(self, mailing):
        mailing.invalidate_recordset()
        return (mailing.iys_forecast_no_consent, mailing.iys_forecast_refused, mailing.iys_forecast_unconfirmed)

    def blocked(self, mailing):
        mailing.invalidate_recordset()
        return (mailing.iys_blocked_no_consent, mailing.iys_blocked_refused, mailing.iys_blocked_unconfirmed)
