# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
"""Selections shared by the ledger models; the codes come from the pure İYS library."""

from ..iyslib import const

CHANNEL_SELECTION = [
    ("MESAJ", "SMS (MESAJ)"),
    ("ARAMA", "Calls (ARAMA)"),
    ("EPOSTA", "E-mail (EPOSTA)"),
]
RECIPIENT_TYPE_SELECTION = [
    ("BIREYSEL", "Individual (BIREYSEL)"),
    ("TACIR", "Merchant (TACIR)"),
]
STATUS_SELECTION = [
    ("ONAY", "Consent (ONAY)"),
    ("RET", "Refusal (RET)"),
]
_SOURCE_LABELS = {
    "HS_2015": "Consent given before 1 May 2015",
    "HS_KARAR": "Our own decision (refusal only)",
    "HS_FIZIKSEL_ORTAM": "Physical setting (e.g. in store)",
    "HS_ISLAK_IMZA": "Wet signature on paper",
    "HS_ETKINLIK": "Event we organised",
    "HS_ATM": "Our ATM",
    "HS_EORTAM": "Other electronic medium",
    "HS_WEB": "Our website",
    "HS_MOBIL": "Our mobile app",
    "HS_MESAJ": "Our SMS short number",
    "HS_EPOSTA": "E-mail from us",
    "HS_CAGRI_MERKEZI": "Our call centre",
    "HS_SOSYAL_MEDYA": "Our social-media account",
    "IYS_KISAMESAJ": "İYS short number 3338 (SMS)",
    "IYS_CM": "İYS call centre (IVR)",
    "IYS_WEB": "İYS website",
    "IYS_WEB_YENI": "İYS website: brand added by the citizen",
    "IYS_MOBIL": "İYS mobile app",
    "IYS_EPOSTA": "E-mail sent by İYS",
    "IYS_AHS_HAT_KAPATMA": "Line closed by the operator",
    "IYS_FRAME_EPOSTA": "İYS web form (e-mail verification)",
    "IYS_FRAME_SMS": "İYS web form (SMS verification)",
    "IYS_3338": "İYS short number 3338 (legacy code)",
    "IYS_KISA_LINK": "İYS short link (legacy code)",
}
#: stored for İYS-side sources this version does not know yet (the raw code stays on the event)
IYS_OTHER = "IYS_DIGER"
_SOURCE_LABELS[IYS_OTHER] = "Other İYS source"

HS_SOURCE_SELECTION = [(code, f"{code} – {_SOURCE_LABELS[code]}") for code in const.HS_SOURCES]
SOURCE_SELECTION = HS_SOURCE_SELECTION + [
    (code, f"{code} – {_SOURCE_LABELS[code]}") for code in (*const.IYS_SOURCES, IYS_OTHER)
]
KNOWN_SOURCES = {code for code, _label in SOURCE_SELECTION}

SYNC_STATE_SELECTION = [
    ("none", "Not to be sent"),
    ("pending", "Waiting to be sent"),
    ("sent", "Sent, waiting for İYS"),
    ("confirmed", "Confirmed by İYS"),
    ("rejected", "Rejected by İYS"),
]
ORIGIN_SELECTION = [
    ("form", "Contact form"),
    ("wizard", "Consent wizard"),
    ("import", "Import"),
    ("blacklist", "Blacklist"),
    ("unsubscribe", "Unsubscribe"),
    ("iys_pull", "İYS pull"),
    ("iys_push", "İYS push notification"),
    ("iys_query", "İYS status query"),
    ("api", "Program (API)"),
    ("reconciliation", "İYS daily reconciliation"),
    ("selfservice", "Self-service page"),
    ("request", "Confirmation asked by a user"),
]
#: origins whose movements are facts İYS reported (applied when newer, never sent back, recorded by
#: the synchronisation only: see ``iys.consent._iys_check_may_record``)
IYS_ORIGINS = ("iys_pull", "iys_push", "iys_query", "reconciliation")


def stored_source(code):
    """The selection value to store for a source code reported by İYS or typed by a user."""
    if code in KNOWN_SOURCES:
        return code
    if const.is_iys_source(code):
        return IYS_OTHER
    return code
