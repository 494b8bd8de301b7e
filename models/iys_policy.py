# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
"""The one policy: may a commercial message go to this address?

``decide`` answers in Python for one ledger row, ``decide_sql`` builds the same answer as a SQL
expression for bulk use (filters, stored states, the gate's queries). Both read the same table
below, and a test compares them on every combination, so the rule lives here and nowhere else.

Law 6563 art. 6 and the Regulation: individuals (BIREYSEL) need prior consent (ONAY on İYS);
merchants (TACIR) may be messaged until they refuse. A refusal (RET) always stops commercial
messages. Transactional messages (orders, deliveries, invoices, reminders, account notices) are
outside the consent rule; callers only ask this policy for commercial messages.
"""

from odoo.tools import SQL

ALLOWED = "allowed"
NO_CONSENT = "no_consent"
REFUSED = "refused"
UNCONFIRMED = "unconfirmed"

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


def decide(recipient_type, status, sync_state, pending_policy="block"):
    """Return ALLOWED or the reason a commercial message is blocked.

    :param recipient_type: 'BIREYSEL' or 'TACIR' (anything else is treated as BIREYSEL, the strict choice)
    :param status: 'ONAY', 'RET', or None when the ledger has no record for the address
    :param sync_state: the consent's sync state (see iys.consent), None without record
    :param pending_policy: the company's setting: 'block' (default) blocks an individual's ONAY
        until İYS confirms it; 'allow' accepts an ONAY recorded locally while it waits for İYS.
        An ONAY that İYS rejected (or that is kept in Odoo only) never allows, and is no consent:
        İYS does not hold it and never will.
    """
    if status == "RET":
        return REFUSED
    if recipient_type == "TACIR":
        return ALLOWED
    if status != "ONAY":
        return NO_CONSENT
    if sync_state in CONFIRMED_STATES:
        return ALLOWED
    if sync_state not in UNCONFIRMED_STATES:
        return NO_CONSENT
    if pending_policy == "allow":
        return ALLOWED
    return UNCONFIRMED


def decide_sql(recipient_type, status, sync_state, pending_policy="block"):
    """The SQL twin of :func:`decide`: an expression over SQL operands that yields the same string.

    ``recipient_type``, ``status`` and ``sync_state`` are SQL objects (column references, which are
    NULL when a LEFT JOIN found no ledger row); ``pending_policy`` is a Python value.
    """
    allow_pending = pending_policy == "allow"
    return SQL(
        """(CASE
            WHEN %(status)s = 'RET' THEN %(refused)s
            WHEN %(rtype)s = 'TACIR' THEN %(allowed)s
            WHEN %(status)s IS DISTINCT FROM 'ONAY' THEN %(no_consent)s
            WHEN %(sync)s IN %(confirmed)s THEN %(allowed)s
            WHEN %(sync)s IS NULL OR %(sync)s NOT IN %(unconfirmed_states)s THEN %(no_consent)s
            WHEN %(allow_pending)s THEN %(allowed)s
            ELSE %(unconfirmed)s
        END)""",
        status=status,
        rtype=recipient_type,
        sync=sync_state,
        confirmed=CONFIRMED_STATES,
        unconfirmed_states=UNCONFIRMED_STATES,
        allow_pending=allow_pending,
        allowed=ALLOWED,
        refused=REFUSED,
        no_consent=NO_CONSENT,
        unconfirmed=UNCONFIRMED,
    )
