# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
"""“Ask İYS for the current status” in the background: the status query runs (iys.query.run),
worked on by the scheduled action in chunks, against the library's simulator."""
from contextlib import ExitStack, suppress
from datetime import timedelta
from unittest.mock import patch

from odoo import fields
from odoo.exceptions import AccessError
from odoo.tests import tagged

from odoo.addons.l10n_tr_iys.iyslib.client import IysClient
from odoo.addons.l10n_tr_iys.iyslib.errors import IysApiError, IysAuthError, IysRateLimitError
from odoo.addons.l10n_tr_iys.models import iys_query_run

from .sync_common import IysSyncCommon

#: a small chunk, so a handful of addresses makes several chunks
CHUNK = 3


class WorkerKilled(BaseException):
    """The worker dies (killed, out of memory …): nothing since the last commit is kept."""


@tagged("post_install", "-at_install", "l10n_tr_iys")
class TestIysQueryRun(IysSyncCommon):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Run = cls.env["iys.query.run"]
        cls.cron = cls.env.ref("l10n_tr_iys.ir_cron_iys_query_run")

    def setUp(self):
        super().setUp()
        self.asked = []  # one list of addresses per multiple status query that reached İYS
        self.fail_on = {}  # query number (1-based) -> exception to raise instead of asking
        self.kill_after = set()  # query numbers after which the worker dies (İYS was asked)
        real = IysClient.get_multiple_status
        test = self

        def spy(client, recipient_type, type_, recipients, brand_code=None, strict=False):
            number = len(test.asked) + len(test.refused_queries) + 1
            if number in test.fail_on:
                test.refused_queries.append(list(recipients))
                raise test.fail_on[number]
            result = real(client, recipient_type, type_, recipients, brand_code=brand_code, strict=strict)
            test.asked.append(list(recipients))
            if number in test.kill_after:
                raise WorkerKilled
            return result

        self.refused_queries = []
        stack = ExitStack()
        self.addCleanup(stack.close)
        stack.enter_context(patch.object(IysClient, "get_multiple_status", spy))
        stack.enter_context(patch.object(iys_query_run, "CHUNK_SIZE", CHUNK))
        # each call of the scheduled action works on one chunk only (then hands back)
        stack.enter_context(patch.object(iys_query_run, "CRON_TIME_BUDGET", 0))

    # helpers -----------------------------------------------------------------------------------
    def build_ledger(self):
        """Ten e-mail addresses and five phone numbers: confirmed ONAY on both sides, three refused by
        the citizen on İYS since, one confirmed in Odoo but unknown to İYS, one not yet sent."""
        mails = [f"m{i:02d}@example.com" for i in range(10)]
        phones = [f"+9053211700{i:02d}" for i in range(5)]
        for mail in mails:
            self.record(mail, channel="EPOSTA")
        for phone in phones:
            self.record(phone)
        self.Outbox._iys_push(brands=self.brand)
        self.Outbox._iys_poll(brands=self.brand)
        self.sim.advance_clock(2)
        self.refused = [mails[1], mails[5], phones[3]]
        for address in self.refused:
            self.sim.inject_citizen_change(int(self.brand.code), address, "MESAJ" if address in phones else "EPOSTA",
                                           "RET", consent_date=fields.Datetime.now() - timedelta(minutes=2))
        self.absent = "absent@example.com"
        self.Consent._iys_record_movements([{
            "brand_id": self.brand.id, "channel": "EPOSTA", "address": self.absent, "status": "ONAY",
            "source": "IYS_WEB", "consent_date": fields.Datetime.now() - timedelta(days=1),
            "transaction_id": "f" * 64,
        }], "iys_query")
        self.pending = "+905321170099"
        self.record(self.pending)  # ONAY not sent yet: İYS not listing it is no difference
        self.ledger = self.Consent.search([("brand_id", "=", self.brand.id)])
        self.assertEqual(len(self.ledger), 17)

    def wizard(self, model=None, ids=None, **vals):
        context = {"active_model": model, "active_ids": ids} if model else {}
        vals.setdefault("brand_ids", [(6, 0, self.brand.ids)])
        vals.setdefault("mode", "query")
        return self.env["iys.sync.wizard"].with_user(self.iys_manager).with_context(**context).create(vals)

    def start_run(self, fetch_details=False):
        wiz = self.wizard(fetch_details=fetch_details)
        self.assertEqual(wiz.scope, "all")
        action = wiz.action_run()
        self.assertEqual(len(wiz.query_run_ids), 1)
        return wiz.query_run_ids.sudo(), action

    def work(self, max_calls=50):
        """Call the scheduled action until nothing is left; the number of calls that did work."""
        calls = 0
        for _i in range(max_calls):
            if not self.Run._cron_run_queries():
                return calls
            calls += 1
        self.fail("the status query never ends")

    def results(self, run):
        return {(line.address, line.channel, line.odoo_status, line.iys_status, line.note, line.outcome)
                for line in run.line_ids}

    # tests -------------------------------------------------------------------------------------
    def test_wizard_queues_the_whole_ledger_instead_of_asking_in_the_request(self):
        self.build_ledger()
        wiz = self.wizard()
        preview = wiz.action_preview()
        self.assertEqual(preview["res_id"], wiz.id)
        self.assertIn("<td>11</td>", wiz.preview_html, "e-mail addresses counted by one grouped query")
        self.assertIn("background", wiz.preview_html)
        self.env["ir.cron.trigger"].search([("cron_id", "=", self.cron.id)]).unlink()
        action = wiz.action_run()
        self.assertFalse(self.asked, "nothing is asked during the click")
        run = wiz.query_run_ids
        self.assertEqual((run.state, run.total_count, run.asked_count, run.user_id),
                         ("queued", 17, 0, self.iys_manager))
        self.assertTrue(self.env["ir.cron.trigger"].search([("cron_id", "=", self.cron.id)]),
                        "the background worker is woken up")
        params = action["params"]
        self.assertIn("started in the background", params["message"])
        self.assertEqual(params["links"][0]["url"], f"/odoo/action-l10n_tr_iys.action_iys_query_run/{run.id}")
        self.assertEqual(params["message"].count("%s"), len(params["links"]))
        self.assertEqual(wiz.state, "done")
        opened = wiz.action_open_query_runs()
        self.assertEqual((opened["res_model"], opened["res_id"]), ("iys.query.run", run.id))

    def test_large_selection_goes_to_the_background_small_one_stays_in_the_click(self):
        self.build_ledger()
        self.env["ir.config_parameter"].sudo().set_param("l10n_tr_iys.query_sync_max", 5)
        small = self.wizard("iys.consent", self.ledger[:5].ids)
        small.action_run()
        self.assertFalse(small.query_run_ids)
        self.assertEqual(small.unchanged_count + small.difference_count, 5, "asked in the click")
        self.asked.clear()
        large = self.wizard("iys.consent", self.ledger[:6].ids)
        large.action_run()
        self.assertFalse(self.asked)
        run = large.query_run_ids.sudo()
        self.assertEqual((run.scope, run.total_count), ("consents", 6))
        self.work()
        self.assertEqual((run.state, run.asked_count), ("done", 6))

    def test_whole_ledger_across_calls_gives_the_immediate_result(self):
        self.build_ledger()
        # the immediate mode, on the same addresses (a selection under the threshold)
        wiz = self.wizard("iys.consent", self.ledger.ids)
        wiz.action_run()
        self.assertFalse(wiz.query_run_ids)
        self.assertEqual((wiz.unchanged_count, wiz.difference_count), (13, 4))
        run, _action = self.start_run()
        self.asked.clear()
        notified = []
        cron_model = type(self.env["ir.cron"])
        with patch.object(cron_model, "_notify_progress", lambda cron, **kw: notified.append(kw)):
            first = self.Run.with_context(cron_id=self.cron.id)._cron_run_queries()
        self.assertEqual(first, CHUNK)
        self.assertEqual((run.state, run.asked_count), ("running", CHUNK))
        self.assertEqual(notified, [{"done": CHUNK, "remaining": 17 - CHUNK}])
        self.assertAlmostEqual(run.progress, 100.0 * CHUNK / 17)
        calls = 1 + self.work()
        # one chunk per call: ceil(11/3) e-mail chunks and ceil(6/3) phone chunks
        self.assertEqual(calls, 6)
        self.assertEqual((run.state, run.progress), ("done", 100.0))
        self.assertEqual(sorted(sum(self.asked, [])), sorted(self.ledger.mapped("address")),
                         "each address asked once")
        self.assertEqual((run.asked_count, run.unchanged_count, run.difference_count, run.applied_count,
                          run.error_count), (17, 13, 4, 0, 0))
        # the same lines as the immediate mode's result table
        for line in run.line_ids:
            self.assertIn(f"<td>{line.address}</td>", wiz.result_html)
            self.assertIn(f"<td>{line.note}</td>", wiz.result_html)
        self.assertEqual(set(run.line_ids.mapped("address")), {*self.refused, self.absent})
        self.assertEqual(set(run.line_ids.mapped("outcome")), {"difference"})
        self.assertEqual(run.line_ids.consent_id, self.ledger.filtered(lambda c: c.address in {*self.refused,
                                                                                              self.absent}))
        # the one who started it is told, with the counts
        message = run.message_ids.filtered(lambda m: self.iys_manager.partner_id in m.partner_ids)
        self.assertEqual(len(message), 1)
        self.assertIn("finished", message.body)
        self.assertIn("<li>Differences: 4</li>", message.body)
        self.assertFalse(self.Run._cron_run_queries(), "nothing left")

    def test_resumes_after_a_crash_without_asking_again_what_was_committed(self):
        self.build_ledger()
        run, _action = self.start_run()
        self.Run._cron_run_queries()
        self.Run._cron_run_queries()
        committed = sum(self.asked, [])
        self.assertEqual((len(committed), run.asked_count), (2 * CHUNK, 2 * CHUNK))
        # the third query reaches İYS, then the worker dies before its commit
        self.kill_after = {3}
        with suppress(WorkerKilled), self.env.cr.savepoint():
            self.Run._cron_run_queries()
        self.env.invalidate_all()
        lost = self.asked[2]
        self.assertEqual(run.asked_count, 2 * CHUNK, "the chunk in progress is lost, not half-recorded")
        self.kill_after = set()
        self.work()
        self.assertEqual(run.state, "done")
        after = sum(self.asked[3:], [])
        self.assertFalse(set(committed) & set(after), "nothing committed is asked again")
        self.assertEqual(self.asked[3], lost, "the lost chunk is asked again")
        self.assertEqual(sorted(committed + after), sorted(self.ledger.mapped("address")))
        self.assertEqual((run.asked_count, run.unchanged_count, run.difference_count), (17, 13, 4))
        self.assertEqual(len(run.line_ids), 4, "no line recorded twice")

    def test_differences_looked_up_and_applied(self):
        self.build_ledger()
        run, _action = self.start_run(fetch_details=True)
        self.assertTrue(run.fetch_details)
        self.work()
        self.assertEqual((run.state, run.difference_count, run.applied_count, run.lookup_count), ("done", 4, 3, 4))
        for address in self.refused:
            consent = self.ledger.filtered(lambda c, a=address: c.address == a)
            self.assertEqual((consent.status, consent.sync_state), ("RET", "confirmed"))
            self.assertEqual(self.env["iys.consent.event"].search([("consent_id", "=", consent.id)], limit=1).origin,
                             "iys_query")
        applied = run.line_ids.filtered(lambda line: line.outcome == "applied")
        self.assertEqual(set(applied.mapped("address")), set(self.refused))
        self.assertEqual(set(applied.mapped("note")), {"İYS holds RET: applied"})
        absent = run.line_ids.filtered(lambda line: line.address == self.absent)
        self.assertEqual((absent.outcome, absent.note),
                         ("checked", "İYS has no record of this address: left unchanged"))
        self.assertEqual(self.ledger.filtered(lambda c: c.address == self.absent).status, "ONAY",
                         "no refusal is invented")
        # the smart buttons open the lines they count
        for outcome, count in (("differences", 4), ("applied", 3)):
            action = run.with_context(iys_outcome=outcome).action_view_lines()
            self.assertEqual(self.env["iys.query.run.line"].search_count(action["domain"]), count)

    def test_a_refused_chunk_is_recorded_and_the_others_finish(self):
        self.build_ledger()
        run, _action = self.start_run()
        self.fail_on = {2: IysApiError("Sorgu isteği geçersiz.", code="H097", http_status=400)}
        self.work()
        self.assertEqual(run.state, "done")
        refused = self.refused_queries[0]
        self.assertEqual(len(refused), CHUNK)
        errors = run.line_ids.filtered(lambda line: line.outcome == "error")
        self.assertEqual(sorted(errors.mapped("address")), sorted(refused))
        self.assertTrue(all(note.startswith("H097") for note in errors.mapped("note")))
        self.assertEqual(run.error_count, CHUNK)
        self.assertEqual(run.asked_count, 17)
        self.assertEqual(run.unchanged_count + run.difference_count, 17 - CHUNK, "every other chunk answered")
        self.assertTrue(run.message_ids.filtered(lambda m: "H097" in m.body and "goes on" in m.body))
        action = run.with_context(iys_outcome="error").action_view_lines()
        self.assertEqual(self.env["iys.query.run.line"].search_count(action["domain"]), CHUNK)

    def test_transient_errors_pause_the_run_and_it_goes_on(self):
        self.build_ledger()
        run, _action = self.start_run()
        self.Run._cron_run_queries()
        # İYS fails four times in a row (the client's own three retries included)
        self.sim.inject_fault("500", count=4, path_prefix="/sps", method="POST")
        self.assertEqual(self.Run._cron_run_queries(), 0)
        self.assertEqual((run.state, run.asked_count, run.retry_count), ("running", CHUNK, 1))
        self.assertGreater(run.next_try_at, fields.Datetime.now())
        self.assertEqual(self.Run._cron_run_queries(), 0, "paused: not asked again before its time")
        self.assertEqual(run.asked_count, CHUNK)
        run.write({"next_try_at": fields.Datetime.now() - timedelta(seconds=1)})
        self.work()
        self.assertEqual((run.state, run.asked_count, run.error_count, run.retry_count), ("done", 17, 0, 0))

    def test_rate_limit_pauses_without_spinning(self):
        self.build_ledger()
        run, _action = self.start_run()
        self.fail_on = {1: IysRateLimitError("Saniyede kabul edilen istek limitine ulaşıldı.", code="H083",
                                             http_status=429, retry_after=30)}
        self.assertEqual(self.Run._cron_run_queries(), 0)
        self.assertEqual((run.state, run.asked_count, run.error_count), ("running", 0, 0))
        self.assertGreater(run.next_try_at, fields.Datetime.now() + timedelta(seconds=20))
        self.assertIn("Paused until", run.message)
        self.assertEqual(len(self.refused_queries), 1, "one attempt per call, no loop")

    def test_account_error_stops_the_run_and_tells_its_creator(self):
        self.build_ledger()
        run, _action = self.start_run()
        self.Run._cron_run_queries()
        self.fail_on = {2: IysAuthError("Kullanıcı adı veya şifre hatalı.", http_status=401)}
        self.Run._cron_run_queries()
        self.assertEqual((run.state, run.asked_count, run.error_count), ("failed", CHUNK, 0),
                         "no chunk is recorded as refused for an account-level error")
        self.assertTrue(run.message)
        told = run.message_ids.filtered(lambda m: self.iys_manager.partner_id in m.partner_ids)
        self.assertEqual(len(told), 1)
        self.assertIn("stopped after 3 of 17 addresses", told.body)
        self.assertEqual(self.Run._cron_run_queries(), 0)
        self.assertEqual(len(self.refused_queries), 1)

    def test_cancel(self):
        self.build_ledger()
        run, _action = self.start_run()
        self.Run._cron_run_queries()
        with self.assertRaises(AccessError):
            run.with_user(self.iys_user).action_cancel()
        self.assertEqual(run.state, "running")
        run.with_user(self.iys_manager).action_cancel()
        self.assertEqual(run.state, "cancelled")
        self.assertTrue(run.date_finished)
        asked = len(self.asked)
        self.assertEqual(self.Run._cron_run_queries(), 0)
        self.assertEqual(len(self.asked), asked, "a cancelled run asks nothing more")
        self.assertEqual(run.asked_count, CHUNK)

    def test_access(self):
        self.build_ledger()
        run, _action = self.start_run()
        self.work()
        # an İYS user reads runs and their results, and can neither start, change nor cancel one
        as_user = run.with_user(self.iys_user)
        self.assertEqual(as_user.difference_count, 4)
        self.assertEqual(len(as_user.line_ids), 4)
        with self.assertRaises(AccessError):
            self.Run.with_user(self.iys_user)._iys_create_runs(self.brand, "all", False)
        with self.assertRaises(AccessError):
            as_user.write({"difference_count": 0})
        with self.assertRaises(AccessError):
            self.Run.with_user(self.iys_user).create({"company_id": self.env.company.id})
        with self.assertRaises(AccessError):
            self.Run.with_user(self.iys_manager).create({"company_id": self.env.company.id})
        with self.assertRaises(AccessError):
            run.line_ids[:1].with_user(self.iys_manager).write({"note": "forged"})
        # another company's run is invisible
        other = self.env["res.company"].create({"name": "Other İYS company"})
        foreign = self.Run.sudo().create({"company_id": other.id, "total_count": 1})
        self.env["iys.query.run.line"].sudo().create({
            "run_id": foreign.id, "address": "x@example.com", "brand_id": self.brand.id, "channel": "EPOSTA",
            "recipient_type": "BIREYSEL", "outcome": "difference"})
        for user in (self.iys_user, self.iys_manager):
            self.assertEqual(self.Run.with_user(user).search([]), run.with_user(user))
            self.assertNotIn(foreign.line_ids.id, self.env["iys.query.run.line"].with_user(user).search([]).ids)
            with self.assertRaises(AccessError):
                foreign.with_user(user).read(["state"])

    def test_panel_section(self):
        self.build_ledger()
        self.assertIsNone(self.Run._iys_panel_section(self.brand))
        run, _action = self.start_run()
        self.Run._cron_run_queries()
        section = self.Run.with_user(self.iys_user)._iys_panel_section(self.brand)
        cards = {card["key"]: card for card in section["cards"]}
        active = cards["query_runs_active"]
        self.assertEqual(active["value"], 1)
        self.assertEqual(self.Run.search_count(active["action"]["domain"]), 1)
        self.assertEqual(section["rows"][0]["action"]["res_id"], run.id)
        self.assertIn(f"{int(run.progress)} %", section["rows"][0]["cells"])
        self.work()
        section = self.Run._iys_panel_section(self.brand)
        cards = {card["key"]: card for card in section["cards"]}
        self.assertEqual(cards["query_runs_active"]["value"], 0)
        differences = cards["query_run_differences"]
        self.assertEqual((differences["value"], differences["level"]), (4, "warning"))
        self.assertEqual(self.env["iys.query.run.line"].search_count(differences["action"]["domain"]), 4)
        self.assertIsNone(self.Run._iys_panel_section(self.brand_b), "nothing for a brand it did not ask about")
