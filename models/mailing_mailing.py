# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
import hashlib
import json
from collections import Counter

from odoo import api, fields, models
from odoo.exceptions import AccessError, ValidationError
from odoo.osv import expression
from odoo.tools import SQL, split_every

from . import iys_policy
from .iys_send_gate import (
    ALL_FAILURE_TYPES,
    BLOCKING_REASONS,
    EPOSTA,
    FAILURE_REASONS,
    FAILURE_TYPES,
    LEDGER_COLUMNS,
    MESAJ,
    execute_without_jit,
)

#: fields whose change turns a transactional mailing back into a commercial one, unless an İYS
#: manager makes it: the classification was given for this content and these recipients
#: and, fingerprinted when a manager declares it, what "transactional" holds for (issue 15)
CONTENT_FIELDS = (
    "subject", "preview", "body_arch", "body_html", "body_plaintext", "sms_subject",
    "mailing_model_id", "mailing_domain", "contact_list_ids", "mailing_type", "attachment_ids",
    "iys_brand_id",
)
#: recipients decided per batch on the Python path of the forecast (models without the mixin)
FORECAST_BATCH = 1000


class MailingMailing(models.Model):
    _inherit = "mailing.mailing"

    iys_brand_id = fields.Many2one(
        "iys.brand",
        string="İYS brand",
        default=lambda self: self.env["iys.send.gate"]._iys_default_brand(),
        help="The brand whose İYS consents the send gate checks. Empty: the company's default brand.",
    )
    iys_retailer_id = fields.Many2one(
        "iys.retailer",
        string="On behalf of dealer",
        index="btree_not_null",
        domain="[('brand_id', '=?', iys_brand_id), ('sync_state', '=', 'registered'), ('status', '=', 'active')]",
        help="Sent on behalf of this dealer of the brand: the send gate reaches an individual only through a "
        "consent the dealer may use (dealer access, or collected by the dealer). Empty: the brand sends.",
    )
    iys_dealer_required = fields.Boolean("Dealer required", compute="_compute_iys_dealer_required")
    iys_message_class = fields.Selection(
        [("commercial", "Commercial"), ("transactional", "Transactional")],
        string="Message class",
        default="commercial",
        required=True,
        copy=False,
        help="Commercial: the İYS send gate checks every recipient's consent (Law 6563).\n"
        "Transactional: messages tied to an existing service (delivery, billing, account notices) "
        "are exempt; only an İYS manager may declare a mailing transactional, with a reason.",
    )
    iys_transactional_fingerprint = fields.Char(
        string="Approved transactional content",
        copy=False,
        readonly=True,
        groups="base.group_system",
        help="Fingerprint of the content and recipients an İYS manager declared transactional: the "
        "mailing skips the consent check only while they are unchanged.",
    )
    # forecast, before sending: recipients the gate would block now (one SQL query)
    iys_forecast_no_consent = fields.Integer("Blocked: No consent", compute="_compute_iys_forecast")
    iys_forecast_refused = fields.Integer("Blocked: Refused (RET)", compute="_compute_iys_forecast")
    iys_forecast_unconfirmed = fields.Integer("Blocked: Waiting for İYS", compute="_compute_iys_forecast")
    iys_forecast_no_dealer_access = fields.Integer("Blocked: No access for this dealer",
                                                   compute="_compute_iys_forecast")
    iys_forecast_total = fields.Integer("Blocked by İYS (forecast)", compute="_compute_iys_forecast")
    # after sending: traces the gate cancelled
    iys_blocked_no_consent = fields.Integer("Cancelled: No consent", compute="_compute_iys_blocked")
    iys_blocked_refused = fields.Integer("Cancelled: Refused (RET)", compute="_compute_iys_blocked")
    iys_blocked_unconfirmed = fields.Integer("Cancelled: Waiting for İYS", compute="_compute_iys_blocked")
    iys_blocked_no_dealer_access = fields.Integer("Cancelled: No access for this dealer",
                                                  compute="_compute_iys_blocked")
    iys_blocked_total = fields.Integer("Cancelled by İYS", compute="_compute_iys_blocked")

    # ------------------------------------------------------------------------------------------
    # Classification
    # ------------------------------------------------------------------------------------------
    @api.model_create_multi
    def create(self, vals_list):
        if any("iys_transactional_fingerprint" in vals for vals in vals_list):
            self._iys_refuse_fingerprint_write()
        if any(vals.get("iys_message_class") == "transactional" for vals in vals_list):
            self.env["iys.send.gate"]._iys_check_transactional_right()
        self.env["iys.send.gate"]._iys_check_brand_choice(vals_list)
        self.env["iys.send.gate"]._iys_check_dealer_choice(vals_list)
        mailings = super().create(vals_list)
        mailings._iys_check_dealer_required()
        transactional = mailings.filtered(lambda m: m.iys_message_class == "transactional")
        transactional._iys_approve_content()
        for mailing in transactional:
            mailing._iys_post_classification()
        return mailings

    def write(self, vals):
        if "iys_transactional_fingerprint" in vals:
            self._iys_refuse_fingerprint_write()
        self.env["iys.send.gate"]._iys_check_brand_choice([vals])
        self.env["iys.send.gate"]._iys_check_dealer_choice([vals])
        may_declare = self.env["iys.send.gate"]._iys_may_declare_transactional()
        marked = reverted = self.browse()
        if vals.get("iys_message_class") == "transactional":
            self.env["iys.send.gate"]._iys_check_transactional_right()
            marked = self.filtered(lambda m: m.iys_message_class != "transactional")
        elif vals.get("iys_message_class") == "commercial":
            reverted = self.filtered(lambda m: m.iys_message_class == "transactional")
        # What a manager declared transactional is this content for these recipients: when somebody
        # else changes them, the mailing is commercial again until a manager decides anew.
        watched = []
        if "iys_message_class" not in vals and not may_declare:
            watched = [fname for fname in CONTENT_FIELDS if fname in vals and fname in self._fields]
        before = {}
        if watched:
            before = {
                mailing: mailing._iys_snapshot(watched)
                for mailing in self.filtered(lambda m: m.iys_message_class == "transactional")
            }
        res = super().write(vals)
        if "iys_retailer_id" in vals:
            self._iys_check_dealer_required()
        changed = self.browse([m.id for m, old in before.items() if m._iys_snapshot(watched) != old])
        if changed:
            super(MailingMailing, changed).write({"iys_message_class": "commercial"})
        # the manager's approval is for what the mailing holds now: a manager's own edit renews it
        approved = marked
        if may_declare and any(fname in vals for fname in CONTENT_FIELDS):
            approved |= self.filtered(lambda m: m.iys_message_class == "transactional")
        approved._iys_approve_content()
        (reverted | changed)._iys_approve_content()
        for mailing in marked | reverted:
            mailing._iys_post_classification()
        for mailing in changed:
            mailing._iys_post_classification(content_changed=True)
        return res

    @api.constrains("iys_retailer_id", "iys_brand_id")
    def _check_iys_retailer_brand(self):
        for mailing in self.filtered("iys_retailer_id"):
            dealer = mailing.iys_retailer_id.sudo()
            if dealer.brand_id != mailing._iys_gate_brand():
                raise ValidationError(self.env._(
                    "The dealer %(dealer)s is a dealer of the brand %(dealer_brand)s: the mailing “%(mailing)s” "
                    "must be sent for that brand (set it as the mailing's İYS brand).",
                    dealer=dealer.name, dealer_brand=dealer.brand_id.name,
                    mailing=mailing.subject or mailing.name or "",
                ))

    def _iys_check_dealer_required(self):
        """A dealer user's mailings are sent on behalf of their dealer (the record rule of the dealer
        group enforces it; this says it in words)."""
        if self.env.su or not self.env["iys.send.gate"]._iys_is_dealer_only():
            return
        if any(not mailing.iys_retailer_id for mailing in self):
            raise AccessError(self.env._(
                'As a dealer user you send mailings only on behalf of your dealer: choose it in "On behalf of dealer".'
            ))

    @api.onchange("iys_retailer_id")
    def _onchange_iys_retailer_id(self):
        # a dealer sends for its own brand
        if self.iys_retailer_id and self.iys_retailer_id.brand_id != self.iys_brand_id:
            self.iys_brand_id = self.iys_retailer_id.brand_id

    @api.depends_context("uid")
    def _compute_iys_dealer_required(self):
        required = self.env["iys.send.gate"]._iys_is_dealer_only()
        for mailing in self:
            mailing.iys_dealer_required = required

    @api.model
    def default_get(self, fields_list):
        values = super().default_get(fields_list)
        # a dealer user's mailing is sent on behalf of their dealer, for its brand
        if "iys_retailer_id" in fields_list and not values.get("iys_retailer_id"):
            dealer = self.env["iys.send.gate"]._iys_default_sending_dealer()
            if dealer:
                values["iys_retailer_id"] = dealer.id
                if "iys_brand_id" in fields_list:
                    values["iys_brand_id"] = dealer.brand_id.id
        return values

    def _iys_refuse_fingerprint_write(self):
        if not self.env.su:
            raise AccessError(self.env._(
                "The approved transactional content is recorded by the send gate when an İYS manager "
                "declares a mailing transactional; it cannot be written directly."
            ))

    def _iys_fingerprint(self):
        """A digest of what a transactional declaration covers: content, recipients, brand."""
        self.ensure_one()
        fnames = [fname for fname in CONTENT_FIELDS if fname in self._fields]
        snapshot = dict(zip(fnames, self.sudo()._iys_snapshot(fnames), strict=True))
        return hashlib.sha256(json.dumps(snapshot, sort_keys=True, default=str).encode()).hexdigest()

    def _iys_approve_content(self):
        """Record (transactional) or forget (commercial) the content a manager approved."""
        for mailing in self:
            stamp = mailing._iys_fingerprint() if mailing.iys_message_class == "transactional" else False
            mailing.sudo().write({"iys_transactional_fingerprint": stamp})

    def _iys_transactional_approved(self):
        """Transactional, and still the content and recipients the manager approved."""
        self.ensure_one()
        mailing = self.sudo()
        return (
            mailing.iys_message_class == "transactional"
            and bool(mailing.iys_transactional_fingerprint)
            and mailing.iys_transactional_fingerprint == mailing._iys_fingerprint()
        )

    def _iys_approved_recipients(self, model, res_ids):
        """The ids among ``res_ids`` of ``model`` that this mailing targets (its recipients)."""
        self.ensure_one()
        mailing = self.sudo()
        if not res_ids or not model or model != mailing.mailing_model_real:
            return set()
        domain = expression.AND([mailing._get_recipients_domain(), [("id", "in", list(res_ids))]])
        return set(self.env[model].sudo().search(domain).ids)

    def _iys_snapshot(self, fnames):
        """Comparable stored values of fields (ids for relations; for attachments, ids and content
        checksums: an attachment of the mailing may be rewritten in place by its editors)."""
        self.ensure_one()
        values = []
        for fname in fnames:
            value = self[fname]
            if isinstance(value, models.BaseModel) and value._name == "ir.attachment":
                value = tuple(sorted((attachment.id, attachment.checksum or "") for attachment in value.sudo()))
            elif isinstance(value, models.BaseModel):
                value = tuple(sorted(value.ids))
            values.append(value or False)
        return values

    def _iys_post_classification(self, content_changed=False):
        self.ensure_one()
        user = self.env.user.name
        if self.iys_message_class == "transactional":
            reason = self.env.context.get("iys_transactional_reason") or self.env._("no reason given")
            body = self.env._("Marked as transactional by %(user)s (İYS consent not checked). Reason: %(reason)s",
                              user=user, reason=reason)
        elif content_changed:
            body = self.env._("Content or recipients changed by %(user)s: back to commercial (İYS consent checked).",
                              user=user)
        else:
            body = self.env._("Marked as commercial by %(user)s (İYS consent checked).", user=user)
        self.message_post(body=body, subtype_xmlid="mail.mt_note")

    def action_iys_mark_transactional(self):
        """Open the wizard that asks why (İYS managers only)."""
        self.ensure_one()
        self.env["iys.send.gate"]._iys_check_transactional_right()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Mark as transactional"),
            "res_model": "iys.mailing.transactional",
            "view_mode": "form",
            "target": "new",
            "context": {"default_mailing_id": self.id},
        }

    def action_iys_mark_commercial(self):
        self.write({"iys_message_class": "commercial"})
        return True

    # ------------------------------------------------------------------------------------------
    # The gate's inputs
    # ------------------------------------------------------------------------------------------
    def _iys_gate_brand(self):
        """The brand checked for this mailing: its own, else the company's default one."""
        self.ensure_one()
        return self.iys_brand_id or self.env["iys.send.gate"]._iys_default_brand()

    def _iys_is_commercial(self):
        """Commercial unless an İYS manager declared this content for these recipients transactional
        and it is still what the mailing holds."""
        self.ensure_one()
        return not self._iys_transactional_approved()

    def _iys_gate_dealer(self):
        """The dealer the mailing is sent on behalf of (empty: the brand sends)."""
        self.ensure_one()
        return self.sudo().iys_retailer_id

    def _iys_channel(self):
        self.ensure_one()
        return MESAJ if self.mailing_type == "sms" else EPOSTA

    # ------------------------------------------------------------------------------------------
    # Forecast (before sending) and statistics (after)
    # ------------------------------------------------------------------------------------------
    @api.depends("mailing_model_id", "mailing_domain", "contact_list_ids", "mailing_type", "iys_brand_id",
                 "iys_retailer_id", "iys_message_class", "state")
    def _compute_iys_forecast(self):
        for mailing in self:
            counts = mailing._iys_forecast() if mailing.state != "done" else {}
            mailing.iys_forecast_no_consent = counts.get(iys_policy.NO_CONSENT, 0)
            mailing.iys_forecast_refused = counts.get(iys_policy.REFUSED, 0)
            mailing.iys_forecast_unconfirmed = counts.get(iys_policy.UNCONFIRMED, 0)
            mailing.iys_forecast_no_dealer_access = counts.get(iys_policy.NO_DEALER_ACCESS, 0)
            mailing.iys_forecast_total = sum(counts.get(reason, 0) for reason in BLOCKING_REASONS)

    def _compute_iys_blocked(self):
        groups = self.env["mailing.trace"].sudo()._read_group(
            [("mass_mailing_id", "in", self.ids), ("failure_type", "in", ALL_FAILURE_TYPES)],
            ["mass_mailing_id", "failure_type"],
            ["__count"],
        )
        counts = {mailing: Counter() for mailing in self}
        for mailing, failure_type, count in groups:
            counts.setdefault(mailing, Counter())[FAILURE_REASONS[failure_type]] += count
        for mailing in self:
            mailing_counts = counts.get(mailing._origin, Counter())
            mailing.iys_blocked_no_consent = mailing_counts[iys_policy.NO_CONSENT]
            mailing.iys_blocked_refused = mailing_counts[iys_policy.REFUSED]
            mailing.iys_blocked_unconfirmed = mailing_counts[iys_policy.UNCONFIRMED]
            mailing.iys_blocked_no_dealer_access = mailing_counts[iys_policy.NO_DEALER_ACCESS]
            mailing.iys_blocked_total = sum(mailing_counts.values())

    def _iys_forecast(self, reason=None, return_ids=False):
        """What the gate would block if the mailing were sent now, among the recipients it has not
        reached yet: ``{reason: number of addresses}``, or the record ids when ``return_ids``
        (only those blocked for ``reason`` when given).

        Recipients Odoo itself cancels first (no address, blacklisted, opted out) are left out, so
        the numbers match the traces the send then leaves. Mixin models (partners, leads, mailing
        contacts) are counted in one SQL query over the recipient domain; other models are decided
        by batches in Python through the gate's own address resolution.
        """
        self.ensure_one()
        empty = [] if return_ids else {}
        if not self.mailing_model_real or not self._iys_is_commercial():
            return empty
        Model = self.env[self.mailing_model_real]
        reasons = (reason,) if reason else BLOCKING_REASONS
        if self.env["iys.send.gate"]._iys_is_mixin_model(Model._name):
            return self._iys_forecast_sql(Model, reasons, return_ids)
        return self._iys_forecast_python(Model, reasons, return_ids)

    def _iys_forecast_sql(self, Model, reasons, return_ids):
        brand = self._iys_gate_brand()
        company = brand.company_id or self.env.company
        channel = self._iys_channel()
        column = Model._iys_address_column(channel)
        Model.flush_model([column, "iys_recipient_type"])
        self.env["iys.consent"].flush_model(LEDGER_COLUMNS)
        query = Model._search(self._get_recipients_domain())
        alias = query.table
        address = SQL.identifier(alias, column)
        rtype = SQL("COALESCE(%s, 'BIREYSEL')", SQL.identifier(alias, "iys_recipient_type"))
        query.add_join(
            "LEFT JOIN", "iys_gate_consent", "iys_consent",
            SQL(
                "iys_gate_consent.address = %s AND iys_gate_consent.channel = %s "
                "AND iys_gate_consent.brand_id = %s AND iys_gate_consent.recipient_type = %s",
                address, channel, brand.id or None, rtype,
            ),
        )
        query.add_where(SQL("%s IS NOT NULL", address))
        for condition in self._iys_forecast_exclusions(Model, alias, address, channel):
            query.add_where(condition)
        dealer = self._iys_gate_dealer()
        dealer_access = None
        if dealer:
            dealer_access = iys_policy.dealer_access_sql(
                SQL("iys_gate_consent.id"), SQL("iys_gate_consent.retailer_id"),
                dealer.id if self.env["iys.send.gate"]._iys_dealer_may_send(dealer, brand) else None,
            )
        decision = iys_policy.decide_sql(
            rtype, SQL("iys_gate_consent.status"), SQL("iys_gate_consent.sync_state"),
            company.iys_pending_policy or "block", dealer_access,
        )
        if return_ids:
            sql = SQL(
                "SELECT DISTINCT r.id FROM (%s) AS r WHERE r.decision IN %s",
                query.select(SQL("%s AS id", SQL.identifier(alias, "id")), SQL("%s AS decision", decision)),
                tuple(reasons),
            )
            return [row[0] for row in execute_without_jit(self.env, sql)]
        sql = SQL(
            "SELECT r.decision, COUNT(DISTINCT r.address) FROM (%s) AS r WHERE r.decision IN %s GROUP BY r.decision",
            query.select(SQL("%s AS address", address), SQL("%s AS decision", decision)),
            tuple(reasons),
        )
        return dict(execute_without_jit(self.env, sql))

    def _iys_forecast_exclusions(self, Model, alias, address, channel):
        """SQL conditions leaving out the recipients Odoo cancels before the gate looks at them."""
        conditions = []
        if self._origin.id:
            conditions.append(SQL(
                "NOT EXISTS (SELECT 1 FROM mailing_trace iys_t WHERE iys_t.mass_mailing_id = %s "
                "AND iys_t.model = %s AND iys_t.res_id = %s)",
                self._origin.id, Model._name, SQL.identifier(alias, "id"),
            ))
        if channel == EPOSTA:
            conditions.append(SQL(
                "NOT EXISTS (SELECT 1 FROM mail_blacklist iys_bl WHERE iys_bl.email = %s AND iys_bl.active)", address,
            ))
            if hasattr(self.env[self.mailing_model_name], "_mailing_get_opt_out_list"):
                opt_out = list(self._get_opt_out_list())
                if opt_out:
                    conditions.append(SQL("%s <> ALL(%s)", address, opt_out))
        else:
            conditions.append(SQL(
                "NOT EXISTS (SELECT 1 FROM phone_blacklist iys_bl WHERE iys_bl.number = %s AND iys_bl.active)",
                address,
            ))
            if hasattr(self.env[self.mailing_model_name], "_mailing_get_opt_out_list_sms"):
                opt_out_ids = list(self._get_opt_out_list_sms())
                if opt_out_ids:
                    conditions.append(SQL("%s <> ALL(%s)", SQL.identifier(alias, "id"), opt_out_ids))
        return conditions

    def _iys_forecast_python(self, Model, reasons, return_ids):
        """Forecast for models without the consent mixin: the gate's own resolution, in batches."""
        Gate = self.env["iys.send.gate"]
        brand = self._iys_gate_brand()
        channel = self._iys_channel()
        res_ids = Model.search(self._get_recipients_domain()).ids
        if self._origin.id and res_ids:
            traced = set(self.env["mailing.trace"].sudo().search(
                [("mass_mailing_id", "=", self._origin.id), ("model", "=", Model._name)]
            ).mapped("res_id"))
            res_ids = [rid for rid in res_ids if rid not in traced]
        blocked_ids, addresses = [], {reason: set() for reason in reasons}
        for batch in split_every(FORECAST_BATCH, res_ids):
            records = Model.browse(batch)
            if channel == EPOSTA:
                if not hasattr(records, "_message_get_default_recipients"):
                    return [] if return_ids else {}
                defaults = records._message_get_default_recipients()
                targets = Gate._iys_mail_targets(
                    (rid, Model._name, rid, values.get("email_to"), values.get("partner_ids") or [])
                    for rid, values in defaults.items()
                )
            else:
                info = records._sms_get_recipients_info()
                targets = Gate._iys_sms_targets(
                    (rid, Model._name, rid, values["sanitized"], values["partner"].id)
                    for rid, values in info.items()
                )
            for rid, reason in Gate._iys_decide(brand, channel, targets, dealer=self._iys_gate_dealer()).items():
                if reason in addresses:
                    blocked_ids.append(rid)
                    addresses[reason].update(address or rid for address, _t in targets[rid])
        if return_ids:
            return blocked_ids
        return {reason: len(found) for reason, found in addresses.items() if found}

    # ------------------------------------------------------------------------------------------
    # Odoo's duplicate detection
    # ------------------------------------------------------------------------------------------
    def _get_seen_list_extra(self):
        # Odoo cancels as duplicates the addresses a mailing already targeted, read from its traces:
        # an address the gate blocked was not reached, and an allowed record may still reach it.
        join_domain, where_domain = super()._get_seen_list_extra()
        where_domain += " AND (s.failure_type IS NULL OR s.failure_type NOT IN (%s))" % ", ".join(
            f"'{ftype}'" for ftype in ALL_FAILURE_TYPES
        )
        return join_domain, where_domain

    # ------------------------------------------------------------------------------------------
    # Actions
    # ------------------------------------------------------------------------------------------
    def action_iys_view_blocked_recipients(self):
        """The recipients the gate would block now (all reasons, or the context's ``iys_reason``)."""
        self.ensure_one()
        reason = self.env.context.get("iys_reason")
        if reason not in BLOCKING_REASONS:
            reason = None
        ids = self._iys_forecast(reason=reason, return_ids=True)
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Blocked by İYS: %(reason)s",
                               reason=self.env["iys.send.gate"]._iys_reason_labels()[reason])
            if reason else self.env._("Blocked by İYS"),
            "res_model": self.mailing_model_real,
            "view_mode": "list,form",
            "views": [(False, "list"), (False, "form")],
            "domain": [("id", "in", ids)],
            "context": {"create": False},
        }

    def _iys_reason_labels(self):
        """The labels of the reasons this mailing's messages can be blocked for ("no access for this
        dealer" only for a mailing sent on behalf of a dealer)."""
        labels = self.env["iys.send.gate"]._iys_reason_labels()
        if not any(mailing.sudo().iys_retailer_id for mailing in self):
            labels.pop(iys_policy.NO_DEALER_ACCESS, None)
        return labels

    def action_iys_view_blocked_traces(self):
        """The traces the gate cancelled (all reasons, or the context's ``iys_reason``)."""
        self.ensure_one()
        action = self._action_view_traces_filtered("canceled")
        reason = self.env.context.get("iys_reason")
        channel = self._iys_channel()
        if reason in BLOCKING_REASONS:
            types = [FAILURE_TYPES[channel][reason]]
        else:
            types = list(FAILURE_TYPES[channel].values())
        action["domain"] = [("failure_type", "in", types)]
        action["name"] = self.env._("Cancelled by İYS")
        return action
