# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
from unittest.mock import patch

from odoo.tests import tagged
from odoo.tools import SQL, mute_logger

from ..models import iys_recompute_run
from ..models.iys_consent_mixin import STATE_FIELDS, IysConsentMixin
from .common_gate import MAIL_NO_CONSENT, MAIL_REFUSED, MAIL_UNCONFIRMED, IysGateCommon
from .test_partner_states import PartnerStatesCommon

RUN = "odoo.addons.l10n_tr_iys.models.iys_recompute_run"


def threshold(value):
    """Recompute in the background above ``value`` holders (10,000 in production)."""
    return patch(f"{RUN}.SYNC_MAX", value)


def chunk(value):
    return patch(f"{RUN}.CHUNK_SIZE", value)


class RecomputeCommon:
    def runs(self):
        return self.env["iys.recompute.run"].search([("company_id", "=", self.env.company.id)], order="id")

    def holders(self):
        """{(model, id): (sms, call, e-mail)} of every holder of the company (and shared ones)."""
        result = {}
        for name in self.env["iys.consent.mixin"]._iys_models():
            Model = self.env[name].with_context(active_test=False)
            domain = [("company_id", "in", [self.env.company.id, False])] if "company_id" in Model._fields else []
            for record in Model.search(domain):
                result[(name, record.id)] = tuple(record[f] for f in STATE_FIELDS.values())
        return result

    def orm_states(self):
        """What the ORM compute (the policy, record by record) says for every holder."""
        for name in self.env["iys.consent.mixin"]._iys_models():
            Model = self.env[name].with_context(active_test=False)
            records = Model.search([])
            for fname in STATE_FIELDS.values():
                self.env.add_to_compute(Model._fields[fname], records)
            records.flush_recordset()
        return self.holders()

    def run_cron(self, budget=1000):
        with patch(f"{RUN}.CRON_TIME_BUDGET", budget):
            return self.env["iys.recompute.run"]._cron_recompute()


