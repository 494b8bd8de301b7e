# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
"""Daily reconciliation (mutabakat) with İYS (reference §3.15).

For each brand and Turkish calendar day, İYS publishes a summary, a CSV of the day's movements and
the file's SHA-384; the service provider checks the file against its own records and records its
agreement within 7 days. :class:`IysReconciliation` does this:

1. fetch the agreement info (``processStatus``, ``hashValue``), the file (its exact bytes), the
   summary and the timestamp, and keep them as evidence (attachments and fields);
2. check the SHA-384 of the file's bytes against İYS's ``hashValue`` (a mismatch stops here);
3. compare the file with the event log movement by movement in SQL (the file is loaded into a
   temporary table with COPY): transaction id, address, channel, recipient type, status, dates;
4. apply the movements only İYS has to the ledger the way the pull does (origin
   ``reconciliation``): never inventing anything, in particular never a refusal;
5. record the agreement on İYS when nothing is left unexplained, or once an İYS manager accepted the
   differences with a reason.
"""
import csv
import datetime
import hashlib
import io
import json
import logging
from collections import defaultdict

from markupsafe import Markup

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import SQL

from ..iyslib import dates
from ..iyslib.client import ConsentRecord
from ..iyslib.const import REPORT_MAX_AGE_DAYS
from ..iyslib.errors import IysError
from .iys_sync_common import commit, error_code_and_text

_logger = logging.getLogger(__name__)

STATE_SELECTION = [
    ("new", "To fetch"),
    ("waiting", "İYS is preparing the file"),
    ("empty", "No movement"),
    ("differences", "Differences"),
    ("agreed", "Agreed, to record on İYS"),
    ("confirmed", "Agreement recorded on İYS"),
    ("accepted", "Differences accepted, agreement recorded"),
    ("error", "Error"),
]
#: states with nothing left to do
DONE_STATES = ("empty", "confirmed", "accepted")
#: states the scheduled action works on (``differences`` waits for a manager)
TODO_STATES = ("new", "waiting", "agreed", "error")
#: the columns of İYS's daily file -> the temporary table's
FILE_COLUMNS = {
    "creationDate": "creation_date", "transactionId": "transaction_id", "recipient": "recipient",
    "recipientType": "recipient_type", "type": "channel", "status": "status", "consentDate": "consent_date",
    "source": "source",
}
REQUIRED_COLUMNS = ("creationDate", "transactionId", "recipient", "type", "status")
#: İYS's date format, strictly (a row with another spelling is listed as unreadable, not cast)
DATE_RE = r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01]) ([01]\d|2[0-3]):[0-5]\d:[0-5]\d$"
#: movements only İYS has are handed to the ledger in chunks of this size
APPLY_CHUNK = 1000
#: days one call of the scheduled action reconciles (the framework calls again while some are left)
DAYS_PER_CALL = 3
#: when the scheduled action tries a day again (İYS still preparing it, or a failure)
RETRY_DELAY = {"waiting": datetime.timedelta(hours=1), "agreed": datetime.timedelta(hours=1),
               "error": datetime.timedelta(hours=6)}


def turkish_today(now=None):
    """Today's date in Turkey (İYS's calendar) for *now* (naive UTC, default: now)."""
    return dates.to_local(now or fields.Datetime.now()).date()


def day_bounds(day):
    """The Turkish calendar *day* as naive-UTC ``[start, end)``."""
    start = dates.from_local(datetime.datetime.combine(day, datetime.time()))
    return start, start + datetime.timedelta(days=1)


