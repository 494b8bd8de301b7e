# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
"""Alerts that reach people: one open alert per account and condition, an activity and an e-mail
when it is raised, nothing more while it holds, closed by itself when the condition clears."""
import ast
import logging
from datetime import timedelta

import psycopg2
from markupsafe import Markup

from odoo import Command, api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import SQL, format_datetime

from ..iyslib import dates
from .iys_account import HEALTH_WARNING_RATIO, IYS_WHITELIST_RATIO
from .iys_sync_common import commit

_logger = logging.getLogger(__name__)

#: İYS removes an IP address from its whitelist when its success ratio stays under 70 % this long
WHITELIST_HOURS = 96
#: a pull that has not succeeded for this long raises an alert
PULL_ALERT_HOURS = 24
#: consecutive failures of a scheduled action that raise an alert
CRON_FAILURES = 2
#: reconciliation states that need a person
RECONCILIATION_STATES = ("differences", "error")

KINDS = [
    ("success_ratio", "Success ratio low"),
    ("deadline", "Movements close to their deadline"),
    ("pull", "Pull failing"),
    ("cron", "Scheduled action failing"),
    ("reconciliation", "Reconciliation differences"),
]


class IysAlert(models.Model):
    """A condition of an İYS account that needs a person: raised once (activity + e-mail), kept
    up to date while it holds, cleared by the hourly check when it no longer holds.

    Nobody creates, edits or deletes an alert by hand: the check does (as superuser). An İYS manager
    may acknowledge an open alert with a reason (it stays open until the condition clears)."""

    _name = "iys.alert"
    _description = "İYS Alert"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "state desc, raised_on desc, id desc"

    name = fields.Char(required=True, readonly=True)
    account_id = fields.Many2one("iys.account", required=True, readonly=True, index=True, ondelete="cascade")
    brand_id = fields.Many2one("iys.brand", readonly=True, index=True, ondelete="cascade")
    company_id = fields.Many2one(related="account_id.company_id", store=True, index=True)
    kind = fields.Selection(KINDS, required=True, readonly=True, index=True)
    key = fields.Char(
        required=True, readonly=True,
        help="Which instance of the condition (the brand, the scheduled action …): at most one open alert "
        "per account, kind and key.",
    )
    state = fields.Selection(
        [("open", "Open"), ("cleared", "Cleared")], required=True, default="open", readonly=True, index=True,
    )
    raised_on = fields.Datetime(required=True, readonly=True, default=fields.Datetime.now)
    last_checked = fields.Datetime(readonly=True)
    cleared_on = fields.Datetime(readonly=True)
    message = fields.Text(readonly=True, help="What is wrong and what to do, in the account's language.")
    figures = fields.Json(
        string="Figures (data)", readonly=True,
        help="The figures behind the alert at its last check: [[label, value], …].",
    )
    figures_html = fields.Html(compute="_compute_figures_html", string="Figures", sanitize=True)
    target_model = fields.Char(readonly=True)
    target_domain = fields.Char(readonly=True, help="The records behind the alert, at its last check.")
    target_res_id = fields.Integer(readonly=True)
    target_count = fields.Integer(readonly=True, string="Records")
    acknowledge_reason = fields.Text(
        string="Acknowledgement", help="Why a manager acknowledged the alert (required to acknowledge it).",
    )
    acknowledged_by = fields.Many2one("res.users", readonly=True)
    acknowledged_on = fields.Datetime(readonly=True)
    notified_partner_ids = fields.Many2many("res.partner", string="Notified", readonly=True)

    def init(self):
        # At most one OPEN alert per condition instance; cleared ones are history.
        self.env.cr.execute(SQL(
            "CREATE UNIQUE INDEX IF NOT EXISTS iys_alert_open_uniq ON iys_alert (account_id, kind, key) "
            "WHERE state = 'open'"
        ))

    @api.depends("figures")
    def _compute_figures_html(self):
        for alert in self:
            rows = alert.figures or []
            alert.figures_html = Markup("<table class='table table-sm o_iys_alert_figures'>%s</table>") % Markup().join(
                Markup("<tr><th>%s</th><td>%s</td></tr>") % (label, value) for label, value in rows
            ) if rows else False

    # ------------------------------------------------------------------------------------------
    # Access: written by the check only; a manager may acknowledge
    # ------------------------------------------------------------------------------------------
    @api.model_create_multi
    def create(self, vals_list):
        if not self.env.su:
            raise AccessError(self.env._("İYS alerts are raised by the scheduled check only."))
        return super(IysAlert, self.with_context(mail_create_nosubscribe=True)).create(vals_list)

    def write(self, vals):
        allowed = set(self.env["mail.thread"]._fields) | set(self.env["mail.activity.mixin"]._fields)
        allowed.add("acknowledge_reason")
        if not self.env.su and set(vals) - allowed:
            raise AccessError(self.env._(
                "İYS alerts are kept by the scheduled check: they close by themselves when their condition "
                "clears. A manager may acknowledge an open alert with a reason."
            ))
        if not self.env.su and "acknowledge_reason" in vals and not self.env.user.has_group(
            "l10n_tr_iys.group_iys_manager"
        ):
            raise AccessError(self.env._("Only İYS managers may acknowledge an alert."))
        return super().write(vals)

    # ------------------------------------------------------------------------------------------
    # Buttons
    # ------------------------------------------------------------------------------------------
    def action_iys_open_records(self):
        """The records behind the alert, as at its last check."""
        self.ensure_one()
        if not self.target_model:
            return False
        if not self.env[self.target_model].has_access("read"):
            # e.g. a scheduled action: only Settings administrators may open them
            raise UserError(self.env._(
                "You may not open these records (%(model)s). Ask a Settings administrator to look at them; "
                "the alert's figures say which ones.", model=self.env[self.target_model]._description))
        action = {
            "type": "ir.actions.act_window",
            "name": self.name,
            "res_model": self.target_model,
            "context": {"create": False},
        }
        if self.target_res_id:
            action.update(res_id=self.target_res_id, views=[[False, "form"]], view_mode="form")
        else:
            domain = ast.literal_eval(self.target_domain or "[]")
            action.update(domain=domain, views=[[False, "list"], [False, "form"]], view_mode="list,form")
            if self.target_model == "iys.outbox" and self.kind == "deadline":
                view = self.env.ref("l10n_tr_iys.view_iys_outbox_deadline_list", raise_if_not_found=False)
                if view:
                    action["views"] = [[view.id, "list"], [False, "form"]]
        return action

    def action_iys_acknowledge(self):
        """A manager has seen the alert and says why (kept in the chatter): the activities are marked
        done with the reason; the alert stays open until the condition clears."""
        if not (self.env.su or self.env.user.has_group("l10n_tr_iys.group_iys_manager")):
            raise AccessError(self.env._("Only İYS managers may acknowledge an alert."))
        for alert in self:
            if alert.state != "open":
                raise UserError(self.env._("This alert is already cleared: there is nothing to acknowledge."))
            reason = (alert.acknowledge_reason or "").strip()
            if not reason:
                raise UserError(self.env._(
                    "Write why you acknowledge this alert (what you did or will do) in the Acknowledgement "
                    "field, then click Acknowledge again."
                ))
            user = self.env.user
            alert.sudo().write({"acknowledged_by": user.id, "acknowledged_on": fields.Datetime.now()})
            feedback = self.env._("Acknowledged by %(user)s: %(reason)s", user=user.name, reason=reason)
            alert.sudo().message_post(body=feedback, subtype_xmlid="mail.mt_note")
            alert.sudo().activity_ids.action_feedback(feedback=feedback)
        return True

    # ------------------------------------------------------------------------------------------
    # The hourly check
    # ------------------------------------------------------------------------------------------
    @api.model
    def _cron_iys_check_alerts(self, now=None):
        """İYS: check alerts. Evaluates every condition of every active account; raises, refreshes
        or clears the alerts. One account per transaction (committed between accounts)."""
        now = now or fields.Datetime.now()
        Alert = self.sudo()
        accounts = self.env["iys.account"].sudo().search([("active", "=", True)])
        # Alerts of archived accounts no longer hold.
        orphans = Alert.search([("state", "=", "open"), ("account_id.active", "=", False)])
        orphans._iys_clear(now, archived=True)
        done = 0
        for account in accounts:
            Alert._iys_check_account(account, now)
            done += 1
            commit(self.env)
            self.env["ir.cron"]._notify_progress(done=done, remaining=len(accounts) - done)
        return True

    @api.model
    def _iys_check_account(self, account, now, kinds=None):
        """Evaluate the conditions of one account (all kinds, or *kinds*); returns the alerts raised."""
        Alert = self.sudo().with_context(lang=self._iys_lang_code(account))
        env = Alert.env
        # One worker checks an account at a time (the hourly check, the daily summary).
        env.cr.execute(SQL("SELECT id FROM iys_account WHERE id = %s FOR UPDATE SKIP LOCKED", account.id))
        if not env.cr.fetchone():
            _logger.info("İYS alerts of account %s: another worker is checking them", account.id)
            return Alert.browse()
        holding = []
        evaluators = {
            "success_ratio": Alert._iys_eval_success_ratio,
            "deadline": Alert._iys_eval_deadline,
            "pull": Alert._iys_eval_pull,
            "cron": Alert._iys_eval_cron,
            "reconciliation": Alert._iys_eval_reconciliation,
        }
        kinds = kinds or list(evaluators)
        for kind in kinds:
            holding.extend(evaluators[kind](account, now))
        Alert = env["iys.alert"]
        open_alerts = Alert.search([("account_id", "=", account.id), ("state", "=", "open"), ("kind", "in", kinds)])
        by_key = {(a.kind, a.key): a for a in open_alerts}
        raised = Alert
        seen = set()
        for cond in holding:
            ident = (cond["kind"], cond["key"])
            seen.add(ident)
            vals = {
                "message": cond["message"], "figures": cond["figures"], "last_checked": now,
                "target_model": cond.get("target_model") or False,
                "target_domain": repr(cond["target_domain"]) if cond.get("target_domain") is not None else False,
                "target_res_id": cond.get("target_res_id") or 0,
                "target_count": cond.get("target_count") or 0,
            }
            alert = by_key.get(ident)
            if alert:
                alert.write(vals)  # no new activity, no new e-mail
                continue
            try:
                with env.cr.savepoint():
                    alert = Alert.create({
                        **vals, "name": cond["name"], "account_id": account.id, "kind": cond["kind"],
                        "key": cond["key"], "brand_id": cond.get("brand_id") or False, "raised_on": now,
                    })
            except psycopg2.IntegrityError:
                # Another worker raised it in the meantime (the partial unique index): theirs stands.
                _logger.info("İYS alert %s/%s of account %s: already raised by another worker", *ident, account.id)
                continue
            raised |= alert
            alert._iys_notify_people()
        gone = open_alerts.filtered(lambda a: (a.kind, a.key) not in seen)
        gone._iys_clear(now)
        return raised

    # conditions --------------------------------------------------------------------------------
    @api.model
    def _iys_lang_code(self, account):
        """A language code installed in the database for the account's language ('tr' or 'en')."""
        if account._iys_lang() == "tr":
            codes = [code for code, _name in self.env["res.lang"].get_installed() if code.startswith("tr")]
            if codes:
                return codes[0]
        return "en_US"

    @api.model
    def _iys_fmt_dt(self, env, value):
        # İYS's own time (deadlines, business days), whoever reads it.
        return format_datetime(env, value, tz="Europe/Istanbul") if value else "-"

    @api.model
    def _iys_kind_label(self, env, kind):
        return dict(env["iys.alert"]._fields["kind"]._description_selection(env))[kind]

    @api.model
    def _iys_eval_success_ratio(self, account, now):
        env = self.env
        health = account._iys_health(now=now)
        ratio = health["success_ratio"]
        if ratio is None or ratio >= HEALTH_WARNING_RATIO:
            return []
        since = now - timedelta(hours=24)
        ratio_text = f"{ratio:.0%}"
        # (kept out of the translated call: Odoo's term extractor evaluates its arguments)
        warning, limit = f"{HEALTH_WARNING_RATIO:.0%}", f"{IYS_WHITELIST_RATIO:.0%}"
        message = self.env._(
            "İYS recorded only %(ratio)s of the movements it answered in the last 24 hours (%(done)s recorded, "
            "%(refused)s refused); the warning threshold is %(warning)s. İYS removes an IP address from its "
            "whitelist when its success ratio stays under %(limit)s for %(hours)s hours, and then refuses every "
            "request. Open the refused movements, fix their data (each H-code says what is wrong) and send them "
            "again.",
            ratio=ratio_text, done=health["done_24h"], refused=health["refused_24h"],
            warning=warning, limit=limit, hours=WHITELIST_HOURS,
        )
        domain = [
            ("account_id", "=", account.id), ("state", "in", ["failed", "expired"]),
            ("refused_locally", "=", False), ("result_at", ">=", fields.Datetime.to_string(since)),
        ]
        return [{
            "kind": "success_ratio", "key": "24h",
            "name": self.env._("%(kind)s: %(account)s", kind=self._iys_kind_label(env, "success_ratio"),
                          account=account.name),
            "message": message,
            "figures": [
                [self.env._("Success ratio of the last 24 h"), ratio_text],
                [self.env._("Recorded by İYS in the last 24 h"), health["done_24h"]],
                [self.env._("Refused by İYS in the last 24 h"), health["refused_24h"]],
                [self.env._("Caught before sending in the last 24 h"), health["caught_24h"]],
            ],
            "target_model": "iys.outbox", "target_domain": domain, "target_count": health["refused_24h"],
        }]

    @api.model
    def _iys_deadline_domain(self, account, now):
        limit = dates.add_business_days(now, 1)
        return [
            ("account_id", "=", account.id), ("state", "=", "pending"),
            ("deadline", ">", fields.Datetime.to_string(now)), ("deadline", "<", fields.Datetime.to_string(limit)),
        ]

    @api.model
    def _iys_eval_deadline(self, account, now):
        env = self.env
        Outbox = env["iys.outbox"]
        Outbox.flush_model(["account_id", "state", "deadline"])
        domain = self._iys_deadline_domain(account, now)
        env.cr.execute(SQL(
            "SELECT count(*), min(deadline) FROM iys_outbox WHERE account_id = %s AND state = 'pending' "
            "AND deadline > %s AND deadline < %s",
            account.id, now, dates.add_business_days(now, 1),
        ))
        count, earliest = env.cr.fetchone()
        if not count:
            return []
        # Rows covered by an alert: no per-row activity any more, the field says they were reported.
        Outbox.search(domain + [("deadline_warned", "=", False)]).write({"deadline_warned": True})
        message = self.env._(
            "%(count)s movements waiting to be sent are less than one business day from their İYS deadline "
            "(the earliest: %(deadline)s). Past it, İYS refuses them (H467) and fresh consent must be collected. "
            "Open them, see why they still wait (the error on each row), fix the cause and synchronise with İYS.",
            count=count, deadline=self._iys_fmt_dt(env, earliest),
        )
        return [{
            "kind": "deadline", "key": "1bd",
            "name": self.env._("%(kind)s: %(account)s", kind=self._iys_kind_label(env, "deadline"),
                               account=account.name),
            "message": message,
            "figures": [
                [self.env._("Movements less than one business day from their deadline"), count],
                [self.env._("Earliest deadline"), self._iys_fmt_dt(env, earliest)],
            ],
            "target_model": "iys.outbox", "target_domain": domain, "target_count": count,
        }]

    @api.model
    def _iys_eval_pull(self, account, now):
        env = self.env
        since = now - timedelta(hours=PULL_ALERT_HOURS)
        result = []
        for brand in account.brand_ids.filtered("active"):
            last = brand.iys_last_pull_date
            if (last or brand.create_date) >= since:
                continue
            if last:
                message = self.env._(
                    "No pull of citizen changes from İYS has succeeded for brand %(brand)s since %(since)s. "
                    "Refusals citizens give through İYS do not reach Odoo, so messages may go to people who "
                    "refused. Test the account's connection, then look at the scheduled action \"İYS: pull "
                    "citizen changes\" and the server log.",
                    brand=brand.display_name, since=self._iys_fmt_dt(env, last),
                )
            else:
                message = self.env._(
                    "No pull of citizen changes from İYS has ever succeeded for brand %(brand)s (created on "
                    "%(since)s). Refusals citizens give through İYS do not reach Odoo, so messages may go to "
                    "people who refused. Test the account's connection, then look at the scheduled action "
                    "\"İYS: pull citizen changes\" and the server log.",
                    brand=brand.display_name, since=self._iys_fmt_dt(env, brand.create_date),
                )
            result.append({
                "kind": "pull", "key": f"brand:{brand.id}", "brand_id": brand.id,
                "name": self.env._("%(kind)s: %(brand)s", kind=self._iys_kind_label(env, "pull"),
                                   brand=brand.display_name),
                "message": message,
                "figures": [
                    [self.env._("Last successful pull"), self._iys_fmt_dt(env, last) if last else self.env._("never")],
                    [self.env._("Last pull error"), brand.iys_pull_error or "-"],
                ],
                "target_model": "iys.brand", "target_res_id": brand.id, "target_count": 1,
            })
        return result

    @api.model
    def _iys_addon_crons(self, env):
        """The addon's scheduled actions (every ir.cron with an XML id of this module)."""
        data = env["ir.model.data"].sudo().search([("module", "=", "l10n_tr_iys"), ("model", "=", "ir.cron")])
        return env["ir.cron"].sudo().with_context(active_test=False).browse(data.mapped("res_id")).exists()

    @api.model
    def _iys_eval_cron(self, account, now):
        env = self.env
        crons = self._iys_addon_crons(env)
        open_keys = set(env["iys.alert"].search(
            [("account_id", "=", account.id), ("kind", "=", "cron"), ("state", "=", "open")]
        ).mapped("key"))
        result = []
        for cron in crons:
            key = f"cron:{cron.id}"
            failing = cron.active and cron.failure_count >= CRON_FAILURES
            # Odoo deactivates a job that keeps failing and resets its counter: still not solved.
            deactivated = not cron.active and key in open_keys
            if not (failing or deactivated):
                continue
            if deactivated:
                message = self.env._(
                    "The scheduled action \"%(cron)s\" kept failing and is no longer active. Until it runs "
                    "again, its work for İYS is not done. Read the server log of its last runs, fix the cause "
                    "and activate it again (Settings > Technical > Scheduled Actions).",
                    cron=cron.name,
                )
            else:
                message = self.env._(
                    "The scheduled action \"%(cron)s\" has failed %(count)s times in a row since %(since)s. "
                    "Its work for İYS is not done, and Odoo deactivates a job that keeps failing. Read the server "
                    "log of its last runs and fix the cause (Settings > Technical > Scheduled Actions).",
                    cron=cron.name, count=cron.failure_count, since=self._iys_fmt_dt(env, cron.first_failure_date),
                )
            result.append({
                "kind": "cron", "key": key,
                "name": self.env._("%(kind)s: %(cron)s", kind=self._iys_kind_label(env, "cron"), cron=cron.name),
                "message": message,
                "figures": [
                    [self.env._("Failures in a row"), cron.failure_count],
                    [self.env._("First failure"), self._iys_fmt_dt(env, cron.first_failure_date)],
                    [self.env._("Active"), self.env._("yes") if cron.active else self.env._("no")],
                ],
                "target_model": "ir.cron", "target_res_id": cron.id, "target_count": 1,
            })
        return result

    @api.model
    def _iys_eval_reconciliation(self, account, now):
        env = self.env
        if "iys.reconciliation" not in env:
            return []
        Reconciliation = env["iys.reconciliation"].sudo()
        groups = Reconciliation._read_group(
            [("account_id", "=", account.id), ("state", "in", list(RECONCILIATION_STATES))],
            ["brand_id", "state"], ["__count", "difference_count:sum"],
        )
        per_brand = {}
        for brand, state, count, differences in groups:
            per_brand.setdefault(brand, {"differences": 0, "error": 0, "count": 0})
            per_brand[brand][state] += count
            per_brand[brand]["count"] += differences or 0
        result = []
        for brand, figures in per_brand.items():
            domain = [("brand_id", "=", brand.id), ("state", "in", list(RECONCILIATION_STATES))]
            message = self.env._(
                "The daily reconciliation with İYS of brand %(brand)s is not agreed: %(days)s day(s) with "
                "differences (%(count)s differences) and %(errors)s day(s) that could not be fetched or whose "
                "hash does not match. İYS expects the agreement within 7 days. Open them, explain or correct "
                "each difference (a manager may accept them with a reason), and fetch the days in error again.",
                brand=brand.display_name, days=figures["differences"], count=figures["count"],
                errors=figures["error"],
            )
            result.append({
                "kind": "reconciliation", "key": f"brand:{brand.id}", "brand_id": brand.id,
                "name": self.env._("%(kind)s: %(brand)s", kind=self._iys_kind_label(env, "reconciliation"),
                          brand=brand.display_name),
                "message": message,
                "figures": [
                    [self.env._("Days with differences"), figures["differences"]],
                    [self.env._("Differences"), figures["count"]],
                    [self.env._("Days in error"), figures["error"]],
                ],
                "target_model": "iys.reconciliation", "target_domain": domain,
                "target_count": figures["differences"] + figures["error"],
            })
        return result

    # raise / clear -----------------------------------------------------------------------------
    def _iys_recipients(self):
        """The account's responsible, or the İYS managers of the account's company."""
        self.ensure_one()
        account = self.account_id
        if account.responsible_user_id.active:
            return account.responsible_user_id
        managers = self.env.ref("l10n_tr_iys.group_iys_manager").sudo().users
        return managers.filtered(
            lambda u: u.active and not u.share and u._is_internal() and u.id != self.env.ref("base.user_root").id
            and account.company_id in u.company_ids
        )

    def _iys_in_account_lang(self):
        self.ensure_one()
        return self.with_context(lang=self._iys_lang_code(self.account_id))

    def _iys_notify_people(self):
        """One activity per recipient and one e-mail (queued mail.mail) for a newly raised alert.
        Sending problems are logged and noted in the chatter; the alert is never lost for them."""
        for alert in self:
            alert._iys_in_account_lang()._iys_notify_one()

    def _iys_notify_one(self):
        self.ensure_one()
        todo = self.env.ref("mail.mail_activity_data_todo", raise_if_not_found=False)
        template = self.env.ref("l10n_tr_iys.mail_template_iys_alert", raise_if_not_found=False)
        users = self._iys_recipients()
        for user in users:
            self.activity_schedule(
                act_type_xmlid="mail.mail_activity_data_todo" if todo else "",
                date_deadline=fields.Date.context_today(self),
                summary=self.name,
                note=self.message,
                user_id=user.id,
            )
        partners = users.partner_id.filtered("email")
        if not users:
            self.message_post(body=self.env._(
                "Nobody to notify: the account has no responsible and its company has no İYS manager."
            ), subtype_xmlid="mail.mt_note")
            return
        if not partners or not template:
            self.message_post(body=self.env._(
                "No e-mail sent: %(users)s have no e-mail address.", users=", ".join(users.mapped("name"))
            ), subtype_xmlid="mail.mt_note")
            return
        try:
            with self.env.cr.savepoint():
                template.sudo().send_mail(
                    self.id, force_send=False, raise_exception=True,
                    email_values={"recipient_ids": [Command.set(partners.ids)]},
                )
        except Exception as exc:  # noqa: BLE001 - the alert and its activities must survive
            _logger.warning("İYS alert %s: the e-mail could not be queued (%s)", self.id, type(exc).__name__)
            self.message_post(body=self.env._(
                "The e-mail about this alert could not be prepared (%(error)s); the activities are scheduled.",
                error=str(exc) or type(exc).__name__,
            ), subtype_xmlid="mail.mt_note")
            return
        self.notified_partner_ids = [Command.set(partners.ids)]
        self.message_post(body=self.env._(
            "Alert raised: e-mail queued for %(people)s.", people=", ".join(partners.mapped("name"))
        ), subtype_xmlid="mail.mt_note")

    def _iys_clear(self, now, archived=False):
        """Close the alerts whose condition no longer holds; their open activities are marked done."""
        for alert in self:
            alert._iys_in_account_lang()._iys_clear_one(now, archived)

    def _iys_clear_one(self, now, archived):
        self.ensure_one()
        if archived:
            text = self.env._("The İYS account is archived: the alert is cleared.")
        else:
            text = self.env._("The condition no longer holds: the alert is cleared.")
        self.write({"state": "cleared", "cleared_on": now, "last_checked": now})
        self.message_post(body=text, subtype_xmlid="mail.mt_note")
        self.activity_ids.action_feedback(feedback=text)

    # ------------------------------------------------------------------------------------------
    # Panel section
    # ------------------------------------------------------------------------------------------
    @api.model
    def _iys_panel_section(self, brands):
        """Open alerts of the shown brands' accounts, by kind (the panel's extension contract)."""
        accounts = brands.account_id
        if not accounts:
            return None
        domain = [
            ("state", "=", "open"), ("account_id", "in", accounts.ids),
            "|", ("brand_id", "=", False), ("brand_id", "in", brands.ids),
        ]
        counts = dict(self._read_group(domain, ["kind"], ["__count"]))
        labels = dict(self._fields["kind"]._description_selection(self.env))
        cards = []
        total = sum(counts.values())
        if not total:
            cards.append({
                "key": "none", "label": self.env._("Open alerts"), "value": 0, "level": "success",
                "hint": self.env._("Nothing needs your attention."),
                "action": {"res_model": "iys.alert", "name": self.env._("Alerts"), "domain": domain,
                           "views": [[False, "list"], [False, "form"]], "context": {}},
            })
        for kind, _label in KINDS:
            count = counts.get(kind)
            if not count:
                continue
            kind_domain = domain + [("kind", "=", kind)]
            action = {"res_model": "iys.alert", "name": labels[kind], "domain": kind_domain,
                      "views": [[False, "list"], [False, "form"]], "context": {}}
            hint = False
            if count == 1:
                alert = self.search(kind_domain, limit=1)
                action.update(res_id=alert.id, views=[[False, "form"]])
                hint = alert.message
            cards.append({
                "key": kind, "label": labels[kind], "value": count,
                "level": "danger" if kind in ("success_ratio", "deadline") else "warning",
                "hint": hint, "action": action,
            })
        return {"key": "alerts", "title": self.env._("Alerts"), "sequence": 5, "cards": cards}
