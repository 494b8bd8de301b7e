# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
"""The one policy: may a commercial message go to this address?

``decide`` answers in Python for one ledger row, ``decide_sql`` builds the same answer as a SQL
expression for bulk use (filters, stored states, the gate's queries). Both read the same table
below, and a test compares them on every combination, so the rule lives here and nowhere else.

Law 6563 art. 6 and the Regulation: individuals (BIREYSEL) need prior consent (ONAY on İYS);
merchants (TACIR) may be messaged until they refuse. A refusal (RET) always stops commercial
messages. Transactional messages (orders, deliveries, invoices, reminders, account notices) are
outside the consent rule; callers only ask this policy for commercial messages.

Dealers (Regulation art. 7, İYS's retailer services): a message a brand's dealer sends on its own
behalf reaches an individual only through a consent the dealer may use, i.e. one whose dealer
access (``retailerAccess``) includes the dealer or that the dealer collected (``retailerCode``).
A merchant may be messaged until they refuse, by the brand and its dealers alike; a refusal always
wins. Without a dealer (the brand sends), the dealer dimension does not exist.
"""

from odoo.tools import SQL

ALLOWED = "allowed"
NO_CONSENT = "no_consent"
REFUSED = "refused"
UNCONFIRMED = "unconfirmed"
#: an individual's consent exists but the sending dealer may not use it (only for dealers' messages)
NO_DEALER_ACCESS = "no_dealer_access"

#: the dealers that may send on their own behalf: registered on İYS and active there (archived
#: dealers are left out by the ORM); a dealer outside it has access to nothing
DEALER_MAY_SEND_DOMAIN = [("sync_state", "=", "registered"), ("status", "=", "active")]

#: selection of the per-channel state shown on records (partners, leads, mailing contacts)
STATE_SELECTION = [
    (ALLOWED, "Allowed"),
    (NO_CONSENT, "No consent"),
    (REFUSED, "Refused (RET)"),
    (UNCONFIRMED, "Waiting for İYS"),
]

#: sync states in which İYS is known to hold the local status
CONFIRMED_STATES = ("confirmed",)
#: sync states in which the local status is on its way to İYS: an ONAY in them waits for İYS
#: (an ONAY İYS rejected, or kept in Odoo only, will never be confirmed: no consent)
UNCONFIRMED_STATES = ("pending", "sent")


def decide(recipient_type, status, sync_state, pending_policy="block", dealer_access=None):
    """Return ALLOWED or the reason a commercial message is blocked.

    :param recipient_type: 'BIREYSEL' or 'TACIR' (anything else is treated as BIREYSEL, the strict choice)
    :param status: 'ONAY', 'RET', or None when the ledger has no record for the address
    :param sync_state: the consent's sync state (see iys.consent), None without record
    :param pending_policy: the company's setting: 'block' (default) blocks an individual's ONAY
        until İYS confirms it; 'allow' accepts an ONAY recorded locally while it waits for İYS.
        An ONAY that İYS rejected (or that is kept in Odoo only) never allows, and is no consent:
        İYS does not hold it and never will.
    :param dealer_access: None when the brand itself sends (no dealer); for a message sent on behalf
        of a dealer, whether the consent's dealer access includes that dealer or the dealer collected
        it (see :func:`dealer_access_sql`). An individual's consent the dealer may not use blocks
        the message whatever its sync state: even once İYS confirms it, it is not the dealer's.
    """
    if status == "RET":
        return REFUSED
    if recipient_type == "TACIR":
        return ALLOWED
    if status != "ONAY":
        return NO_CONSENT
    if sync_state not in CONFIRMED_STATES and sync_state not in UNCONFIRMED_STATES:
        return NO_CONSENT
    if dealer_access is not None and not dealer_access:
        return NO_DEALER_ACCESS
    if sync_state in CONFIRMED_STATES:
        return ALLOWED
    if pending_policy == "allow":
        return ALLOWED
    return UNCONFIRMED


def decide_sql(recipient_type, status, sync_state, pending_policy="block", dealer_access=None):
    """The SQL twin of :func:`decide`: an expression over SQL operands that yields the same string.

    ``recipient_type``, ``status`` and ``sync_state`` are SQL objects (column references, which are
    NULL when a LEFT JOIN found no ledger row); ``pending_policy`` is a Python value;
    ``dealer_access`` is None (no dealer) or a boolean SQL expression (NULL counts as no access),
    normally :func:`dealer_access_sql`.
    """
    allow_pending = pending_policy == "allow"
    no_access = SQL("NOT COALESCE(%s, FALSE)", dealer_access) if dealer_access is not None else SQL("FALSE")
    return SQL(
        """(CASE
            WHEN %(status)s = 'RET' THEN %(refused)s
            WHEN %(rtype)s = 'TACIR' THEN %(allowed)s
            WHEN %(status)s IS DISTINCT FROM 'ONAY' THEN %(no_consent)s
            WHEN %(sync)s IS NULL OR %(sync)s NOT IN %(known_states)s THEN %(no_consent)s
            WHEN %(no_access)s THEN %(no_dealer_access)s
            WHEN %(sync)s IN %(confirmed)s THEN %(allowed)s
            WHEN %(allow_pending)s THEN %(allowed)s
            ELSE %(unconfirmed)s
        END)""",
        status=status,
        rtype=recipient_type,
        sync=sync_state,
        confirmed=CONFIRMED_STATES,
        known_states=CONFIRMED_STATES + UNCONFIRMED_STATES,
        no_access=no_access,
        no_dealer_access=NO_DEALER_ACCESS,
        allow_pending=allow_pending,
        allowed=ALLOWED,
        refused=REFUSED,
        no_consent=NO_CONSENT,
        unconfirmed=UNCONFIRMED,
    )


def dealer_access_sql(consent_id, collected_by, dealer_id):
    """Whether a dealer may use a consent, as a boolean SQL expression: the consent's dealer access
    (``iys_consent_retailer_access_rel``) includes the dealer, or the dealer collected it.

    ``consent_id`` and ``collected_by`` are SQL objects (the consent's ``id`` and ``retailer_id``
    columns, NULL without ledger row); ``dealer_id`` is the dealer's id, or None for a dealer that
    may not send at all (not registered on İYS, not active): it then has access to nothing.
    The record rules of the dealer group say the same in domain form
    (``retailer_id.user_ids`` / ``retailer_access_ids.user_ids``, security/security.xml).
    """
    if not dealer_id:
        return SQL("FALSE")
    return SQL(
        "(%(collected)s = %(dealer)s OR EXISTS (SELECT 1 FROM iys_consent_retailer_access_rel iys_access"
        " WHERE iys_access.consent_id = %(consent)s AND iys_access.retailer_id = %(dealer)s))",
        collected=collected_by, consent=consent_id, dealer=dealer_id,
    )
