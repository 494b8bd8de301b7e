# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
import hashlib
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

from markupsafe import Markup

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tools import SQL

from ..iyslib import const, dates
from ..iyslib.errors import IysValidationError, explain
from ..iyslib.masking import mask_recipient, mask_text
from ..iyslib.normalize import normalize_recipient
from ..iyslib.rules import CurrentState, validate_consent, validate_fields, validate_transition
from . import iys_policy
from .iys_selections import (
    CHANNEL_SELECTION,
    IYS_ORIGINS,
    RECIPIENT_TYPE_SELECTION,
    SOURCE_SELECTION,
    STATUS_SELECTION,
    SYNC_STATE_SELECTION,
    stored_source,
)
from .iys_send_gate import execute_without_jit

_logger = logging.getLogger(__name__)

#: The key that opens the ledger for writing: the value of the context key ``iys_ledger_write``
#: must be this very object (checked with ``is``). A JSON-RPC client controls the whole context,
#: but only with JSON values, so it can never send it: only this module's own ways in
#: (:func:`ledger`, used by ``_iys_record_movements``, its bulk twin and the synchronisation) can.
_LEDGER = object()
#: changes of these fields change what the policy says for the addresses (stored states)
STATE_FIELDS_DEPS = {"brand_id", "channel", "recipient_type", "address", "status", "sync_state"}
#: what an opt-out captured by Odoo (blacklist, unsubscribe) records when nothing more is known:
#: a user put the address on a blacklist, i.e. the company decided to stop (HS_KARAR)
OPTOUT_DEFAULTS = {"origin": "blacklist", "source": "HS_KARAR"}


class OptOut(dict):
    """The details of an opt-out the recipient made on an unsubscribe page (origin, source, note,
    IP address, user agent, channel), as the controllers put them in the request's context under
    ``iys_optout``. A JSON-RPC client can put a dict there, never an instance of this class: the
    hooks trust only this type, so that no client makes the ledger say that İYS reported a refusal
    or that the recipient clicked a link from some address."""


def optout_from_context(env):
    """The opt-out details the unsubscribe pages set (see :class:`OptOut`), or ``{}``."""
    optout = env.context.get("iys_optout")
    return dict(optout) if isinstance(optout, OptOut) else {}


def ledger(records):
    """*records* (consents or events) opened for the ledger's own writes: as superuser (no group
    has write access to them) and with the ledger's key in the context. For the ledger's ways in
    only, after they checked what the user may do."""
    return records.sudo().with_context(iys_ledger_write=_LEDGER, tracking_disable=True)


def is_ledger(env):
    """Whether *env* is the ledger's own (see :func:`ledger`); never true for a client's context."""
    return env.su and env.context.get("iys_ledger_write") is _LEDGER


@dataclass
class MovementResult:
    """Outcome of one movement handed to :meth:`IysConsent._iys_record_movements`."""

    index: int
    consent: object = None
    event: object = None
    error: str = None
    error_code: str = None
    skipped: bool = False
    notes: list = field(default_factory=list)

    @property
    def ok(self):
        return not self.error


def iys_error_text(env, exc):
    """A library error explained in the user's language (Turkish or English)."""
    lang = "tr" if (env.lang or "").startswith("tr") else "en"
    if isinstance(exc, IysValidationError) or getattr(exc, "code", None):
        text = exc.explain(lang) if hasattr(exc, "explain") else str(exc)
        return f"{exc.code}: {text}" if exc.code and not text.startswith(exc.code) else text
    return str(exc)


