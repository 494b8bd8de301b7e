# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
"""The send gate: which mass e-mails and SMS may leave Odoo.

Every path (the e-mail and SMS composers, the last check before the queue sends, the forecast on
the mailing form) turns its messages into *targets* here, ``{key: [(address, recipient type)]}``,
and asks :meth:`IysSendGate._iys_decide`, which asks the ledger in one query
(``iys.consent._iys_gate_decisions``, built on the single policy). Nothing here re-derives the rule.
"""

import logging
from collections import Counter, defaultdict

from markupsafe import Markup

from odoo import api, models
from odoo.exceptions import AccessError
from odoo.tools import SQL
from odoo.tools.mail import email_normalize, email_split_and_format

from ..iyslib.masking import mask_recipient
from . import iys_policy

_logger = logging.getLogger(__name__)

EPOSTA = "EPOSTA"
MESAJ = "MESAJ"

#: the failure type a blocked message gets, per channel and reason
FAILURE_TYPES = {
    EPOSTA: {
        iys_policy.NO_CONSENT: "mail_iys_no_consent",
        iys_policy.REFUSED: "mail_iys_refused",
        iys_policy.UNCONFIRMED: "mail_iys_unconfirmed",
        iys_policy.NO_DEALER_ACCESS: "mail_iys_no_dealer_access",
    },
    MESAJ: {
        iys_policy.NO_CONSENT: "sms_iys_no_consent",
        iys_policy.REFUSED: "sms_iys_refused",
        iys_policy.UNCONFIRMED: "sms_iys_unconfirmed",
        iys_policy.NO_DEALER_ACCESS: "sms_iys_no_dealer_access",
    },
}
#: a blocked message's failure type says the same words as the recipient's state (iys_policy)
MAIL_FAILURE_SELECTION = [
    ("mail_iys_no_consent", "No consent"),
    ("mail_iys_refused", "Refused (RET)"),
    ("mail_iys_unconfirmed", "Waiting for İYS"),
    ("mail_iys_no_dealer_access", "No access for this dealer"),
]
SMS_FAILURE_SELECTION = [
    ("sms_iys_no_consent", "No consent"),
    ("sms_iys_refused", "Refused (RET)"),
    ("sms_iys_unconfirmed", "Waiting for İYS"),
    ("sms_iys_no_dealer_access", "No access for this dealer"),
]
#: {failure type: reason}, both channels
FAILURE_REASONS = {ftype: reason for per_channel in FAILURE_TYPES.values() for reason, ftype in per_channel.items()}
ALL_FAILURE_TYPES = tuple(FAILURE_REASONS)
#: when one message goes to several addresses, the most serious reason is the one reported
SEVERITY = (iys_policy.REFUSED, iys_policy.NO_CONSENT, iys_policy.NO_DEALER_ACCESS, iys_policy.UNCONFIRMED)
BLOCKING_REASONS = SEVERITY
#: messages checked at once by the last check before sending; the cache is emptied between chunks,
#: so that a big queue costs the memory of one chunk
GATE_CHUNK = 1000
#: the ledger columns the gate's queries read
LEDGER_COLUMNS = ["address", "channel", "brand_id", "recipient_type", "status", "sync_state", "retailer_id",
                  "retailer_access_ids"]


def execute_without_jit(env, query):
    """``env.execute_query(query)`` (flush, run, rows) with PostgreSQL's JIT compiler off for it.

    The planner's cost of a join over 100,000 recipients passes ``jit_above_cost``, and compiling
    then takes longer than the query (0.4–0.6 s against 0.3 s for the forecast at 10M consents).
    The setting is restored for the rest of the transaction."""
    env.cr.execute("SELECT current_setting('jit'), set_config('jit', 'off', true)")
    previous = env.cr.fetchone()[0]
    rows = env.execute_query(query)
    env.cr.execute("SELECT set_config('jit', %s, true)", [previous])
    return rows


