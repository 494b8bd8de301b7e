# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
"""The send gate in chunks (issue 16): a big mailing is decided and checked chunk by chunk, with the
cache emptied in between, and every chunk size gives the decisions and traces of a single pass."""

from unittest.mock import patch

from odoo.tests import tagged

from odoo.addons.l10n_tr_iys.models import mail_mail as mail_mail_module
from odoo.addons.l10n_tr_iys.models import sms_sms as sms_sms_module
from odoo.addons.l10n_tr_iys.wizards import sms_composer as sms_composer_module

from .common_gate import IysGateCommon


class _Rollback(Exception):
    """Undo one run of the check, keeping what it left behind."""


@tagged("post_install", "-at_install", "l10n_tr_iys", "iys_gate")
class TestSendGateChunks(IysGateCommon):
    """Two recipients per case, so that chunks of 4 cut through cases and reasons."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.partners = cls.create_partners() + cls.create_partners(prefix="Bis ")
        cls.env["ir.config_parameter"].sudo().set_param("mail.mail.force.send.limit", 0)

    def create_mailing(self, mailing_type):
        values = {
            "name": "İYS gate chunks",
            "subject": "Kış kampanyası",
            "mailing_type": mailing_type,
            "mailing_model_id": self.env["ir.model"]._get("res.partner").id,
            "mailing_domain": repr([("id", "in", self.partners.ids)]),
        }
        if mailing_type == "sms":
            values.update(body_plaintext="Tüm ürünlerde %20 indirim!", sms_allow_unsubscribe=False)
        else:
            values["body_html"] = "<p>Tüm ürünlerde %20 indirim!</p>"
        return self.env["mailing.mailing"].create(values)

    def revoke_after_queueing(self):
        """Citizens refuse on İYS after the mailing was queued; one waiting consent is confirmed."""
        for channel, addresses in (("EPOSTA", self.email), ("MESAJ", self.number)):
            self.confirmed(addresses["onay"], channel, status="RET")
            self.record(addresses["tacir"], status="RET", channel=channel, recipient_type="TACIR",
                        source="HS_CAGRI_MERKEZI")

    def snapshot(self, table, mailing, chunk, check):
        """Run ``check`` with chunks of ``chunk`` messages; what the queue and the traces then say,
        the run itself undone."""
        modules = (mail_mail_module, sms_sms_module)
        result = None
        try:
            with self.env.cr.savepoint():
                with patch.object(modules[0], "GATE_CHUNK", chunk), patch.object(modules[1], "GATE_CHUNK", chunk), \
                        patch.object(sms_composer_module, "SMS_DECIDE_CHUNK", chunk):
                    check()
                self.env.flush_all()
                body = "body_html" if table == "mail_mail" else "body"
                self.env.cr.execute(
                    f"""SELECT t.res_id, m.state, m.failure_type, m.{body}, t.trace_status, t.failure_type
                          FROM {table} m JOIN mailing_trace t ON t.{'mail_mail_id_int' if table == 'mail_mail'
                                                                     else 'sms_id_int'} = m.id
                         WHERE m.mailing_id = %s ORDER BY t.res_id""",
                    (mailing.id,),
                )
                raise _Rollback(self.env.cr.fetchall())
        except _Rollback as undone:
            result = undone.args[0]
        self.env.invalidate_all()
        return result

    def test_mail_last_check_in_chunks_decides_as_in_one_pass(self):
        mailing = self.create_mailing("mail")
        with self.mock_mail_gateway(mail_unlink_sent=False):
            mailing.action_send_mail()
        self.revoke_after_queueing()
        mails = self.env["mail.mail"].sudo().search([("mailing_id", "=", mailing.id)])
        self.assertEqual(len(mails), 12)

        def check():
            mails._iys_gate_before_send()

        whole = self.snapshot("mail_mail", mailing, 1000, check)
        for chunk in (1, 4, 5):
            self.assertEqual(self.snapshot("mail_mail", mailing, chunk, check), whole, f"chunks of {chunk}")
        # the check did something: the refusals recorded after queueing cancel the mails still queued
        self.assertEqual(self.counts(whole), {
            ("cancel", "mail_iys_no_consent"): 2,
            ("cancel", "mail_iys_refused"): 6,  # RET and merchant RET (both copies), the two revoked
            ("cancel", "mail_iys_unconfirmed"): 2,
            ("cancel", "mail_dup"): 2,  # the second copy of an address Odoo had allowed
        })
        refused = [row for row in whole if row[2] == "mail_iys_refused"]
        self.assertTrue(all(row[4] == "cancel" and row[5] == "mail_iys_refused" for row in refused),
                        "their traces say cancelled, and why")
        self.assertTrue(all("Not sent" in row[3] for row in refused), "the queue shows they were not sent")

    def counts(self, rows):
        counts = {}
        for row in rows:
            counts[row[1], row[2]] = counts.get((row[1], row[2]), 0) + 1
        return counts

    def test_sms_last_check_in_chunks_decides_as_in_one_pass(self):
        mailing = self.create_mailing("sms")
        with self.mockSMSGateway():
            mailing.action_send_sms()
        self.revoke_after_queueing()
        smss = self.env["sms.sms"].sudo().search([("mailing_id", "=", mailing.id)])
        self.assertEqual(len(smss), 12)

        def check():
            smss._iys_gate_before_send()

        whole = self.snapshot("sms_sms", mailing, 1000, check)
        for chunk in (1, 4, 5):
            self.assertEqual(self.snapshot("sms_sms", mailing, chunk, check), whole, f"chunks of {chunk}")
        self.assertEqual(self.counts(whole), {
            ("canceled", "sms_iys_no_consent"): 2,
            ("canceled", "sms_iys_refused"): 6,
            ("canceled", "sms_iys_unconfirmed"): 2,
            ("canceled", "sms_duplicate"): 2,
        })
        refused = [row for row in whole if row[2] == "sms_iys_refused"]
        self.assertTrue(all(row[4] == "cancel" and row[5] == "sms_iys_refused" for row in refused))


    def test_sms_composer_in_chunks_decides_as_in_one_pass(self):
        mailing = self.create_mailing("sms")

        def send():
            with self.mockSMSGateway():
                mailing.action_send_sms()

        whole = self.snapshot("sms_sms", mailing, 1000, send)
        for chunk in (1, 4, 5):
            self.assertEqual(self.snapshot("sms_sms", mailing, chunk, send), whole, f"chunks of {chunk}")
        self.assertEqual(self.counts(whole), {
            ("outgoing", None): 2,  # the first ONAY and the first merchant; their copies are duplicates
            ("canceled", "sms_duplicate"): 2,
            ("canceled", "sms_iys_no_consent"): 2,
            ("canceled", "sms_iys_refused"): 4,
            ("canceled", "sms_iys_unconfirmed"): 2,
        })


@tagged("post_install", "-at_install", "l10n_tr_iys", "iys_gate")
class TestSendGateLookup(IysGateCommon):
    """The ledger lookup for a whole mailing (issue 16): sent as texts, or as arrays when an address
    could not travel as a line; PostgreSQL's JIT compiler off for the query only."""

    def expected(self):
        return {
            (self.email["none"], "BIREYSEL"): "no_consent",
            (self.email["onay"], "BIREYSEL"): "allowed",
            (self.email["ret"], "BIREYSEL"): "refused",
            (self.email["pending"], "BIREYSEL"): "unconfirmed",
            (self.email["tacir"], "TACIR"): "allowed",
            (self.email["tacir_ret"], "TACIR"): "refused",
            # the same address as another type: that type's own row (none: the default rule)
            (self.email["onay"], "TACIR"): "allowed",
            (self.email["tacir_ret"], "BIREYSEL"): "no_consent",
        }

    def test_lookup_decides_every_recipient(self):
        expected = self.expected()
        decisions = self.env["iys.consent"]._iys_gate_decisions(self.brand, "EPOSTA", list(expected) + [(None, "X")])
        self.assertEqual(decisions, expected)

    def test_address_with_a_line_break_goes_as_an_array(self):
        expected = self.expected()
        odd = ("odd\nline@example.com", "BIREYSEL")
        self.record(odd[0].replace("\n", ""), channel="EPOSTA")  # a neighbour, not this address
        decisions = self.env["iys.consent"]._iys_gate_decisions(self.brand, "EPOSTA", [*expected, odd])
        self.assertEqual(decisions, {**expected, odd: "no_consent"})

    def test_jit_setting_is_restored(self):
        cr = self.env.cr
        cr.execute("SET LOCAL jit = on")
        self.env["iys.consent"]._iys_gate_decisions(self.brand, "EPOSTA", list(self.expected()))
        cr.execute("SHOW jit")
        self.assertEqual(cr.fetchone()[0], "on", "the rest of the transaction keeps its setting")
