# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
"""The İYS panel: the figures of the app's landing page.

``iys.panel.get_panel_data(brand_ids)`` returns a JSON-able dict of *sections*. The web client
calls it with ``lazy=True`` (the cheap sections, and the heavy ones listed under ``deferred``),
paints, then fetches each heavy section with ``get_panel_section(key, brand_ids)``, all at once. Each section has a
title, optional cards (label, value, level, hint, action) and an optional small table (headers,
rows of cells); a cell is a plain value or ``{"value", "hint", "action", "level"}``. Every number
comes with the ``ir.actions.act_window`` that opens the rows it counts (same domain, same rows),
and is read with one SQL query or ``_read_group`` over stored, indexed columns.

Other features add sections through ``_iys_panel_section(brands)`` on their own model (see
:data:`EXTENSION_MODELS`); the panel calls it when the model is in the registry.
"""
from collections import defaultdict
from datetime import datetime, time, timedelta

import pytz

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import SQL
from odoo.tools.misc import format_datetime

from . import iys_policy
from .iys_account import HEALTH_WARNING_RATIO, IYS_WHITELIST_RATIO
from .iys_consent_mixin import STATE_FIELDS
from .iys_selections import IYS_ORIGINS
from .iys_sync_common import code_text, lang_of

#: models whose ``_iys_panel_section(brands)`` adds a section (when installed)
EXTENSION_MODELS = ("iys.reconciliation", "iys.alert", "iys.query.run")
#: sections the web client fetches after the first paint, each by its own call (``get_panel_section``)
HEAVY_SECTIONS = ("audience", "movements")
CHANNELS = ("MESAJ", "EPOSTA", "ARAMA")
POLICY_STATES = (iys_policy.ALLOWED, iys_policy.NO_CONSENT, iys_policy.REFUSED, iys_policy.UNCONFIRMED)
#: days of movements the graph shows
MOVEMENT_DAYS = 30
#: source classes of the graph, in order
SOURCE_CLASSES = ("own", "citizen", "import")
LIST_VIEWS = [[False, "list"], [False, "form"]]