@tagged("post_install", "-at_install", "l10n_tr_iys")
class TestRecomputeRun(RecomputeCommon, PartnerStatesCommon):
    def switch_to_brand_b(self):
        self.brand.is_default = False
        self.brand_b.is_default = True
        self.assertEqual(self.env.company.iys_default_brand_id, self.brand_b)

    def test_below_threshold_recomputes_at_once(self):
        with patch.object(type(self.env["ir.cron"]), "_trigger") as trigger:
            self.switch_to_brand_b()
            self.env.company.iys_pending_policy = "allow"
        self.assertFalse(self.runs(), "a small database is recomputed in the request, as before")
        trigger.assert_not_called()
        self.assertEqual(self.p_confirmed.iys_sms_state, "no_consent")  # nothing for brand B
        self.assertEqual(self.p_tacir.iys_sms_state, "allowed")
        self.assertFalse(self.env.company.iys_recompute_status)

    def test_above_threshold_goes_to_the_background(self):
        before = self.holders()
        self.assertEqual(self.p_confirmed.iys_sms_state, "allowed")
        with threshold(2), patch.object(type(self.env["ir.cron"]), "_trigger", autospec=True) as trigger:
            # an İYS manager makes the change (the cron runs as OdooBot)
            (self.brand | self.brand_b).with_user(self.iys_manager).write({"is_default": False})
            self.brand_b.with_user(self.iys_manager).is_default = True
        self.assertEqual(self.env.company.iys_default_brand_id, self.brand_b)
        run = self.runs()
        self.assertEqual(len(run), 1)
        self.assertEqual((run.state, run.reason, run.only_unconfirmed, run.user_id), ("queued", "brand", False,
                                                                                      self.iys_manager))
        self.assertEqual(trigger.call_args.args[0], self.env.ref("l10n_tr_iys.ir_cron_iys_recompute_run"))
        # nothing recomputed in the request: the stored states are the old brand's until the run
        self.assertEqual(self.holders(), before)
        self.assertEqual(self.p_confirmed.iys_sms_state, "allowed")
        self.assertEqual(self.env.company.iys_recompute_status,
                         "Contact states are being recomputed: waiting for the background worker.")
        with chunk(3):
            done = self.run_cron()
        self.assertEqual(run.state, "done")
        self.assertEqual(done, run.total_count)
        self.assertEqual(run.done_count, run.total_count)
        self.assertEqual(run.total_count, len(self.holders()), "every holder once")
        self.assertEqual(self.p_confirmed.iys_sms_state, "no_consent")
        self.assertEqual(self.holders(), self.orm_states(), "the same answer as the policy, record by record")
        self.assertFalse(self.env.company.iys_recompute_status)
        # the user who made the change is told in their inbox
        message = run.message_ids.filtered(lambda m: "are recomputed" in (m.body or ""))
        self.assertEqual(len(message), 1)
        self.assertIn(self.iys_manager.partner_id, message.notification_ids.res_partner_id)
        self.assertEqual(self.run_cron(), 0, "nothing left: a second call does nothing")

    def test_pending_policy_counts_only_what_can_change(self):
        # one holder has an ONAY waiting for İYS: under a threshold of 2 it stays immediate …
        with threshold(2):
            self.env.company.iys_pending_policy = "allow"
        self.assertFalse(self.runs())
        self.assertEqual(self.p_pending.iys_sms_state, "allowed")
        # … and above it, the run looks at that holder only
        with threshold(0):
            self.env.company.iys_pending_policy = "block"
        run = self.runs()
        self.assertEqual((run.reason, run.only_unconfirmed), ("policy", True))
        self.assertEqual(self.p_pending.iys_sms_state, "allowed", "stale until the run")
        self.run_cron()
        self.assertEqual((run.state, run.total_count, run.done_count, run.changed_count), ("done", 1, 1, 1))
        self.assertEqual(self.p_pending.iys_sms_state, "unconfirmed")

    def test_pending_policy_run_lists_its_holders_once(self):
        Partner, Chunk = self.env["res.partner"], self.env["iys.recompute.run.chunk"]
        extra = Partner.create([{"name": f"Waiting {n}", "mobile": f"0532 000 01 0{n}"} for n in (1, 2)])
        for partner in extra:
            self.record(partner.phone_sanitized)
        waiting = (self.p_pending | extra).sorted("id")
        self.assertEqual(set(waiting.mapped("iys_sms_state")), {"unconfirmed"})
        with threshold(0):
            self.env.company.iys_pending_policy = "allow"
        run = self.runs()
        self.assertFalse(run.holders_listed)
        with chunk(1):
            self.assertEqual(self.run_cron(budget=0), 1)
            # the first call lists the contacts waiting for İYS, chunk by chunk; every chunk reads its
            # ids there
            self.assertTrue(run.holders_listed)
            listed = Chunk.search([("run_id", "=", run.id)])
            self.assertEqual([(c.res_model, c.last_id, c.res_ids) for c in listed],
                             [("res.partner", p.id, [p.id]) for p in waiting])
            self.assertEqual((run.total_count, run.done_count, run.cursor_model, run.cursor_id),
                             (3, 1, "res.partner", waiting[0].id))
            self.assertEqual(waiting.mapped("iys_sms_state"), ["allowed", "unconfirmed", "unconfirmed"])
            # a contact that starts to wait for İYS after the list was made is not on it: the ledger
            # recomputes it at once, with the current policy
            late = Partner.create({"name": "Waiting later", "mobile": "0532 000 01 09"})
            self.record(late.phone_sanitized)
            self.assertEqual(late.iys_sms_state, "allowed")
            self.assertEqual(Chunk.search_count([("run_id", "=", run.id)]), 3, "the list is not made again")
            while run.state == "running":
                self.run_cron(budget=0)
        self.assertEqual((run.state, run.total_count, run.done_count), ("done", 3, 3))
        self.assertEqual(set((waiting | late).mapped("iys_sms_state")), {"allowed"})
        self.assertEqual(self.holders(), self.orm_states())
        self.assertFalse(Chunk.search_count([("run_id", "=", run.id)]), "the list goes with the run's end")
        self.assertFalse(run.holders_listed)

    def test_pending_policy_run_of_an_earlier_version_is_listed_from_its_resume_point(self):
        extra = self.env["res.partner"].create([{"name": f"Waiting {n}", "mobile": f"0532 000 01 0{n}"}
                                                for n in (1, 2)])
        for partner in extra:
            self.record(partner.phone_sanitized)
        first, *rest = (self.p_pending | extra).sorted("id")
        self.env.cr.execute("UPDATE res_company SET iys_pending_policy = 'allow' WHERE id = %s", [self.env.company.id])
        self.env.company.invalidate_recordset()
        # a run under way when the addon was updated: its first chunk done, no list yet
        run = self.env["iys.recompute.run"].create({"reason": "policy", "only_unconfirmed": True, "shared": True})
        run.write({"state": "running", "total_count": 3, "done_count": 1, "cursor_model": "res.partner",
                   "cursor_id": first.id})
        self.run_cron()
        self.assertEqual((run.state, run.done_count), ("done", 3))
        self.assertEqual(first.iys_sms_state, "unconfirmed", "done before the update: not done again")
        self.assertEqual([p.iys_sms_state for p in rest], ["allowed", "allowed"])
        self.assertFalse(self.env["iys.recompute.run.chunk"].search_count([("run_id", "=", run.id)]))

    def test_superseded_run_drops_its_list(self):
        with threshold(0), chunk(1):
            self.env.company.iys_pending_policy = "allow"
            first = self.runs()
            self.run_cron(budget=0)
            self.assertTrue(first.holders_listed)
            self.env.company.iys_pending_policy = "block"
            self.run_cron()
        first_state, second = first.state, self.runs()[-1]
        self.assertEqual((first_state, second.state), ("superseded", "done"))
        self.assertFalse(self.env["iys.recompute.run.chunk"].search_count([("run_id", "in", self.runs().ids)]))
        self.assertEqual(self.p_pending.iys_sms_state, "unconfirmed")

    def test_progress_is_reported_chunk_by_chunk(self):
        with threshold(2):
            self.switch_to_brand_b()
        run = self.runs()
        total = len(self.holders())
        reported = []
        with chunk(3), patch.object(type(self.env["ir.cron"]), "_notify_progress",
                                    lambda _self, **kw: reported.append(kw)):
            self.assertEqual(self.run_cron(budget=0), 3)  # one chunk per call
            self.assertEqual(reported[-1], {"done": 3, "remaining": total - 3})
            self.assertEqual((run.state, run.done_count, run.total_count), ("running", 3, total))
            self.assertEqual(run.progress, 100.0 * 3 / total)
            self.assertEqual(self.env.company.iys_recompute_status,
                             f"Contact states are being recomputed: 3 of {total:,} done.")
            settings = self.env["res.config.settings"].create({})
            self.assertEqual(settings.iys_recompute_status, self.env.company.iys_recompute_status)
            while run.state == "running":
                self.run_cron(budget=0)
        self.assertEqual(sum(r["done"] for r in reported), total)
        self.assertEqual(reported[-1]["remaining"], 0)

    def test_resumes_after_the_last_committed_chunk(self):
        with threshold(2):
            self.switch_to_brand_b()
        run = self.runs()
        Run = type(run)
        with chunk(3):
            self.run_cron(budget=0)
            self.assertEqual(run.done_count, 3)
            first = self.env[run.cursor_model].browse(run.cursor_id)  # the last holder of the committed chunk
            # A worker killed in the middle of the next chunk: its transaction is rolled back, the
            # committed resume point stays.
            original = Run.write

            def killed(records, vals):
                if "cursor_id" in vals and vals["cursor_id"] != run.cursor_id:
                    raise KeyboardInterrupt("worker killed")
                return original(records, vals)

            with patch.object(Run, "write", killed), self.assertRaises(KeyboardInterrupt):
                with self.env.cr.savepoint():
                    self.env["iys.recompute.run"]._iys_claim()._iys_step()
            self.env.invalidate_all()
            self.assertEqual(run.done_count, 3)
            # A holder of the committed chunk is tampered with: a resumed run does not go back to it.
            self.env.cr.execute(SQL("UPDATE %s SET iys_sms_state = 'refused' WHERE id = %s",
                                    SQL.identifier(first._table), first.id))
            self.env.invalidate_all()
            self.run_cron()
        self.assertEqual(run.state, "done")
        self.assertEqual(run.done_count, run.total_count, "no chunk counted twice")
        self.assertEqual(first.iys_sms_state, "refused", "the committed chunk is not done again")
        self.assertEqual(self.p_confirmed.iys_sms_state, "no_consent")
        by_run = self.holders()
        by_orm = self.orm_states()
        self.assertNotEqual(by_orm.pop((first._name, first.id))[0], "refused")
        by_run.pop((first._name, first.id))
        self.assertEqual(by_run, by_orm, "the chunk lost with the killed worker was done again")

    def test_second_change_supersedes_the_run_under_way(self):
        with threshold(2), chunk(3):
            self.switch_to_brand_b()
            first = self.runs()
            self.run_cron(budget=0)
            self.assertEqual(first.state, "running")
            # back to brand A while the first run is under way, then the policy changes too
            self.brand_b.is_default = False
            self.brand.is_default = True
            self.env.company.iys_pending_policy = "allow"
            runs = self.runs()
            self.assertEqual(len(runs), 3)
            self.assertFalse(runs[2].only_unconfirmed, "a full recompute is pending: the policy run does it all")
            total = len(self.holders())
            self.run_cron()
        self.assertEqual(runs.mapped("state"), ["superseded", "superseded", "done"])
        self.assertIn(runs[2].name, runs[0].message)
        self.assertEqual(runs[2].done_count, total, "the work is done once, not once per change")
        self.assertEqual(self.p_confirmed.iys_sms_state, "allowed")
        self.assertEqual(self.p_pending.iys_sms_state, "allowed")
        self.assertEqual(self.holders(), self.orm_states())

    def test_account_archived_recomputes_in_the_background(self):
        before = self.env.company.iys_default_brand_id
        with threshold(2):
            self.account.active = False
        self.assertNotEqual(self.env.company.iys_default_brand_id, before)
        run = self.runs()
        self.assertEqual(run.reason, "brand")
        self.assertEqual(self.p_confirmed.iys_sms_state, "allowed", "stale until the run")
        self.run_cron()
        self.assertNotEqual(self.env.company.iys_default_brand_id, self.brand)
        self.assertEqual(self.p_confirmed.iys_sms_state, "no_consent")
        self.assertEqual(self.holders(), self.orm_states())

    def test_panel_says_the_figures_are_being_recomputed(self):
        with threshold(2):
            self.switch_to_brand_b()
        panel = self.env["iys.panel"].with_user(self.iys_user)
        self.iys_user.company_ids = self.env.company
        section = panel.get_panel_section("audience", [self.brand_b.id])
        counted_on = section["rows"][0]["cells"][-1]
        self.assertEqual(counted_on["value"], "Contact states are being recomputed: waiting for the background "
                                              "worker.")
        self.assertEqual(counted_on["level"], "warning")
        self.run_cron()
        section = panel.get_panel_section("audience", [self.brand_b.id])
        self.assertIsInstance(section["rows"][0]["cells"][-1], str)

    def test_failed_chunks_stop_the_run_and_tell_the_user(self):
        with threshold(2):
            self.switch_to_brand_b()
        run = self.runs()
        with mute_logger(RUN), patch(f"{RUN}.in_test_mode", return_value=False), \
                patch(f"{RUN}.commit"), \
                patch.object(IysConsentMixin, "_iys_bulk_recompute_model", side_effect=ValueError("boom")):
            for _attempt in range(iys_recompute_run.MAX_FAILURES):
                self.run_cron(budget=0)
        self.assertEqual(run.state, "failed")
        self.assertEqual(run.message, "boom")
        self.assertTrue(run.message_ids.filtered(lambda m: "stopped after" in (m.body or "")))