class IysReconciliation(models.Model):
    _name = "iys.reconciliation"
    _description = "İYS Daily Reconciliation"
    _inherit = ["mail.thread"]
    _order = "report_date desc, brand_id"

    brand_id = fields.Many2one("iys.brand", required=True, ondelete="restrict", index=True, readonly=True)
    account_id = fields.Many2one(related="brand_id.account_id", store=True, index=True)
    company_id = fields.Many2one(related="brand_id.company_id", store=True, index=True)
    report_date = fields.Date(
        "Day", required=True, index=True, readonly=True,
        help="The day of İYS's movement file: a calendar day in Turkey (Europe/Istanbul).",
    )
    state = fields.Selection(STATE_SELECTION, required=True, default="new", index=True, readonly=True,
                             tracking=True)
    # İYS's evidence ---------------------------------------------------------------------------
    process_status = fields.Char("İYS's preparation status", readonly=True,
                                 help="processStatus of İYS's agreement info: queued, inprogress, completed or error.")
    summary_json = fields.Text("İYS's summary (raw)", readonly=True)
    summary_html = fields.Html("İYS's summary", compute="_compute_summary_html", sanitize=False)
    file_attachment_id = fields.Many2one("ir.attachment", string="Movement file", readonly=True)
    timestamp_attachment_id = fields.Many2one("ir.attachment", string="Timestamp (.tsr)", readonly=True)
    hash_value = fields.Char("Hash on İYS", readonly=True)
    hash_method = fields.Char(readonly=True)
    hash_computed = fields.Char("Hash of the file", readonly=True)
    hash_match = fields.Boolean("Hashes match", readonly=True)
    fetched_on = fields.Datetime(readonly=True)
    next_attempt_on = fields.Datetime("Next attempt", readonly=True, copy=False,
                                      help="When the scheduled action tries this day again.")
    # Comparison -------------------------------------------------------------------------------
    iys_movement_count = fields.Integer("Movements on İYS", readonly=True)
    matched_count = fields.Integer("Matched", readonly=True)
    iys_only_count = fields.Integer("On İYS, not in Odoo", readonly=True)
    odoo_only_count = fields.Integer("Confirmed in Odoo, not on İYS", readonly=True)
    status_diff_count = fields.Integer("Different status", readonly=True)
    date_diff_count = fields.Integer("Different date", readonly=True)
    recipient_diff_count = fields.Integer("Different address, channel or type", readonly=True)
    invalid_count = fields.Integer("Unreadable rows", readonly=True)
    applied_count = fields.Integer("Applied from İYS", readonly=True)
    explained_count = fields.Integer("Explained", readonly=True)
    difference_count = fields.Integer("Differences", readonly=True, index=True)
    unexplained_count = fields.Integer("Left to explain", readonly=True)
    line_ids = fields.One2many("iys.reconciliation.line", "reconciliation_id", string="Difference lines",
                               readonly=True)
    # Agreement --------------------------------------------------------------------------------
    accept_required = fields.Boolean("Acceptance required", compute="_compute_accept_required")
    accepted_by_id = fields.Many2one("res.users", string="Accepted by", readonly=True)
    accepted_on = fields.Datetime(readonly=True)
    accept_reason = fields.Text("Reason for accepting", readonly=True)
    agreement_recorded_on = fields.Datetime("Agreement recorded on", readonly=True)
    agreement_answer = fields.Char("İYS's answer", readonly=True)
    error_message = fields.Text(readonly=True)

    _sql_constraints = [
        ("brand_day_uniq", "unique(brand_id, report_date)", "A brand is reconciled once per day."),
    ]

    def init(self):
        # "Confirmed in Odoo, not on İYS" reads the events İYS recorded on one day for one brand
        self.env.cr.execute(SQL(
            "CREATE INDEX IF NOT EXISTS iys_consent_event_brand_iys_creation_idx "
            "ON iys_consent_event (brand_id, iys_creation_date) WHERE transaction_id IS NOT NULL"
        ))

    @api.depends("brand_id", "report_date")
    def _compute_display_name(self):
        for rec in self:
            day = rec.report_date and fields.Date.to_string(rec.report_date) or ""
            rec.display_name = f"{rec.brand_id.display_name or ''} {day}".strip()

    @api.depends("state", "unexplained_count")
    def _compute_accept_required(self):
        for rec in self:
            rec.accept_required = rec.state == "differences" and rec.unexplained_count > 0

    @api.depends("summary_json")
    def _compute_summary_html(self):
        channels = dict(self.env["iys.consent"]._fields["channel"]._description_selection(self.env))
        for rec in self:
            try:
                data = json.loads(rec.summary_json) if rec.summary_json else {}
            except ValueError:
                data = {}
            rows = []
            for rtype, stats in sorted(data.items()):
                for stat in stats or []:
                    for consents in stat.get("consents") or []:
                        rows.append(Markup(
                            "<tr><td>%s</td><td>%s</td><td>%s</td><td class='text-end'>%s</td>"
                            "<td class='text-end'>%s</td><td class='text-end'>%s</td><td class='text-end'>%s</td></tr>"
                        ) % (rtype, channels.get(stat.get("type"), stat.get("type")), consents.get("source"),
                             consents.get("approval", 0), consents.get("rejection", 0), consents.get("pending", 0),
                             consents.get("total", 0)))
            if not rows:
                rec.summary_html = False
                continue
            head = Markup("<thead><tr><th>%s</th><th>%s</th><th>%s</th><th class='text-end'>%s</th>"
                          "<th class='text-end'>%s</th><th class='text-end'>%s</th><th class='text-end'>%s</th>"
                          "</tr></thead>") % (
                self.env._("Recipient type"), self.env._("Channel"), self.env._("Recorded by (HS: us, IYS: citizen)"),
                self.env._("Consents (ONAY)"), self.env._("Refusals (RET)"), self.env._("Pending"),
                self.env._("Total"))
            table = Markup("<table class='table table-sm o_iys_recon_summary'>%s<tbody>%s</tbody></table>")
            rec.summary_html = table % (head, Markup("").join(rows))

    # ------------------------------------------------------------------------------------------
    # Days
    # ------------------------------------------------------------------------------------------
    @api.model
    def _iys_check_day(self, day, now=None):
        """Raise a clear UserError when İYS cannot reconcile *day* (a date) now."""
        today = turkish_today(now)
        if day >= today:
            raise UserError(self.env._(
                "İYS publishes a day's movement file once the day is over (Turkish time): %(day)s cannot be "
                "reconciled yet. Choose yesterday (%(yesterday)s) or an earlier day.",
                day=day, yesterday=today - datetime.timedelta(days=1)))
        if (today - day).days > REPORT_MAX_AGE_DAYS:
            raise UserError(self.env._(
                "İYS keeps a day's movement file for %(max)s days only (H502): %(day)s is too old. The oldest "
                "day it can reconcile today is %(oldest)s.",
                max=REPORT_MAX_AGE_DAYS, day=day, oldest=today - datetime.timedelta(days=REPORT_MAX_AGE_DAYS)))

    @api.model
    def _iys_ensure_days(self, brands, days):
        """The reconciliation records of *brands* for *days* (created when missing; two workers
        creating the same day at once get the same row)."""
        if not brands or not days:
            return self.browse()
        now = fields.Datetime.now()
        uid = self.env.uid
        values = [SQL("(%s, %s, %s, %s, 'new', %s, %s, %s, %s)", brand.id, brand.account_id.id, brand.company_id.id,
                      day, uid, now, uid, now)
                  for brand in brands for day in days]
        self.env.flush_all()
        self.env.cr.execute(SQL(
            "INSERT INTO iys_reconciliation (brand_id, account_id, company_id, report_date, state, create_uid, "
            "create_date, write_uid, write_date) VALUES %s ON CONFLICT (brand_id, report_date) DO NOTHING",
            SQL(", ").join(values)))
        return self.sudo().search([("brand_id", "in", brands.ids), ("report_date", "in", list(days))])

    @api.model
    def _iys_lock(self, ids):
        """Lock these records (``FOR UPDATE SKIP LOCKED``): the ids nobody else is reconciling."""
        if not ids:
            return []
        return self.env["iys.outbox"]._iys_lock_rows(SQL(
            "SELECT id FROM iys_reconciliation WHERE id IN %s ORDER BY report_date, id FOR UPDATE SKIP LOCKED",
            tuple(ids)))

    # ------------------------------------------------------------------------------------------
    # Scheduled action
    # ------------------------------------------------------------------------------------------
    @api.model
    def _cron_iys_reconcile(self, now=None, days_per_call=DAYS_PER_CALL):
        """İYS: reconcile yesterday and the days of the last 7 not reconciled yet, for every active
        brand; a bounded number of days per call, one commit per day, never the same day in two workers."""
        now = now or fields.Datetime.now()
        today = turkish_today(now)
        days = [today - datetime.timedelta(days=k) for k in range(1, REPORT_MAX_AGE_DAYS + 1)]
        brands = self.env["iys.brand"]._iys_pull_brands()
        self._iys_ensure_days(brands, days)
        commit(self.env)
        done = 0
        tried = set()
        while done < days_per_call:
            todo = self._iys_due(brands, days, now, exclude=tried)
            if not todo:
                break
            locked = self._iys_lock(todo[:1])
            tried.add(todo[0])
            if not locked:
                continue
            rec = self.sudo().browse(locked[0])
            try:
                with self.env.cr.savepoint():
                    if rec.state == "differences" and rec.accepted_by_id:
                        rec._iys_record_agreement(now)   # accepted, but İYS did not take the agreement yet
                    else:
                        rec._iys_reconcile(now=now)
            except Exception:  # one day's failure must not stop the other days
                _logger.exception("İYS reconciliation %s failed", locked[0])
                self.env.invalidate_all()
                rec.write({"state": "error", "next_attempt_on": now + RETRY_DELAY["error"],
                           "error_message": self.env._("Unexpected error; see the server log.")})
            commit(self.env)
            done += 1
        remaining = len(self._iys_due(brands, days, now, exclude=tried))
        self.env["ir.cron"]._notify_progress(done=done, remaining=remaining)
        waiting = self.sudo().search_count([("state", "in", ("waiting", "agreed")), ("report_date", "in", days)])
        if waiting and not remaining:
            cron = self.env.ref("l10n_tr_iys.ir_cron_iys_reconcile", raise_if_not_found=False)
            if cron:
                cron.sudo()._trigger(now + RETRY_DELAY["waiting"])
        return done

    @api.model
    def _iys_due(self, brands, days, now, exclude=()):
        """Ids of the days the scheduled action should work on now (oldest first)."""
        if not brands:
            return []
        domain = [("brand_id", "in", brands.ids), ("report_date", "in", list(days)),
                  "|", ("state", "in", TODO_STATES),
                  "&", ("state", "=", "differences"), ("accepted_by_id", "!=", False),
                  "|", ("next_attempt_on", "=", False), ("next_attempt_on", "<=", now)]
        if exclude:
            domain.append(("id", "not in", list(exclude)))
        return self.sudo().search(domain, order="report_date, id").ids

    # ------------------------------------------------------------------------------------------
    # Buttons
    # ------------------------------------------------------------------------------------------
    def _iys_check_manager(self):
        if not (self.env.su or self.env.user.has_group("l10n_tr_iys.group_iys_manager")):
            raise AccessError(self.env._("Only İYS managers may reconcile with İYS or record the agreement."))

    def action_iys_reconcile(self):
        """Fetch and compare again (İYS managers; not once the agreement is recorded)."""
        self._iys_check_manager()
        self.check_access("read")
        for rec in self:
            if rec.state in ("confirmed", "accepted"):
                raise UserError(self.env._("The agreement of %(name)s is already recorded on İYS.",
                                           name=rec.display_name))
            self._iys_check_day(rec.report_date)
        locked = self._iys_lock(self.ids)
        if len(locked) != len(self):
            raise UserError(self.env._("This day is being reconciled by the scheduled action; try again in a "
                                       "moment."))
        for rec in self.sudo():
            rec._iys_reconcile()
        return True

    def action_iys_open_accept(self):
        self._iys_check_manager()
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "res_model": "iys.reconciliation.accept",
            "name": self.env._("Accept the differences"),
            "view_mode": "form",
            "target": "new",
            "context": {"default_reconciliation_id": self.id},
        }

    def action_iys_download_file(self):
        self.ensure_one()
        return self._iys_download(self.file_attachment_id)

    def action_iys_download_timestamp(self):
        self.ensure_one()
        return self._iys_download(self.timestamp_attachment_id)

    def _iys_download(self, attachment):
        if not attachment:
            raise UserError(self.env._("İYS sent no such file for this day."))
        return {"type": "ir.actions.act_url", "url": f"/web/content/{attachment.id}?download=true"}

    def action_iys_open_lines(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "res_model": "iys.reconciliation.line",
            "name": self.env._("Differences of %(name)s", name=self.display_name),
            "views": [[False, "list"], [False, "form"]],
            "domain": [("reconciliation_id", "=", self.id)],
            "context": {"search_default_unexplained": 1},
        }

    def _iys_accept(self, reason):
        """A manager accepts the differences left with *reason*; the agreement is then recorded."""
        self._iys_check_manager()
        self.ensure_one()
        self.check_access("read")
        reason = (reason or "").strip()
        if not reason:
            raise UserError(self.env._("Say why the differences may be accepted: the reason is kept as evidence."))
        if self.state != "differences":
            raise UserError(self.env._("Only a day with differences can be accepted (%(name)s is “%(state)s”).",
                                       name=self.display_name,
                                       state=dict(self._fields["state"]._description_selection(self.env))[self.state]))
        rec = self.sudo()
        rec.write({"accepted_by_id": self.env.uid, "accepted_on": fields.Datetime.now(), "accept_reason": reason})
        rec.message_post(body=Markup("%s<br/>%s") % (
            self.env._("%(user)s accepted the %(count)s difference(s) left to explain.", user=self.env.user.name,
                       count=rec.unexplained_count),
            reason), author_id=self.env.user.partner_id.id)
        rec._iys_record_agreement()
        return True

    # ------------------------------------------------------------------------------------------
    # The reconciliation itself
    # ------------------------------------------------------------------------------------------
    def _iys_reset(self):
        self.env.flush_all()
        self.env.cr.execute(SQL("DELETE FROM iys_reconciliation_line WHERE reconciliation_id IN %s", tuple(self.ids)))
        self.env["iys.reconciliation.line"].invalidate_model()
        self.invalidate_recordset(["line_ids"])
        self.write({
            "iys_movement_count": 0, "matched_count": 0, "iys_only_count": 0, "odoo_only_count": 0,
            "status_diff_count": 0, "date_diff_count": 0, "recipient_diff_count": 0, "invalid_count": 0,
            "applied_count": 0, "explained_count": 0, "difference_count": 0, "unexplained_count": 0,
            "error_message": False, "accepted_by_id": False, "accepted_on": False, "accept_reason": False,
        })

    def _iys_fail(self, text, now, state="error"):
        self.write({"state": state, "error_message": text, "next_attempt_on": now + RETRY_DELAY[state]})
        self.message_post(body=text)

    def _iys_reconcile(self, now=None):
        """Reconcile this day with İYS (the record is locked by the caller). Never raises for İYS's
        answers: the state and the error message say what happened."""
        self.ensure_one()
        now = now or fields.Datetime.now()
        if self.state == "agreed":          # compared already: only the agreement is left to record
            self._iys_record_agreement(now)
            return
        brand = self.brand_id
        try:
            client = brand.account_id._iys_client(brand)
        except UserError as exc:
            self._iys_fail(exc.args[0], now)
            return
        lang = brand.account_id._iys_lang()
        self._iys_reset()
        try:
            self._iys_fetch_and_compare(client, now, lang)
        except UserError as exc:
            self._iys_fail(exc.args[0], now)
            return
        except IysError as exc:
            code, text = error_code_and_text(exc, lang)
            if code == "H502":
                text = self.env._("%(text)s İYS keeps a day's file for %(max)s days only.", text=text,
                                  max=REPORT_MAX_AGE_DAYS)
            self._iys_fail(f"{code}: {text}" if code else text, now)
            return
        finally:
            client.token_store.release()

    def _iys_fetch_and_compare(self, client, now, lang):
        brand_code = int(self.brand_id.code)
        day = self.report_date
        agreement = client.get_agreement(day, brand_code)
        vals = {"fetched_on": now, "next_attempt_on": False}
        if agreement is None:
            content, _rows = client.get_change_file(day, brand_code, parse=False)
            if not content:
                self.write({**vals, "state": "empty", "process_status": False})
                self.message_post(body=self.env._("İYS recorded no movement of this brand on this day: nothing "
                                                  "to reconcile."))
                return
            agreement = {}
        status = agreement.get("processStatus") or False
        vals["process_status"] = status
        if status in ("queued", "inprogress"):
            self.write(vals)
            self._iys_fail(self.env._("İYS is still preparing this day's file (%(status)s); it is fetched again "
                                      "later.", status=status), now, state="waiting")
            return
        if status == "error":
            self.write(vals)
            self._iys_fail(self.env._("İYS could not prepare this day's file (processStatus “error”). It is "
                                      "tried again later; ask İYS's support if it persists."), now)
            return
        content, _rows = client.get_change_file(day, brand_code, parse=False)
        summary = {rtype: client.get_change_summary(day, rtype, brand_code).get("changeStats") or []
                   for rtype in ("BIREYSEL", "TACIR")}
        timestamp = client.get_agreement_timestamp(day, brand_code)
        expected = str(agreement.get("hashValue") or "").strip().lower()
        computed = hashlib.sha384(content).hexdigest()
        vals.update({
            "hash_value": agreement.get("hashValue") or False,
            "hash_method": agreement.get("hashMethod") or False,
            "hash_computed": computed,
            "hash_match": bool(expected) and computed == expected,
            "summary_json": json.dumps(summary, ensure_ascii=False, sort_keys=True),
            "file_attachment_id": self._iys_attach(f"iys-{brand_code}-{day}.csv", content, "text/csv",
                                                   self.file_attachment_id),
            "timestamp_attachment_id": timestamp and self._iys_attach(
                f"iys-{brand_code}-{day}.tsr", timestamp, "application/timestamp-reply",
                self.timestamp_attachment_id) or False,
        })
        self.write(vals)
        if not content:
            self.write({"state": "empty"})
            return
        if not vals["hash_match"]:
            self._iys_fail(self.env._(
                "The SHA-384 of İYS's file (%(computed)s) does not match the hash İYS published (%(expected)s): "
                "the file may be damaged or incomplete. It is kept as received and nothing is compared or "
                "confirmed; it is fetched again later.",
                computed=computed, expected=expected or self.env._("none")), now)
            return
        self._iys_compare(content)
        self._iys_apply_missing()
        self._iys_count()
        self.message_post(body=self._iys_result_text())
        if self.line_ids.filtered(lambda line: line.resolution == "awaiting"):
            self._iys_fail(self.env._(
                "Some movements of İYS's file are our own and İYS's answer to their batch has not been fetched "
                "yet: the day is compared again later, after that answer."), now, state="waiting")
            return
        if self.unexplained_count:
            self.state = "differences"
            return
        self.state = "agreed"
        self._iys_record_agreement(now)

    def _iys_attach(self, name, content, mimetype, previous):
        if previous:
            previous.sudo().unlink()
        # (iys_no_index: a day's file is not copied as text into index_content; see ir_attachment.py)
        return self.env["ir.attachment"].sudo().with_context(iys_no_index=True).create({
            "name": name, "raw": content, "mimetype": mimetype, "res_model": self._name, "res_id": self.id,
        }).id

    def _iys_record_agreement(self, now=None):
        """PUT the agreement on İYS (only with nothing left to explain, or accepted by a manager)."""
        self.ensure_one()
        now = now or fields.Datetime.now()
        accepted = bool(self.accepted_by_id and self.accept_reason)
        if self.unexplained_count and not accepted:
            raise UserError(self.env._("Differences are left to explain: a manager must accept them first."))
        if not self.hash_match:
            raise UserError(self.env._("The file's hash does not match İYS's: the agreement cannot be recorded."))
        brand = self.brand_id
        try:
            client = brand.account_id._iys_client(brand)
        except UserError as exc:
            self.write({"error_message": exc.args[0], "next_attempt_on": now + RETRY_DELAY["agreed"]})
            return False
        try:
            captured = client.confirm_agreement(self.report_date, int(brand.code))
        except IysError as exc:
            code, text = error_code_and_text(exc, brand.account_id._iys_lang())
            text = f"{code}: {text}" if code else text
            self.write({"error_message": text, "next_attempt_on": now + RETRY_DELAY["agreed"]})
            self.message_post(body=self.env._("İYS did not record the agreement: %(text)s", text=text))
            return False
        finally:
            client.token_store.release()
        if not captured:
            text = self.env._("İYS did not confirm that it recorded the agreement (no agreementCaptured); it is "
                              "tried again later.")
            self.write({"error_message": text, "next_attempt_on": now + RETRY_DELAY["agreed"]})
            self.message_post(body=text)
            return False
        self.write({
            "state": "accepted" if accepted else "confirmed",
            "agreement_recorded_on": now, "agreement_answer": "agreementCaptured: true",
            "error_message": False, "next_attempt_on": False,
        })
        self.message_post(body=self.env._("Agreement recorded on İYS (agreementCaptured: true)."))
        return True

    # ------------------------------------------------------------------------------------------
    # Comparison (SQL: a day may hold 100k movements)
    # ------------------------------------------------------------------------------------------
    def _iys_load_file(self, content):
        """Load İYS's CSV into the temporary table ``iys_recon_rows`` (one row per file row, parsed)."""
        cr = self.env.cr
        if content.startswith(b"\xef\xbb\xbf"):
            content = content[3:]
        first_line = content.split(b"\n", 1)[0].decode("utf-8", "replace").strip("\r")
        header = next(csv.reader([first_line]), [])
        missing = [name for name in REQUIRED_COLUMNS if name not in header]
        if missing:
            raise UserError(self.env._("İYS's file has no column %(columns)s: it cannot be compared.",
                                       columns=", ".join(missing)))
        columns = [FILE_COLUMNS.get(name) or f"extra_{i}" for i, name in enumerate(header)]
        cr.execute(SQL("DROP TABLE IF EXISTS iys_recon_raw; DROP TABLE IF EXISTS iys_recon_rows; "
                       "DROP TABLE IF EXISTS iys_recon_match"))
        cr.execute(SQL(
            "CREATE TEMP TABLE iys_recon_raw (line_no bigserial, %s) ON COMMIT DROP",
            SQL(", ").join(SQL("%s varchar", SQL.identifier(col)) for col in columns)))
        for col in set(FILE_COLUMNS.values()) - set(columns):
            cr.execute(SQL("ALTER TABLE iys_recon_raw ADD COLUMN %s varchar", SQL.identifier(col)))
        copy_sql = SQL(
            "COPY iys_recon_raw (%s) FROM STDIN WITH (FORMAT csv, HEADER true, ENCODING 'UTF8')",
            SQL(", ").join(SQL.identifier(col) for col in columns))
        cr.copy_expert(copy_sql.code, io.BytesIO(content))
        cr.execute(SQL(
            r"""
            CREATE TEMP TABLE iys_recon_rows ON COMMIT DROP AS
            SELECT line_no, transaction_id, recipient,
                   COALESCE(NULLIF(recipient_type, ''), 'BIREYSEL') AS recipient_type,
                   channel, status, NULLIF(source, '') AS source, creation_date AS creation_raw,
                   CASE WHEN creation_date ~ %(re)s
                        THEN (creation_date::timestamp AT TIME ZONE 'Europe/Istanbul') AT TIME ZONE 'UTC'
                   END AS created_utc,
                   CASE WHEN consent_date ~ %(re)s
                        THEN (consent_date::timestamp AT TIME ZONE 'Europe/Istanbul') AT TIME ZONE 'UTC'
                   END AS consent_utc,
                   (COALESCE(transaction_id, '') <> '' AND COALESCE(recipient, '') <> ''
                    AND channel IN ('ARAMA', 'MESAJ', 'EPOSTA') AND status IN ('ONAY', 'RET')
                    AND COALESCE(NULLIF(recipient_type, ''), 'BIREYSEL') IN ('BIREYSEL', 'TACIR')
                    AND COALESCE(creation_date, '') ~ %(re)s
                    AND (COALESCE(consent_date, '') = '' OR consent_date ~ %(re)s)) AS valid,
                   concat_ws(',', creation_date, transaction_id, recipient, recipient_type, channel, status,
                             consent_date, source) AS raw_row
              FROM iys_recon_raw
            """, re=DATE_RE))
        cr.execute(SQL("DROP TABLE iys_recon_raw"))
        cr.execute(SQL("CREATE INDEX ON iys_recon_rows (transaction_id)"))
        cr.execute(SQL("ANALYZE iys_recon_rows"))

    def _iys_compare(self, content):
        """Compare İYS's file with the event log and write the difference lines (all in SQL)."""
        self.ensure_one()
        cr = self.env.cr
        self.env.flush_all()
        try:
            with cr.savepoint(flush=False):
                self._iys_load_file(content)
        except UserError:
            raise
        except Exception as exc:  # a malformed CSV (COPY refuses it) must give a clear message
            raise UserError(self.env._("İYS's file cannot be read as CSV (%(error)s).",
                                       error=type(exc).__name__)) from exc
        start, end = day_bounds(self.report_date)
        brand = self.brand_id
        common = {"rec": self.id, "brand": brand.id, "company": brand.company_id.id, "uid": self.env.uid,
                  "now": fields.Datetime.now()}
        cr.execute(SQL(
            """
            CREATE TEMP TABLE iys_recon_match ON COMMIT DROP AS
            SELECT DISTINCT ON (f.line_no) f.line_no, e.id AS event_id, e.consent_id, e.new_status, e.consent_date,
                   e.iys_creation_date, e.address, e.channel, e.recipient_type
              FROM iys_recon_rows f
              JOIN iys_consent_event e ON e.transaction_id = f.transaction_id AND e.brand_id = %(brand)s
             WHERE f.valid
             ORDER BY f.line_no, (e.new_status = f.status) DESC, e.id DESC
            """, **common))
        line_cols = SQL(
            "reconciliation_id, brand_id, company_id, kind, address, channel, recipient_type, transaction_id, "
            "iys_status, iys_consent_date, iys_creation_date, iys_source, iys_row, odoo_status, odoo_consent_date, "
            "odoo_creation_date, consent_id, event_id, note, explained, create_uid, create_date, write_uid, write_date")
        # İYS's rows: unreadable, unknown to Odoo, or different
        cr.execute(SQL(
            """
            INSERT INTO iys_reconciliation_line (%(cols)s)
            SELECT %(rec)s, %(brand)s, %(company)s,
                   CASE WHEN NOT f.valid THEN 'invalid'
                        WHEN m.line_no IS NULL THEN 'iys_only'
                        WHEN m.address <> f.recipient OR m.channel <> f.channel
                             OR m.recipient_type <> f.recipient_type THEN 'recipient'
                        WHEN m.new_status <> f.status THEN 'status'
                        ELSE 'date' END,
                   f.recipient,
                   CASE WHEN f.channel IN ('ARAMA', 'MESAJ', 'EPOSTA') THEN f.channel END,
                   CASE WHEN f.recipient_type IN ('BIREYSEL', 'TACIR') THEN f.recipient_type END,
                   f.transaction_id, f.status, f.consent_utc, f.created_utc, f.source,
                   CASE WHEN NOT f.valid THEN f.raw_row END,
                   m.new_status, m.consent_date, m.iys_creation_date, m.consent_id, m.event_id,
                   CASE WHEN m.line_no IS NOT NULL AND (m.address <> f.recipient OR m.channel <> f.channel
                             OR m.recipient_type <> f.recipient_type)
                        THEN concat_ws(' / ', m.address, m.channel, m.recipient_type) END,
                   false, %(uid)s, %(now)s, %(uid)s, %(now)s
              FROM iys_recon_rows f
              LEFT JOIN iys_recon_match m ON m.line_no = f.line_no
             WHERE NOT f.valid OR m.line_no IS NULL
                OR m.address <> f.recipient OR m.channel <> f.channel OR m.recipient_type <> f.recipient_type
                OR m.new_status <> f.status
                OR (f.consent_utc IS NOT NULL AND m.consent_date IS DISTINCT FROM f.consent_utc)
                OR (m.iys_creation_date IS NOT NULL AND m.iys_creation_date <> f.created_utc)
             ORDER BY f.line_no
            """, cols=line_cols, **common))
        # Odoo's movements İYS confirmed that day (by İYS's recording time) that the file does not hold
        cr.execute(SQL(
            """
            INSERT INTO iys_reconciliation_line (%(cols)s)
            SELECT DISTINCT ON (e.transaction_id)
                   %(rec)s, %(brand)s, %(company)s, 'odoo_only', e.address, e.channel, e.recipient_type,
                   e.transaction_id, NULL, NULL, NULL, NULL, NULL, e.new_status, e.consent_date, e.iys_creation_date,
                   e.consent_id, e.id, NULL, false, %(uid)s, %(now)s, %(uid)s, %(now)s
              FROM iys_consent_event e
             WHERE e.brand_id = %(brand)s AND e.transaction_id IS NOT NULL
               AND e.iys_creation_date >= %(start)s AND e.iys_creation_date < %(end)s
               AND NOT EXISTS (SELECT 1 FROM iys_recon_rows f WHERE f.transaction_id = e.transaction_id)
             ORDER BY e.transaction_id, e.id
            """, cols=line_cols, start=start, end=end, **common))
        cr.execute(SQL("SELECT count(*), count(*) FILTER (WHERE valid) FROM iys_recon_rows"))
        total, _valid = cr.fetchone()
        cr.execute(SQL(
            "DROP TABLE IF EXISTS iys_recon_rows; DROP TABLE IF EXISTS iys_recon_match"))
        self.iys_movement_count = total
        self.env["iys.reconciliation.line"].invalidate_model()

    def _iys_apply_missing(self):
        """Apply the movements only İYS has to the ledger, as the pull does (facts reported by İYS,
        origin ``reconciliation``), and mark the lines this explains."""
        self.ensure_one()
        cr = self.env.cr
        brand = self.brand_id.sudo()
        cr.execute(SQL(
            "SELECT id FROM iys_reconciliation_line WHERE reconciliation_id = %s AND kind = 'iys_only' "
            "ORDER BY iys_creation_date, transaction_id, id", self.id))
        ids = [row[0] for row in cr.fetchall()]
        # Our own movements (HS sources) whose batch İYS answered but whose answer Odoo has not fetched
        # yet: the event exists, without its transaction id until the poll stores it. Applying İYS's row
        # now would record the same movement twice; the day is compared again after the poll.
        cr.execute(SQL(
            """
            UPDATE iys_reconciliation_line l
               SET resolution = 'awaiting', explained = false, consent_id = o.consent_id, event_id = o.event_id,
                   note = %(note)s
              FROM iys_outbox o
             WHERE l.reconciliation_id = %(rec)s AND l.kind = 'iys_only' AND left(l.iys_source, 3) = 'HS_'
               AND o.brand_id = %(brand)s AND o.channel = l.channel AND o.recipient_type = l.recipient_type
               AND o.address = l.address AND o.state IN ('pending', 'sent') AND o.status = l.iys_status
            RETURNING l.id
            """, rec=self.id, brand=brand.id,
            note=self.env._("Our own movement: İYS recorded it, Odoo has not fetched İYS's answer to its batch "
                            "yet. The day is compared again once it has.")))
        awaiting = {row[0] for row in cr.fetchall()}
        ids = [line_id for line_id in ids if line_id not in awaiting]
        errors = []
        for offset in range(0, len(ids), APPLY_CHUNK):
            chunk = ids[offset:offset + APPLY_CHUNK]
            cr.execute(SQL(
                "SELECT address, channel, recipient_type, iys_status, iys_source, iys_consent_date, iys_creation_date, "
                "transaction_id FROM iys_reconciliation_line WHERE id IN %s ORDER BY iys_creation_date, "
                "transaction_id, id", tuple(chunk)))
            records = [
                ConsentRecord(recipient=address, type=channel, recipient_type=rtype, status=status, source=source,
                              consent_date=consent_date, creation_date=creation_date, transaction_id=txid)
                for address, channel, rtype, status, source, consent_date, creation_date, txid in cr.fetchall()
            ]
            stats = brand._iys_apply_incoming(records, "reconciliation")
            errors.extend(stats.errors)
            self.env.flush_all()
        if not ids:
            return
        cr.execute(SQL(
            """
            UPDATE iys_reconciliation_line l
               SET resolution = 'applied', explained = true, event_id = e.id, consent_id = e.consent_id
              FROM iys_consent_event e
             WHERE l.reconciliation_id = %(rec)s AND l.kind = 'iys_only'
               AND e.transaction_id = l.transaction_id AND e.brand_id = %(brand)s
            """, rec=self.id, brand=brand.id))
        cr.execute(SQL(
            """
            UPDATE iys_reconciliation_line l
               SET resolution = 'superseded', explained = true, consent_id = c.id, odoo_status = c.status,
                   odoo_consent_date = c.consent_date
              FROM iys_consent c
             WHERE l.reconciliation_id = %(rec)s AND l.kind = 'iys_only' AND l.resolution IS NULL
               AND c.brand_id = %(brand)s AND c.channel = l.channel AND c.recipient_type = l.recipient_type
               AND c.address = l.address AND c.consent_date > l.iys_consent_date
            """, rec=self.id, brand=brand.id))
        if errors:
            cr.execute(SQL(
                "UPDATE iys_reconciliation_line SET note = %s WHERE reconciliation_id = %s AND kind = 'iys_only' "
                "AND resolution IS NULL",
                self.env._("The ledger did not accept this movement (see the server log)."), self.id))
            _logger.warning("İYS reconciliation %s: %s movement(s) from İYS not applied", self.id, len(errors))
        self.env["iys.reconciliation.line"].invalidate_model()

    def _iys_count(self):
        self.ensure_one()
        self.env.cr.execute(SQL(
            """
            SELECT kind, count(*), count(*) FILTER (WHERE explained), count(*) FILTER (WHERE resolution = 'applied')
              FROM iys_reconciliation_line WHERE reconciliation_id = %s GROUP BY kind
            """, self.id))
        by_kind = defaultdict(int)
        explained = applied = 0
        for kind, count, kind_explained, kind_applied in self.env.cr.fetchall():
            by_kind[kind] = count
            explained += kind_explained
            applied += kind_applied
        total = sum(by_kind.values())
        file_rows_with_difference = total - by_kind["odoo_only"]
        self.write({
            "iys_only_count": by_kind["iys_only"], "odoo_only_count": by_kind["odoo_only"],
            "status_diff_count": by_kind["status"], "date_diff_count": by_kind["date"],
            "recipient_diff_count": by_kind["recipient"], "invalid_count": by_kind["invalid"],
            "matched_count": self.iys_movement_count - file_rows_with_difference,
            "applied_count": applied, "explained_count": explained,
            "difference_count": total, "unexplained_count": total - explained,
        })

    def _iys_result_text(self):
        return self.env._(
            "İYS's file of %(day)s: %(total)s movement(s), %(matched)s matched; %(iys_only)s on İYS only "
            "(%(applied)s applied to the ledger), %(odoo_only)s confirmed in Odoo but not on İYS, %(status)s with "
            "another status, %(date)s with another date, %(recipient)s with another address, channel or type, "
            "%(invalid)s unreadable. Left to explain: %(left)s.",
            day=self.report_date, total=self.iys_movement_count, matched=self.matched_count,
            iys_only=self.iys_only_count, applied=self.applied_count, odoo_only=self.odoo_only_count,
            status=self.status_diff_count, date=self.date_diff_count, recipient=self.recipient_diff_count,
            invalid=self.invalid_count, left=self.unexplained_count)

    # ------------------------------------------------------------------------------------------
    # Panel
    # ------------------------------------------------------------------------------------------
    @api.model
    def _iys_panel_section(self, brands, now=None):
        """The panel's reconciliation section (contract in the panel's brief): the days of the last
        7 not reconciled yet, with differences, in error; per brand in a small table."""
        if not brands:
            return None
        today = turkish_today(now)
        oldest = today - datetime.timedelta(days=REPORT_MAX_AGE_DAYS)
        window = [("brand_id", "in", brands.ids), ("report_date", ">=", oldest), ("report_date", "<", today)]
        # every day of the window has its record (the scheduled action creates them too): the number
        # "not reconciled yet" then opens exactly the days it counts, also before the first run
        self.sudo()._iys_ensure_days(brands.filtered("active"), [
            oldest + datetime.timedelta(days=i) for i in range((today - oldest).days)])
        groups = self.sudo()._read_group(window, ["brand_id", "state"], ["__count"])
        counts = defaultdict(lambda: defaultdict(int))
        for brand, state, count in groups:
            counts[brand.id][state] += count
        open_states = [s for s, _label in STATE_SELECTION if s not in DONE_STATES]

        def total(states, brand=None):
            ids = [brand.id] if brand else brands.ids
            return sum(counts[b][s] for b in ids for s in states)

        def action(name, states, brand=None):
            domain = [("brand_id", "in", [brand.id] if brand else brands.ids), ("report_date", ">=", oldest),
                      ("report_date", "<", today), ("state", "in", list(states))]
            return {"res_model": "iys.reconciliation", "name": name, "domain": domain,
                    "views": [[False, "list"], [False, "form"]], "context": {}}

        # days of the window the scheduled action has not even created yet
        known = defaultdict(int)
        for brand, _state, count in groups:
            known[brand.id] += count
        never = sum(max(REPORT_MAX_AGE_DAYS - known[b.id], 0) for b in brands)
        not_done_label = self.env._("Days not reconciled yet")
        diff_label = self.env._("Days with differences")
        error_label = self.env._("Days in error")
        not_done, differences, errors = total(open_states), total(["differences"]), total(["error"])
        cards = [
            {"key": "not_reconciled", "label": not_done_label, "value": not_done,
             "level": "warning" if not_done else "success",
             "hint": self.env._("Of the last %(days)s days, for the brands shown; %(never)s more day(s) of "
                                "archived brands not fetched.", days=REPORT_MAX_AGE_DAYS, never=never) if never else
             self.env._("Of the last %(days)s days, for the brands shown.", days=REPORT_MAX_AGE_DAYS),
             "action": action(not_done_label, open_states)},
            {"key": "differences", "label": diff_label, "value": differences,
             "level": "danger" if differences else "success",
             "hint": self.env._("A manager explains or accepts them before İYS's 7 days are over."),
             "action": action(diff_label, ["differences"])},
            {"key": "errors", "label": error_label, "value": errors, "level": "danger" if errors else "success",
             "hint": False, "action": action(error_label, ["error"])},
        ]
        rows = []
        for brand in brands:
            rows.append({
                "cells": [brand.display_name, total(open_states, brand), total(["differences"], brand),
                          total(["error"], brand), total(DONE_STATES, brand)],
                "action": action(self.env._("Reconciliation of %(brand)s", brand=brand.display_name),
                                 [s for s, _label in STATE_SELECTION], brand),
            })
        return {
            "key": "reconciliation", "title": self.env._("Daily reconciliation with İYS"), "sequence": 50,
            "cards": cards,
            "headers": [self.env._("Brand"), not_done_label, diff_label, error_label, self.env._("Done")],
            "rows": rows,
        }