class IysSendGate(models.AbstractModel):
    """Shared logic of the send gate (no table)."""

    _name = "iys.send.gate"
    _description = "İYS send gate"

    # ------------------------------------------------------------------------------------------
    # Classification
    # ------------------------------------------------------------------------------------------
    @api.model
    def _iys_may_declare_transactional(self):
        return self.env.su or self.env.user.has_group("l10n_tr_iys.group_iys_manager")

    @api.model
    def _iys_check_brand_choice(self, vals_list):
        """The gate checks the consents of the brand a mailing or a composer names (as superuser):
        a user may only name a brand of their companies, not another company's, whose recipients
        consented to that company only."""
        if self.env.su:
            return
        brand_ids = {vals.get("iys_brand_id") for vals in vals_list if vals.get("iys_brand_id")}
        self.env["iys.brand"].browse(sorted(brand_ids)).check_access("read")

    @api.model
    def _iys_check_dealer_choice(self, vals_list):
        """A user may only name a dealer they may read: a dealer user their own dealer(s) (record
        rules), others the dealers of their companies."""
        if self.env.su:
            return
        dealer_ids = {vals.get("iys_retailer_id") for vals in vals_list if vals.get("iys_retailer_id")}
        if not dealer_ids:
            return  # no dealer named: nothing to check, and no right on dealers needed
        self.env["iys.retailer"].browse(sorted(dealer_ids)).check_access("read")

    @api.model
    def _iys_is_dealer_only(self, user=None):
        """Whether *user* (default: the current one) is a dealer user and nothing more on İYS: such
        a user sends only on behalf of a dealer."""
        user = user or self.env.user
        return user.has_group("l10n_tr_iys.group_iys_dealer") and not user.has_group("l10n_tr_iys.group_iys_user")

    @api.model
    def _iys_default_sending_dealer(self):
        """A dealer user's own dealer, when they have exactly one that may send; else nothing (the
        brand sends)."""
        if self.env.su or not self._iys_is_dealer_only():
            return self.env["iys.retailer"]
        dealers = self.env.user.sudo().iys_retailer_ids.filtered_domain(iys_policy.DEALER_MAY_SEND_DOMAIN)
        dealers = dealers.filtered(lambda d: d.company_id in self.env.companies)
        return dealers if len(dealers) == 1 else self.env["iys.retailer"]

    @api.model
    def _iys_dealer_may_send(self, dealer, brand):
        """Whether *dealer* may send on its own behalf for *brand* (iys_policy.DEALER_MAY_SEND_DOMAIN,
        a dealer of that brand). A dealer that may not reaches no individual."""
        dealer = dealer.sudo()
        return bool(dealer.filtered_domain(iys_policy.DEALER_MAY_SEND_DOMAIN)) and dealer.active and (
            dealer.brand_id == brand
        )

    @api.model
    def _iys_queued_commercial_by_brand(self, table, ids, records_of):
        """{(brand, dealer): [ids]} (iys.brand and iys.retailer, maybe empty) of the outgoing
        ``mail_mail`` / ``sms_sms`` rows of
        mailings among *ids* that the last check before sending must look at again: those of
        commercial mailings, and those of transactional mailings unless the mailing still holds
        the content its manager approved and the message is about one of its recipients.

        :param records_of: callable ``ids -> {id: (model, res_id)}``, the record each message is about
        """
        self.env.cr.execute(
            SQL(
                """SELECT msg.id, mailing.id, mailing.iys_brand_id, mailing.iys_message_class,
                          mailing.iys_retailer_id
                     FROM %(table)s msg
                     JOIN mailing_mailing mailing ON mailing.id = msg.mailing_id
                    WHERE msg.id = ANY(%(ids)s) AND msg.state = 'outgoing'""",
                table=SQL.identifier(table),
                ids=list(ids),
            )
        )
        by_brand = defaultdict(list)
        transactional = defaultdict(list)
        for msg_id, mailing_id, brand_id, message_class, dealer_id in self.env.cr.fetchall():
            if message_class == "transactional":
                transactional[(mailing_id, brand_id, dealer_id)].append(msg_id)
            else:
                by_brand[(brand_id, dealer_id)].append(msg_id)
        for (mailing_id, brand_id, dealer_id), msg_ids in transactional.items():
            mailing = self.env["mailing.mailing"].sudo().browse(mailing_id)
            if not mailing._iys_transactional_approved():
                by_brand[(brand_id, dealer_id)] += msg_ids
                continue
            records = records_of(msg_ids)
            by_model = defaultdict(set)
            for model, res_id in records.values():
                by_model[model].add(res_id)
            approved = {
                (model, res_id)
                for model, res_ids in by_model.items()
                for res_id in mailing._iys_approved_recipients(model, res_ids)
            }
            by_brand[(brand_id, dealer_id)] += [
                msg_id for msg_id in msg_ids if records.get(msg_id) not in approved
            ]
        return {
            (
                self.env["iys.brand"].sudo().browse(brand_id) if brand_id else self._iys_default_brand(),
                self.env["iys.retailer"].sudo().browse(dealer_id),
            ): msg_ids
            for (brand_id, dealer_id), msg_ids in by_brand.items()
            if msg_ids
        }

    @api.model
    def _iys_reason_labels(self):
        """{reason: label}: the words of the recipient states (iys_policy.STATE_SELECTION)."""
        return {
            iys_policy.NO_CONSENT: self.env._("No consent"),
            iys_policy.REFUSED: self.env._("Refused (RET)"),
            iys_policy.UNCONFIRMED: self.env._("Waiting for İYS"),
            iys_policy.NO_DEALER_ACCESS: self.env._("No access for this dealer"),
        }

    @api.model
    def _iys_not_sent_note(self, label):
        """What a blocked message shows instead of its content (chatter, mail queue, archives)."""
        return Markup("<p>%s</p>") % self.env._(
            "Not sent: the İYS send gate blocked this commercial message (%(reason)s).", reason=label
        )

    @api.model
    def _iys_group_by_reason(self, blocked):
        """{reason: [ids]} from {id: reason}."""
        by_reason = defaultdict(list)
        for record_id, reason in blocked.items():
            by_reason[reason].append(record_id)
        return by_reason

    def _iys_check_transactional_right(self):
        """Only İYS managers may declare messages transactional (exempt from consent)."""
        if self._iys_may_declare_transactional():
            return
        raise AccessError(
            self.env._(
                "Only İYS managers may mark messages as transactional: a transactional message is sent "
                "without checking İYS consent."
            )
        )

    @api.model
    def _iys_default_brand(self, company=None):
        return (company or self.env.company).iys_default_brand_id

    # ------------------------------------------------------------------------------------------
    # Recipient types
    # ------------------------------------------------------------------------------------------
    @api.model
    def _iys_is_mixin_model(self, model):
        return bool(model) and model in self.env and isinstance(self.env[model], self.pool["iys.consent.mixin"])

    @api.model
    def _iys_record_types(self, model, res_ids):
        """{res_id: recipient type} for records whose type is known from the record itself.

        Models with the consent mixin (partners, leads, mailing contacts) say it themselves; for
        other models, the type of the record's ``partner_id`` when it has one. Records left out are
        typed per address by the caller (the recipient partner's type, else BIREYSEL).
        """
        if not model or model not in self.env or not res_ids:
            return {}
        records = self.env[model].sudo().browse(res_ids).exists()
        if self._iys_is_mixin_model(model):
            # only the column needed: not every field of every recipient into the cache
            records.fetch(["iys_recipient_type"])
            return records._iys_recipient_types()
        partner_field = records._fields.get("partner_id")
        if partner_field and partner_field.type == "many2one" and partner_field.comodel_name == "res.partner":
            records.fetch(["partner_id"])
            records.partner_id.fetch(["iys_recipient_type"])
            return {
                record.id: record.partner_id.iys_recipient_type or "BIREYSEL"
                for record in records
                if record.partner_id
            }
        return {}

    # ------------------------------------------------------------------------------------------
    # Targets: what each message is about to reach
    # ------------------------------------------------------------------------------------------
    @api.model
    def _iys_mail_targets(self, entries):
        """Addresses of e-mails, as the composer and ``mail.mail`` will send them.

        :param entries: iterable of ``(key, model, res_id, email_to, partner_ids)``: ``email_to`` as
            stored on the mail (a string, possibly with several addresses), ``partner_ids`` the
            recipient partners (``recipient_ids``).
        :returns: ``{key: [(normalised address or None, recipient type)]}``; None stands for an
            address that cannot be normalised (it cannot have a consent on record).
        """
        entries = list(entries)
        ids_by_model = defaultdict(set)
        partner_ids = set()
        for _key, model, res_id, _email_to, pids in entries:
            if model and res_id:
                ids_by_model[model].add(res_id)
            partner_ids.update(pid for pid in pids or () if pid)
        record_types = {model: self._iys_record_types(model, list(ids)) for model, ids in ids_by_model.items()}
        mixin = {model for model in ids_by_model if self._iys_is_mixin_model(model)}
        partners = {}
        partner_records = self.env["res.partner"].sudo().browse(partner_ids).exists()
        partner_records.fetch(["email", "iys_recipient_type"])
        for partner in partner_records:
            if partner.email:
                partners[partner.id] = (
                    email_normalize(partner.email, strict=False) or None,
                    partner.iys_recipient_type or "BIREYSEL",
                )
        targets = {}
        for key, model, res_id, email_to, pids in entries:
            record_type = record_types.get(model, {}).get(res_id)
            items = []
            if email_to:
                addresses = email_split_and_format(email_to) or [email_to]
                items += [
                    (email_normalize(address, strict=False) or None, record_type or "BIREYSEL")
                    for address in addresses
                ]
            for pid in pids or ():
                if pid in partners:
                    address, partner_type = partners[pid]
                    # the record says what its recipient is; without the mixin, the partner says it
                    items.append((address, record_type if model in mixin and record_type else partner_type))
            targets[key] = items
        return targets

    @api.model
    def _iys_sms_targets(self, entries):
        """Numbers of SMS. :param entries: iterable of ``(key, model, res_id, number, partner_id)``
        with the sanitized (E.164) number. :returns: ``{key: [(number, recipient type)]}``."""
        entries = list(entries)
        ids_by_model = defaultdict(set)
        partner_ids = set()
        for _key, model, res_id, _number, partner_id in entries:
            if model and res_id:
                ids_by_model[model].add(res_id)
            if partner_id:
                partner_ids.add(partner_id)
        record_types = {model: self._iys_record_types(model, list(ids)) for model, ids in ids_by_model.items()}
        partner_types = {}
        if partner_ids:
            partners = self.env["res.partner"].sudo().browse(partner_ids).exists()
            partners.fetch(["iys_recipient_type"])
            partner_types = {partner.id: partner.iys_recipient_type or "BIREYSEL" for partner in partners}
        return {
            key: [(
                number or None,
                record_types.get(model, {}).get(res_id) or partner_types.get(partner_id) or "BIREYSEL",
            )]
            for key, model, res_id, number, partner_id in entries
            if number
        }

    # ------------------------------------------------------------------------------------------
    # Decision
    # ------------------------------------------------------------------------------------------
    @api.model
    def _iys_decide(self, brand, channel, targets, company=None, dealer=None):
        """Decide for many messages in one ledger query.

        :param brand: iys.brand (may be empty: a company without İYS account has nothing on
            record, so individuals are blocked and merchants allowed, as the policy says)
        :param targets: ``{key: [(address or None, recipient type)]}``
        :param dealer: iys.retailer the messages are sent on behalf of (None or empty: the brand)
        :returns: ``{key: reason}`` for the blocked keys only (the most serious reason when a
            message has several addresses). A key without any address is not decided here: Odoo
            cancels it itself (missing or invalid address).
        """
        company = company or brand.company_id or self.env.company
        pairs = {(address, rtype or "BIREYSEL") for items in targets.values() for address, rtype in items if address}
        # the ledger query is raw SQL: movements recorded in this transaction must be in the table
        self.env["iys.consent"].flush_model(LEDGER_COLUMNS)
        decisions = self.env["iys.consent"].sudo()._iys_gate_decisions(
            brand, channel, pairs, company=company, dealer=dealer or None
        )
        policy = company.sudo().iys_pending_policy or "block"
        blocked = {}
        for key, items in targets.items():
            reasons = set()
            for address, rtype in items:
                rtype = rtype or "BIREYSEL"
                if address:
                    state = decisions[(address, rtype)]
                else:
                    state = iys_policy.decide(rtype, None, None, policy, False if dealer else None)
                if state != iys_policy.ALLOWED:
                    reasons.add(state)
            if reasons:
                blocked[key] = next(reason for reason in SEVERITY if reason in reasons)
        return blocked

    @api.model
    def _iys_log_blocked(self, what, channel, blocked, targets):
        """Log what the gate stopped: counts at INFO, masked addresses at DEBUG."""
        if not blocked:
            return
        counts = Counter(blocked.values())
        _logger.info(
            "İYS send gate: %s %s message(s) blocked (%s)",
            len(blocked), what, ", ".join(f"{reason}: {count}" for reason, count in sorted(counts.items())),
        )
        if _logger.isEnabledFor(logging.DEBUG):
            for key, reason in blocked.items():
                _logger.debug(
                    "İYS send gate: %s %s to %s blocked: %s", channel, key,
                    ", ".join(mask_recipient(address) for address, _t in targets.get(key, ())), reason,
                )
