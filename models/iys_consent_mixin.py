# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
from collections import defaultdict

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.osv import expression
from odoo.tools import SQL

from ..iyslib.errors import IysValidationError
from ..iyslib.normalize import normalize_phone
from . import iys_policy
from .iys_selections import RECIPIENT_TYPE_SELECTION, SOURCE_SELECTION

#: the stored per-channel state field of each İYS channel
STATE_FIELDS = {
    "MESAJ": "iys_sms_state",
    "ARAMA": "iys_call_state",
    "EPOSTA": "iys_email_state",
}
#: consent sync states that mean "İYS does not have it yet"
WAITING_SYNC_STATES = ("pending", "sent")
REJECTED_SYNC_STATES = ("rejected",)
STATE_HELP = (
    "What İYS rules allow for a commercial message on this channel, for the company's default İYS brand, "
    "on the address Odoo sends to. Empty when there is no usable address."
)


class IysConsentMixin(models.AbstractModel):
    """Records whose addresses need İYS consent (partners, leads, mailing contacts).

    In the spirit of ``mail.thread.phone``: a model inherits it and, if needed, says which
    recipient type its records are; the mixin gives the recipient type field, the addresses per
    channel, the stored per-channel states of the company's default brand (kept fresh by the
    ledger), the filters, and the lookups the send gate uses. The inheriting model must also
    inherit ``mail.thread.blacklist`` (``email_normalized``) and ``mail.thread.phone``
    (``phone_sanitized``, ``_phone_get_number_fields``).

    The states are computed on the address Odoo actually sends to: ``email_normalized`` for
    e-mail (EPOSTA), ``phone_sanitized`` for SMS (MESAJ) and calls (ARAMA). Records without a
    company use the current company (``env.company``).
    """

    _name = "iys.consent.mixin"
    _description = "Records whose addresses need İYS consent"

    iys_recipient_type = fields.Selection(
        RECIPIENT_TYPE_SELECTION,
        string="İYS recipient type",
        compute="_compute_iys_recipient_type",
        store=True,
        readonly=False,
        precompute=True,
        help="Individual (BIREYSEL): commercial messages need prior consent (ONAY) on İYS.\n"
        "Merchant (TACIR): commercial messages are allowed at business addresses until a refusal (RET).\n"
        "Only İYS users may change it; every change is noted in the chatter.",
    )
    iys_recipient_type_manual = fields.Boolean(
        "Recipient type set by hand", copy=False, readonly=True,
        help="An İYS user chose the recipient type: it no longer follows the default rule.",
    )
    iys_recipient_type_reason = fields.Char(
        "Why this recipient type", compute="_compute_iys_recipient_type_reason",
    )
    iys_email_state = fields.Selection(
        iys_policy.STATE_SELECTION, string="İYS e-mail", compute="_compute_iys_email_state",
        store=True, index=True, readonly=True, help=STATE_HELP,
    )
    iys_sms_state = fields.Selection(
        iys_policy.STATE_SELECTION, string="İYS SMS", compute="_compute_iys_sms_state",
        store=True, index=True, readonly=True, help=STATE_HELP,
    )
    iys_call_state = fields.Selection(
        iys_policy.STATE_SELECTION, string="İYS calls", compute="_compute_iys_call_state",
        store=True, index=True, readonly=True, help=STATE_HELP,
    )
    iys_waiting = fields.Boolean(
        "Waiting for İYS", compute="_compute_iys_sync_flags", search="_search_iys_waiting",
        help="A consent or refusal of one of its addresses is recorded but İYS has not confirmed it yet.",
    )
    iys_rejected = fields.Boolean(
        "Rejected by İYS", compute="_compute_iys_sync_flags", search="_search_iys_rejected",
        help="İYS refused a consent or refusal recorded for one of its addresses.",
    )
    iys_brand_id = fields.Many2one(
        "iys.brand", string="İYS brand", compute="_compute_iys_brand_id",
        help="The company's default İYS brand, whose consents the states show.",
    )
    iys_consent_ids = fields.Many2many(
        "iys.consent", string="İYS consents", compute="_compute_iys_consent_ids",
        groups="l10n_tr_iys.group_iys_user",
    )
    iys_consent_count = fields.Integer(
        "İYS consent count", compute="_compute_iys_consent_ids", groups="l10n_tr_iys.group_iys_user"
    )
    iys_sms_date = fields.Datetime("SMS consent date", compute="_compute_iys_consent_ids",
                                   groups="l10n_tr_iys.group_iys_user")
    iys_sms_source = fields.Selection(SOURCE_SELECTION, string="SMS consent source",
                                      compute="_compute_iys_consent_ids", groups="l10n_tr_iys.group_iys_user")
    iys_call_date = fields.Datetime("Call consent date", compute="_compute_iys_consent_ids",
                                    groups="l10n_tr_iys.group_iys_user")
    iys_call_source = fields.Selection(SOURCE_SELECTION, string="Call consent source",
                                       compute="_compute_iys_consent_ids", groups="l10n_tr_iys.group_iys_user")
    iys_email_date = fields.Datetime("E-mail consent date", compute="_compute_iys_consent_ids",
                                     groups="l10n_tr_iys.group_iys_user")
    iys_email_source = fields.Selection(SOURCE_SELECTION, string="E-mail consent source",
                                        compute="_compute_iys_consent_ids", groups="l10n_tr_iys.group_iys_user")
    iys_sms_why = fields.Char("SMS now", compute="_compute_iys_consent_ids", groups="l10n_tr_iys.group_iys_user")
    iys_call_why = fields.Char("Calls now", compute="_compute_iys_consent_ids", groups="l10n_tr_iys.group_iys_user")
    iys_email_why = fields.Char("E-mail now", compute="_compute_iys_consent_ids",
                                groups="l10n_tr_iys.group_iys_user")
    iys_phone_field = fields.Char(
        "Number Odoo sends to", compute="_compute_iys_phone_field",
        help="The number field SMS and calls go to (the first valid one), whose İYS states are shown.",
    )

    def init(self):
        result = super().init()
        if self._abstract:
            return result
        # The ledger finds the records carrying an address (to refresh their states) and the bulk
        # recompute joins on these columns: both need a btree index (res.partner has none, and
        # crm.lead only a trigram index on the e-mail).
        for column in ("email_normalized", "phone_sanitized"):
            if column not in self._fields or not self._fields[column].store:
                continue
            self.env.cr.execute(
                SQL(
                    "CREATE INDEX IF NOT EXISTS %s ON %s (%s) WHERE %s IS NOT NULL",
                    SQL.identifier(f"{self._table}_iys_{column}_idx"),
                    SQL.identifier(self._table),
                    SQL.identifier(column),
                    SQL.identifier(column),
                )
            )
        return result

    # ------------------------------------------------------------------------------------------
    # Recipient type and addresses
    # ------------------------------------------------------------------------------------------
    def _compute_iys_recipient_type(self):
        for record in self:
            if record.iys_recipient_type_manual and record.iys_recipient_type:
                continue  # chosen by an İYS user: kept (an editable stored compute keeps an unassigned value)
            record.iys_recipient_type = record._iys_default_recipient_type()

    def _iys_default_recipient_type(self):
        """The recipient type a record gets by default; models refine it (strict default: individual)."""
        self.ensure_one()
        return "BIREYSEL"

    @api.depends("iys_recipient_type", "iys_recipient_type_manual")
    def _compute_iys_recipient_type_reason(self):
        for record in self:
            if record.iys_recipient_type_manual:
                record.iys_recipient_type_reason = self.env._(
                    "Chosen by an İYS user (by hand or through an import); the chatter keeps every change."
                )
            elif record.iys_recipient_type and record.iys_recipient_type != record._iys_default_recipient_type():
                # e.g. a contact stored under an earlier version's rule: say so rather than a reason
                # that does not hold for it.
                labels = dict(self._fields["iys_recipient_type"]._description_selection(self.env))
                record.iys_recipient_type_reason = self.env._(
                    "Not the default rule's type (that would be %(type)s): set earlier or by a program. "
                    "An İYS user may confirm it or give it back to the rule.",
                    type=labels[record._iys_default_recipient_type()],
                )
            else:
                record.iys_recipient_type_reason = record._iys_default_recipient_type_reason()

    def _iys_default_recipient_type_reason(self):
        """Why the default rule gives the record its recipient type, in one sentence."""
        self.ensure_one()
        return self.env._("An individual by default: nothing shows that it is a merchant.")

    # ------------------------------------------------------------------------------------------
    # Who may change the recipient type, and its trace
    # ------------------------------------------------------------------------------------------
    #: whether a user without the İYS right may not make a record a merchant through the fields
    #: the default rule reads (a partner's company flag and tax number); records that only follow
    #: another record's type (a lead its contact) set this to False.
    _iys_guard_derived_recipient_type = True

    def _iys_may_set_recipient_type(self):
        return self.env.su or self.env.user.has_group("l10n_tr_iys.group_iys_user")

    def _iys_recipient_type_denied(self):
        return AccessError(self.env._(
            "Only İYS users may change the İYS recipient type: a merchant (TACIR) receives commercial "
            "messages without consent. Ask an İYS user to change it."
        ))

    def _iys_states_denied(self):
        return AccessError(self.env._(
            "The İYS states of a contact are computed from the consent ledger and cannot be written: "
            "record a consent or a refusal instead."
        ))

    @api.model_create_multi
    def create(self, vals_list):
        # The stored states are the ledger's answer (the screens, filters and forecasts read them):
        # a client gives none (readonly is a hint to the web client only, not to the ORM).
        if not self.env.su and any(vals.get(fname) for vals in vals_list for fname in STATE_FIELDS.values()):
            raise self._iys_states_denied()
        allowed = self._iys_may_set_recipient_type()
        # The safe value is harmless (it is also the default); any other choice needs the right.
        if not allowed and any(vals.get("iys_recipient_type") not in (None, False, "BIREYSEL")
                               or vals.get("iys_recipient_type_manual") for vals in vals_list):
            raise self._iys_recipient_type_denied()
        records = super().create(vals_list)
        if allowed:
            records.filtered_domain([("id", "in", [
                record.id for record, vals in zip(records, vals_list, strict=True)
                if vals.get("iys_recipient_type") and "iys_recipient_type_manual" not in vals
            ])])._iys_mark_chosen_type()
        return records

    def write(self, vals):
        if not self.env.su and any(
            fname in vals and any(record[fname] != (vals[fname] or False) for record in self)
            for fname in STATE_FIELDS.values()
        ):
            raise self._iys_states_denied()
        if not self.env.su:  # an unchanged value sent back is dropped: the ledger keeps computing them
            vals = {fname: value for fname, value in vals.items() if fname not in STATE_FIELDS.values()}
        allowed = self._iys_may_set_recipient_type()
        if not allowed and (
            "iys_recipient_type_manual" in vals
            or ("iys_recipient_type" in vals and any(r.iys_recipient_type != vals["iys_recipient_type"] for r in self))
        ):
            raise self._iys_recipient_type_denied()
        before = {record.id: record.iys_recipient_type for record in self}
        result = super().write(vals)
        if allowed and "iys_recipient_type" in vals and "iys_recipient_type_manual" not in vals:
            self._iys_mark_chosen_type()
        changed = [(record, before[record.id]) for record in self if record.iys_recipient_type != before[record.id]]
        if (changed and not allowed and self._iys_guard_derived_recipient_type
                and any(record.iys_recipient_type != "BIREYSEL" for record, _old in changed)):
            # e.g. a tax number typed on a company: the default rule would make it a merchant.
            raise self._iys_recipient_type_denied()
        self._iys_trace_recipient_type(changed)
        return result

    def _iys_mark_chosen_type(self):
        """After an İYS user gave the type: a type other than the default rule's is kept as chosen
        (it no longer follows the rule); the rule's own type follows the rule again. The form sends
        the type the rule recomputed (e.g. after a tax number) too: that is no choice."""
        chosen = self.filtered(lambda r: r.iys_recipient_type != r._iys_default_recipient_type())
        (chosen.filtered(lambda r: not r.iys_recipient_type_manual)).write({"iys_recipient_type_manual": True})
        ((self - chosen).filtered("iys_recipient_type_manual")).write({"iys_recipient_type_manual": False})

    def _iys_trace_recipient_type(self, changes):
        """Note each change of recipient type (who, old → new, why) in the record's chatter,
        whatever the context says: it is the evidence of who made a contact a merchant."""
        if not changes or not hasattr(self, "_message_log"):
            return
        labels = dict(self._fields["iys_recipient_type"]._description_selection(self.env))
        none = self.env._("none")
        for record, old in changes:
            record.sudo()._message_log(
                body=self.env._(
                    "İYS recipient type: %(old)s → %(new)s, by %(user)s. %(reason)s",
                    old=labels.get(old, none), new=labels.get(record.iys_recipient_type),
                    user=self.env.user.name, reason=record.iys_recipient_type_reason,
                ),
                author_id=self.env.user.partner_id.id,
            )

    def _iys_recipient_types(self):
        """{record id: 'BIREYSEL' | 'TACIR'} for the gate."""
        return {record.id: record.iys_recipient_type or "BIREYSEL" for record in self}

    def _iys_addresses(self, channel):
        """{record id: [normalised addresses]} of each record for a channel.

        E-mail: ``email_normalized``. Phones: every number field (mobile, phone …) in E.164, so a
        contact with two numbers has two consents.
        """
        result = {}
        for record in self:
            result[record.id] = [address for _label, _raw, address in record._iys_raw_addresses(channel) if address]
        return result

    def _iys_raw_addresses(self, channel):
        """[(field label, value as typed, normalised address or False)] of one record for a channel,
        without duplicates. This is where number fields are read (through
        ``_phone_get_number_fields``), so that no other code reads ``mobile`` or ``phone`` itself."""
        self.ensure_one()
        if channel == "EPOSTA":
            email_field = getattr(self, "_primary_email", "email")
            raw = self[email_field] if email_field in self._fields else False
            if not raw:
                return []
            return [(self._fields[email_field]._description_string(self.env), raw, self.email_normalized or False)]
        lines, seen = [], set()
        for fname in self._phone_get_number_fields():
            raw = self[fname]
            if not raw:
                continue
            try:
                number = normalize_phone(raw)
            except IysValidationError:
                number = self._phone_format(fname=fname) or False
            key = number or raw
            if key in seen:
                continue
            seen.add(key)
            lines.append((self._fields[fname]._description_string(self.env), raw, number))
        return lines

    @api.model
    def _iys_address_column(self, channel):
        """The stored column that holds the address Odoo sends to on a channel."""
        return "email_normalized" if channel == "EPOSTA" else "phone_sanitized"

    def _iys_company(self):
        """The company whose default brand and send policy apply to this record."""
        self.ensure_one()
        company = self.company_id if "company_id" in self._fields else None
        return company or self.env.company

    def _iys_records_by_company(self):
        groups = defaultdict(list)
        has_company = "company_id" in self._fields
        for record in self:
            groups[(record.company_id if has_company else None) or self.env.company].append(record)
        return groups

    @api.model
    def _iys_models(self):
        """Names of the concrete models that inherit this mixin."""
        names = []
        for name in self.env.registry["iys.consent.mixin"]._inherit_children:
            model = self.env.registry.get(name)
            if model is not None and not model._abstract and not model._transient:
                names.append(name)
        return names

    # ------------------------------------------------------------------------------------------
    # Stored per-channel states
    # ------------------------------------------------------------------------------------------
    def _iys_state_depends(self, channel):
        names = [self._iys_address_column(channel), "iys_recipient_type", "company_id"]
        return [name for name in names if name in self._fields]

    @api.depends(lambda self: self._iys_state_depends("EPOSTA"))
    def _compute_iys_email_state(self):
        self._iys_compute_state("EPOSTA")

    @api.depends(lambda self: self._iys_state_depends("MESAJ"))
    def _compute_iys_sms_state(self):
        self._iys_compute_state("MESAJ")

    @api.depends(lambda self: self._iys_state_depends("ARAMA"))
    def _compute_iys_call_state(self):
        self._iys_compute_state("ARAMA")

    def _iys_compute_state(self, channel):
        """Ask the ledger (one query per company and channel) what the policy says for each record."""
        fname = STATE_FIELDS[channel]
        column = self._iys_address_column(channel)
        Consent = self.env["iys.consent"].sudo()
        for company, records in self._iys_records_by_company().items():
            company = company.sudo()
            recipients = {(rec[column], rec.iys_recipient_type or "BIREYSEL") for rec in records if rec[column]}
            decisions = Consent._iys_gate_decisions(company.iys_default_brand_id, channel, recipients, company=company)
            for rec in records:
                address = rec[column]
                rec[fname] = decisions.get((address, rec.iys_recipient_type or "BIREYSEL")) if address else False

    @api.model
    def _iys_find_holders(self, channel, addresses):
        """{model name: {record id: address}} of the records whose sending address (see
        :meth:`_iys_address_column`) is one of ``addresses`` on ``channel``: one query per model."""
        addresses = sorted({a for a in addresses if a})
        result = {}
        if not addresses:
            return result
        for name in self._iys_models():
            Model = self.env[name]
            column = Model._iys_address_column(channel)
            if column not in Model._fields:
                continue
            Model.flush_model([column])
            self.env.cr.execute(
                SQL(
                    "SELECT id, %s FROM %s WHERE %s = ANY(%s)",
                    SQL.identifier(column), SQL.identifier(Model._table), SQL.identifier(column), addresses,
                )
            )
            rows = dict(self.env.cr.fetchall())
            if rows:
                result[name] = rows
        return result

    @api.model
    def _iys_refresh_states(self, pairs):
        """Mark for recomputation the states of every record carrying one of ``pairs``
        (channel, address): called by the ledger whenever a consent changes."""
        by_channel = defaultdict(set)
        for channel, address in pairs:
            by_channel[channel].add(address)
        holders_by_channel = {}
        for channel, addresses in by_channel.items():
            holders = self._iys_find_holders(channel, addresses)
            holders_by_channel[channel] = holders
            for name, rows in holders.items():
                Model = self.env[name]
                records = Model.browse(list(rows))
                self.env.add_to_compute(Model._fields[STATE_FIELDS[channel]], records)
        return holders_by_channel

    @api.model
    def _iys_bulk_recompute_states(self, companies, only_unconfirmed=False):
        """Recompute the states of the records of ``companies`` in SQL, through the policy's SQL
        twin: one UPDATE per model (and company). Used when a company's send policy or default
        brand changes, where the ORM would load every record. Records without a company follow
        ``env.company``.

        :param only_unconfirmed: only the records with an ONAY waiting for İYS (pending or sent)
            can change: what a change of the pending policy needs.
        :returns: {model name: number of records whose states changed}
        """
        counts = defaultdict(int)
        self.env["iys.consent"].flush_model()
        for company in companies.sudo():
            brand = company.iys_default_brand_id
            if only_unconfirmed and not brand:
                continue
            for name in self._iys_models():
                counts[name] += self.env[name]._iys_bulk_recompute_model(
                    company, brand, company.iys_pending_policy or "block", only_unconfirmed=only_unconfirmed
                )
        return dict(counts)

    def _iys_bulk_recompute_where(self, company, brand, only_unconfirmed=False, shared=None):
        """SQL condition (on alias ``t``) of this model's records a recompute of ``company`` looks
        at, or None when the model has no record of it. ``shared``: whether the records without a
        company follow ``company`` (default: it is ``env.company``)."""
        has_company = "company_id" in self._fields
        if shared is None:
            shared = company == self.env.company  # records without a company follow env.company
        if not has_company and not shared:
            return None
        where = []
        if has_company:
            where.append(SQL("(t.company_id = %s OR t.company_id IS NULL)", company.id) if shared
                         else SQL("t.company_id = %s", company.id))
        if only_unconfirmed:
            waiting = []
            for channels, column in ((("EPOSTA",), "email_normalized"), (("MESAJ", "ARAMA"), "phone_sanitized")):
                waiting.append(SQL(
                    "t.%s IN (SELECT c.address FROM iys_consent c WHERE c.brand_id = %s AND c.channel IN %s"
                    " AND c.status = 'ONAY' AND c.sync_state IN %s)",
                    SQL.identifier(column), brand.id, channels, WAITING_SYNC_STATES,
                ))
            where.append(SQL("(%s)", SQL(" OR ").join(waiting)))
        return SQL(" AND ").join(where) if where else SQL("TRUE")

    def _iys_bulk_recompute_model(self, company, brand, policy, only_unconfirmed=False, shared=None,
                                  id_range=None, ids=None):
        """One UPDATE of the three states of this model's records of ``company``.

        :param shared: see :meth:`_iys_bulk_recompute_where`
        :param id_range: ``(after, up_to)``: only the records with ``after < id <= up_to`` (a chunk
            of a background recompute, ``iys.recompute.run``)
        :param ids: only these records, already selected by :meth:`_iys_bulk_recompute_where` (a
            chunk of a sparse background recompute: the condition is not evaluated again)
        """
        fnames = list(STATE_FIELDS.values())
        columns = {self._iys_address_column(channel) for channel in STATE_FIELDS} | {"iys_recipient_type"}
        self.flush_model([c for c in columns | {"company_id"} if c in self._fields] + fnames)
        condition = self._iys_bulk_recompute_where(company, brand, only_unconfirmed, shared)
        if condition is None:
            return 0
        where = [condition]
        # a chunk bounds the updated table too: without it PostgreSQL hashes the chunk and scans
        # the whole table for the rows to update, once per chunk
        outer = SQL("TRUE")
        if ids is not None:
            where = [SQL("t.id = ANY(%s)", list(ids))]
            outer = SQL("u.id = ANY(%s)", list(ids))
        elif id_range:
            where.append(SQL("t.id > %s AND t.id <= %s", *id_range))
            outer = SQL("u.id > %s AND u.id <= %s", *id_range)
        rtype = SQL("COALESCE(t.iys_recipient_type, 'BIREYSEL')")
        joins, values = [], {}
        for channel, fname in STATE_FIELDS.items():
            alias = SQL.identifier(f"c_{channel.lower()}")
            column = SQL.identifier("t", self._iys_address_column(channel))
            joins.append(SQL(
                "LEFT JOIN iys_consent %(alias)s ON %(alias)s.brand_id = %(brand)s"
                " AND %(alias)s.channel = %(channel)s AND %(alias)s.address = %(column)s"
                " AND %(alias)s.recipient_type = %(rtype)s",
                alias=alias, brand=brand.id or None, channel=channel, column=column, rtype=rtype,
            ))
            values[fname] = SQL(
                "CASE WHEN %s IS NULL THEN NULL ELSE %s END",
                column, iys_policy.decide_sql(rtype, SQL("%s.status", alias), SQL("%s.sync_state", alias), policy),
            )
        self.env.cr.execute(SQL(
            """WITH fresh AS (
                   SELECT t.id, %(selects)s
                     FROM %(table)s t
                     %(joins)s
                    WHERE %(where)s
               )
               UPDATE %(table)s AS u SET %(sets)s
                 FROM fresh
                WHERE u.id = fresh.id AND %(outer)s AND (%(changed)s)""",
            outer=outer,
            selects=SQL(", ").join(SQL("%s AS %s", values[f], SQL.identifier(f)) for f in fnames),
            table=SQL.identifier(self._table),
            joins=SQL(" ").join(joins),
            where=SQL(" AND ").join(where),
            sets=SQL(", ").join(SQL("%s = fresh.%s", SQL.identifier(f), SQL.identifier(f)) for f in fnames),
            changed=SQL(" OR ").join(
                SQL("u.%s IS DISTINCT FROM fresh.%s", SQL.identifier(f), SQL.identifier(f)) for f in fnames
            ),
        ))
        count = self.env.cr.rowcount
        self.invalidate_model(fnames)
        return count

    # ------------------------------------------------------------------------------------------
    # Waiting for / rejected by İYS (searchable, not stored)
    # ------------------------------------------------------------------------------------------
    def _iys_sync_state_domain(self, sync_states, operator, value):
        """Domain of the records with a consent (any brand of the user's companies) of their
        sending addresses in one of ``sync_states``: address IN (SQL subquery), per address
        column, which PostgreSQL answers with a hashed subplan over the (few) waiting consents."""
        if operator not in ("=", "!="):
            raise UserError(self.env._("Unsupported search on an İYS flag: %(operator)s", operator=operator))
        self.env["iys.consent"].flush_model(["address", "channel", "sync_state", "company_id"])
        positive = (operator == "=") == bool(value)
        leaves = []
        for channels, column in ((("EPOSTA",), "email_normalized"), (("MESAJ", "ARAMA"), "phone_sanitized")):
            if column not in self._fields:
                continue
            addresses = SQL(
                "(SELECT c.address FROM iys_consent c WHERE c.channel IN %s AND c.sync_state IN %s"
                " AND c.company_id IN %s)",
                channels, tuple(sync_states), tuple(self.env.companies.ids),
            )
            if positive:
                leaves.append([(column, "in", addresses)])
            else:  # consents' addresses are never NULL: NOT IN is safe, a NULL column is "not waiting"
                leaves.append(["|", (column, "=", False), (column, "not in", addresses)])
        if not leaves:
            return expression.FALSE_DOMAIN if positive else expression.TRUE_DOMAIN
        return expression.OR(leaves) if positive else expression.AND(leaves)

    def _search_iys_waiting(self, operator, value):
        return self._iys_sync_state_domain(WAITING_SYNC_STATES, operator, value)

    def _search_iys_rejected(self, operator, value):
        return self._iys_sync_state_domain(REJECTED_SYNC_STATES, operator, value)

    @api.depends_context("allowed_company_ids")
    def _compute_iys_sync_flags(self):
        addresses = set()
        for record in self:
            for column in ("email_normalized", "phone_sanitized"):
                if column in record._fields and record[column]:
                    addresses.add(record[column])
        flags = defaultdict(set)
        if addresses:
            self.env["iys.consent"].flush_model(["address", "channel", "sync_state", "company_id"])
            self.env.cr.execute(SQL(
                "SELECT address, channel, sync_state FROM iys_consent WHERE address = ANY(%s)"
                " AND sync_state IN %s AND company_id IN %s",
                sorted(addresses), WAITING_SYNC_STATES + REJECTED_SYNC_STATES, tuple(self.env.companies.ids),
            ))
            for address, channel, sync_state in self.env.cr.fetchall():
                flags[(address, "EPOSTA" if channel == "EPOSTA" else "PHONE")].add(sync_state)
        for record in self:
            states = set()
            if "email_normalized" in record._fields and record.email_normalized:
                states |= flags[(record.email_normalized, "EPOSTA")]
            if "phone_sanitized" in record._fields and record.phone_sanitized:
                states |= flags[(record.phone_sanitized, "PHONE")]
            record.iys_waiting = bool(states & set(WAITING_SYNC_STATES))
            record.iys_rejected = bool(states & set(REJECTED_SYNC_STATES))

    # ------------------------------------------------------------------------------------------
    # What the form shows (İYS users)
    # ------------------------------------------------------------------------------------------
    @api.depends_context("company")
    def _compute_iys_brand_id(self):
        for record in self:
            record.iys_brand_id = record._iys_company().sudo().iys_default_brand_id

    def _iys_all_addresses(self):
        """Every normalised address of the record, on every channel: {(channel, address)}."""
        self.ensure_one()
        pairs = set()
        for channel in STATE_FIELDS:
            for _label, _raw, address in self._iys_raw_addresses(channel):
                if address:
                    pairs.add((channel, address))
            column = self._iys_address_column(channel)
            if column in self._fields and self[column]:
                pairs.add((channel, self[column]))
        return pairs

    def _compute_iys_consent_ids(self):
        Consent = self.env["iys.consent"]
        pairs_by_record = {record: record._iys_all_addresses() for record in self}
        addresses = {address for pairs in pairs_by_record.values() for _c, address in pairs}
        brands = self.mapped("iys_brand_id")
        consents = Consent.search([("address", "in", sorted(addresses)), ("brand_id", "in", brands.ids)]) \
            if addresses and brands else Consent
        for record, pairs in pairs_by_record.items():
            mine = consents.filtered(
                lambda c, pairs=pairs, record=record: (c.channel, c.address) in pairs
                and c.brand_id == record.iys_brand_id
            )
            record.iys_consent_ids = mine
            record.iys_consent_count = len(mine)
            for channel, prefix in (("MESAJ", "iys_sms"), ("ARAMA", "iys_call"), ("EPOSTA", "iys_email")):
                column = self._iys_address_column(channel)
                rtype = record.iys_recipient_type or "BIREYSEL"
                on_channel = mine.filtered(lambda c, channel=channel, rtype=rtype: c.channel == channel
                                           and c.recipient_type == rtype)
                current = on_channel.filtered(lambda c, column=column, record=record: c.address == record[column])[:1]
                current = current or on_channel.sorted(lambda c: c.consent_date or fields.Datetime.now(),
                                                       reverse=True)[:1]
                record[f"{prefix}_date"] = current.consent_date
                record[f"{prefix}_source"] = current.source
                record[f"{prefix}_why"] = record._iys_state_reason(channel, current)

    def _iys_state_reason(self, channel, consent):
        """One sentence saying whether a commercial message may go now on ``channel`` and why
        (not): the policy's answer (the stored state) told with the consent it read."""
        self.ensure_one()
        state = self[STATE_FIELDS[channel]]
        if not state:
            return self.env._("Nothing to send to: no usable number.") if channel != "EPOSTA" \
                else self.env._("Nothing to send to: no usable e-mail address.")
        rtype = self.iys_recipient_type or "BIREYSEL"
        if state == iys_policy.ALLOWED:
            if consent.status == "ONAY" and consent.sync_state == "confirmed":
                return self.env._("May go now: consent confirmed by İYS.")
            if consent.status == "ONAY" and rtype != "TACIR":
                return self.env._("May go now: consent recorded; your company sends before İYS confirms it.")
            return self.env._("May go now: a merchant (TACIR) may be messaged until it refuses.")
        if state == iys_policy.REFUSED:
            return self.env._("Blocked: the recipient refused (RET).")
        if consent.sync_state == "rejected":
            return self.env._("Blocked: İYS rejected the consent (%(code)s). Check it and record it again.",
                              code=consent.iys_error_code or "?")
        if consent.status == "ONAY" and consent.sync_state == "none":
            return self.env._("Blocked: the consent is recorded in Odoo only and will not reach İYS.")
        if state == iys_policy.UNCONFIRMED:
            return self.env._("Blocked until İYS confirms the consent recorded in Odoo.")
        if state == iys_policy.NO_CONSENT:
            return self.env._("Blocked: an individual (BIREYSEL) needs a consent (ONAY) first.")
        label = dict(self._fields[STATE_FIELDS[channel]]._description_selection(self.env)).get(state, state)
        return self.env._("Blocked: %(state)s.", state=label)

    @api.depends("phone_sanitized")
    def _compute_iys_phone_field(self):
        for record in self:
            record.iys_phone_field = False
            if "phone_sanitized" not in record._fields or not record.phone_sanitized:
                continue
            for fname in record._phone_get_number_fields():
                if record[fname] and record._phone_format(fname=fname) == record.phone_sanitized:
                    record.iys_phone_field = fname
                    break

    # ------------------------------------------------------------------------------------------
    # Actions
    # ------------------------------------------------------------------------------------------
    def action_iys_open_consent_wizard(self):
        """Open the consent wizard for one channel (context ``iys_channel``) in consent or refusal
        mode (context ``iys_mode``): what the toggles of the İYS tab do."""
        self.ensure_one()
        if not self.env.user.has_group("l10n_tr_iys.group_iys_user"):
            raise AccessError(self.env._("Only İYS users may record consents and refusals."))
        channel = self.env.context.get("iys_channel") or "MESAJ"
        mode = self.env.context.get("iys_mode") or "consent"
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Record a consent") if mode == "consent" else self.env._("Record a refusal"),
            "res_model": "iys.consent.wizard",
            "view_mode": "form",
            "target": "new",
            "context": {
                "active_model": self._name,
                "active_id": self.id,
                "active_ids": self.ids,
                "iys_channel": channel,
                "iys_mode": mode,
            },
        }

    def action_iys_view_consents(self):
        """The consents (all brands of the user's companies) of the record's addresses."""
        self.ensure_one()
        addresses = sorted({address for _channel, address in self._iys_all_addresses()})
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("İYS consents of %(name)s", name=self.display_name),
            "res_model": "iys.consent",
            "view_mode": "list,form",
            "domain": [("address", "in", addresses)],
            "context": {"create": False},
        }