@tagged("post_install", "-at_install", "l10n_tr_iys", "iys_gate")
class TestRecomputeGate(RecomputeCommon, IysGateCommon):
    """While a recompute is pending the stored states are stale; the gate reads the ledger."""

    EXPECTED = {"none": MAIL_NO_CONSENT, "onay": "sent", "ret": MAIL_REFUSED, "pending": MAIL_UNCONFIRMED,
                "tacir": "sent", "tacir_ret": MAIL_REFUSED}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.partners = cls.create_partners()

    def mailing(self, **values):
        return self.env["mailing.mailing"].create({
            "name": "İYS gate during a recompute", "subject": "Kış kampanyası",
            "body_html": "<p>Tüm ürünlerde %20 indirim!</p>", "mailing_type": "mail",
            "mailing_model_id": self.env["ir.model"]._get("res.partner").id,
            "mailing_domain": repr([("id", "in", self.partners.ids)]), **values,
        })

    def test_policy_change_pending(self):
        pending = self.partners[self.CASES.index("pending")]
        self.assertEqual(pending.iys_email_state, "unconfirmed")
        with threshold(0):
            self.env.company.iys_pending_policy = "allow"
        self.assertTrue(self.runs().filtered(lambda r: r.state == "queued"))
        self.assertEqual(pending.iys_email_state, "unconfirmed", "the stored state is stale")
        mailing = self.mailing()
        self.assertEqual(self.forecast(mailing), (1, 2, 0), "the forecast reads the ledger")
        with self.mock_mail_gateway(mail_unlink_sent=False):
            mailing.action_send_mail()
        self.assertMailTraces(
            self.mail_expectations(self.partners, dict(self.EXPECTED, pending="sent"), partners=self.partners),
            mailing, self.partners, author=self.env.user.partner_id,
        )
        self.run_cron()
        self.assertEqual(pending.iys_email_state, "allowed")

    def test_default_brand_change_pending(self):
        onay = self.partners[self.CASES.index("onay")]
        self.assertEqual(onay.iys_email_state, "allowed")
        with threshold(0):
            self.brand.is_default = False
            self.brand_b.is_default = True
        self.assertEqual(self.env.company.iys_default_brand_id, self.brand_b)
        self.assertEqual(onay.iys_email_state, "allowed", "the stored state is stale: brand B has no consent")
        mailing = self.mailing()
        self.assertEqual(mailing.iys_brand_id, self.brand_b)
        # brand B has nothing on record: every individual is blocked, merchants pass
        self.assertEqual(self.forecast(mailing), (4, 0, 0))
        with self.mock_mail_gateway(mail_unlink_sent=False):
            mailing.action_send_mail()
        expected = dict.fromkeys(self.CASES, MAIL_NO_CONSENT)
        expected.update(tacir="sent", tacir_ret="sent")
        self.assertMailTraces(self.mail_expectations(self.partners, expected, partners=self.partners),
                              mailing, self.partners, author=self.env.user.partner_id)
        # the gate's own decision, for the same addresses, is the ledger's
        gate = self.env["iys.send.gate"]
        targets = {p.id: [(p.email_normalized, p.iys_recipient_type)] for p in self.partners}
        self.assertEqual(gate._iys_decide(self.brand_b, "EPOSTA", targets),
                         {p.id: "no_consent" for p in self.partners if p.iys_recipient_type == "BIREYSEL"})
