# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
import logging
from collections import defaultdict

from markupsafe import Markup

from odoo import api, fields, models
from odoo.exceptions import AccessError
from odoo.tools.misc import format_datetime

from ..iyslib.errors import IysError
from ..models.iys_query_run import LOOKUP_MAX
from ..models.iys_selections import CHANNEL_SELECTION
from ..models.iys_sync_common import SyncStats, error_code_and_text

_logger = logging.getLogger(__name__)

#: pull pages one run fetches per brand
PULL_PAGES_MAX = 50


class IysSyncWizard(models.TransientModel):
    """Synchronise a selection with İYS now: send its pending movements, ask İYS for the current
    status of its addresses, or pull citizen changes. İYS managers only (access rights and a check
    in every action). It first shows what it will do, then what it did."""

    _name = "iys.sync.wizard"
    _description = "Synchronise with İYS"

    scope = fields.Selection(
        [("partners", "Selected contacts"), ("consents", "Selected consents"), ("all", "Everything")],
        required=True, default="all", readonly=True,
    )
    partner_ids = fields.Many2many("res.partner", string="Contacts", readonly=True)
    consent_ids = fields.Many2many("iys.consent", string="Consents", readonly=True)
    brand_ids = fields.Many2many(
        "iys.brand", string="Brands", help="Limit to these brands (all active brands when empty)."
    )
    mode = fields.Selection(
        [
            ("push", "Send pending movements now"),
            ("poll", "Fetch İYS's answers to sent movements"),
            ("query", "Ask İYS for the current status"),
            ("pull", "Pull citizen changes now"),
        ],
        string="Action", required=True, default="push",
    )
    fetch_details = fields.Boolean(
        "Look up differences one by one",
        help="For addresses where İYS and Odoo disagree, ask İYS for the full record of each (at most "
        "100 per run; İYS allows 1000 such queries an hour) and apply what İYS holds.",
    )
    state = fields.Selection([("draft", "Choose"), ("preview", "Check"), ("done", "Result")], default="draft")
    preview_html = fields.Html("What will be done", readonly=True, sanitize=False)
    result_html = fields.Html("Result", readonly=True, sanitize=False)
    sent_count = fields.Integer("Sent", readonly=True)
    confirmed_count = fields.Integer("Confirmed", readonly=True)
    refused_count = fields.Integer("Refused", readonly=True)
    applied_count = fields.Integer("Applied from İYS", readonly=True)
    unchanged_count = fields.Integer("Unchanged", readonly=True)
    difference_count = fields.Integer("Differences", readonly=True)
    query_run_ids = fields.Many2many("iys.query.run", string="Status queries in the background", readonly=True)

    # ------------------------------------------------------------------------------------------
    # Access and defaults
    # ------------------------------------------------------------------------------------------
    def _check_manager(self):
        if not self.env.user.has_group("l10n_tr_iys.group_iys_manager"):
            raise AccessError(self.env._("Only İYS managers may synchronise with İYS."))

    @api.model
    def default_get(self, fields_list):
        self._check_manager()
        res = super().default_get(fields_list)
        model = self.env.context.get("active_model")
        ids = self.env.context.get("active_ids") or []
        if model == "res.partner" and ids:
            res.update(scope="partners", partner_ids=[(6, 0, ids)])
        elif model == "iys.consent" and ids:
            res.update(scope="consents", consent_ids=[(6, 0, ids)])
        return res

    @api.model_create_multi
    def create(self, vals_list):
        self._check_manager()
        return super().create(vals_list)

    # ------------------------------------------------------------------------------------------
    # What the selection covers
    # ------------------------------------------------------------------------------------------
    def _brands(self):
        brands = self.brand_ids or self.env["iys.brand"].search([("account_id.active", "=", True)])
        return brands.sudo().filtered(lambda b: b.active and b.account_id.active)

    def _partner_addresses(self):
        """{(channel, recipient type): {addresses}} of the selected contacts."""
        partners = self.partner_ids
        types = partners._iys_recipient_types()
        result = defaultdict(set)
        for channel, _label in CHANNEL_SELECTION:
            for partner_id, addresses in partners._iys_addresses(channel).items():
                for address in addresses:
                    result[(channel, types.get(partner_id) or "BIREYSEL")].add(address)
        return result

    def _consents(self):
        """Ledger rows of the selection (within the chosen brands)."""
        brands = self._brands()
        Consent = self.env["iys.consent"]
        if self.scope == "consents":
            return self.consent_ids.filtered(lambda c: c.brand_id in brands)
        if self.scope == "partners":
            consents = Consent
            for (channel, _rtype), addresses in self._partner_addresses().items():
                consents |= Consent.search([("brand_id", "in", brands.ids), ("channel", "=", channel),
                                            ("address", "in", list(addresses))])
            return consents
        return Consent.search([("brand_id", "in", brands.ids)])

    def _outbox(self, state="pending"):
        Outbox = self.env["iys.outbox"]
        domain = [("state", "=", state), ("brand_id", "in", self._brands().ids)]
        if self.scope != "all":
            domain.append(("consent_id", "in", self._consents().ids))
        return Outbox.search(domain)

    @api.model
    def _due_at(self, rows):
        """When İYS's answers to these sent rows may be fetched (the earliest, or False)."""
        dates = [row.next_attempt_at or row.sent_at for row in rows if row.state == "sent"]
        return min(dates) if dates else False

    def _format_time(self, value):
        return format_datetime(self.env, value, tz=self.env.user.tz, dt_format="short")

    def _query_plan(self):
        """{(brand, recipient type, channel): {addresses}} to ask İYS about."""
        plan = defaultdict(set)
        brands = self._brands()
        for consent in self._consents():
            plan[(consent.brand_id, consent.recipient_type, consent.channel)].add(consent.address)
        if self.scope == "partners":
            # Contacts may hold an ONAY on İYS that Odoo does not know yet.
            for (channel, rtype), addresses in self._partner_addresses().items():
                for brand in brands:
                    plan[(brand, rtype, channel)].update(addresses)
        return plan

    # ------------------------------------------------------------------------------------------
    # Preview
    # ------------------------------------------------------------------------------------------
    def action_preview(self):
        self.ensure_one()
        self._check_manager()
        channels = dict(self.env["iys.consent"]._fields["channel"]._description_selection(self.env))
        rtypes = dict(self.env["iys.consent"]._fields["recipient_type"]._description_selection(self.env))
        rows = []
        if self.mode == "push":
            counts = defaultdict(int)
            for row in self._outbox():
                counts[(row.brand_id.display_name, channels.get(row.channel))] += 1
            rows = [(brand, channel, count) for (brand, channel), count in sorted(counts.items())]
            header = (self.env._("Brand"), self.env._("Channel"), self.env._("Movements to send"))
        elif self.mode == "poll":
            sent = self._outbox("sent")
            now = fields.Datetime.now()
            due = sent.filtered(lambda r: (r.next_attempt_at or r.sent_at or now) <= now)
            counts = defaultdict(int)
            for row in due:
                counts[(row.brand_id.display_name, channels.get(row.channel))] += 1
            rows = [(brand, channel, count) for (brand, channel), count in sorted(counts.items())]
            header = (self.env._("Brand"), self.env._("Channel"), self.env._("Answers to fetch"))
            if not rows and sent:
                return self._notify_nothing(self.env._(
                    "İYS's answers to the %(count)s sent movements cannot be fetched yet: İYS asks to wait after "
                    "sending. They are due from %(time)s; the scheduled action fetches them then.",
                    count=len(sent), time=self._format_time(self._due_at(sent))))
        elif self.mode == "query":
            if self.scope == "all":
                # the whole ledger: counted by one grouped query, never loaded
                brands = self.env["iys.brand"].browse
                rows = [
                    (brands(brand_id).display_name, f"{channels.get(channel)} · {rtypes.get(rtype)}", count)
                    for brand_id, rtype, channel, count in self.env["iys.query.run"]._iys_ledger_plan(self._brands())
                ]
            else:
                plan = self._query_plan()
                rows = [
                    (brand.display_name, f"{channels.get(channel)} · {rtypes.get(rtype)}", len(addresses))
                    for (brand, rtype, channel), addresses in sorted(plan.items(),
                                                                     key=lambda kv: (kv[0][0].id, kv[0][1:]))
                ]
            header = (self.env._("Brand"), self.env._("Channel"), self.env._("Addresses to query"))
        else:
            rows = [
                (brand.display_name, brand.account_id.display_name,
                 fields.Datetime.to_string(brand.iys_last_pull_date) if brand.iys_last_pull_date
                 else self.env._("never (full resync)"))
                for brand in self._brands()
            ]
            header = (self.env._("Brand"), self.env._("Account"), self.env._("Last pull"))
        if not rows:
            return self._notify_nothing(self.env._("Nothing to do for this selection."))
        html = self._html_table(header, rows)
        if self.mode == "query" and self._query_in_background(sum(row[2] for row in rows)):
            html += Markup("<p class='text-muted'>%s</p>") % self.env._(
                "This query runs in the background, in chunks of 1000 addresses: the result is kept as a status "
                "query record, and you get a message when it ends.")
        self.write({"state": "preview", "preview_html": html})
        return self._reopen()

    def _notify_nothing(self, message):
        """'Nothing to do' is information, not an error: say it and keep the wizard open."""
        return self._notify(self.env._("Synchronise with İYS"), message, "info", next_action=self._reopen())

    @api.model
    def _notify(self, title, message, kind, links=None, next_action=None, sticky=False):
        return self.env["iys.account"]._iys_notify(title, message, kind, sticky=sticky, links=links,
                                                   next_action=next_action)

    # ------------------------------------------------------------------------------------------
    # Run
    # ------------------------------------------------------------------------------------------
    def action_run(self):
        self.ensure_one()
        self._check_manager()
        wizard = self.with_context(iys_lang=self.env.user.lang)
        if self.mode == "push":
            stats = wizard._run_push()
        elif self.mode == "poll":
            stats = wizard._run_poll()
        elif self.mode == "query":
            plan = None if self.scope == "all" else self._query_plan()
            if self._query_in_background(sum(map(len, plan.values())) if plan is not None else None):
                return wizard._start_background_query(plan)
            stats = wizard._run_query(plan)
        else:
            stats = wizard._run_pull()
        lines = [
            (self.env._("Sent"), stats.sent),
            (self.env._("Confirmed by İYS"), stats.confirmed),
            (self.env._("Refused"), stats.refused),
            (self.env._("Still processed by İYS"), stats.waiting),
            (self.env._("Applied from İYS"), stats.applied),
            (self.env._("Waiting for İYS's answer to an earlier movement of the same address"), stats.behind),
            (self.env._("Unchanged"), stats.unchanged),
            (self.env._("Differences"), stats.differences),
        ]
        html = self._html_table(
            (self.env._("Result"), self.env._("Count")), [line for line in lines if line[1]] or lines[:1]
        )
        if stats.reasons:
            html += self._html_table(
                (self.env._("Refusal"), self.env._("Count")),
                sorted(stats.reasons.items()),
            )
        if stats.details:
            html += self._html_table(
                (self.env._("Address"), self.env._("Brand"), self.env._("Channel"), self.env._("Odoo"),
                 self.env._("İYS"), self.env._("Note")),
                stats.details,
            )
        if stats.errors:
            html += Markup("<p class='text-danger'>%s</p>") % "; ".join(dict.fromkeys(stats.errors))
        self.write({
            "state": "done", "result_html": html, "sent_count": stats.sent, "confirmed_count": stats.confirmed,
            "refused_count": stats.refused, "applied_count": stats.applied, "unchanged_count": stats.unchanged,
            "difference_count": stats.differences,
        })
        return self._result_notification(stats, [line for line in lines if line[1]])

    def _result_notification(self, stats, lines):
        """What the run did, as an Odoo notification with links to the outbox; the view behind is
        reloaded so that it shows the new states (the wizard stays open only to show differences)."""
        parts = [f"{label}: {count}" for label, count in lines] or [self.env._("Nothing changed")]
        message = ", ".join(parts) + "."
        waiting = self._outbox("sent") if self.mode in ("push", "poll") else self.env["iys.outbox"]
        if waiting:
            message += " " + self.env._(
                "İYS's answers to %(count)s movements are due from %(time)s: the scheduled action fetches them "
                "then, or use “Fetch İYS's answers to sent movements” in Synchronise now.",
                count=len(waiting), time=self._format_time(self._due_at(waiting)))
        if stats.errors:
            message += " " + "; ".join(dict.fromkeys(stats.errors))
        links = []
        if self.mode in ("push", "poll"):
            links.append({"label": self.env._("Open the outbox"),
                          "url": "/odoo/action-l10n_tr_iys.action_iys_outbox_states"})
            message += " %s"
            if stats.refused:
                links.append({"label": self.env._("See the refused movements"),
                              "url": "/odoo/action-l10n_tr_iys.action_iys_outbox"})
                message += " · %s"
        kind = "danger" if stats.errors and not (stats.sent or stats.confirmed or stats.applied) else (
            "warning" if stats.refused or stats.errors else "success")
        next_action = self._reopen() if stats.details else {"type": "ir.actions.client", "tag": "soft_reload"}
        return self._notify(self.env._("Synchronisation with İYS"), message, kind, links=links,
                            next_action=next_action, sticky=bool(waiting or stats.refused or stats.errors))

    def action_close(self):
        """Close and reload the view behind (it shows what the run changed)."""
        return {"type": "ir.actions.client", "tag": "soft_reload"}

    def _run_push(self):
        rows = self._outbox()
        Outbox = self.env["iys.outbox"].sudo()
        if not rows:
            return SyncStats()
        brands = rows.brand_id
        stats = Outbox._iys_push(brands=brands, outbox_ids=rows.ids)
        # Results are fetched at once where the account allows it (the simulator answers at once;
        # İYS wants 300 s, then the cron fetches them).
        stats.add(Outbox._iys_poll(brands=brands, outbox_ids=rows.ids))
        rows.invalidate_recordset()
        pending = rows.filtered(lambda r: r.state == "pending")
        if pending:
            # A movement goes to İYS only once İYS has answered the earlier movement of its consent
            # (one movement per address at a time): say so, rather than "unchanged".
            behind = pending.sudo()._iys_behind_earlier()
            stats.behind += len(behind)
            stats.unchanged += len(pending - behind)
        return stats

    def _run_poll(self):
        rows = self._outbox("sent")
        if not rows:
            return SyncStats()
        stats = self.env["iys.outbox"].sudo()._iys_poll(brands=rows.brand_id, outbox_ids=rows.ids)
        return stats

    def _run_pull(self):
        stats = SyncStats()
        for brand in self._brands():
            stats.add(brand._iys_pull(max_pages=PULL_PAGES_MAX))
        return stats

    def _query_in_background(self, count=None):
        """Whether “Ask İYS for the current status” runs in the background: always for the whole
        ledger, and for selections of more than ``l10n_tr_iys.query_sync_max`` addresses (1000)."""
        return self.scope == "all" or (count or 0) > self.env["iys.query.run"]._iys_sync_max()

    def _start_background_query(self, plan=None):
        """Queue the query as a status query record (one per company) and say so, with a link."""
        runs = self.env["iys.query.run"]._iys_create_runs(self._brands(), self.scope, self.fetch_details, plan)
        if not runs:
            return self._notify_nothing(self.env._("Nothing to do for this selection."))
        total = sum(runs.mapped("total_count"))
        message = self.env._(
            "The status query of %(count)s addresses started in the background. You get a message when it ends; "
            "follow it here:", count=total).replace("%", "%%") + " " + ", ".join(["%s"] * len(runs))
        links = [{"label": run.name, "url": f"/odoo/action-l10n_tr_iys.action_iys_query_run/{run.id}"} for run in runs]
        self.write({
            "state": "done", "query_run_ids": [(6, 0, runs.ids)],
            "result_html": Markup("<p>%s</p>") % self.env._(
                "The status query of %(count)s addresses runs in the background. Its result is kept as a status "
                "query record (Synchronisation > Status queries); you get a message when it ends.", count=total),
        })
        return self._notify(self.env._("Synchronisation with İYS"), message, "info", links=links,
                            next_action=self._reopen())

    def action_open_query_runs(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("l10n_tr_iys.action_iys_query_run")
        if len(self.query_run_ids) == 1:
            action.update(res_id=self.query_run_ids.id, views=[(False, "form")], view_mode="form")
        else:
            action["domain"] = [("id", "in", self.query_run_ids.ids)]
        return action

    def _run_query(self, plan=None):
        """Ask İYS in the click (small selections); the comparison is the background runs'
        (:meth:`iys.query.run._iys_compare_addresses`)."""
        stats = SyncStats()
        plan = self._query_plan() if plan is None else plan
        Run = self.env["iys.query.run"]
        channels = dict(self.env["iys.consent"]._fields["channel"]._description_selection(self.env))
        lookups_left = LOOKUP_MAX if self.fetch_details else 0
        for (brand, rtype, channel), addresses in sorted(plan.items(), key=lambda kv: (kv[0][0].id, kv[0][1:])):
            account = brand.account_id
            lang = account._iys_lang()
            client = account._iys_client(brand)
            try:
                try:
                    onay = client.get_multiple_status(rtype, channel, sorted(addresses), brand_code=int(brand.code))
                except IysError as exc:
                    stats.errors.append(f"{brand.display_name}: {error_code_and_text(exc, lang)[1]}")
                    continue
                local = Run._iys_local_consents(brand, rtype, channel, list(addresses))
                lines, used, quota_reached = Run._iys_compare_addresses(
                    client, brand, rtype, channel, addresses, onay, local, stats, lookups_left, lang)
                lookups_left = 0 if quota_reached else lookups_left - used
                stats.details.extend(
                    (line["address"], brand.display_name, f"{channels.get(channel)} · {rtype}", line["odoo_status"],
                     line["iys_status"], line["note"])
                    for line in lines
                )
            finally:
                client.token_store.release()
        return stats

    # ------------------------------------------------------------------------------------------
    # Helpers
    # ------------------------------------------------------------------------------------------
    @api.model
    def _html_table(self, header, rows):
        head = Markup().join(Markup("<th>%s</th>") % cell for cell in header)
        body = Markup().join(
            Markup("<tr>%s</tr>") % Markup().join(Markup("<td>%s</td>") % cell for cell in row) for row in rows
        )
        return Markup("<table class='table table-sm o_iys_sync_table'><thead><tr>%s</tr></thead>"
                      "<tbody>%s</tbody></table>") % (head, body)

    def action_back(self):
        self.ensure_one()
        self.write({"state": "draft", "preview_html": False, "result_html": False})
        return self._reopen()

    def _reopen(self):
        return {
            "type": "ir.actions.act_window",
            "res_model": self._name,
            "res_id": self.id,
            "view_mode": "form",
            # explicit views: a notification's "next" action reaches the web client as it is (no
            # server-side clean-up generates them), and without views it fails to open
            "views": [(False, "form")],
            "target": "new",
            "name": self.env._("Synchronise with İYS"),
        }