class IysConsent(models.Model):
    """The consent ledger: the current İYS state of one address for one brand, channel and
    recipient type. Every change goes through :meth:`_iys_record_movements`, which validates
    it with the İYS library's rules, records an event and queues it for İYS."""

    _name = "iys.consent"
    _description = "İYS Consent"
    _inherit = ["mail.thread"]
    _order = "write_date desc, id desc"
    _rec_name = "address"

    # no index of its own: the unique constraint's index (brand_id, channel, recipient_type, address)
    # serves every lookup by brand, and one index less makes each import row cheaper to write
    brand_id = fields.Many2one("iys.brand", required=True, ondelete="restrict", tracking=True)
    account_id = fields.Many2one(related="brand_id.account_id", store=True, index=True)
    company_id = fields.Many2one(related="brand_id.company_id", store=True, index=True)
    channel = fields.Selection(CHANNEL_SELECTION, required=True)
    recipient_type = fields.Selection(RECIPIENT_TYPE_SELECTION, required=True, default="BIREYSEL")
    address = fields.Char(
        required=True,
        help="Normalised recipient: E.164 phone number (+905321112233) or lower-case e-mail address.",
    )
    status = fields.Selection(STATUS_SELECTION, required=True, tracking=True)
    consent_date = fields.Datetime(
        tracking=True,
        help="When the consent or refusal was obtained (shown in your time zone, sent to İYS in Turkish time).",
    )
    source = fields.Selection(SOURCE_SELECTION, tracking=True)
    iys_transaction_id = fields.Char("İYS transaction", index="btree_not_null", copy=False)
    iys_creation_date = fields.Datetime("Recorded by İYS on", copy=False)
    sync_state = fields.Selection(
        SYNC_STATE_SELECTION, required=True, default="pending", tracking=True, index=True, copy=False
    )
    iys_error_code = fields.Char("İYS error", copy=False)
    iys_error_message = fields.Text("İYS error explanation", copy=False)
    iys_error_explanation = fields.Char("What the İYS error means", compute="_compute_iys_error_explanation")
    deadline = fields.Datetime(
        help="The 3-business-day limit by which İYS must receive the last movement (Turkish public holidays excluded).",
        copy=False,
    )
    retailer_id = fields.Many2one(
        "iys.retailer", string="Collected by dealer", ondelete="restrict", index="btree_not_null", copy=False,
        help="The dealer that collected this consent (retailerCode on İYS).",
    )
    retailer_access_ids = fields.Many2many(
        "iys.retailer", "iys_consent_retailer_access_rel", "consent_id", "retailer_id",
        string="Dealers with access", copy=False,
        help="The dealers that may use this consent (retailerAccess on İYS).",
    )
    event_ids = fields.One2many("iys.consent.event", "consent_id", string="History")
    event_count = fields.Integer(compute="_compute_event_count")
    gate_state = fields.Selection(
        iys_policy.STATE_SELECTION,
        string="Commercial messages",
        compute="_compute_gate_state",
        help="What the send gate decides for a commercial message to this address.",
    )
    partner_ids = fields.Many2many("res.partner", compute="_compute_links", string="Contacts")
    mailing_contact_ids = fields.Many2many("mailing.contact", compute="_compute_links", string="Mailing contacts")
    lead_ids = fields.Many2many("crm.lead", compute="_compute_links", string="Leads")

    _sql_constraints = [
        (
            "brand_channel_type_address_uniq",
            "unique(brand_id, channel, recipient_type, address)",
            "There is already a consent for this brand, channel, recipient type and address.",
        ),
    ]

    def init(self):
        result = super().init()
        # The gate looks rows up by address within a brand and channel.
        self.env.cr.execute(
            SQL(
                "CREATE INDEX IF NOT EXISTS iys_consent_gate_idx ON iys_consent "
                "(address, channel, brand_id) INCLUDE (recipient_type, status, sync_state)"
            )
        )
        return result

    # ------------------------------------------------------------------------------------------
    # Computes
    # ------------------------------------------------------------------------------------------
    def _compute_event_count(self):
        counts = dict(
            self.env["iys.consent.event"]._read_group([("consent_id", "in", self.ids)], ["consent_id"], ["__count"])
        )
        for consent in self:
            consent.event_count = counts.get(consent, 0)

    @api.depends("recipient_type", "status", "sync_state", "company_id.iys_pending_policy")
    def _compute_gate_state(self):
        for consent in self:
            consent.gate_state = iys_policy.decide(
                consent.recipient_type, consent.status, consent.sync_state, consent.company_id.iys_pending_policy
            )

    def _compute_links(self):
        # Only the records the user may read (an İYS user is not necessarily a salesman).
        models_ = {
            "partner_ids": self.env["res.partner"],
            "mailing_contact_ids": self.env["mailing.contact"],
            "lead_ids": self.env["crm.lead"],
        }
        readable = {fname: model.has_access("read") for fname, model in models_.items()}
        # one search per model and address column for the whole page (a list shows 80 consents)
        holders = defaultdict(list)  # (fname, column, address) -> [record id]
        for fname, model in models_.items():
            if not readable[fname]:
                continue
            by_column = defaultdict(set)
            for consent in self:
                if consent.address:
                    by_column[model._iys_address_column(consent.channel)].add(consent.address)
            for column, addresses in by_column.items():
                for record in model.search_fetch([(column, "in", sorted(addresses))], [column], order="id"):
                    holders[(fname, column, record[column])].append(record.id)
        for consent in self:
            for fname, model in models_.items():
                ids = []
                if consent.address and readable[fname]:
                    column = model._iys_address_column(consent.channel)
                    ids = holders[(fname, column, consent.address)][:50]
                consent[fname] = model.browse(ids)

    def _compute_iys_error_explanation(self):
        lang = "tr" if (self.env.lang or "").startswith("tr") else "en"
        for consent in self:
            consent.iys_error_explanation = explain(consent.iys_error_code, lang) if consent.iys_error_code else False

    @api.depends("address", "channel", "brand_id")
    def _compute_display_name(self):
        channels = dict(self.env["iys.consent"]._fields["channel"]._description_selection(self.env))
        for consent in self:
            consent.display_name = f"{consent.address} · {channels.get(consent.channel, '')}"

    # ------------------------------------------------------------------------------------------
    # Integrity
    # ------------------------------------------------------------------------------------------
    @api.model_create_multi
    def create(self, vals_list):
        if not is_ledger(self.env):
            raise UserError(
                self.env._("Consents are recorded through the consent wizard, an import or İYS synchronisation.")
            )
        consents = super().create(vals_list)
        if not self.env.context.get("iys_defer_refresh"):
            consents._iys_refresh_holders()
        return consents

    def write(self, vals):
        # Only the chatter's own fields (followers, attachments …) may be written outside the ledger.
        if not is_ledger(self.env) and set(vals) - set(self.env["mail.thread"]._fields):
            raise UserError(
                self.env._(
                    "A consent's status, date and source change only through a new movement "
                    "(the consent wizard, an import or İYS synchronisation), so that its history stays complete."
                )
            )
        refresh = STATE_FIELDS_DEPS.intersection(vals) and not self.env.context.get("iys_defer_refresh")
        before = {(c.channel, c.address) for c in self} if refresh else set()
        result = super().write(vals)
        if refresh:
            # e.g. the synchronisation confirming an ONAY (sync_state pending -> confirmed)
            self.env["iys.consent.mixin"]._iys_refresh_states(before | {(c.channel, c.address) for c in self})
        return result

    def _iys_refresh_holders(self):
        """Recompute the stored states of the partners, leads and mailing contacts carrying these
        consents' addresses."""
        return self.env["iys.consent.mixin"]._iys_refresh_states({(c.channel, c.address) for c in self})

    @api.ondelete(at_uninstall=False)
    def _unlink_except_ledger(self):
        if not self.env.su:
            raise UserError(
                self.env._("Consents cannot be deleted: İYS keeps every movement. Record a refusal (RET) instead.")
            )

    # ------------------------------------------------------------------------------------------
    # Recording movements: the only way in
    # ------------------------------------------------------------------------------------------
    @api.model
    def _iys_prepare_movements(self, movements, results, raise_on_error, normalized=False):
        """First pass of both ways in (ORM and bulk): a known channel, the address normalised (unless
        the caller did it with the library: *normalized*), a brand. Returns [(result, movement)]
        of the movements that pass; the others get their error (and H-code) in their result."""
        prepared = []
        texts = {}  # consent text id -> (brand id, channel, state), read once per batch
        for result, mov in zip(results, movements, strict=True):
            try:
                channel = mov.get("channel")
                if channel not in const.TYPES:
                    raise ValidationError(self.env._("Unknown channel “%(channel)s”.", channel=channel))
                if not normalized:
                    mov = dict(mov, address=self._iys_normalize(channel, mov.get("address")))
                if not mov.get("brand_id"):
                    raise ValidationError(
                        self.env._("No İYS brand given for %(address)s.", address=mask_recipient(mov["address"]))
                    )
                self._iys_check_text_shown(mov, texts)
                prepared.append((result, mov))
            except ValidationError as exc:
                result.error = exc.args[0]
                result.error_code = getattr(exc.__cause__, "code", None)
                if raise_on_error:
                    raise
        return prepared

    @api.model
    def _iys_check_may_record(self, movements, origin, mode="local"):
        """Refuse what the *user* may not record (the ledger itself then writes as superuser, so
        this is the user's check): only İYS users record movements, only for brands they may read
        (their companies'), and only the synchronisation (as superuser) records what İYS reported;
        facts already registered on İYS (an import's reconciliation) only İYS managers bring in."""
        if self.env.su:
            return
        if not self.env.user.has_group("l10n_tr_iys.group_iys_user"):
            raise AccessError(self.env._("Only İYS users may record consents and refusals."))
        if origin in IYS_ORIGINS:
            raise AccessError(self.env._("Movements reported by İYS are recorded by the synchronisation only."))
        if mode != "local" and not self.env.user.has_group("l10n_tr_iys.group_iys_manager"):
            raise AccessError(self.env._("Only İYS managers may bring in consents already registered on İYS."))
        brand_ids = {mov.get("brand_id") for mov in movements if mov.get("brand_id")}
        self.env["iys.brand"].browse(sorted(brand_ids)).check_access("read")

    @api.model
    def _iys_normalize(self, channel, address):
        """Normalised address for a channel, or raise ValidationError with the library's reason."""
        try:
            return normalize_recipient(channel, address)
        except IysValidationError as exc:
            # (masked: Odoo logs the text of every error a request raises)
            text = iys_error_text(self.env, exc)
            if address and str(address).strip():
                text = text.replace(str(address).strip(), mask_recipient(address))
            raise ValidationError(mask_text(text)) from exc

    @api.model
    def _iys_record_movements(self, movements, origin, raise_on_error=True, now=None):
        """Record consent movements in the ledger, in order, each validated by the İYS rules.

        :param movements: list of dicts with keys ``brand_id`` (id), ``channel``, ``recipient_type``,
            ``address`` (any common spelling), ``status``, ``source``, ``consent_date`` (naive UTC
            datetime; defaults to now for local movements) and optionally ``evidence`` (dict with
            ``attachment_ids``, ``note``, ``ip_address``, ``user_agent``, ``notice_version``,
            ``consent_text_id`` (id of the ``iys.consent.text`` version shown), ``partner_id``)
            and, for movements reported by İYS, ``transaction_id`` and
            ``creation_date``.
        :param origin: one of the event origins (form, wizard, import, blacklist, unsubscribe,
            iys_pull, iys_push, iys_query, reconciliation, api). İYS origins are applied as facts (newest consent
            date wins, de-duplicated by transaction id) and never sent back to İYS.
        :param raise_on_error: raise a ValidationError on the first invalid movement (nothing is
            recorded), or else record the valid ones and report the others in the results.
        :returns: list of :class:`MovementResult`, in input order.
        """
        now = now or fields.Datetime.now()
        from_iys = origin in IYS_ORIGINS
        self._iys_check_may_record(movements, origin)
        results = [MovementResult(index=i) for i in range(len(movements))]
        prepared = self._iys_prepare_movements(movements, results, raise_on_error)
        consents = self._iys_lock_existing([mov for _r, mov in prepared])
        seen_transactions = set()
        if from_iys:
            transaction_ids = [mov.get("transaction_id") for _r, mov in prepared if mov.get("transaction_id")]
            if transaction_ids:
                seen_transactions = set(
                    self.env["iys.consent.event"].sudo().search(
                        [("transaction_id", "in", transaction_ids)]
                    ).mapped("transaction_id")
                )
        # What the user may do was checked above: the ledger writes as itself (no group may write it).
        Event = ledger(self.env["iys.consent.event"])
        Outbox = self.env["iys.outbox"].sudo()
        Ledger = ledger(self).with_context(iys_defer_refresh=True)
        for result, mov in prepared:
            key = (mov["brand_id"], mov["channel"], mov.get("recipient_type") or "BIREYSEL", mov["address"])
            consent = consents.get(key)
            try:
                if from_iys:
                    values = self._iys_prepare_incoming(consent, mov, seen_transactions, result)
                else:
                    values = self._iys_prepare_local(consent, mov, now, origin)
            except (ValidationError, UserError) as exc:
                result.error = exc.args[0]
                result.error_code = getattr(exc, "iys_code", None)
                if raise_on_error:
                    raise
                continue
            if values is None:  # duplicate or superseded: nothing to change
                result.consent = consent.with_env(self.env) if consent else consent
                result.skipped = True
                continue
            old_status = consent.status if consent else False
            consent_vals = values["consent"]
            if consent:
                consent.with_env(Ledger.env).write(consent_vals)
            else:
                consent = Ledger.create(
                    {
                        "brand_id": key[0],
                        "channel": key[1],
                        "recipient_type": key[2],
                        "address": key[3],
                        **consent_vals,
                    }
                )
                consents[key] = consent
            evidence = mov.get("evidence") or {}
            event = Event.create(
                {
                    "consent_id": consent.id,
                    **self._iys_event_values(mov, values, old_status, origin, from_iys, result),
                    "attachment_ids": [(6, 0, evidence.get("attachment_ids") or [])],
                }
            )
            if evidence.get("attachment_ids"):
                self.env["ir.attachment"].sudo().browse(evidence["attachment_ids"]).write(
                    {"res_model": "iys.consent.event", "res_id": event.id}
                )
            if values["to_send"]:
                Outbox.create(
                    {
                        "event_id": event.id,
                        "consent_id": consent.id,
                        "brand_id": consent.brand_id.id,
                        "payload": values["payload"],
                        "deadline": consent_vals.get("deadline"),
                    }
                )
            if mov.get("transaction_id"):
                seen_transactions.add(mov["transaction_id"])
            result.consent = consent.with_env(self.env)
            result.event = event.with_env(self.env)
            _logger.info(
                "İYS ledger: %s %s %s -> %s (%s)",
                key[1], key[2], mask_recipient(key[3]), consent_vals["status"], origin,
            )
        recorded = [result for result in results if result.event]
        if recorded:
            self._iys_after_movements(recorded)
        return results

    @api.model
    def _iys_after_movements(self, results):
        """What follows recorded movements: the stored states of the records carrying the touched
        addresses are recomputed, and each of those records gets a note in its chatter."""
        consents = self.browse([r.consent.id for r in results]).sudo()
        # (mapped: read from the cache in one go, not field by field for each of thousands of consents)
        holders = self.env["iys.consent.mixin"]._iys_refresh_states(
            set(zip(consents.mapped("channel"), consents.mapped("address"), strict=True)))
        if self.env.context.get("iys_skip_chatter") and (
            self.env.su
            or set(self.env["iys.consent.event"].sudo().browse([r.event.id for r in results]).mapped("origin"))
            == {"import"}
        ):
            # (a client sends any context: the notes are only left out of an import's movements,
            # whose events keep the file row, or by the system's own calls)
            return
        bodies = defaultdict(list)  # (model, id) -> [lines]
        holders_of = defaultdict(list)  # (channel, address) -> [(model, id)]: one look-up per event
        for channel, by_model_rows in holders.items():
            for name, rows in by_model_rows.items():
                for rid, address in rows.items():
                    holders_of[(channel, address)].append((name, rid))
        # one recordset: the events and their consents are read in batches, not one query each
        events = self.env["iys.consent.event"].sudo().browse([r.event.id for r in results])
        if not holders_of and not events.mapped("partner_id"):
            return  # no record carries these addresses: no note to leave
        for event in events:
            consent = event.consent_id
            targets = set(holders_of.get((consent.channel, consent.address), ()))
            if event.partner_id:
                targets.add(("res.partner", event.partner_id.id))
            if targets:
                line = self._iys_chatter_line(event)
                for target in targets:
                    bodies[target].append((line, consent.company_id.id))
        by_model = defaultdict(dict)
        for (name, rid), lines in bodies.items():
            by_model[name][rid] = lines
        for name, model_lines in by_model.items():
            records = self.env[name].sudo().browse(list(model_lines)).exists()
            if not records:
                continue
            # A record of another company does not hear of this company's brands (shared records,
            # without a company, carry the notes of every company's brands).
            company_of = {r.id: r.company_id.id for r in records} if "company_id" in records._fields else {}
            notes = {}
            for record in records:
                lines = [line for line, company in model_lines[record.id]
                         if not company_of.get(record.id) or company_of[record.id] == company]
                if lines:
                    notes[record.id] = Markup("<br/>").join(lines)
            if notes:
                records._message_log_batch(notes, author_id=self.env.user.partner_id.id)

    def _iys_chatter_line(self, event):
        """One line of the chatter note about a movement: who, channel, old -> new status, source."""
        def label(record, fname):
            value = record[fname]
            return dict(record._fields[fname]._description_selection(self.env)).get(value, value) if value else ""

        consent = event.consent_id
        if event.actor == "iys":
            who = self.env._("İYS")
        else:
            who = event.user_id.name or self.env._("the system")
        return Markup("%s") % self.env._(
            "İYS %(channel)s %(address)s (%(brand)s, %(type)s): %(old)s → %(new)s, source %(source_label)s, "
            "by %(who)s (%(origin)s).",
            channel=label(consent, "channel"),
            address=consent.address,
            brand=consent.brand_id.display_name,
            type=label(consent, "recipient_type"),
            old=label(event, "old_status") or self.env._("no record"),
            new=label(event, "new_status"),
            source_label=label(event, "source") or event.source_raw or "-",
            who=who,
            origin=label(event, "origin"),
        )

    # ------------------------------------------------------------------------------------------
    # Opt-outs captured by Odoo (blacklists, unsubscribe links)
    # ------------------------------------------------------------------------------------------
    @api.model
    def _iys_record_optout(self, channel, addresses):
        """:meth:`_iys_record_refusals` with the details of the opt-out in the context, if any
        (``iys_optout``: source, note, origin … set by the unsubscribe pages; its ``channel`` tells
        the caller which channel the page was about and is not passed on)."""
        optout = optout_from_context(self.env)
        optout.pop("channel", None)
        return self._iys_record_refusals(channel, addresses, **optout)

    @api.model
    def _iys_record_refusals(self, channel, addresses, origin=None, source=None, note=None, ip_address=None,
                             user_agent=None):
        """Record the refusal (RET) that an opt-out captured by Odoo means for İYS.

        For each address (any spelling; what İYS cannot accept is skipped), a RET is recorded
        for every active brand of each company that holds a consent of the address on this
        channel (of the user's companies only, unless superuser), plus the default brand of the
        current company; for the recipient types on
        record (consents of the address, and partners, leads or mailing contacts carrying it;
        individual when nothing is known). A RET with nothing on record in İYS stays in Odoo
        (İYS refuses a first RET) but still blocks the address. Refusals the ledger does not
        accept (e.g. already RET) are skipped and logged masked: an opt-out never fails because
        of İYS. Never records a consent (ONAY): that must be explicit.

        :returns: the :class:`MovementResult` list of what was attempted.
        """
        origin = origin or OPTOUT_DEFAULTS["origin"]
        source = source or OPTOUT_DEFAULTS["source"]
        Consent = self.sudo()
        normalized = set()
        for raw in addresses or ():
            try:
                normalized.add(normalize_recipient(channel, raw))
            except IysValidationError as exc:
                _logger.info("İYS opt-out (%s, %s) not recorded for %s: %s", origin, channel, mask_recipient(raw),
                             exc.code)
        if not normalized:
            return []
        existing = Consent.search([("channel", "=", channel), ("address", "in", sorted(normalized))])
        holder_types = defaultdict(set)
        for name, rows in self.env["iys.consent.mixin"]._iys_find_holders(channel, normalized).items():
            for record in self.env[name].sudo().browse(list(rows)):
                holder_types[rows[record.id]].add(record.iys_recipient_type or "BIREYSEL")
        default_brand = self.env.company.sudo().iys_default_brand_id
        Brand = self.env["iys.brand"].sudo()
        movements = []
        now = fields.Datetime.now().replace(microsecond=0)
        for address in sorted(normalized):
            mine = existing.filtered(lambda c, address=address: c.address == address)
            companies = mine.company_id
            if not self.env.su:
                # a user's blacklist is a decision of the user's companies: it does not withdraw, on
                # İYS, a consent another company holds (the recipient's own opt-outs run as superuser)
                companies &= self.env.user.company_ids
            brands = Brand.search([("company_id", "in", companies.ids)]) if companies else Brand
            brands |= default_brand
            types = set(mine.mapped("recipient_type")) | holder_types[address] or {"BIREYSEL"}
            for brand in brands.sorted("id"):
                for rtype in sorted(types):
                    current = mine.filtered(lambda c, brand=brand, rtype=rtype: c.brand_id == brand
                                            and c.recipient_type == rtype)
                    if current.status == "RET":
                        continue  # already refused: nothing to record
                    movements.append({
                        "brand_id": brand.id, "channel": channel, "recipient_type": rtype, "address": address,
                        "status": "RET", "source": source, "consent_date": now,
                        "evidence": {"note": note, "ip_address": ip_address, "user_agent": user_agent},
                    })
        if not movements:
            return []
        try:
            with self.env.cr.savepoint():
                results = Consent._iys_record_movements(movements, origin, raise_on_error=False, now=now)
        except Exception:  # an opt-out must never be lost because of İYS bookkeeping
            _logger.exception("İYS opt-out (%s, %s): the ledger failed; the opt-out itself is kept", origin, channel)
            return []
        for mov, result in zip(movements, results, strict=True):
            if result.error:
                _logger.info("İYS opt-out (%s, %s) skipped for %s: %s", origin, channel,
                             mask_recipient(mov["address"]), mask_text(result.error))
        return results

    @api.model
    def _iys_event_values(self, mov, values, old_status, origin, from_iys, result):
        """The values of the event recording one movement (both the ORM and the bulk path use them).

        :param values: what ``_iys_prepare_local``/``_iys_prepare_incoming`` returned for the movement
        """
        evidence = mov.get("evidence") or {}
        consent_vals = values["consent"]
        return {
            "old_status": old_status,
            "new_status": consent_vals["status"],
            "source": consent_vals.get("source"),
            "source_raw": mov.get("source"),
            "consent_date": consent_vals.get("consent_date"),
            "origin": origin,
            "user_id": self.env.uid,
            "actor": "iys" if from_iys else "user",
            "to_send": values["to_send"],
            "transaction_id": mov.get("transaction_id"),
            "iys_creation_date": mov.get("creation_date"),
            "evidence_note": evidence.get("note"),
            "ip_address": evidence.get("ip_address"),
            "user_agent": evidence.get("user_agent"),
            "notice_version": evidence.get("notice_version") or self._iys_text_version(evidence.get("consent_text_id")),
            "consent_text_id": evidence.get("consent_text_id") or False,
            "partner_id": evidence.get("partner_id"),
            "note": "\n".join(result.notes) or False,
        }

    @api.model
    def _iys_check_text_shown(self, mov, texts):
        """The consent text a movement links as shown must be one shown for its brand and channel
        (in use or superseded): evidence never names a draft, or another brand's or channel's text."""
        text_id = (mov.get("evidence") or {}).get("consent_text_id")
        if not text_id:
            return
        if text_id not in texts:
            text = self.env["iys.consent.text"].sudo().with_context(active_test=False).browse(text_id).exists()
            texts[text_id] = (text.brand_id.id, text.channel, text.state) if text else None
        known = texts[text_id]
        if not known or known[0] != mov["brand_id"] or known[1] != mov["channel"] or known[2] == "draft":
            raise ValidationError(self.env._(
                "%(address)s: the consent text given as shown is not a text in use or superseded for this brand "
                "and channel.", address=mask_recipient(mov["address"])))

    @api.model
    def _iys_text_version(self, text_id):
        """The version label of the consent text *text_id* (an id), or False."""
        if not text_id:
            return False
        return self.env["iys.consent.text"].sudo().browse(text_id).version or False

    @api.model
    def _iys_lock_existing(self, movements):
        """Fetch (and lock, so that two transactions never interleave movements of one address)
        the ledger rows the movements touch. Returns {(brand, channel, type, address): consent}."""
        if not movements:
            return {}
        keys = {
            (m["brand_id"], m["channel"], m.get("recipient_type") or "BIREYSEL", m["address"]) for m in movements
        }
        self.env.cr.execute(
            SQL(
                "SELECT id FROM iys_consent WHERE (brand_id, channel, recipient_type, address) IN %s "
                "ORDER BY id FOR UPDATE",
                tuple(keys),
            )
        )
        ids = [row[0] for row in self.env.cr.fetchall()]
        consents = self.browse(ids)
        return {(c.brand_id.id, c.channel, c.recipient_type, c.address): c for c in consents}

    def _iys_prepare_local(self, consent, mov, now, origin):
        """Validate a movement captured in Odoo; return the values to store or raise."""
        recipient_type = mov.get("recipient_type") or "BIREYSEL"
        status = mov.get("status")
        source = mov.get("source") or False
        consent_date = mov.get("consent_date") or None
        if consent_date is None and not (recipient_type == "TACIR" and not consent):
            consent_date = now
        if isinstance(consent_date, str):
            consent_date = fields.Datetime.to_datetime(consent_date)
        if consent_date:
            consent_date = consent_date.replace(microsecond=0)
        previous = None
        if consent and consent.status:
            previous = CurrentState(
                status=consent.status, consent_date=consent.consent_date or None, source=consent.source or None
            )
        notes = []
        to_send = True
        try:
            # the address was normalised by the library on the way in (_iys_normalize, or the import)
            body = validate_consent(
                mov["address"], mov["channel"], status, source or None, consent_date, recipient_type,
                previous=previous, now=now, recipient_normalized=True,
                # the dealer that collected it and the dealers given access with it (resolved to İYS
                # codes by _iys_prepare_dealers): İYS's retailerCode / retailerAccess
                retailer_code=mov.get("_dealer_code"), retailer_access=mov.get("_access_codes") or None,
            )
        except IysValidationError as exc:
            if status != "RET" or exc.code not in ("H175", "H467"):
                raise self._iys_validation_error(mov, recipient_type, exc) from exc
            # A refusal is honoured in Odoo whatever İYS would say: H175 (İYS has no record, so there
            # is nothing to withdraw there) and H467 (too late for İYS) only keep it from being sent.
            # Everything else (format, future date, RET over RET …) must still hold.
            to_send = False
            body = None
            notes.append(iys_error_text(self.env, exc))
            try:
                validate_fields(
                    mov["address"], mov["channel"], status, source or None, consent_date, recipient_type,
                    now=now, check_deadline=False, recipient_normalized=True,
                )
                if previous:
                    validate_transition(previous, status, consent_date, source or None, recipient_type)
            except IysValidationError as exc2:
                raise self._iys_validation_error(mov, recipient_type, exc2) from exc2
        # İYS must have the movement within 3 business days of the consent (or, for a merchant's first
        # record without a date, of its capture); a pre-law HS_2015 declaration has no such limit.
        deadline = dates.deadline(consent_date or now) if (to_send and source != "HS_2015") else False
        return {
            "consent": {
                "status": status,
                "consent_date": consent_date or False,
                "source": source,
                "sync_state": "pending" if to_send else "none",
                "iys_error_code": False,
                "iys_error_message": "\n".join(notes) or False,
                "deadline": deadline,
            },
            "to_send": to_send,
            "payload": body,
        }

    def _iys_validation_error(self, mov, recipient_type, exc):
        error = ValidationError(
            self.env._(
                "%(address)s (%(channel)s, %(type)s): %(reason)s",
                # masked, here and in the reason: Odoo logs the text of every error a request raises;
                # the masked form still tells the user which address is meant
                address=mask_recipient(mov["address"]), channel=mov["channel"], type=recipient_type,
                reason=mask_text(iys_error_text(self.env, exc)),
            )
        )
        error.iys_code = exc.code
        return error

    def _iys_prepare_incoming(self, consent, mov, seen_transactions, result):
        """A movement İYS reports (pull, push, status query): apply it when it is newer."""
        transaction_id = mov.get("transaction_id")
        if transaction_id and transaction_id in seen_transactions:
            return None
        status = mov.get("status")
        if status not in const.STATUSES:
            raise ValidationError(self.env._("İYS reported an unknown status “%(status)s”.", status=status))
        consent_date = mov.get("consent_date")
        if isinstance(consent_date, str):
            consent_date = dates.parse_iys_date(consent_date) if consent_date else None
        if consent and consent.consent_date and consent_date and consent_date < consent.consent_date:
            result.notes.append("older than the movement on record")
            return None
        return {
            "consent": {
                "status": status,
                "consent_date": consent_date or (consent.consent_date if consent else False),
                "source": stored_source(mov.get("source")) or False,
                "sync_state": "confirmed",
                "iys_transaction_id": transaction_id or False,
                "iys_creation_date": mov.get("creation_date") or False,
                "iys_error_code": False,
                "iys_error_message": False,
                "deadline": False,
            },
            "to_send": False,
            "payload": None,
        }

    # ------------------------------------------------------------------------------------------
    # The gate's lookup (bulk, SQL)
    # ------------------------------------------------------------------------------------------
    @api.model
    def _iys_gate_decisions(self, brand, channel, recipients, company=None, dealer=None):
        """Decide, in one query, for many recipients of one brand and channel.

        :param brand: iys.brand record (may be empty: then nothing is on record)
        :param recipients: iterable of (normalised address, recipient type)
        :param dealer: iys.retailer the messages are sent on behalf of, or None/empty (the brand
            sends): individuals then also need a consent the dealer may use (iys_policy)
        :returns: {(address, recipient_type): iys_policy state}
        """
        recipients = {(addr, rtype or "BIREYSEL") for addr, rtype in recipients if addr}
        if not recipients:
            return {}
        company = company or brand.company_id or self.env.company
        policy = company.iys_pending_policy or "block"
        dealer_access = None
        if dealer:
            may_send = self.env["iys.send.gate"]._iys_dealer_may_send(dealer, brand)
            dealer_access = iys_policy.dealer_access_sql(
                SQL("c.id"), SQL("c.retailer_id"), dealer.id if may_send else None
            )
        rows = {}
        if brand:
            self.flush_model(["brand_id", "channel", "recipient_type", "address", "status", "sync_state",
                              "retailer_id", "retailer_access_ids"])
            addresses = [a for a, _t in recipients]
            rtypes = [t for _a, t in recipients]
            # Sent as two texts split by PostgreSQL: quoting 100,000 array items one by one costs more
            # (client and server side) than the ledger lookup itself. Lines, unless an address has one.
            lines = "\n".join(addresses)
            if lines.count("\n") != len(addresses) - 1:
                source = SQL("unnest(%s::varchar[], %s::varchar[])", addresses, rtypes)
            else:
                source = SQL("unnest(string_to_array(%s, E'\\n'), string_to_array(%s, E'\\n'))",
                             lines, "\n".join(rtypes))
            query = SQL(
                """SELECT r.address, r.rtype, %(decision)s
                     FROM %(source)s AS r(address, rtype)
                LEFT JOIN iys_consent c
                       ON c.address = r.address AND c.channel = %(channel)s AND c.brand_id = %(brand)s
                      AND c.recipient_type = r.rtype""",
                decision=iys_policy.decide_sql(SQL("r.rtype"), SQL("c.status"), SQL("c.sync_state"), policy,
                                               dealer_access),
                source=source,
                channel=channel,
                brand=brand.id,
            )
            rows = {(addr, rtype): state for addr, rtype, state in execute_without_jit(self.env, query)}
        no_row_access = False if dealer else None
        for key in recipients.difference(rows):
            rows[key] = iys_policy.decide(key[1], None, None, policy, no_row_access)
        return rows

    # ------------------------------------------------------------------------------------------
    # Actions
    # ------------------------------------------------------------------------------------------
    def action_view_events(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("History of %(address)s", address=self.address),
            "res_model": "iys.consent.event",
            "view_mode": "list,form",
            "domain": [("consent_id", "=", self.id)],
            "context": {"create": False},
        }

    # ------------------------------------------------------------------------------------------
    # Demo data
    # ------------------------------------------------------------------------------------------
    @api.model
    def _iys_load_demo(self):
        """Consents of the demo contacts (demo/iys_demo.xml) in every interesting state, recorded
        through the ledger so that their events exist. Nothing is sent here: what İYS "reported"
        is recorded as facts, the local movements wait in the outbox for the synchronisation."""
        brand = self.env.ref("l10n_tr_iys.demo_iys_brand_main", raise_if_not_found=False)
        if not brand:
            return
        now = fields.Datetime.now().replace(microsecond=0)

        def reported(address, channel, status, source, days, rtype="BIREYSEL"):
            date = now - timedelta(days=days)
            key = f"demo:{brand.id}:{channel}:{rtype}:{address}:{status}"
            return {
                "brand_id": brand.id, "channel": channel, "recipient_type": rtype, "address": address,
                "status": status, "source": source, "consent_date": dates.to_iys_date(date),
                "transaction_id": hashlib.sha256(key.encode()).hexdigest(), "creation_date": date,
            }

        def local(address, channel, status, source, minutes, partner=None):
            return {
                "brand_id": brand.id, "channel": channel, "recipient_type": "BIREYSEL", "address": address,
                "status": status, "source": source, "consent_date": now - timedelta(minutes=minutes),
                "evidence": {"note": "Demo data", "partner_id": partner.id if partner else False},
            }

        def partner(xmlid):
            return self.env.ref(f"l10n_tr_iys.{xmlid}")

        self._iys_record_movements([
            reported("+905321000001", "MESAJ", "ONAY", "HS_WEB", 40),
            reported("ayse.yilmaz@example.com", "EPOSTA", "ONAY", "HS_WEB", 40),
            reported("+905321000005", "MESAJ", "ONAY", "HS_ISLAK_IMZA", 20),
            reported("+905321000009", "MESAJ", "RET", "IYS_WEB", 10, rtype="TACIR"),
            reported("satis@egegida.example.com", "EPOSTA", "RET", "IYS_WEB", 10, rtype="TACIR"),
            reported("selin.celik@example.com", "EPOSTA", "ONAY", "HS_WEB", 15),
        ], "iys_query")
        # Local movements İYS accepts on a first synchronisation, also from an empty İYS (the local
        # simulator): a refusal only follows a consent İYS gets first (İYS refuses a first RET with H175).
        # The refusals wait in the outbox until their consent is confirmed, then go with the next run.
        results = self._iys_record_movements([
            local("+905321000002", "MESAJ", "ONAY", "HS_MESAJ", 50, partner("demo_partner_pending")),
            local("mehmet.demir@example.com", "EPOSTA", "ONAY", "HS_WEB", 50, partner("demo_partner_pending")),
            local("+905321000003", "MESAJ", "ONAY", "HS_FIZIKSEL_ORTAM", 55, partner("demo_partner_refused")),
            local("+905321000007", "MESAJ", "ONAY", "HS_WEB", 45, partner("demo_partner_rejected")),
            local("+905321000010", "MESAJ", "ONAY", "HS_WEB", 20),
            local("emre.koc@example.com", "EPOSTA", "ONAY", "HS_WEB", 100),
        ], "api")
        self._iys_record_movements([
            local("+905321000003", "MESAJ", "RET", "HS_CAGRI_MERKEZI", 30, partner("demo_partner_refused")),
            local("emre.koc@example.com", "EPOSTA", "RET", "HS_EPOSTA", 25),
        ], "api")
        # İYS refused Burak Aydın's number (not in use according to the numbering plan): what the
        # synchronisation records when İYS answers H121. The movement is not sent again (a resend of
        # the same number would be refused again): its "What to do" says to correct the number.
        rejected = results[3]
        message = explain("H121", "en")
        ledger(rejected.consent).write(
            {"sync_state": "rejected", "iys_error_code": "H121", "iys_error_message": message}
        )
        ledger(rejected.event).write({"push_state": "rejected", "error_code": "H121", "error_message": message})
        self.env["iys.outbox"].sudo().search([("event_id", "=", rejected.event.id)]).write(
            {"state": "failed", "error_code": "H121", "error_message": message, "attempts": 1}
        )
