"""Constants of the İYS (İleti Yönetim Sistemi) API.

Values follow the official İYS OpenAPI document v3.2.0 (25 Feb 2026) and the project's reference
notes (``iys-api.md``).  Nothing here talks to the network; import freely.
"""
from __future__ import annotations

import datetime as _dt
from zoneinfo import ZoneInfo

#: Consent channels ("izin tipi").  ARAMA = voice call, MESAJ = SMS/MMS, EPOSTA = e-mail.
TYPES = ('MESAJ', 'ARAMA', 'EPOSTA')
#: Channels whose recipient is a phone number (E.164).
PHONE_TYPES = ('MESAJ', 'ARAMA')
#: Recipient types: individual consumer or merchant/tradesman.
RECIPIENT_TYPES = ('BIREYSEL', 'TACIR')
#: Consent statuses.
STATUSES = ('ONAY', 'RET')

#: The thirteen sources a service provider (HS) may send, in the order of iys-api.md §4.2.
HS_SOURCES = (
    'HS_2015',
    'HS_KARAR',
    'HS_FIZIKSEL_ORTAM',
    'HS_ISLAK_IMZA',
    'HS_ETKINLIK',
    'HS_ATM',
    'HS_EORTAM',
    'HS_WEB',
    'HS_MOBIL',
    'HS_MESAJ',
    'HS_EPOSTA',
    'HS_CAGRI_MERKEZI',
    'HS_SOSYAL_MEDYA',
)

#: Sources İYS reports for movements made on its side (citizen, operator, ViA).  Never sent by an
#: HS.  ``IYS_3338`` and ``IYS_KISA_LINK`` are legacy names seen in intermediaries' docs.  Unknown
#: ``IYS_*`` values must be accepted when parsing: use :func:`is_iys_source`.
IYS_SOURCES = (
    'IYS_KISAMESAJ',
    'IYS_CM',
    'IYS_WEB',
    'IYS_WEB_YENI',
    'IYS_MOBIL',
    'IYS_EPOSTA',
    'IYS_AHS_HAT_KAPATMA',
    'IYS_FRAME_EPOSTA',
    'IYS_FRAME_SMS',
    'IYS_3338',
    'IYS_KISA_LINK',
)

#: Pull filter values for ``GET …/consents/changes?source=``.
PULL_SOURCES = ('IYS', 'HS')

#: Batch item statuses in ``…/consents/request/{requestId}`` results.
BATCH_STATUSES = ('success', 'failure', 'enqueue')

#: Fields allowed in a Consent body (anything else gives H118).
CONSENT_FIELDS = ('recipientType', 'retailerAccess', 'recipient', 'retailerCode', 'source', 'type',
                  'consentDate', 'status')


def is_iys_source(code) -> bool:
    """Return True when *code* is an İYS-side source (any value starting with ``IYS_``)."""
    return isinstance(code, str) and code.startswith('IYS_')


def is_hs_source(code) -> bool:
    """Return True when *code* is one of the thirteen sources an HS may send."""
    return code in HS_SOURCES


ENVIRONMENTS = {
    'production': 'https://api.iys.org.tr',
    'sandbox': 'https://api.sandbox.iys.org.tr',
}

#: İYS dates are Turkish local time (UTC+3 all year since 2016).
TR_TZ = ZoneInfo('Europe/Istanbul')
#: Law 6563 took effect on this instant; no consent may be dated earlier (H156) and HS_2015
#: consents must carry exactly this date (H155).  Naive, Turkish local time.
MIN_CONSENT_DATE = _dt.datetime(2015, 5, 1, 0, 0, 0)
#: Wire format of every İYS date-time (Turkish local time, no ``T``, no zone).
DATE_FORMAT = '%Y-%m-%d %H:%M:%S'
#: Format of ``reportDate`` path parameters of the reconciliation endpoints.
REPORT_DATE_FORMAT = '%Y-%m-%d'

#: Maximum consents per batch request (H091/H125).
BATCH_MAX = 1000
#: Maximum recipients per multiple-status query.
MULTI_STATUS_MAX = 1000
#: Maximum page size of the pull (H507).
PULL_LIMIT_MAX = 1000
#: The pull serves the movements of the last 7 days …
PULL_WINDOW_SECONDS = 7 * 86400
#: … up to 60 minutes before the request.
PULL_LAG_SECONDS = 3600
#: Maximum page size of history and retailer listings (H186).
PAGE_LIMIT_MAX = 100
#: Maximum retailers / recipients in retailer-access lists (H126/H127).
RETAILER_LIST_MAX = 100
#: Seconds to wait after a batch submission before polling its result.
BATCH_POLL_DELAY = 300
#: Business days İYS gives to record a consent obtained outside İYS (H467).
DEADLINE_BUSINESS_DAYS = 3
#: Maximum age of a reconciliation report date in days (H502).
REPORT_MAX_AGE_DAYS = 7

#: Rate limits (production, per source IP).
RATE_PER_SECOND = 10
TOKEN_PER_HOUR = 10          # SPEC says 10 and 100; design for 10.
STATUS_PER_HOUR = 1000       # single consent status (H086)
HISTORY_PER_HOUR = 100       # consent history (H089)

#: Token lifetimes documented by İYS (seconds).
ACCESS_TOKEN_TTL = 7200
REFRESH_TOKEN_TTL = 14400
#: Refresh the access token this many seconds before it lapses.
TOKEN_REFRESH_MARGIN = 300
#: After H084 no token call may be made for this long (a retry restarts the hour).
TOKEN_LOCK_SECONDS = 3600