class IysPanel(models.AbstractModel):
    _name = "iys.panel"
    _description = "İYS Panel"

    # ------------------------------------------------------------------------------------------
    # Entry point
    # ------------------------------------------------------------------------------------------
    @api.model
    def get_panel_data(self, brand_ids=None, now=None, lazy=False):
        """Every figure of the panel for the brands of the user's companies (``brand_ids`` narrows
        them; ids of other companies are ignored). ``now`` is for tests.

        With ``lazy``, the heavy sections (:data:`HEAVY_SECTIONS`) are left out and listed under
        ``deferred`` instead (key, title, sequence, and the ``parts``: the ``brand_ids`` of each
        :meth:`get_panel_section` call that fetches them), so the page paints at once and fetches
        them concurrently."""
        brands, all_brands, accounts = self._panel_scope(brand_ids)
        now = self._panel_now(now)
        is_manager = self.env.user.has_group("l10n_tr_iys.group_iys_manager")
        data = {
            "brands": [{"id": b.id, "name": b.display_name, "company": b.company_id.name} for b in all_brands],
            "brand_ids": brands.ids,
            "multi_company": len(all_brands.company_id) > 1,
            "is_manager": is_manager,
            "generated_at": format_datetime(self.env, now),
            "empty": self._empty_state(accounts, all_brands, is_manager),
            "sections": [],
            "deferred": [],
        }
        if not brands:
            return data
        self.env.flush_all()
        sections = [
            self._section_queue(brands, now),
            self._section_health(brands, now),
            self._section_sync(brands, accounts, now),
            self._section_imports(brands),
        ]
        for name in EXTENSION_MODELS:
            if name in self.env and hasattr(self.env[name], "_iys_panel_section"):
                sections.append(self.env[name]._iys_panel_section(brands))
        if lazy:
            data["deferred"] = [
                # the audience is fetched per brand: each call scans one brand's contacts or ledger
                {"key": "audience", "sequence": 10, "title": self._audience_title(),
                 "parts": [[brand.id] for brand in brands]},
                {"key": "movements", "sequence": 60, "title": self._movements_title(), "parts": [brands.ids]},
            ]
        else:
            sections += [self._section_audience(brands), self._section_movements(brands, now)]
        data["sections"] = sorted((s for s in sections if s), key=lambda s: s.get("sequence", 100))
        return data

    @api.model
    def get_panel_section(self, key, brand_ids=None, now=None):
        """One heavy section of the panel (``audience`` or ``movements``, see :data:`HEAVY_SECTIONS`)
        for the brands of the user's companies (``brand_ids`` narrows them, as in
        :meth:`get_panel_data`); ``None`` when no brand is left. ``now`` is for tests."""
        if key not in HEAVY_SECTIONS:
            raise UserError(self.env._("The İYS panel has no section %(key)s; use one of: %(keys)s.",
                                       key=key, keys=", ".join(HEAVY_SECTIONS)))
        brands, _all_brands, _accounts = self._panel_scope(brand_ids)
        now = self._panel_now(now)
        if not brands:
            return None
        self.env.flush_all()
        if key == "audience":
            return self._section_audience(brands)
        return self._section_movements(brands, now)

    def _panel_scope(self, brand_ids):
        """(shown brands, brands of the user's companies, accounts of the user's companies), after
        checking that the user may open the panel."""
        if not self.env.user.has_group("l10n_tr_iys.group_iys_user"):
            raise AccessError(self.env._("Only İYS users may open the İYS panel."))
        company_ids = self.env.companies.ids
        all_brands = self.env["iys.brand"].sudo().search([("company_id", "in", company_ids)])
        brands = all_brands.filtered(lambda b: b.id in brand_ids) if brand_ids else all_brands
        accounts = self.env["iys.account"].sudo().search([("company_id", "in", company_ids)])
        return brands, all_brands, accounts

    def _panel_now(self, now):
        return fields.Datetime.to_datetime(now) if now else fields.Datetime.now().replace(microsecond=0)

    # ------------------------------------------------------------------------------------------
    # Helpers
    # ------------------------------------------------------------------------------------------
    def _action(self, res_model, name, domain, context=None, views=None):
        return {
            "type": "ir.actions.act_window",
            "res_model": res_model,
            "name": name,
            "domain": domain,
            "views": views or LIST_VIEWS,
            "context": dict(context or {}, create=False),
            "target": "current",
        }

    def _percent(self, part, whole):
        if not whole:
            return False
        return self.env._("%(percent)s %%", percent=round(100.0 * part / whole))

    def _selection_labels(self, model, fname):
        return dict(self.env[model]._fields[fname]._description_selection(self.env))

    def _empty_state(self, accounts, brands, is_manager):
        """What to do first on a fresh database (no account, no brand, no consent), or False."""
        action = self.env["ir.actions.act_window"]._for_xml_id("l10n_tr_iys.action_iys_account") \
            if is_manager else False
        if not accounts or not brands:
            return {
                "kind": "no_account",
                "title": self.env._("Connect your company to İYS first"),
                "text": self.env._(
                    "The panel shows your consents, the movements waiting for İYS and the state of the "
                    "synchronisation once an İYS account with at least one brand is configured. Start with the "
                    "local simulator: it needs no credentials."
                ) if is_manager else self.env._(
                    "No İYS account with a brand is configured for your companies yet: ask an İYS manager "
                    "to configure one."
                ),
                "button": self.env._("Configure an İYS account") if action else False,
                "action": action,
            }
        self.env.cr.execute(SQL("SELECT 1 FROM iys_consent WHERE brand_id IN %s LIMIT 1", tuple(brands.ids)))
        if not self.env.cr.fetchone():
            return {
                "kind": "no_consent",
                "title": self.env._("No consent recorded yet"),
                "text": self.env._(
                    "Import the consents you already hold (İYS › Import consents), pull the citizens' changes "
                    "from İYS (Synchronise now), or record consents on your contacts' İYS tab. Until then every "
                    "individual contact counts as without consent."
                ),
                "button": self.env._("Open the İYS accounts") if action else False,
                "action": action,
            }
        return False

    # ------------------------------------------------------------------------------------------
    # Who may receive a commercial message now
    # ------------------------------------------------------------------------------------------
    def _state_labels(self):
        return {
            iys_policy.ALLOWED: self.env._("May receive now"),
            iys_policy.NO_CONSENT: self.env._("Without consent"),
            iys_policy.REFUSED: self.env._("Refused (RET)"),
            iys_policy.UNCONFIRMED: self.env._("Waiting for İYS"),
        }

    def _state_levels(self):
        return {
            iys_policy.ALLOWED: "success",
            iys_policy.NO_CONSENT: "muted",
            iys_policy.REFUSED: "danger",
            iys_policy.UNCONFIRMED: "warning",
        }

    def _channel_labels(self):
        return {"MESAJ": self.env._("SMS"), "EPOSTA": self.env._("E-mail"), "ARAMA": self.env._("Calls")}

    def _section_audience(self, brands):
        """Per brand and channel: who may receive a commercial message now, and why not.

        The company's default brand is counted on its contacts' stored states (what the send gate
        and the contact filters say); another brand is counted on the addresses its ledger holds,
        through the same policy (contacts without a record there are not counted)."""
        labels, levels, channels = self._state_labels(), self._state_levels(), self._channel_labels()
        current = self.env.company
        rows = []
        for brand in brands:
            company = brand.company_id
            if company.iys_default_brand_id == brand:
                shared = company == current
                figures = self._contact_figures(company, shared)
                basis = self.env._("Contacts of %(company)s and shared contacts", company=company.name) \
                    if shared else self.env._("Contacts of %(company)s", company=company.name)
                # while the stored states are recomputed in the background, the figures may be stale: say so
                recomputing = company.sudo().iys_recompute_status
            else:
                figures = self._ledger_figures(brand)
                basis = self.env._("Addresses recorded for this brand (İYS ledger)")
                recomputing = False
            for channel in CHANNELS:
                total, counts, total_action, actions = figures[channel]
                cells = [
                    brand.display_name,
                    channels[channel],
                    {"value": total, "action": total_action, "hint": basis},
                ]
                for state in POLICY_STATES:
                    cells.append({
                        "value": counts.get(state, 0), "share": self._percent(counts.get(state, 0), total),
                        "level": levels[state] if counts.get(state) else "muted", "action": actions[state],
                    })
                cells.append({"value": recomputing, "hint": basis, "level": "warning"} if recomputing else basis)
                rows.append({"key": f"{brand.id}-{channel}", "cells": cells, "action": False})
        return {
            "key": "audience",
            "sequence": 10,
            "title": self._audience_title(),
            "hint": self.env._(
                "The default brand of a company is counted on its contacts, as the send gate decides for them; "
                "another brand on the addresses its İYS ledger holds (a contact without a record there has no "
                "consent, unless it is a merchant). Shares are over the contacts or addresses counted."
            ),
            "headers": [self.env._("Brand"), self.env._("Channel"), self.env._("With an address")]
            + [labels[s] for s in POLICY_STATES] + [self.env._("Counted on")],
            "rows": rows,
        }

    def _audience_title(self):
        return self.env._("Who may receive a commercial message now")

    def _contact_domain(self, company, shared):
        return [("company_id", "in", [company.id, False])] if shared else [("company_id", "=", company.id)]

    def _contact_figures(self, company, shared):
        """{channel: (total, {state: count}, total action, {state: action})} on the stored states of
        the company's contacts (active ones, as the lists show), in one scan."""
        Partner = self.env["res.partner"]
        Partner.flush_model(["email_normalized", "phone_sanitized", "company_id", "active", *STATE_FIELDS.values()])
        where = SQL("(company_id = %s OR company_id IS NULL)", company.id) if shared \
            else SQL("company_id = %s", company.id)
        # one scan, grouped on the three stored states (at most 5^3 groups): cheaper than filtered counts;
        # ``active`` (not ``active IS TRUE``) so that the covering index res_partner_iys_panel_states_idx
        # (partial on it, see ResPartner.init) serves it by an index-only scan
        self.env.cr.execute(SQL(
            """SELECT iys_sms_state, iys_email_state, iys_call_state, count(*), count(email_normalized),
                      count(phone_sanitized)
                 FROM res_partner WHERE active AND %s
             GROUP BY 1, 2, 3""", where,
        ))
        values = defaultdict(int)
        for sms, email, call, count, with_email, with_phone in self.env.cr.fetchall():
            for channel, state in (("MESAJ", sms), ("EPOSTA", email), ("ARAMA", call)):
                values[(channel, state)] += count
                values[(channel, "total")] += with_email if channel == "EPOSTA" else with_phone
        base = self._contact_domain(company, shared)
        labels, channels = self._state_labels(), self._channel_labels()
        result = {}
        for channel in CHANNELS:
            column = Partner._iys_address_column(channel)
            fname = STATE_FIELDS[channel]
            result[channel] = (
                values[(channel, "total")],
                {state: values[(channel, state)] for state in POLICY_STATES},
                self._action("res.partner", self.env._("Contacts with an address: %(channel)s",
                                                       channel=channels[channel]),
                             [*base, (column, "!=", False)]),
                {state: self._action("res.partner", f"{channels[channel]}: {labels[state]}",
                                     [*base, (fname, "=", state)]) for state in POLICY_STATES},
            )
        return result

    def _ledger_state_domain(self, state, policy):
        """Domain of the consents the policy (``decide``) puts in ``state``: written from the
        policy's table, checked against it by the tests."""
        confirmed, waiting = list(iys_policy.CONFIRMED_STATES), list(iys_policy.UNCONFIRMED_STATES)
        individual_onay = [("status", "=", "ONAY"), ("recipient_type", "!=", "TACIR")]
        if state == iys_policy.REFUSED:
            return [("status", "=", "RET")]
        if state == iys_policy.ALLOWED:
            ok_states = confirmed + waiting if policy == "allow" else confirmed
            return ["&", ("status", "!=", "RET"), "|", ("recipient_type", "=", "TACIR"),
                    ("sync_state", "in", ok_states)]
        if state == iys_policy.UNCONFIRMED:
            if policy == "allow":
                return [("id", "=", 0)]
            return [*individual_onay, ("sync_state", "in", waiting)]
        return [*individual_onay, ("sync_state", "not in", confirmed + waiting)]

    def _ledger_figures(self, brand):
        """The same figures as :meth:`_contact_figures`, over the addresses of the brand's ledger."""
        policy = brand.company_id.iys_pending_policy or "block"
        decision = iys_policy.decide_sql(SQL("recipient_type"), SQL("status"), SQL("sync_state"), policy)
        self.env.cr.execute(SQL(
            "SELECT channel, %s, count(*) FROM iys_consent WHERE brand_id = %s GROUP BY 1, 2", decision, brand.id,
        ))
        counts = defaultdict(dict)
        for channel, state, count in self.env.cr.fetchall():
            counts[channel][state] = count
        labels, channels = self._state_labels(), self._channel_labels()
        result = {}
        for channel in CHANNELS:
            base = [("brand_id", "=", brand.id), ("channel", "=", channel)]
            result[channel] = (
                sum(counts[channel].values()),
                counts[channel],
                self._action("iys.consent", self.env._("%(brand)s: %(channel)s addresses",
                                                       brand=brand.display_name, channel=channels[channel]), base),
                {state: self._action(
                    "iys.consent", f"{brand.display_name} · {channels[channel]}: {labels[state]}",
                    base + self._ledger_state_domain(state, policy),
                ) for state in POLICY_STATES},
            )
        return result

    # ------------------------------------------------------------------------------------------
    # The queue to İYS
    # ------------------------------------------------------------------------------------------
    def _duration_text(self, seconds):
        seconds = abs(int(seconds))
        days, rest = divmod(seconds, 86400)
        hours, rest = divmod(rest, 3600)
        if days:
            return self.env._("%(days)s d %(hours)s h", days=days, hours=hours)
        return self.env._("%(hours)s h %(minutes)s min", hours=hours, minutes=rest // 60)

    def _section_queue(self, brands, now):
        Outbox = self.env["iys.outbox"]
        base = [("brand_id", "in", brands.ids)]
        counts = dict(Outbox.sudo()._read_group(
            [*base, *Outbox._iys_states_domain(("pending", "sent", "expired"))], ["state"], ["__count"]))
        since = now - timedelta(days=7)
        cards = [
            {"key": "pending", "label": self.env._("Waiting to be sent"), "value": counts.get("pending", 0),
             "level": "info" if counts.get("pending") else "success", "hint": False,
             "action": self._action("iys.outbox", self.env._("Waiting to be sent"),
                                    [*base, ("state", "=", "pending")])},
        ]
        self.env.cr.execute(SQL(
            "SELECT id, create_date, deadline FROM iys_outbox WHERE state = 'pending' AND brand_id IN %s"
            " ORDER BY id LIMIT 1", tuple(brands.ids),
        ))
        oldest = self.env.cr.fetchone()
        if oldest:
            oid, created, deadline = oldest
            left = (deadline - now).total_seconds() if deadline else None
            if left is None:
                hint, level = self.env._("No İYS deadline"), "info"
            elif left <= 0:
                hint = self.env._("Past its İYS deadline by %(time)s", time=self._duration_text(left))
                level = "danger"
            else:
                hint = self.env._("%(time)s left before its İYS deadline (3 business days)",
                                  time=self._duration_text(left))
                level = "danger" if left < 86400 else "warning" if left < 2 * 86400 else "success"
            cards.append({
                "key": "oldest", "label": self.env._("Oldest waiting movement"),
                "value": self._duration_text((now - created).total_seconds()), "level": level, "hint": hint,
                "action": self._action("iys.outbox", self.env._("Oldest waiting movement"), [("id", "=", oid)]),
            })
        cards += [
            {"key": "sent", "label": self.env._("Sent, waiting for İYS's result"), "value": counts.get("sent", 0),
             "level": "info" if counts.get("sent") else "success", "hint": False,
             "action": self._action("iys.outbox", self.env._("Sent, waiting for İYS"),
                                    [*base, ("state", "=", "sent")])},
            {"key": "expired", "label": self.env._("Past the İYS deadline"), "value": counts.get("expired", 0),
             "level": "danger" if counts.get("expired") else "success",
             "hint": self.env._("Too late for İYS: collect fresh consent and record it."),
             "action": self._action("iys.outbox", self.env._("Past the İYS deadline"),
                                    [*base, ("state", "=", "expired")])},
        ]
        refused_base = [*base, ("state", "=", "failed"), ("result_at", ">=", since)]
        groups = Outbox.sudo()._read_group(refused_base, ["error_code"], ["__count", "id:min"])
        lang = lang_of(self.env)
        rows, total = [], 0
        for code, count, sample_id in sorted(groups, key=lambda g: -g[1]):
            total += count
            sample = Outbox.sudo().browse(sample_id)
            rows.append({"cells": [
                code or self.env._("(no code)"),
                code_text(code, lang) if code else self.env._("Refused without an İYS code."),
                sample._iys_next_step(now),
                {"value": count, "level": "danger",
                 "action": self._action("iys.outbox", self.env._("Refused: %(code)s", code=code or "-"),
                                        [*refused_base, ("error_code", "=", code or False)])},
            ], "action": False})
        cards.insert(3, {
            "key": "refused", "label": self.env._("Refused in the last 7 days"), "value": total,
            "level": "danger" if total else "success", "hint": self.env._("By İYS, or caught before sending"),
            "action": self._action("iys.outbox", self.env._("Refused in the last 7 days"), refused_base),
        })
        return {
            "key": "queue", "sequence": 20, "title": self.env._("The queue to İYS"), "cards": cards,
            "headers": [self.env._("İYS error"), self.env._("What it means"), self.env._("What to do"),
                        self.env._("Movements")] if rows else [],
            "rows": rows,
        }

    # ------------------------------------------------------------------------------------------
    # İYS's success ratio
    # ------------------------------------------------------------------------------------------
    def _section_health(self, brands, now):
        accounts = brands.account_id
        windows = (("24h", timedelta(hours=24), self.env._("24 hours")),
                   ("7d", timedelta(days=7), self.env._("7 days")))
        self.env.cr.execute(SQL(
            """SELECT account_id,
                      count(*) FILTER (WHERE state = 'done' AND result_at >= %(d1)s),
                      count(*) FILTER (WHERE state IN ('failed', 'expired') AND refused_locally IS NOT TRUE
                                         AND result_at >= %(d1)s),
                      count(*) FILTER (WHERE state = 'done'),
                      count(*) FILTER (WHERE state IN ('failed', 'expired') AND refused_locally IS NOT TRUE)
                 FROM iys_outbox
                WHERE account_id IN %(accounts)s AND result_at >= %(d7)s
             GROUP BY account_id""",
            d1=now - windows[0][1], d7=now - windows[1][1], accounts=tuple(accounts.ids),
        ))
        figures = {row[0]: {"24h": row[1:3], "7d": row[3:5]} for row in self.env.cr.fetchall()}
        cards = []
        for account in accounts:
            for key, delta, label in windows:
                done, refused = figures.get(account.id, {}).get(key, (0, 0))
                answered = done + refused
                ratio = done / answered if answered else None
                level = "muted" if ratio is None else "danger" if ratio < IYS_WHITELIST_RATIO \
                    else "warning" if ratio < HEALTH_WARNING_RATIO else "success"
                domain = [("account_id", "=", account.id), ("result_at", ">=", now - delta),
                          "|", ("state", "=", "done"), "&", ("state", "in", ["failed", "expired"]),
                          ("refused_locally", "=", False)]
                name = self.env._("İYS's answers, %(window)s", window=label)
                if len(accounts) > 1:
                    name = f"{account.name} · {name}"
                cards.append({
                    "key": f"ratio-{account.id}-{key}",
                    "label": self.env._("Success ratio, %(window)s", window=label)
                    + (f" · {account.name}" if len(accounts) > 1 else ""),
                    "value": self._percent(done, answered) or self.env._("no answer"),
                    "level": level,
                    "hint": self.env._("%(done)s recorded, %(refused)s refused by İYS (İYS acts below %(limit)s)",
                                       done=done, refused=refused, limit=self._percent(IYS_WHITELIST_RATIO, 1)),
                    "action": self._action("iys.outbox", name, domain),
                    "count": answered,
                })
        return {
            "key": "health", "sequence": 30, "title": self.env._("İYS's success ratio"),
            "hint": self.env._(
                "Movements İYS recorded over those it answered (refusals caught before sending are not counted). "
                "İYS takes an IP address off its whitelist when the ratio stays below %(limit)s for 96 hours; "
                "the panel warns below %(warning)s.",
                limit=self._percent(IYS_WHITELIST_RATIO, 1), warning=self._percent(HEALTH_WARNING_RATIO, 1),
            ),
            "cards": cards,
        }

    # ------------------------------------------------------------------------------------------
    # Synchronisation: last runs, crons, token lock
    # ------------------------------------------------------------------------------------------
    def _dt(self, value):
        return format_datetime(self.env, value) if value else self.env._("never")

    def _section_sync(self, brands, accounts, now):
        # Per brand, each through an index and a few rows, never the brand's whole history nor all
        # its rows waiting for an answer: the last poll is the latest answer (index on answered rows
        # by date); the last push is the later of the push of the newest row still waiting for
        # İYS's answer (index on sent rows, in id order: rows are sent in id order) and the push of
        # the latest answered row (a request is answered after it was sent).
        self.env["iys.outbox"].flush_model(["brand_id", "state", "sent_at", "result_at"])
        self.env.cr.execute(SQL(
            """SELECT b.id,
                      GREATEST(
                          (SELECT o.sent_at FROM iys_outbox o WHERE o.brand_id = b.id AND o.state = 'sent'
                            ORDER BY o.id DESC LIMIT 1),
                          (SELECT o.sent_at FROM iys_outbox o
                            WHERE o.brand_id = b.id AND o.result_at IS NOT NULL AND o.sent_at IS NOT NULL
                            ORDER BY o.result_at DESC LIMIT 1)),
                      (SELECT max(o.result_at) FROM iys_outbox o WHERE o.brand_id = b.id AND o.result_at IS NOT NULL)
                 FROM unnest(%s::int[]) AS b(id)""",
            list(brands.ids),
        ))
        last = {row[0]: row[1:] for row in self.env.cr.fetchall()}
        rows = []
        for brand in brands:
            push, poll = last.get(brand.id, (None, None))
            pull = brand.iys_last_pull_date
            stale = not pull or pull < now - timedelta(hours=24)
            rows.append({"cells": [
                brand.display_name, self._dt(push), self._dt(poll),
                {"value": self._dt(pull), "level": "warning" if stale else False,
                 "hint": brand.iys_pull_error or False},
            ], "action": False})
        cards = []
        brands.account_id.invalidate_recordset(["token_locked_until"])  # not stored: read it fresh
        for account in brands.account_id:
            if account.token_locked_until:
                cards.append({
                    "key": f"token-{account.id}", "label": self.env._("Token requests locked (H084)"),
                    "value": self._dt(account.token_locked_until), "level": "danger",
                    "hint": self.env._("%(account)s: İYS's hourly token limit was reached; the synchronisation "
                                       "waits until then.", account=account.name),
                    "action": False,
                })
        return {
            "key": "sync", "sequence": 40, "title": self.env._("Synchronisation"), "cards": cards,
            "headers": [self.env._("Brand"), self.env._("Last push"), self.env._("Last result fetched"),
                        self.env._("Last pull")],
            "rows": rows,
            "subtables": [self._cron_table()],
        }

    def _cron_table(self):
        data = self.env["ir.model.data"].sudo().search([("module", "=", "l10n_tr_iys"), ("model", "=", "ir.cron")])
        crons = self.env["ir.cron"].sudo().with_context(active_test=False).browse(data.mapped("res_id")).exists()
        is_admin = self.env.user.has_group("base.group_system")
        rows = []
        for cron in crons.sorted(lambda c: (c.name or "")):
            failing = cron.failure_count > 0
            state = self.env._("Failing %(count)s times since %(date)s", count=cron.failure_count,
                               date=self._dt(cron.first_failure_date)) if failing \
                else self.env._("Active") if cron.active else self.env._("Off")
            rows.append({"cells": [
                cron.name,
                {"value": state, "level": "danger" if failing else "success" if cron.active else "warning"},
                self._dt(cron.lastcall), self._dt(cron.nextcall) if cron.active else "-",
            ], "action": self._action("ir.cron", cron.name, [("id", "=", cron.id)],
                                      {"active_test": False}) if is_admin else False})
        return {
            "title": self.env._("Scheduled actions"),
            "headers": [self.env._("Scheduled action"), self.env._("State"), self.env._("Last run"),
                        self.env._("Next run")],
            "rows": rows,
        }

    # ------------------------------------------------------------------------------------------
    # Imports under way
    # ------------------------------------------------------------------------------------------
    def _section_imports(self, brands):
        Import = self.env["iys.consent.import"]
        running = Import.sudo().search([("brand_id", "in", brands.ids), ("state", "in", ("checking", "importing"))])
        if not running:
            return None
        states = self._selection_labels("iys.consent.import", "state")
        readable = Import.has_access("read")
        rows = [{"cells": [
            imp.name, imp.brand_id.display_name, states.get(imp.state, imp.state),
            self._percent(imp.progress, 100) or self._percent(0, 1),
        ], "action": self._action("iys.consent.import", imp.name, [("id", "=", imp.id)],
                                  views=[[False, "form"]]) | {"res_id": imp.id} if readable else False}
            for imp in running]
        return {
            "key": "imports", "sequence": 45, "title": self.env._("Imports under way"),
            "headers": [self.env._("Import"), self.env._("Brand"), self.env._("State"), self.env._("Progress")],
            "rows": rows,
        }

    # ------------------------------------------------------------------------------------------
    # Movements over time
    # ------------------------------------------------------------------------------------------
    def _source_classes(self):
        """{class: [origins]} over the event's origin selection (İYS-side: ``iys_*``)."""
        origins = [value for value, _label in self.env["iys.consent.event"]._fields["origin"]._description_selection(
            self.env)]
        # İYS-side movements: pull, push, status query, reconciliation (İYS_ORIGINS) and any later ``iys_*``
        citizen = [o for o in origins if o in IYS_ORIGINS or o.startswith("iys")]
        imports = [o for o in origins if o == "import"]
        own = [o for o in origins if o not in citizen and o not in imports]
        return {"own": own, "citizen": citizen, "import": imports}

    def _movements_title(self):
        return self.env._("Movements of the last %(days)s days", days=MOVEMENT_DAYS)

    def _section_movements(self, brands, now):
        tz = pytz.timezone(self.env.context.get("tz") or self.env.user.tz or "Europe/Istanbul")
        today = now.replace(tzinfo=pytz.utc).astimezone(tz).date()
        first = today - timedelta(days=MOVEMENT_DAYS - 1)
        days = [first + timedelta(days=i) for i in range(MOVEMENT_DAYS)]

        def utc(day):
            return tz.localize(datetime.combine(day, time.min)).astimezone(pytz.utc).replace(tzinfo=None)

        bounds = [(utc(day), utc(day + timedelta(days=1))) for day in days]
        classes = self._source_classes()
        class_of = {origin: key for key, origins in classes.items() for origin in origins}
        self.env.cr.execute(SQL(
            """SELECT width_bucket(create_date, %(starts)s::timestamp[]) - 1, channel, new_status, origin, count(*)
                 FROM iys_consent_event
                WHERE brand_id IN %(brands)s AND create_date >= %(start)s AND create_date < %(end)s
                  AND kind = 'status'
             GROUP BY 1, 2, 3, 4""",
            starts=[start for start, _end in bounds], brands=tuple(brands.ids), start=bounds[0][0],
            end=bounds[-1][1],
        ))
        index = {i: i for i in range(MOVEMENT_DAYS)}
        by_channel = defaultdict(lambda: [0] * MOVEMENT_DAYS)
        by_class = defaultdict(lambda: [0] * MOVEMENT_DAYS)
        for day, channel, status, origin, count in self.env.cr.fetchall():
            if day not in index:
                continue
            by_channel[(status, channel)][index[day]] += count
            by_class[(status, class_of.get(origin, "own"))][index[day]] += count
        channels = self._channel_labels()
        class_labels = {"own": self.env._("Our own"), "citizen": self.env._("Citizens on İYS"),
                        "import": self.env._("Imports")}
        base = [("brand_id", "in", brands.ids), ("kind", "=", "status"),
                ("create_date", ">=", fields.Datetime.to_string(bounds[0][0])),
                ("create_date", "<", fields.Datetime.to_string(bounds[-1][1]))]

        def datasets(groups, keys, labels, domain_of):
            result = []
            for status in ("ONAY", "RET"):
                for key in keys:
                    result.append({
                        "key": f"{status}-{key}", "status": status, "label": f"{status} · {labels[key]}",
                        "data": groups[(status, key)], "total": sum(groups[(status, key)]),
                        "domain": [("new_status", "=", status), *domain_of(key)],
                    })
            return result

        channel_sets = datasets(by_channel, CHANNELS, channels, lambda key: [("channel", "=", key)])
        class_sets = datasets(by_class, SOURCE_CLASSES, class_labels,
                              lambda key: [("origin", "in", classes[key] or ["-"])])
        name = self._movements_title()
        rows = []
        for status in ("ONAY", "RET"):
            cells = [status]
            for sets, keys in ((channel_sets, CHANNELS), (class_sets, SOURCE_CLASSES)):
                for key in keys:
                    ds = next(d for d in sets if d["key"] == f"{status}-{key}")
                    cells.append({"value": ds["total"], "action": self._action(
                        "iys.consent.event", f"{name}: {ds['label']}", base + ds["domain"])})
            rows.append({"cells": cells, "action": False})
        return {
            "key": "movements", "sequence": 60, "title": name,
            "hint": self.env._("Consents (ONAY) and refusals (RET) recorded per day: ours (contact forms, wizard, "
                               "unsubscribes …), the citizens' own on İYS (pull, push, status query), imports. "
                               "Click a bar to see its movements."),
            "headers": [self.env._("Movement")] + [channels[c] for c in CHANNELS]
            + [class_labels[k] for k in SOURCE_CLASSES],
            "rows": rows,
            "chart": {
                "labels": [format_date_short(self.env, day) for day in days],
                "day_domains": [[("create_date", ">=", fields.Datetime.to_string(a)),
                                 ("create_date", "<", fields.Datetime.to_string(b))] for a, b in bounds],
                "views": {"channel": channel_sets, "source": class_sets},
                "view_labels": {"channel": self.env._("By channel"), "source": self.env._("By source")},
                "action": self._action("iys.consent.event", name,
                                       [("brand_id", "in", brands.ids), ("kind", "=", "status")]),
            },
        }


def format_date_short(env, day):
    """'5 Ara' / 'Dec 5': a short day label in the user's language."""
    from babel.dates import format_date  # noqa: PLC0415 - babel is one of Odoo's requirements

    from odoo.tools.misc import babel_locale_parse  # noqa: PLC0415

    return format_date(day, "d MMM", locale=babel_locale_parse(env.lang or "en_US"))
