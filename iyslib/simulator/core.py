"""The simulator's state and İYS behaviour, independent of HTTP.

:class:`IysSimulator` holds brands, tokens, consents, movements, batches, retailers, push
connections and agreements, and implements every endpoint as ``handle(method, path, query,
headers, body)``.  Consent decisions are made by :mod:`iyslib.rules` (the same functions the client
uses for pre-validation), with İYS's stricter wire rules (E.164 only, unknown fields refused).

Behaviour worth knowing (documented İYS behaviour unless marked *sim*):

* tokens: password and refresh grants (JSON or form), access 2 h, refresh 4 h, refresh-token
  rotation; H084 after ``token_limit`` token calls in one hour, and every call during the lock
  restarts the hour; 401 H351 for a missing, unknown or expired bearer;
* 403 H353 for a foreign iysCode/brandCode, 422 H190/H191 for non-integer ones;
* single add (V1 records every accepted movement; V2 returns the stored answer for an identical
  path+body), batches (synchronous field checks with per-index errors, then per-item processing
  after ``batch_delay`` seconds: ``enqueue`` until then), single / multiple status, history;
* two movements for one address in the same second share one transactionId (as İYS warns);
* pull per brand over the last 7 days minus ``pull_lag`` seconds (at least 1 s, *sim*: a second
  is served only once it is over, so movements of one second are never split around a cursor),
  cursor ``<epoch>_<txid>``, 204 when empty; an unparsable cursor gives 422 H098 (*sim*:
  undocumented in İYS);
* single status for an address without record answers 200 ``{}`` (*sim*: undocumented in İYS);
* citizen-side movements (``IYS_*`` sources) are injected with :meth:`inject_citizen_change` and
  pushed to registered connections (HTTP POST, Basic auth, JSON ``{"list": [...]}``).  Push URLs
  must be https; with ``allow_http_push`` (default True) plain http to 127.0.0.1/localhost is
  accepted for local use.  Registration sends İYS's fixed test payload, first without credentials
  (the endpoint must refuse it, *sim* check of "Basic auth required") and then with them (it must
  answer 2xx within ``push_timeout``);
* faults (:meth:`inject_fault`): ``500`` and ``429_H083``/``429_H124`` answer without processing;
  ``503`` (H192), ``timeout`` (answer after ``fault_delay`` seconds), ``drop`` (connection closed
  without answer) and ``malformed_json`` happen **after** the request was processed, which is the
  ambiguous case a client must survive without duplicating a movement.
"""
from __future__ import annotations

import base64
import bisect
import csv
import datetime as dt
import hashlib
import io
import json
import math
import re
import secrets
import threading
import time
import urllib.error
import urllib.request
import uuid
from urllib.parse import parse_qs, urlsplit

from ..const import (
    ACCESS_TOKEN_TTL,
    BATCH_MAX,
    HISTORY_PER_HOUR,
    MULTI_STATUS_MAX,
    PAGE_LIMIT_MAX,
    PULL_LIMIT_MAX,
    RECIPIENT_TYPES,
    REFRESH_TOKEN_TTL,
    REPORT_MAX_AGE_DAYS,
    RETAILER_LIST_MAX,
    STATUS_PER_HOUR,
    TOKEN_LOCK_SECONDS,
    TOKEN_PER_HOUR,
    TR_TZ,
    TYPES,
    is_iys_source,
)
from ..dates import parse_iys_date, to_iys_date
from ..errors import H_CODES, IysValidationError
from ..identity import retailer_errors
from ..normalize import normalize_recipient
from ..rules import CurrentState, validate_batch, validate_body, validate_transition
from .data import CITIES, TOWNS
from .store import DocStore

__all__ = ['IysSimulator', 'Response', 'FAULTS']

FAULTS = ('500', '503', 'timeout', '429_H083', '429_H124', 'malformed_json', 'drop')
_PROCESS_FIRST = ('503', 'timeout', 'malformed_json', 'drop')

_MSG = {
    'H014': 'Gönderilen istek JSON formatına uygun olmalıdır.',
    'H015': 'Beklenmedik bir hata oluştu.',
    'H083': 'Saniyede kabul edilen istek limitine ulaşıldı. Lütfen daha sonra tekrar deneyiniz.',
    'H084': 'Saatte kabul edilen kimlik doğrulama istek limitine ulaşıldı. Lütfen daha sonra tekrar deneyiniz.',
    'H086': 'Saatte kabul edilen tekil izin durumu sorgulama istek limitine ulaşıldı. Lütfen daha sonra tekrar '
            'deneyiniz.',
    'H089': 'Saatte kabul edilen izin geçmişi listeleme istek limitine ulaşıldı. Lütfen daha sonra tekrar deneyiniz.',
    'H124': 'Saniyede kabul edilen istek limitine ulaşıldı. Lütfen daha sonra tekrar deneyiniz.',
    'H192': 'İstek zaman aşımına uğradı.',
    'H351': 'Eksik veya geçersiz jeton!',
}

PUSH_TEST_ITEM = {
    'iysCode': 121212, 'brandCode': 121212, 'recipient': 'pushtest@iys.org.tr', 'recipientType': 'BIREYSEL',
    'type': 'EPOSTA', 'status': 'ONAY', 'source': 'IYS_MOBIL', 'consentDate': '2022-05-17 10:00:00',
    'creationDate': '2022-05-17 10:00:01',
    'transactionId': '0' * 64,
}


class Response:
    """A simulated HTTP answer."""

    def __init__(self, status: int, body=None, content_type: str = 'application/json', headers=None, fault=None):
        self.status = status
        self.content_type = content_type
        self.headers = dict(headers or {})
        self.fault = fault
        if body is None:
            self.body = b''
        elif isinstance(body, bytes):
            self.body = body
        elif isinstance(body, str) and content_type != 'application/json':
            self.body = body.encode('utf-8')
        else:
            self.body = json.dumps(body, ensure_ascii=False).encode('utf-8')

    def json(self):
        """The body parsed as JSON (``None`` when empty)."""
        return json.loads(self.body.decode('utf-8')) if self.body else None

    def __repr__(self):
        return f'<Response {self.status} {self.body[:80]!r}>'


def _errors(code: str, message: str | None = None, status: int | None = None, **extra) -> Response:
    entry = H_CODES.get(code)
    item = {'code': code, 'message': message or _MSG.get(code) or (entry[2] if entry else code)}
    for k in ('location', 'value', 'index'):
        if extra.get(k) is not None:
            item[k] = extra[k]
    return Response(status or (entry[0] if entry and entry[0] else 400), {'errors': [item]})


def _from_validation(exc: IysValidationError, status: int | None = None) -> Response:
    items = [e.to_iys_item() for e in (exc.errors or [exc])]
    code = exc.code
    http = status or (H_CODES.get(code, (422,))[0] or 422)
    return Response(http, {'errors': items})


class _Request:
    def __init__(self, method, path, query, headers, body):
        self.method = method.upper()
        self.path = path
        self.query = query
        self.headers = {k.lower(): v for k, v in (headers or {}).items()}
        self.body = body or b''

    def arg(self, name, default=None):
        vals = self.query.get(name)
        return vals[0] if vals else default


class _BadJson(Exception):
    pass


def _canonical(obj) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(',', ':'))


def _ckey(brand, rtype, type_, recipient) -> str:
    return f'{brand}|{rtype}|{type_}|{recipient}'


def _origin(mv: dict) -> str:
    """``'IYS'`` for a movement made on İYS's side, ``'HS'`` for the HS's own (a first TACIR record
    may have no source at all: it still is the HS's)."""
    return 'IYS' if is_iys_source(mv.get('source')) else 'HS'


class IysSimulator:
    """A faithful local İYS (see the module docstring for the behaviour).

    Args:
        username, password: the single API user.
        iys_code: the service provider's İYS number.
        brands: ``{brandCode: name}``; the first one is the master brand.
        db_path: SQLite file for persistence (``None``: memory only).
        clock: epoch-seconds clock (inject a :class:`~iyslib.testing.FakeClock` in tests).
        batch_delay: seconds before a submitted batch is processed.
        pull_lag: seconds of the pull window's lag (İYS: 3600; 0 for tests).
        access_ttl, refresh_ttl: token lifetimes in seconds.
        token_limit: token calls per hour before H084 (``None``: unlimited).
        status_limit, history_limit: hourly limits of single status and history (``None``: off).
        rate_limit_per_second: requests per second before 429 H124 (``None``: off).
        allow_http_push: accept http:// push URLs on 127.0.0.1/localhost.
        push_timeout: seconds a push endpoint has to answer.
        fault_delay: seconds the ``timeout`` fault waits before answering.
        sleep: function used by the ``timeout`` fault (real time by default).
    """

    def __init__(self, username: str = 'iys-demo', password: str = 'iys-demo-secret', iys_code: int = 700001,
                 brands: dict | None = None, db_path: str | None = None, clock=time.time, batch_delay: float = 0.0,
                 pull_lag: float = 3600.0, access_ttl: int = ACCESS_TOKEN_TTL, refresh_ttl: int = REFRESH_TOKEN_TTL,
                 token_limit: int | None = TOKEN_PER_HOUR, status_limit: int | None = STATUS_PER_HOUR,
                 history_limit: int | None = HISTORY_PER_HOUR, rate_limit_per_second: int | None = None,
                 allow_http_push: bool = True, push_timeout: float = 5.0, fault_delay: float = 2.0,
                 sleep=time.sleep):
        self.username = username
        self.password = password
        self.iys_code = int(iys_code)
        if brands is None:
            brands = {self.iys_code: 'Demo Marka', self.iys_code + 1: 'Demo Marka 2'}
        self.brands = {int(k): v for k, v in brands.items()}
        self.master_brand = next(iter(self.brands))
        self._clock = clock
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl
        self.token_limit = token_limit
        self.status_limit = status_limit
        self.history_limit = history_limit
        self.rate_limit_per_second = rate_limit_per_second
        self.allow_http_push = allow_http_push
        self.push_timeout = push_timeout
        self.fault_delay = fault_delay
        self.sleep = sleep
        self.pull_window = 7 * 86400
        self.lock = threading.RLock()
        self._push_lock = threading.Lock()
        self.store = DocStore(db_path)
        self._defaults = {'batch_delay': float(batch_delay), 'pull_lag': float(pull_lag)}
        self.requests_log = []
        self.push_log = []
        self._faults = []
        self._tampered_files = {}
        self._process_status = {}
        self._reset_state()
        self._load()

    # ------------------------------------------------------------------ state
    def _reset_state(self):
        self.clock_offset = 0.0
        self.batch_delay = self._defaults['batch_delay']
        self.pull_lag = self._defaults['pull_lag']
        self.consents = {}
        self.movements = []
        self.batches = {}
        self.v2_single = {}
        self.v2_batch_index = {}
        self.retailers = {}
        self.access = {}
        self.push = []
        self.agreements = {}
        self.access_tokens = {}
        self.refresh_tokens = {}
        self.token_calls = []
        self.token_lock_until = 0.0
        self._hourly = {'status': [], 'history': []}
        self._second = []
        self._seq = 0
        self._retailer_seq = 0
        self._dirty = {}
        # the pull feed's index (see _feed): built from self.movements, rebuilt when it is replaced
        self._feed_index, self._feed_of, self._feed_count = {}, None, 0
        self._last_creation = (None, None)

    def _mark(self, collection, key, value):
        self._dirty[(collection, str(key))] = value

    def _flush(self):
        if self.store.enabled and self._dirty:
            self._mark('meta', 'meta', {'clock_offset': self.clock_offset, 'batch_delay': self.batch_delay,
                                        'pull_lag': self.pull_lag, 'seq': self._seq,
                                        'retailer_seq': self._retailer_seq, 'token_calls': self.token_calls,
                                        'token_lock_until': self.token_lock_until})
            self.store.write(self._dirty)
        self._dirty = {}

    def _load(self):
        docs = self.store.load()
        if not docs:
            return
        meta = docs.get('meta', {}).get('meta', {})
        self.clock_offset = meta.get('clock_offset', 0.0)
        self.batch_delay = meta.get('batch_delay', self.batch_delay)
        self.pull_lag = meta.get('pull_lag', self.pull_lag)
        self._seq = meta.get('seq', 0)
        self._retailer_seq = meta.get('retailer_seq', 0)
        self.token_calls = meta.get('token_calls', [])
        self.token_lock_until = meta.get('token_lock_until', 0.0)
        self.consents = docs.get('consents', {})
        self.movements = sorted(docs.get('movements', {}).values(), key=lambda m: m['seq'])
        self.batches = docs.get('batches', {})
        self.v2_single = docs.get('v2_single', {})
        self.v2_batch_index = docs.get('v2_batch_index', {})
        self.retailers = {int(k): v for k, v in docs.get('retailers', {}).items()}
        self.access = dict(docs.get('access', {}))
        self.push = sorted(docs.get('push', {}).values(), key=lambda p: p['registerTime'])
        self.agreements = docs.get('agreements', {})
        self.access_tokens = docs.get('access_tokens', {})
        self.refresh_tokens = docs.get('refresh_tokens', {})

    def reset(self):
        """Forget everything (consents, movements, tokens, faults, clock offset)."""
        with self.lock:
            self._reset_state()
            self._faults = []
            self._tampered_files = {}
            self._process_status = {}
            self.requests_log = []
            self.push_log = []
            self.store.clear()

    # ------------------------------------------------------------------ clock
    def now(self) -> float:
        """Simulator time in epoch seconds (clock + offset)."""
        return self._clock() + self.clock_offset

    def utcnow(self) -> dt.datetime:
        """Simulator time as naive UTC (seconds precision)."""
        return dt.datetime.fromtimestamp(int(self.now()), dt.timezone.utc).replace(tzinfo=None)

    def local_now_str(self) -> str:
        """Simulator time as an İYS date string (Turkish time)."""
        return to_iys_date(self.utcnow())

    def set_clock_offset(self, seconds: float):
        """Shift the simulator clock by *seconds* relative to its base clock."""
        with self.lock:
            self.clock_offset = float(seconds)
            self._mark('meta', 'x', None)
            self._flush()

    def advance_clock(self, seconds: float):
        """Move the simulator clock forward by *seconds*."""
        self.set_clock_offset(self.clock_offset + float(seconds))

    def set_batch_delay(self, seconds: float):
        """Seconds between a batch submission and its processing (0 processes at the next request)."""
        with self.lock:
            self.batch_delay = float(seconds)
            self._mark('meta', 'x', None)
            self._flush()

    # ------------------------------------------------------------------ faults
    def inject_fault(self, fault: str, count: int = 1, path_prefix: str | None = None, method: str | None = None):
        """Make the next *count* matching requests fail with *fault* (one of :data:`FAULTS`).

        Matching is by path prefix (e.g. ``'/v2/sps'``, ``'/oauth2/token'``) and method.  Faults
        are consumed in the order they were injected; control (``/_sim/``) paths never fail.
        """
        if fault not in FAULTS:
            raise ValueError(f'unknown fault {fault!r}; use one of {FAULTS}')
        with self.lock:
            self._faults.append({'fault': fault, 'count': int(count), 'path_prefix': path_prefix,
                                 'method': method.upper() if method else None})

    def clear_faults(self):
        """Remove every pending fault."""
        with self.lock:
            self._faults = []

    def _take_fault(self, method, path):
        for f in self._faults:
            if f['count'] <= 0:
                continue
            if f['path_prefix'] and not path.startswith(f['path_prefix']):
                continue
            if f['method'] and f['method'] != method:
                continue
            f['count'] -= 1
            self._faults = [x for x in self._faults if x['count'] > 0]
            return f['fault']
        return None

    # ------------------------------------------------------------------ inspection helpers
    def consent_state(self, brand_code, recipient, type_, recipient_type='BIREYSEL') -> dict | None:
        """What the simulator records for one address (``None`` when nothing)."""
        with self.lock:
            rec = normalize_recipient(type_, recipient)
            return self.consents.get(_ckey(int(brand_code), recipient_type, type_, rec))

    def get_movements(self, brand_code=None, recipient=None, type_=None) -> list:
        """Recorded movements, oldest first, optionally filtered."""
        with self.lock:
            out = []
            for m in self.movements:
                if brand_code is not None and m['brandCode'] != int(brand_code):
                    continue
                if recipient is not None and m['recipient'] != recipient:
                    continue
                if type_ is not None and m['type'] != type_:
                    continue
                out.append(dict(m))
            return out

    def summary(self) -> dict:
        """Counts for dashboards and tests."""
        with self.lock:
            self._process_due_batches()
            self._flush()
            return {
                'iysCode': self.iys_code, 'brands': self.brands, 'now': self.local_now_str(),
                'consents': len(self.consents), 'movements': len(self.movements), 'batches': len(self.batches),
                'pending_batches': sum(1 for b in self.batches.values() if not b['processed']),
                'retailers': len(self.retailers), 'push_connections': len(self.push),
                'token_lock_until': self.token_lock_until, 'faults': list(self._faults),
                'batch_delay': self.batch_delay, 'pull_lag': self.pull_lag, 'clock_offset': self.clock_offset,
            }

    # ------------------------------------------------------------------ recording
    def _txid(self, brand, rtype, type_, recipient, ts: int) -> str:
        raw = f'{self.iys_code}|{brand}|{rtype}|{type_}|{recipient}|{ts}'
        return hashlib.sha256(raw.encode()).hexdigest()

    def _record(self, brand: int, body: dict, citizen_name: str | None = None, ts: int | None = None) -> dict:
        """Record one accepted movement and update the current state; returns the movement.

        *ts* (epoch seconds) backdates the movement (:meth:`inject_movement`); the current state
        then only follows it when it is the newest movement of the address."""
        backdated = ts is not None
        ts = int(self.now()) if ts is None else int(ts)
        if self._last_creation[0] != ts:  # (many movements share a second: formatted once)
            self._last_creation = (ts, to_iys_date(dt.datetime.fromtimestamp(ts, dt.timezone.utc).replace(tzinfo=None)))
        creation = self._last_creation[1]
        rtype = body.get('recipientType') or 'BIREYSEL'
        txid = self._txid(brand, rtype, body['type'], body['recipient'], ts)
        self._seq += 1
        key = _ckey(brand, rtype, body['type'], body['recipient'])
        prev = self.consents.get(key)
        consent_date = body.get('consentDate')
        if consent_date is None and prev is not None:
            consent_date = prev.get('consentDate')
        mv = {'seq': self._seq, 'brandCode': brand, 'recipient': body['recipient'], 'recipientType': rtype,
              'type': body['type'], 'status': body['status'], 'source': body.get('source'),
              'consentDate': body.get('consentDate'), 'creationDate': creation, 'creationTs': ts,
              'transactionId': txid}
        if body.get('retailerCode'):
            mv['retailerCode'] = body['retailerCode']
        if citizen_name:
            mv['citizenName'] = citizen_name
        self.movements.append(mv)
        self._mark('movements', f'{self._seq:012d}', mv)
        if backdated and prev is not None and (prev.get('creationDate') or '') > creation:
            return mv
        state = {'status': body['status'], 'consentDate': consent_date,
                 'source': body.get('source') or (prev or {}).get('source'), 'creationDate': creation,
                 'transactionId': txid, 'recipient': body['recipient'], 'recipientType': rtype, 'type': body['type'],
                 'brandCode': brand}
        if body.get('retailerCode'):
            state['retailerCode'] = body['retailerCode']
        elif prev and prev.get('retailerCode'):
            state['retailerCode'] = prev['retailerCode']
        self.consents[key] = state
        self._mark('consents', key, state)
        if body.get('retailerAccess'):
            acc = sorted(set(self.access.get(key, [])) | set(body['retailerAccess']))
            self.access[key] = acc
            self._mark('access', key, acc)
        return mv

    def _current(self, brand, body) -> CurrentState | None:
        st = self.consents.get(_ckey(brand, body.get('recipientType') or 'BIREYSEL', body['type'], body['recipient']))
        if not st:
            return None
        return CurrentState(st['status'], st['consentDate'] or None, st.get('source'))

    def add_retailer(self, brand_code, retailer: dict) -> int:
        """Create a retailer as ``POST …/retailers`` does (same checks); its retailerCode.

        Raises ValueError with İYS's error items when the retailer is refused.
        """
        with self.lock:
            resp = self._retailer_new(int(brand_code), retailer)
        if resp.status != 201:
            raise ValueError(resp.json())
        return resp.json()['retailerCode']

    def inject_citizen_change(self, brand_code, recipient, type_, status, source: str = 'IYS_MOBIL',
                              recipient_type: str = 'BIREYSEL', consent_date=None, citizen_name: str | None = None,
                              deliver_push: bool = True, retailer_code: int | None = None) -> dict:
        """Record an İYS-side movement (citizen app/web/3338 SMS, operator line closure …).

        *retailer_code*: the consent's collecting retailer as İYS reports it with the movement
        (``retailerCode`` in the pull and push items), e.g. one the HS does not know yet.

        *source* must start with ``IYS_``; *consent_date* is an İYS string, a naive-UTC datetime or
        ``None`` for "now".  Registered push connections of the brand and type are notified
        (synchronously, outside the state lock).  Returns the movement.
        """
        if not is_iys_source(source):
            raise ValueError(f'citizen changes need an IYS_* source, got {source!r}')
        if status not in ('ONAY', 'RET'):
            raise ValueError(f'status must be ONAY or RET, got {status!r}')
        if recipient_type not in RECIPIENT_TYPES:
            raise ValueError(f'bad recipient type {recipient_type!r}')
        with self.lock:
            brand = int(brand_code)
            if brand not in self.brands:
                raise ValueError(f'unknown brand {brand}')
            rec = normalize_recipient(type_, recipient)
            if consent_date is None:
                cd = self.local_now_str()
            elif isinstance(consent_date, dt.datetime):
                cd = to_iys_date(consent_date)
            else:
                cd = to_iys_date(parse_iys_date(consent_date))
            if source == 'IYS_AHS_HAT_KAPATMA' and recipient_type == 'TACIR':
                prev = self.consents.get(_ckey(brand, recipient_type, type_, rec))
                if prev and not prev.get('consentDate'):
                    cd = None
            body = {'recipient': rec, 'type': type_, 'status': status, 'source': source, 'consentDate': cd,
                    'recipientType': recipient_type}
            if retailer_code:
                body['retailerCode'] = int(retailer_code)
            mv = self._record(brand, body, citizen_name=citizen_name)
            self._flush()
            targets = [dict(c) for c in self.push if c['brandCode'] == brand and c['type'] == type_ and c['active']]
            item = self._push_item(mv)
        if deliver_push:
            for conn in targets:
                self._deliver_push(conn, {'list': [item]})
        return mv

    def fill_citizen_changes(self, brand_code, count: int, seconds: int = 3600, first: int = 0) -> int:
        """Record *count* citizen movements of *brand_code* at once (benchmarks of the pull).

        Address *i* (from *first*) is ``+90532`` and 7 digits for two thirds of them (MESAJ, then
        ARAMA) and ``citizen<i>@example.com`` (EPOSTA) for the rest; one in ten is RET, the others
        ONAY, with İYS-side sources. Their recording times are spread evenly over the *seconds*
        before the last whole second (all inside the pull window), their consent dates a minute
        earlier. What :meth:`inject_citizen_change` records, without its checks, pushes and
        per-movement overhead (1M movements in seconds). Returns the number of movements recorded.
        """
        sources = ('IYS_MOBIL', 'IYS_WEB', 'IYS_CAGRI_MERKEZI', 'IYS_KISA_MESAJ')
        with self.lock:
            brand = int(brand_code)
            if brand not in self.brands:
                raise ValueError(f'unknown brand {brand}')
            end = int(self.now()) - 2
            start = end - max(int(seconds), 1)
            dates = {}
            record = self._record
            for number in range(first, first + count):
                ts = start + (number - first) * (end - start) // max(count, 1)
                if ts not in dates:
                    moment = dt.datetime.fromtimestamp(ts, dt.timezone.utc).replace(tzinfo=None)
                    dates[ts] = to_iys_date(moment - dt.timedelta(minutes=1))
                kind = number % 3
                if kind == 2:
                    recipient, type_ = f'citizen{number}@example.com', 'EPOSTA'
                else:
                    recipient, type_ = f'+90532{number % 10_000_000:07d}', ('MESAJ', 'ARAMA')[kind]
                body = {'recipient': recipient, 'type': type_, 'status': 'RET' if number % 10 == 9 else 'ONAY',
                        'source': sources[number % len(sources)], 'consentDate': dates[ts],
                        'recipientType': 'BIREYSEL'}
                record(brand, body, ts=ts)
            self._flush()
        return count

    def inject_movement(self, brand_code, recipient, type_, status, source: str = 'HS_WEB',
                        recipient_type: str = 'BIREYSEL', consent_date=None, creation_date=None) -> dict:
        """Record a movement only İYS knows (tests of the reconciliation), without İYS's rules or push.

        Any source (``HS_*``: e.g. recorded by another integrator of the brand, or an answer the HS
        lost; ``IYS_*``: a citizen's).  *consent_date* and *creation_date* are İYS strings, naive-UTC
        datetimes or ``None`` (now); a past *creation_date* puts the movement in that day's file.
        Returns the movement.
        """
        if status not in ('ONAY', 'RET'):
            raise ValueError(f'status must be ONAY or RET, got {status!r}')
        if recipient_type not in RECIPIENT_TYPES:
            raise ValueError(f'bad recipient type {recipient_type!r}')

        def as_utc(value):
            if value is None or isinstance(value, dt.datetime):
                return value
            return parse_iys_date(value, 'date')

        with self.lock:
            brand = int(brand_code)
            if brand not in self.brands:
                raise ValueError(f'unknown brand {brand}')
            created = as_utc(creation_date)
            ts = int(created.replace(tzinfo=dt.timezone.utc).timestamp()) if created else int(self.now())
            consent = as_utc(consent_date)
            cd = to_iys_date(consent) if consent else to_iys_date(
                dt.datetime.fromtimestamp(ts, dt.timezone.utc).replace(tzinfo=None))
            body = {'recipient': normalize_recipient(type_, recipient), 'type': type_, 'status': status,
                    'source': source, 'consentDate': cd, 'recipientType': recipient_type}
            mv = self._record(brand, body, ts=ts)
            self._flush()
            return dict(mv)

    def drop_movement(self, transaction_id: str) -> int:
        """Leave the movement(s) of *transaction_id* out of the daily file, its hash and the summary,
        as if İYS had never recorded them (tests of "in Odoo as confirmed but not on İYS").
        Returns how many movements were dropped."""
        count = 0
        with self.lock:
            for m in self.movements:
                if m['transactionId'] == transaction_id and not m.get('dropped'):
                    m['dropped'] = True
                    self._mark('movements', f'{m["seq"]:012d}', m)
                    count += 1
            self._flush()
        return count

    def set_process_status(self, brand_code, report_date, status: str | None):
        """Force the agreement's ``processStatus`` of one day (``queued``, ``inprogress``, ``error``,
        ``completed``); ``None`` restores the simulator's own (completed for past days, inprogress today)."""
        if status not in (None, 'queued', 'inprogress', 'completed', 'error'):
            raise ValueError(f'unknown processStatus {status!r}')
        key = f'{int(brand_code)}|{report_date}'
        with self.lock:
            if status is None:
                self._process_status.pop(key, None)
            else:
                self._process_status[key] = status

    def _push_item(self, mv: dict) -> dict:
        item = {'iysCode': self.iys_code, 'brandCode': mv['brandCode']}
        item.update(self._feed_item(mv))
        item.pop('citizenName', None)
        return item

    def _deliver_push(self, conn: dict, payload: dict, with_auth: bool = True) -> dict:
        data = json.dumps(payload, ensure_ascii=False).encode('utf-8')
        req = urllib.request.Request(conn['url'], data=data, method='POST',
                                     headers={'Content-Type': 'application/json'})
        if with_auth:
            token = base64.b64encode(f'{conn["username"]}:{conn["password"]}'.encode()).decode()
            req.add_header('Authorization', f'Basic {token}')
        entry = {'url': conn['url'], 'type': conn['type'], 'with_auth': with_auth, 'payload': payload}
        try:
            with urllib.request.urlopen(req, timeout=self.push_timeout) as resp:
                entry['status'] = resp.status
        except urllib.error.HTTPError as exc:
            entry['status'] = exc.code
        except (TimeoutError, OSError) as exc:
            is_timeout = isinstance(exc, TimeoutError) or 'timed out' in str(exc)
            entry['status'] = None
            entry['error'] = 'timeout' if is_timeout else type(exc).__name__
        with self.lock:
            self.push_log.append(entry)
            if len(self.push_log) > 1000:
                del self.push_log[:200]
        return entry

    # ------------------------------------------------------------------ batches
    def _process_due_batches(self):
        now = self.now()
        due = [b for b in self.batches.values() if not b['processed'] and b['submittedAt'] + self.batch_delay <= now]
        due.sort(key=lambda b: (b['submittedAt'], b['seq']))
        for batch in due:
            brand = batch['brandCode']
            for item in batch['items']:
                body = item['body']
                canon = f'{brand}|{_canonical(body)}'
                if batch['v2'] and canon in self.v2_batch_index:
                    orig = self.v2_batch_index[canon]
                    item['result'] = {'status': 'success', 'transactionId': orig['transactionId'],
                                      'creationDate': orig['creationDate'], 'original': orig}
                    continue
                try:
                    validate_transition(self._current(brand, body), body['status'], body.get('consentDate'),
                                        body.get('source'), body.get('recipientType') or 'BIREYSEL')
                except IysValidationError as exc:
                    item['result'] = {'status': 'failure', 'error': {'code': exc.code, 'message': exc.message}}
                    continue
                mv = self._record(brand, body)
                info = {'requestId': batch['requestId'], 'subRequestId': item['subRequestId'],
                        'transactionId': mv['transactionId'], 'creationDate': mv['creationDate']}
                self.v2_batch_index[canon] = info
                self._mark('v2_batch_index', canon, info)
                item['result'] = {'status': 'success', 'transactionId': mv['transactionId'],
                                  'creationDate': mv['creationDate'], 'original': info}
            batch['processed'] = True
            self._mark('batches', batch['requestId'], batch)

    # ------------------------------------------------------------------ HTTP entry point
    def handle(self, method: str, path: str, query: str | dict = '', headers: dict | None = None,
               body: bytes = b'', remote: str = '127.0.0.1') -> Response:
        """Answer one İYS request; the WSGI app calls this.  Faults are applied here.

        *remote* is the caller's address; the simulator counts its limits (token, per-second,
        hourly) for all callers together, as if they shared one IP.
        """
        if isinstance(query, str):
            query = parse_qs(query, keep_blank_values=True)
        req = _Request(method, path, query, headers, body)
        with self.lock:
            fault = self._take_fault(req.method, path)
        if fault in ('500', '429_H083', '429_H124'):
            if fault == '500':
                resp = _errors('H015', status=500)
            else:
                resp = _errors(fault[4:], status=429, )
                resp.headers['Retry-After'] = '1'
            resp.fault = fault
            self._log(req, resp)
            return resp
        try:
            resp = self._dispatch(req)
        except _BadJson:
            resp = _errors('H014', status=400)
        if fault in _PROCESS_FIRST:
            resp.fault = fault
            if fault == '503':
                resp = _errors('H192', status=503)
                resp.fault = fault
            elif fault == 'malformed_json':
                resp = Response(200, b'{"transactionId": "', fault=fault)
        self._log(req, resp)
        return resp

    def _log(self, req, resp):
        with self.lock:
            self.requests_log.append({'method': req.method, 'path': req.path, 'query': req.query,
                                      'status': resp.status, 'fault': resp.fault, 'at': self.now()})
            if len(self.requests_log) > 5000:
                del self.requests_log[:1000]

    # routing ----------------------------------------------------------------------------------
    _SPS = r'/sps/(?P<iys>[^/]+)/brands/(?P<brand>[^/]+)'
    _ROUTES = [
        ('POST', r'/oauth2/token', '_token', False),
        ('GET', r'/sps/(?P<iys>[^/]+)/brands', '_brands', True),
        ('GET', r'/sps/(?P<iys>[^/]+)/subscription', '_subscription', True),
        ('POST', r'(?P<v2>/v2)?' + _SPS + r'/consents', '_add_consent', True),
        ('POST', r'(?P<v2>/v2)?' + _SPS + r'/consents/request', '_add_batch', True),
        ('GET', r'(?P<v2>/v2)?' + _SPS + r'/consents/request/(?P<rid>[^/]*)', '_batch_result', True),
        ('POST', _SPS + r'/consents/status', '_status', True),
        ('POST', _SPS + r'/consents/history', '_history', True),
        ('GET', _SPS + r'/consents/changes', '_changes', True),
        ('POST', _SPS + r'/consents/retailers/access', '_access_add', True),
        ('PUT', _SPS + r'/consents/retailers/access', '_access_replace', True),
        ('POST', _SPS + r'/consent/retailers/access/list', '_access_list', True),
        ('POST', _SPS + r'/consents/retailers/access/remove', '_access_remove', True),
        ('POST', _SPS + r'/consents/retailers/access/remove/all', '_access_remove_all', True),
        ('POST', _SPS + r'/consents/(?P<rtype>[^/]+)/status/(?P<type>[^/]+)', '_multi_status', True),
        ('POST', _SPS + r'/push/registration', '_push_register', True),
        ('GET', _SPS + r'/push/registration', '_push_list', True),
        ('POST', _SPS + r'/push/unregistration', '_push_unregister', True),
        ('POST', _SPS + r'/retailers', '_retailer_create', True),
        ('GET', _SPS + r'/retailers', '_retailer_list', True),
        ('GET', _SPS + r'/retailers/(?P<code>[^/]+)', '_retailer_get', True),
        ('DELETE', _SPS + r'/retailers/(?P<code>[^/]+)', '_retailer_delete', True),
        ('GET', _SPS + r'/changes/(?P<date>[^/]+)/recipients/(?P<rtype>[^/]+)', '_change_summary', True),
        ('GET', _SPS + r'/changes/(?P<date>[^/]+)/file', '_change_file', True),
        ('GET', _SPS + r'/agreements/(?P<date>[^/]+)', '_agreement_get', True),
        ('PUT', _SPS + r'/agreements/(?P<date>[^/]+)', '_agreement_put', True),
        ('GET', _SPS + r'/agreements/(?P<date>[^/]+)/timestamp', '_agreement_timestamp', True),
        ('GET', r'/info/city', '_cities', True),
        ('GET', r'/info/city/(?P<code>[^/]+)', '_city', True),
        ('GET', r'/info/town', '_towns', True),
        ('GET', r'/info/town/(?P<code>[^/]+)', '_town', True),
    ]
    _COMPILED = [(m, re.compile(p + r'/?$'), h, a) for m, p, h, a in _ROUTES]
    _UNLOCKED = {'_push_register'}

    def _dispatch(self, req: _Request) -> Response:
        match = None
        path_known = False
        for method, rx, handler, needs_auth in self._COMPILED:
            m = rx.match(req.path)
            if not m:
                continue
            path_known = True
            if method == req.method:
                match = (m, handler, needs_auth)
                break
        if not match:
            return Response(405 if path_known else 404,
                            {'errors': [{'code': 'H085' if path_known else 'H001',
                                         'message': 'Yöntem desteklenmiyor.' if path_known else 'Kaynak bulunamadı.'}]})
        m, handler, needs_auth = match
        params = {k: v for k, v in m.groupdict().items() if v is not None}
        fn = getattr(self, handler)
        if handler in self._UNLOCKED:
            with self.lock:
                pre = self._pre_checks(req, params, needs_auth)
            return pre or fn(req, **params)
        with self.lock:
            self._process_due_batches()
            pre = self._pre_checks(req, params, needs_auth)
            resp = pre or fn(req, **params)
            self._flush()
            return resp

    def _pre_checks(self, req, params, needs_auth) -> Response | None:
        now = self.now()
        if self.rate_limit_per_second:
            self._second = [t for t in self._second if t > now - 1.0]
            if len(self._second) >= self.rate_limit_per_second:
                r = _errors('H124', status=429)
                r.headers['Retry-After'] = '1'
                return r
            self._second.append(now)
        if not needs_auth:
            return None
        auth = req.headers.get('authorization', '')
        token = auth[7:].strip() if auth.lower().startswith('bearer ') else None
        info = self.access_tokens.get(token) if token else None
        if not info or info['exp'] <= now:
            return _errors('H351', status=401)
        if 'iys' in params:
            if not re.fullmatch(r'\d+', params['iys']):
                return _errors('H190', 'iysCode integer bir değer olmalıdır.', status=422, location=['iysCode'],
                               value=params['iys'])
            if int(params['iys']) != self.iys_code:
                return _errors('H353', 'iysCode, kullanıcı izinleriyle eşleştirilemiyor', status=403)
            params['iys'] = int(params['iys'])
        if 'brand' in params:
            if not re.fullmatch(r'\d+', params['brand']):
                return _errors('H191', 'brandCode integer bir değer olmalıdır.', status=422, location=['brandCode'],
                               value=params['brand'])
            if int(params['brand']) not in self.brands:
                return _errors('H353', 'brandCode, kullanıcı izinleriyle eşleştirilemiyor', status=403)
            params['brand'] = int(params['brand'])
        return None

    @staticmethod
    def _json(req: _Request):
        if not req.body:
            return None
        ctype = req.headers.get('content-type', '')
        if 'application/x-www-form-urlencoded' in ctype:
            return {k: v[0] for k, v in parse_qs(req.body.decode('utf-8'), keep_blank_values=True).items()}
        try:
            return json.loads(req.body.decode('utf-8'))
        except (ValueError, UnicodeDecodeError):
            raise _BadJson() from None

    def _hourly_hit(self, key: str, limit: int | None) -> bool:
        if not limit:
            return False
        now = self.now()
        calls = [t for t in self._hourly[key] if t > now - 3600]
        if len(calls) >= limit:
            self._hourly[key] = calls
            return True
        calls.append(now)
        self._hourly[key] = calls
        return False

    # ------------------------------------------------------------------ token
    def _new_jwt(self, kind: str, exp: float) -> str:
        def b64(obj):
            return base64.urlsafe_b64encode(json.dumps(obj, separators=(',', ':')).encode()).rstrip(b'=').decode()
        payload = {'sub': self.username, 'iysCode': self.iys_code, 'typ': kind, 'exp': int(exp),
                   'jti': secrets.token_hex(8)}
        return f'{b64({"alg": "none", "typ": "JWT"})}.{b64(payload)}.{secrets.token_urlsafe(16)}'

    def _token(self, req):
        now = self.now()
        if self.token_limit:
            if now < self.token_lock_until:
                self.token_lock_until = now + TOKEN_LOCK_SECONDS   # every retry restarts the hour
                self._mark('meta', 'x', None)
                return _errors('H084', status=429)
            self.token_calls = [t for t in self.token_calls if t > now - 3600]
            if len(self.token_calls) >= self.token_limit:
                self.token_lock_until = now + TOKEN_LOCK_SECONDS
                self._mark('meta', 'x', None)
                return _errors('H084', status=429)
            self.token_calls.append(now)
            self._mark('meta', 'x', None)
        try:
            data = self._json(req)
        except _BadJson:
            data = None
        if not isinstance(data, dict):
            return Response(400, {'error': 'invalid_request', 'error_description': 'Giriş yöntemi belirtilmedi.'})
        grant = data.get('grant_type')
        if grant == 'password':
            if not data.get('username') or not data.get('password'):
                return Response(400, {'error': 'invalid_request',
                                      'error_description': 'Kullanıcı adı veya şifre eksik.'})
            if data['username'] != self.username or data['password'] != self.password:
                return Response(400, {'error': 'invalid_grant', 'error_description': 'Invalid user credentials'})
        elif grant == 'refresh_token':
            rt = data.get('refresh_token')
            if not rt:
                return Response(400, {'error': 'invalid_request',
                                      'error_description': 'Yenileme jetonu (refresh_token) verilmedi.'})
            info = self.refresh_tokens.pop(rt, None)
            self._mark('refresh_tokens', rt, None)
            if not info or info['exp'] <= now:
                return Response(400, {'error': 'invalid_grant', 'error_description': 'Invalid refresh token'})
        else:
            return Response(400, {'error': 'invalid_request', 'error_description': 'Giriş yöntemi belirtilmedi.'})
        access = self._new_jwt('access', now + self.access_ttl)
        refresh = self._new_jwt('refresh', now + self.refresh_ttl)
        self.access_tokens[access] = {'exp': now + self.access_ttl}
        self.refresh_tokens[refresh] = {'exp': now + self.refresh_ttl}
        self._mark('access_tokens', access, self.access_tokens[access])
        self._mark('refresh_tokens', refresh, self.refresh_tokens[refresh])
        for store, coll in ((self.access_tokens, 'access_tokens'), (self.refresh_tokens, 'refresh_tokens')):
            for tok in [t for t, i in store.items() if i['exp'] <= now]:
                del store[tok]
                self._mark(coll, tok, None)
        return Response(200, {'access_token': access, 'expires_in': int(self.access_ttl),
                              'refresh_expires_in': int(self.refresh_ttl), 'refresh_token': refresh,
                              'token_type': 'bearer'})

    # ------------------------------------------------------------------ brands / subscription
    def _brands(self, req, iys):
        out = []
        for code, name in self.brands.items():
            approval = sum(1 for c in self.consents.values() if c['brandCode'] == code and c['status'] == 'ONAY')
            rejection = sum(1 for c in self.consents.values() if c['brandCode'] == code and c['status'] == 'RET')
            retailers = sum(1 for r in self.retailers.values() if r['brandCode'] == code)
            out.append({'brandCode': code, 'name': name, 'master': code == self.master_brand,
                        'stats': {'consents': {'approval': approval, 'rejection': rejection,
                                               'total': approval + rejection},
                                  'retailers': {'total': retailers}}})
        return Response(200, out)

    def _subscription(self, req, iys):
        return Response(200, {
            'subscriptionId': f'SIM-{self.iys_code}', 'startDate': '2026-01-01 00:00:00',
            'expirationDate': '2027-12-31 23:59:59', 'subscriptionPackageName': 'İleti+ (Simülatör)',
            'status': 'ACTIVE', 'consentLimit': 250000, 'usedConsentLimit': len(self.consents),
            'consentLimitExceed': False})

    # ------------------------------------------------------------------ consents
    def _add_consent(self, req, iys, brand, v2=None):
        data = self._json(req)
        if not isinstance(data, dict):
            return _errors('H085', 'İzin ekleme isteği geçerli olmalıdır.', status=400)
        if v2:
            key = f'{brand}|{_canonical(data)}'
            if key in self.v2_single:
                return Response(200, self.v2_single[key])
        try:
            body = validate_body(data, now=self.utcnow(), strict=True, strict_recipient=True, check_transition=False)
        except IysValidationError as exc:
            return _from_validation(exc)
        unknown = self._unknown_retailer(brand, body)
        if unknown:
            return unknown
        try:
            validate_transition(self._current(brand, body), body['status'], body.get('consentDate'),
                                body.get('source'), body['recipientType'])
        except IysValidationError as exc:
            return _from_validation(exc)
        mv = self._record(brand, body)
        receipt = {'transactionId': mv['transactionId'], 'creationDate': mv['creationDate']}
        if v2:
            self.v2_single[key] = receipt
            self._mark('v2_single', key, receipt)
        return Response(200, receipt)

    def _unknown_retailer(self, brand, body) -> Response | None:
        codes = ([body['retailerCode']] if body.get('retailerCode') else []) + list(body.get('retailerAccess') or [])
        for code in codes:
            if not self._find_retailer(brand, code):
                return _errors('H180', f'İstek gövdesinde yer alan bayi İYS numarasıyla ({code}) herhangi bir bayi '
                                       'bulunamadı.', status=403)
        return None

    def _add_batch(self, req, iys, brand, v2=None):
        data = self._json(req)
        if not isinstance(data, list):
            return _errors('H092', 'Çoklu izin ekleme isteği geçerli olmalıdır.', status=400)
        if len(data) > BATCH_MAX:
            return _errors('H091', f'İzin ekleme sayısı en fazla {BATCH_MAX} olmalıdır.', status=422)
        try:
            res = validate_batch(data, now=self.utcnow(), strict=True, strict_recipient=True)
        except IysValidationError as exc:
            return _from_validation(exc)
        for i, body in enumerate(res.bodies):
            unknown = body and self._unknown_retailer(brand, body)
            if unknown:
                payload = unknown.json()
                payload['errors'][0]['index'] = i
                return Response(403, payload)
        if not res.ok:
            first = res.errors[0]
            return Response(H_CODES.get(first.code, (422,))[0] or 422,
                            {'errors': [e.to_iys_item() for e in res.errors]})
        self._seq += 1
        rid = str(uuid.uuid4())
        creation = self.local_now_str()
        items, subs = [], []
        for i, body in enumerate(res.bodies):
            sid = str(uuid.uuid4())
            items.append({'index': i, 'subRequestId': sid, 'body': body, 'result': None})
            sub = {'subrequestId': sid}
            sub.update(body)
            sub['creationDate'] = creation
            subs.append(sub)
        batch = {'requestId': rid, 'brandCode': brand, 'v2': bool(v2), 'submittedAt': self.now(), 'seq': self._seq,
                 'items': items, 'processed': False}
        self.batches[rid] = batch
        self._mark('batches', rid, batch)
        if self.batch_delay <= 0:
            self._process_due_batches()
        return Response(202, {'requestId': rid, 'subRequests': subs})

    def _batch_result(self, req, iys, brand, rid, v2=None):
        if len(rid) > 36:
            return _errors('H198', 'requestId 36 karakterden daha uzun olamaz.', status=422, location=['requestId'],
                           value=rid)
        if rid.isalpha():
            return _errors('H199', 'requestId sadece harflerden meydana gelemez.', status=422,
                           location=['requestId'], value=rid)
        if rid.isdigit():
            return _errors('H400', 'requestId sadece sayılardan meydana gelemez.', status=422,
                           location=['requestId'], value=rid)
        batch = self.batches.get(rid)
        if not batch or batch['brandCode'] != brand or self.now() - batch['submittedAt'] > 60 * 86400:
            return Response(200, [])
        out = []
        for item in batch['items']:
            res = item['result']
            if res is None:
                out.append({'index': item['index'], 'status': 'enqueue', 'subrequestId': item['subRequestId']})
                continue
            entry = {'index': item['index'], 'subRequestId': item['subRequestId'], 'status': res['status']}
            if res['status'] == 'success':
                entry.update({'requestId': rid, 'transactionId': res['transactionId'],
                              'creationDate': res['creationDate']})
                if v2:
                    orig = res['original']
                    entry['isAddConsentV2Service'] = True
                    entry['originalRequestInformation'] = {'requestId': orig['requestId'],
                                                           'subRequestId': orig['subRequestId']}
            else:
                entry['error'] = res['error']
            out.append(entry)
        return Response(200, out)

    def _query_fields(self, data, strict_recipient=True):
        """Validate ``{recipient, recipientType, type}``; returns normalised (rtype, type, recipient)."""
        if not isinstance(data, dict):
            raise IysValidationError('H097', 'İzin sorgulama isteği geçerli olmalıdır.')
        type_ = data.get('type')
        rtype = data.get('recipientType')
        if not type_:
            raise IysValidationError('H111', 'İzin tipi (type) bulunamadı.', location=['type'])
        if type_ not in TYPES:
            raise IysValidationError('H117', 'İzin tipi (type) için uygun değerler: ARAMA, MESAJ, EPOSTA',
                                     location=['type'], value=type_)
        if not rtype:
            raise IysValidationError('H170', 'Alıcı tipi (recipientType) bulunamadı.', location=['recipientType'])
        if rtype not in RECIPIENT_TYPES:
            raise IysValidationError('H116', 'Alıcı tipi (recipientType) için uygun değerler: BIREYSEL, TACIR',
                                     location=['recipientType'], value=rtype)
        recipient = normalize_recipient(type_, data.get('recipient'), strict=strict_recipient)
        return rtype, type_, recipient

    def _status(self, req, iys, brand):
        data = self._json(req)
        try:
            rtype, type_, recipient = self._query_fields(data)
        except IysValidationError as exc:
            return _from_validation(exc)
        if self._hourly_hit('status', self.status_limit):
            return _errors('H086', status=429)
        st = self.consents.get(_ckey(brand, rtype, type_, recipient))
        if not st:
            return Response(200, {})
        # TACIR first records may lack both: reported empty, as in the pull and history items
        out = {'consentDate': st['consentDate'] or '', 'source': st['source'] or '', 'recipient': recipient,
               'recipientType': rtype, 'status': st['status'], 'type': type_, 'creationDate': st['creationDate'],
               'transactionId': st['transactionId']}
        if st.get('retailerCode'):
            out['retailerCode'] = st['retailerCode']
            r = self.retailers.get(st['retailerCode'])
            if r:
                out['retailerTitle'] = r['title']
        acc = self.access.get(_ckey(brand, rtype, type_, recipient))
        if acc:
            out['retailerAccessCount'] = len(acc)
        return Response(200, out)

    def _multi_status(self, req, iys, brand, rtype, type):
        if rtype not in RECIPIENT_TYPES:
            return _errors('H116', 'Alıcı tipi (recipientType) için uygun değerler: BIREYSEL, TACIR', status=422,
                           location=['recipientType'], value=rtype)
        if type not in TYPES:
            return _errors('H117', 'İzin tipi (type) için uygun değerler: ARAMA, MESAJ, EPOSTA', status=422,
                           location=['type'], value=type)
        data = self._json(req)
        if not isinstance(data, dict) or 'recipients' not in data:
            return _errors('H168', 'Alıcı listesi (recipients) bulunamadı.', status=422, location=['recipients'])
        recipients = data['recipients']
        if not isinstance(recipients, list):
            return _errors('H478', 'Alıcı listesi (recipients) liste olmalıdır.', status=422,
                           location=['recipients'])
        if not recipients:
            return _errors('H164', 'Alıcı listesi (recipients) kabul edilemedi. Liste boş olmamalıdır.', status=422,
                           location=['recipients'], value=[])
        if len(recipients) > MULTI_STATUS_MAX:
            return _errors('H091', f'Alıcı listesi en fazla {MULTI_STATUS_MAX} kayıt içerebilir.', status=422,
                           location=['recipients'], value=len(recipients))
        seen = set()
        norm = []
        for i, r in enumerate(recipients):
            try:
                n = normalize_recipient(type, r, strict=True)
            except IysValidationError as exc:
                return _errors(exc.code, exc.message, status=422, location=['recipients', i], value=r)
            if n in seen:
                return _errors('H193', 'Alıcı (recipient) değeri liste içinde tekrarlanamaz.', status=422,
                               location=['recipients', i], value=r)
            seen.add(n)
            norm.append(n)
        onay = [n for n in norm if (self.consents.get(_ckey(brand, rtype, type, n)) or {}).get('status') == 'ONAY']
        return Response(200, {'requestId': str(uuid.uuid4()), 'list': onay})

    @staticmethod
    def _int_param(req, name, default, code_invalid):
        raw = req.arg(name)
        if raw is None or raw == '':
            return default, None
        try:
            value = int(raw)
        except ValueError:
            return None, _errors(code_invalid, f'{name} değeri geçerli olmalıdır.', status=422, location=[name],
                                 value=raw)
        if value < 0:
            return None, _errors(code_invalid, f'{name} değeri geçerli olmalıdır.', status=422, location=[name],
                                 value=value)
        return value, None

    def _page_params(self, req, default_limit=PAGE_LIMIT_MAX):
        limit, err = self._int_param(req, 'limit', default_limit, 'H182')
        if err:
            return None, None, err
        if limit == 0:
            return None, None, _errors('H187', 'Limit değerleri sıfır olmamalıdır.', status=422, location=['limit'],
                                       value=0)
        if limit > PAGE_LIMIT_MAX:
            return None, None, _errors('H186', 'Sayfalama (pagination) değeri en fazla 100 olabilir.', status=422,
                                       location=['limit'], value=limit)
        offset, err = self._int_param(req, 'offset', 0, 'H183')
        if err:
            return None, None, err
        return offset, limit, None

    def _history(self, req, iys, brand):
        data = self._json(req)
        try:
            rtype, type_, recipient = self._query_fields(data)
        except IysValidationError as exc:
            return _from_validation(exc)
        offset, limit, err = self._page_params(req)
        if err:
            return err
        if self._hourly_hit('history', self.history_limit):
            return _errors('H089', status=429)
        mvs = [m for m in self.movements if m['brandCode'] == brand and m['recipientType'] == rtype
               and m['type'] == type_ and m['recipient'] == recipient]
        mvs.sort(key=lambda m: (m['consentDate'] or '', m['creationTs'], m['seq']), reverse=True)
        page = mvs[offset:offset + limit]
        items = [{k: v for k, v in self._feed_item(m).items() if k != 'citizenName'} for m in page]
        return Response(200, {'list': items, 'pagination': {'totalCount': len(mvs), 'pageSize': len(items),
                                                            'offset': offset}})

    def _feed(self, brand, source):
        """The pull feed of *brand* and *source* ('IYS' or 'HS'), in İYS's order: two parallel lists,
        the sort keys ``(creationTs, transactionId, seq)`` and the movements.

        Kept up to date incrementally: the movements recorded since the last call are appended
        (movements are recorded in time order; a backdated one only marks its feed for a re-sort).
        """
        if self._feed_of is not self.movements:  # reset or reloaded: index everything again
            self._feed_index, self._feed_of, self._feed_count = {}, self.movements, 0
        index = self._feed_index
        for m in self.movements[self._feed_count:]:
            feed = index.get((m['brandCode'], _origin(m)))
            if feed is None:
                feed = index[(m['brandCode'], _origin(m))] = [[], [], True]
            key = (m['creationTs'], m['transactionId'], m['seq'])
            if feed[0] and key < feed[0][-1]:
                feed[2] = False
            feed[0].append(key)
            feed[1].append(m)
        self._feed_count = len(self.movements)
        feed = index.get((brand, source))
        if feed is None:
            return [], []
        if not feed[2]:
            order = sorted(range(len(feed[0])), key=feed[0].__getitem__)
            feed[0] = [feed[0][i] for i in order]
            feed[1] = [feed[1][i] for i in order]
            feed[2] = True
        return feed[0], feed[1]

    def _feed_item(self, m: dict) -> dict:
        item = {'consentDate': m['consentDate'] or '', 'creationDate': m['creationDate'], 'source': m['source'] or '',
                'recipient': m['recipient'], 'recipientType': m['recipientType'], 'status': m['status'],
                'type': m['type'], 'transactionId': m['transactionId']}
        if m.get('citizenName') and m.get('source') == 'IYS_WEB_YENI':
            item['citizenName'] = m['citizenName']
        if m.get('retailerCode'):
            # the consent's collecting retailer and how many retailers may use it
            item['retailerCode'] = m['retailerCode']
            acc = self.access.get(_ckey(m['brandCode'], m['recipientType'], m['type'], m['recipient']))
            if acc:
                item['retailerAccessCount'] = len(acc)
        return item

    def _changes(self, req, iys, brand):
        source = req.arg('source', 'IYS') or 'IYS'
        if source not in ('IYS', 'HS'):
            return _errors('H506', 'İzin kaynağı (source) bulunamadı.', status=422, location=['source'], value=source)
        raw_limit = req.arg('limit')
        limit = PULL_LIMIT_MAX
        if raw_limit not in (None, ''):
            try:
                limit = int(raw_limit)
            except ValueError:
                limit = -1
            if limit < 1 or limit > PULL_LIMIT_MAX:
                return _errors('H507', 'limit alanı için karakter üst sınırı 1000 olmalıdır.', status=422,
                               location=['limit'], value=raw_limit)
        after = req.arg('after')
        cursor = None
        if after:
            m = re.fullmatch(r'(\d+)_([0-9a-f]{64})', after)
            if not m:
                return _errors('H098', 'Geçersiz "after" değeri: önceki yanıttaki after değeri aynen gönderilmelidir.',
                               status=422, location=['after'], value=after)
            cursor = (int(m.group(1)), m.group(2))
        now = self.now()
        # *sim*: the window always ends at least one second in the past.  Movements are stamped with whole
        # seconds and ordered by (creationDate, transactionId) within a second, so serving a second that is
        # still running could put a later movement *before* the cursor: it would never be delivered.
        lo, hi = now - self.pull_window, now - max(self.pull_lag, 1.0)
        keys, movements = self._feed(brand, source)
        # First movement inside the window and after the cursor: a bisection of the sorted feed,
        # not a scan of every movement ever recorded (that made a 1M-movement pull quadratic).
        start = bisect.bisect_left(keys, (math.ceil(lo),))
        if cursor is not None:
            start = max(start, bisect.bisect_left(keys, (cursor[0], cursor[1], math.inf)))
        page = []
        for position in range(start, min(start + limit, len(keys))):
            if keys[position][0] > hi:
                break
            page.append(movements[position])
        if not page:
            return Response(204, None)
        last = page[-1]
        return Response(200, {'after': f'{last["creationTs"]}_{last["transactionId"]}',
                              'list': [self._feed_item(m) for m in page]})

    # ------------------------------------------------------------------ push
    def _push_url_ok(self, url: str) -> bool:
        parts = urlsplit(url)
        if parts.scheme == 'https' and parts.netloc:
            return True
        return bool(self.allow_http_push and parts.scheme == 'http'
                    and parts.hostname in ('127.0.0.1', 'localhost', '::1'))

    def _push_register(self, req, iys, brand):
        # One registration at a time: the "at most 2 active connections per type" check and the
        # recording of the new ones must not interleave with another registration (the test
        # deliveries in between run without the state lock).
        with self._push_lock:
            return self._push_register_locked(req, iys, brand)

    def _push_register_locked(self, req, iys, brand):
        try:
            data = self._json(req)
        except _BadJson:
            return _errors('H014', status=400)
        conns = data.get('connection') if isinstance(data, dict) else None
        if not isinstance(conns, list) or not conns:
            return _errors('H530', 'Bağlantı oluşturulamadı.', status=422, location=['connection'])
        for c in conns:
            if not isinstance(c, dict):
                return _errors('H530', 'Bağlantı oluşturulamadı.', status=422)
            if not c.get('url') or not isinstance(c['url'], str):
                return _errors('H531', 'Bağlantı linki (url) https ile başlamalıdır.', status=422, location=['url'],
                               value=c.get('url'))
            if not c.get('type') or not isinstance(c['type'], str):
                return _errors('H111', 'İzin tipi (type) bulunamadı.', status=422, location=['type'])
            if c['type'] not in TYPES:
                return _errors('H117', 'İzin tipi (type) için uygun değerler: ARAMA, MESAJ, EPOSTA', status=422,
                               location=['type'], value=c['type'])
            if not c.get('username') or not isinstance(c['username'], str):
                return _errors('H093', 'Kullanıcı adı (username) bulunamadı.', status=422, location=['username'])
            if not c.get('password') or not isinstance(c['password'], str):
                return _errors('H093', 'Şifre (password) bulunamadı.', status=422, location=['password'])
            if not self._push_url_ok(c['url']):
                return _errors('H531', 'Bağlantı linki (url) https ile başlamalıdır.', status=422, location=['url'],
                               value=c['url'])
        with self.lock:
            for c in conns:
                active = [p for p in self.push if p['brandCode'] == brand and p['type'] == c['type'] and p['active']]
                if len(active) >= 2:
                    return _errors('H530', f'{c["type"]} için en fazla 2 etkin bağlantı tanımlanabilir.', status=422)
        test_payload = {'list': [dict(PUSH_TEST_ITEM)]}
        results = []
        for c in conns:
            conn = {'url': c['url'], 'type': c['type'], 'username': c['username'], 'password': c['password']}
            unauth = self._deliver_push(conn, test_payload, with_auth=False)
            if unauth.get('error') == 'timeout':
                return _errors('H191', 'Bağlantı zaman aşımına uğradı.', status=422)
            if unauth.get('status') not in (401, 403):
                results.append((c, False, 'Basic auth'))
                continue
            auth = self._deliver_push(conn, test_payload, with_auth=True)
            if auth.get('error') == 'timeout':
                return _errors('H191', 'Bağlantı zaman aşımına uğradı.', status=422)
            ok = auth.get('status') is not None and 200 <= auth['status'] < 300
            results.append((c, ok, None if ok else f'HTTP {auth.get("status") or auth.get("error")}'))
        with self.lock:
            now_str = self.local_now_str()
            for i, (c, ok, _why) in enumerate(results):
                active = [p for p in self.push if p['brandCode'] == brand and p['type'] == c['type'] and p['active']]
                if ok and len(active) >= 2:      # never more than 2 active per type, whatever happened meanwhile
                    ok = False
                    results[i] = (c, False, 'limit')
                conn = {'id': str(uuid.uuid4()), 'brandCode': brand, 'url': c['url'], 'type': c['type'],
                        'username': c['username'], 'password': c['password'], 'registerTime': now_str, 'active': ok,
                        'status': 'Bağlantı Oluşturuldu' if ok else 'Bağlantı Oluşturulamadı'}
                self.push.append(conn)
                self._mark('push', conn['id'], conn)
            self._flush()
        failed = [why for _c, ok, why in results if not ok]
        if 'limit' in failed:
            return _errors('H530', 'Bağlantı oluşturulamadı: tip başına en fazla 2 etkin bağlantı tanımlanabilir.',
                           status=422)
        if failed:
            detail = ('uç nokta Basic auth kimlik doğrulaması istemiyor' if failed[0] == 'Basic auth'
                      else f'test bildirimi başarısız ({failed[0]})')
            return _errors('H530', f'Bağlantı oluşturulamadı: {detail}.', status=422)
        return Response(200, {'message': 'Bağlantı oluşturuldu'})

    def _push_list(self, req, iys, brand):
        return Response(200, [{'url': p['url'], 'type': p['type'], 'registerTime': p['registerTime'],
                               'status': p['status']} for p in self.push if p['brandCode'] == brand])

    def _push_unregister(self, req, iys, brand):
        data = self._json(req)
        if not isinstance(data, dict):
            return _errors('H530', 'Bağlantı kaldırılamadı.', status=422)
        for field, code in (('url', 'H531'), ('type', 'H111'), ('username', 'H093'), ('password', 'H093')):
            if not data.get(field):
                return _errors(code, f'{field} bulunamadı.', status=422, location=[field])
        if data['type'] not in TYPES:
            return _errors('H117', 'İzin tipi (type) için uygun değerler: ARAMA, MESAJ, EPOSTA', status=422,
                           location=['type'], value=data['type'])
        for i, p in enumerate(self.push):
            if (p['brandCode'] == brand and p['url'] == data['url'] and p['type'] == data['type']
                    and p['username'] == data['username'] and p['password'] == data['password']):
                del self.push[i]
                self._mark('push', p['id'], None)
                return Response(200, {'message': 'Bağlantı Kaldırıldı'})
        return _errors('H530', 'Bağlantı kaldırılamadı.', status=422)

    # ------------------------------------------------------------------ retailers
    def _retailer_public(self, r: dict, short: bool = False) -> dict:
        count = sum(1 for k, v in self.access.items() if r['retailerCode'] in v and k.startswith(f'{r["brandCode"]}|'))
        if short:
            return {'title': r['title'], 'city': r['city'], 'retailerAccessCount': count,
                    'retailerCode': r['retailerCode'], 'status': r['status']}
        out = {k: v for k, v in r.items() if k != 'brandCode'}
        out['retailerAccessCount'] = count
        return out

    def _retailer_create(self, req, iys, brand):
        return self._retailer_new(brand, self._json(req))

    def _retailer_new(self, brand, data) -> Response:
        if not isinstance(data, dict):
            return _errors('H090', 'Bayi ekleme isteği geçerli olmalıdır.', status=400)
        for key in ('mersis', 'alias', 'mobile', 'status'):
            # wire rule: optional fields are left out, never sent as null or ""
            if key in data and data[key] in (None, ''):
                return _errors('H016', f'Geçersiz girdi tespit edildi: {key} boş gönderilemez; alanı çıkarın.',
                               status=400, location=[key], value=data[key])
        # İYS's field checks, the very ones the client and the Odoo layer run before sending.
        body, errors = retailer_errors(data, strict=True)
        if errors:
            return _from_validation(errors[0], status=400)
        tckn, mersis = body['tckn'], body.get('mersis')
        if mersis and any(r.get('mersis') == mersis and r['brandCode'] == brand for r in self.retailers.values()):
            return _errors('H230', 'mersis numarası tekil olmalıdır.', status=400, location=['mersis'])
        same = [r for r in self.retailers.values() if r['tckn'] == tckn and r['brandCode'] == brand]
        if any(r['status'] == 'passive' for r in same):
            return _errors('H253', 'Aynı mersis/tckn ile kayıtlı pasif bayi bulunmaktadır.', status=400,
                           location=['tckn'])
        if same:
            return _errors('H231', 'kimlik numarası tekil olmalıdır.', status=400, location=['tckn'])
        loc = {}
        for key in ('city', 'town'):
            code = body[key]['code']
            loc[key] = {'code': int(code) if code.isdigit() else code, 'name': body[key]['name']}
        tin, status, mobile = body['tin'], body.get('status', 'active'), body.get('mobile')
        self._retailer_seq += 1
        code = 20000000 + self._retailer_seq
        retailer = {'retailerCode': code, 'title': data['title'], 'name': data['name'], 'tckn': tckn, 'tin': tin,
                    'city': loc['city'], 'town': loc['town'], 'status': status, 'brandCode': brand}
        for key in ('alias', 'mersis'):
            if data.get(key):
                retailer[key] = str(data[key])
        if mobile:
            retailer['mobile'] = mobile
        self.retailers[code] = retailer
        self._mark('retailers', code, retailer)
        return Response(201, {'retailerCode': code})

    def _retailer_list(self, req, iys, brand):
        offset, limit, err = self._page_params(req)
        if err:
            return err
        flags = {}
        for name, code in (('all', 'H184'), ('short', 'H185')):
            raw = req.arg(name)
            if raw not in (None, '', 'true', 'false'):
                return _errors(code, f'{name} değeri geçerli olmalıdır.', status=422, location=[name], value=raw)
            flags[name] = raw == 'true'
        rows = [r for r in self.retailers.values() if r['brandCode'] == brand
                and (flags['all'] or r['status'] == 'active')]
        rows.sort(key=lambda r: r['retailerCode'])
        page = rows[offset:offset + limit]
        return Response(200, {'pagination': {'offset': offset, 'pageSize': len(page), 'totalCount': len(rows),
                                             'currentPage': offset // limit + 1},
                              'list': [self._retailer_public(r, flags['short']) for r in page]})

    def _find_retailer(self, brand, code):
        try:
            r = self.retailers.get(int(code))
        except ValueError:
            return None
        return r if r and r['brandCode'] == brand else None

    def _retailer_get(self, req, iys, brand, code):
        r = self._find_retailer(brand, code)
        if not r:
            # The GET operation documents no 404; 403 H180 ("retailerCode not found on the user") is listed.
            return _errors('H180', 'retailerCode kullanıcı üzerinde bulunamadı.', status=403, location=['retailerCode'],
                           value=code)
        return Response(200, self._retailer_public(r))

    def _retailer_delete(self, req, iys, brand, code):
        r = self._find_retailer(brand, code)
        if not r:
            return _errors('H058', f'Bayi:{code} bulunamadı.', status=404)
        linked = any(r['retailerCode'] in v for v in self.access.values()) or any(
            c.get('retailerCode') == r['retailerCode'] for c in self.consents.values())
        if linked:
            return _errors('H172', 'Bayiye bağlı izin bulunduğundan bayi silinemez; önce izin erişimlerini kaldırın.',
                           status=400)
        del self.retailers[r['retailerCode']]
        self._mark('retailers', r['retailerCode'], None)
        return Response(200, 'Başarılı', content_type='text/plain')

    def _access_codes(self, data, brand):
        if 'retailerAccess' not in data:
            return None, _errors('H169', 'İzin erişimi olan bayiler (retailerAccess) bulunamadı.', status=422,
                                 location=['retailerAccess'])
        codes = data['retailerAccess']
        if not isinstance(codes, list) or not codes:
            return None, _errors('H163', 'Bayiler kabul edilemedi. Lütfen boş liste eklemeyiniz.', status=422,
                                 location=['retailerAccess'])
        if len(codes) > RETAILER_LIST_MAX:
            return None, _errors('H126', 'İzin erişimi olan bayilerin (retailer) liste uzunluğu en fazla 100 '
                                 'olmalıdır.', status=422, location=['retailerAccess'])
        out = []
        for c in codes:
            try:
                ci = int(c)
            except (TypeError, ValueError):
                return None, _errors('H180', f'{c} bayi kodu bulunamadı.', status=403)
            if not self._find_retailer(brand, ci):
                return None, _errors('H180', f'İstek gövdesinde yer alan bayi İYS numarasıyla ({ci}) herhangi bir '
                                     'bayi bulunamadı.', status=403)
            if ci in out:
                return None, _errors('H193', 'Bayi İYS numarası liste içinde tekrarlanamaz.', status=422,
                                     value=ci)
            out.append(ci)
        return out, None

    def _recipients_field(self, data, type_):
        if 'recipients' not in data:
            return None, _errors('H168', 'Alıcı listesi (recipients) bulunamadı.', status=422,
                                 location=['recipients'])
        rs = data['recipients']
        if not isinstance(rs, list):
            return None, _errors('H478', 'Alıcı listesi (recipients) liste olmalıdır.', status=422,
                                 location=['recipients'])
        if not rs:
            return None, _errors('H164', 'Alıcı listesi (recipients) kabul edilemedi. Liste boş olmamalıdır.',
                                 status=422, location=['recipients'])
        if len(rs) > RETAILER_LIST_MAX:
            return None, _errors('H127', 'Alıcı listesi (recipients) uzunluğu en fazla 100 olmalıdır.', status=422,
                                 location=['recipients'])
        out = []
        for i, r in enumerate(rs):
            try:
                out.append(normalize_recipient(type_, r, strict=True))
            except IysValidationError as exc:
                return None, _errors(exc.code, exc.message, status=422, location=['recipients', i], value=r)
        return out, None

    def _type_rtype(self, data):
        if not isinstance(data, dict):
            return None, None, _errors('H171', 'Bayi izin erişimi vermek için geçerli bir istek gönderilmelidir.',
                                       status=400)
        type_, rtype = data.get('type'), data.get('recipientType')
        if not type_:
            return None, None, _errors('H111', 'İzin tipi (type) bulunamadı.', status=422, location=['type'])
        if type_ not in TYPES:
            return None, None, _errors('H117', 'İzin tipi (type) için uygun değerler: ARAMA, MESAJ, EPOSTA',
                                       status=422, location=['type'], value=type_)
        if not rtype:
            return None, None, _errors('H170', 'Alıcı tipi (recipientType) bulunamadı.', status=422,
                                       location=['recipientType'])
        if rtype not in RECIPIENT_TYPES:
            return None, None, _errors('H116', 'Alıcı tipi (recipientType) için uygun değerler: BIREYSEL, TACIR',
                                       status=422, location=['recipientType'], value=rtype)
        return type_, rtype, None

    def _access_add(self, req, iys, brand):
        data = self._json(req)
        type_, rtype, err = self._type_rtype(data)
        if err:
            return err
        try:
            recipient = normalize_recipient(type_, data.get('recipient'), strict=True)
        except IysValidationError as exc:
            return _from_validation(exc)
        codes, err = self._access_codes(data, brand)
        if err:
            return err
        key = _ckey(brand, rtype, type_, recipient)
        if key not in self.consents:
            return _errors('H401', 'Bayi eklenmesi beklenen izin sistemde bulunmamaktadır.', status=400)
        acc = sorted(set(self.access.get(key, [])) | set(codes))
        self.access[key] = acc
        self._mark('access', key, acc)
        return Response(200, {'transactionId': str(uuid.uuid4()), 'creationDate': self.local_now_str()})

    def _access_bulk(self, req, brand, mode):
        data = self._json(req)
        type_, rtype, err = self._type_rtype(data)
        if err:
            return err
        recipients, err = self._recipients_field(data, type_)
        if err:
            return err
        codes = []
        if mode != 'remove_all':
            codes, err = self._access_codes(data, brand)
            if err:
                return err
        keys = [_ckey(brand, rtype, type_, r) for r in recipients]
        if mode == 'replace':
            missing = [k for k in keys if k not in self.consents]
            if missing:
                return _errors('H401', 'Bayi eklenmesi beklenen izin sistemde bulunmamaktadır.', status=400)
        for key in keys:
            current = set(self.access.get(key, []))
            if mode == 'replace':
                new = set(codes)
            elif mode == 'remove':
                new = current - set(codes)
            else:
                new = set()
            self.access[key] = sorted(new)
            self._mark('access', key, sorted(new))
        return Response(202, 1)

    def _access_replace(self, req, iys, brand):
        return self._access_bulk(req, brand, 'replace')

    def _access_remove(self, req, iys, brand):
        return self._access_bulk(req, brand, 'remove')

    def _access_remove_all(self, req, iys, brand):
        return self._access_bulk(req, brand, 'remove_all')

    def _access_list(self, req, iys, brand):
        data = self._json(req)
        try:
            rtype, type_, recipient = self._query_fields(data)
        except IysValidationError as exc:
            return _from_validation(exc)
        offset, limit, err = self._page_params(req)
        if err:
            return err
        codes = self.access.get(_ckey(brand, rtype, type_, recipient), [])
        rows = [self.retailers[c] for c in codes if c in self.retailers]
        page = rows[offset:offset + limit]
        out = []
        for r in page:
            item = {k: v for k, v in r.items() if k not in ('brandCode', 'status', 'tin')}
            out.append(item)
        return Response(200, {'pagination': {'offset': offset, 'pageSize': len(out), 'totalCount': len(rows)},
                              'list': out})

    # ------------------------------------------------------------------ reconciliation
    def _report_date(self, value):
        if not re.fullmatch(r'\d{4}-\d{2}-\d{2}', value or ''):
            return None, _errors('H501', 'Tarih formatı yyyy-aa-gg şeklinde olmalıdır.', status=422,
                                 location=['reportDate'], value=value)
        try:
            day = dt.date.fromisoformat(value)
        except ValueError:
            return None, _errors('H501', 'Tarih formatı yyyy-aa-gg şeklinde olmalıdır.', status=422,
                                 location=['reportDate'], value=value)
        today = dt.datetime.fromtimestamp(self.now(), TR_TZ).date()
        if day > today:
            return None, _errors('H501', 'reportDate ileri bir tarih olamaz.', status=422, location=['reportDate'],
                                 value=value)
        if (today - day).days > REPORT_MAX_AGE_DAYS:
            return None, _errors('H502', 'reportDate alanı en fazla 7 gün önce olabilir.', status=422,
                                 location=['reportDate'], value=value)
        return day, None

    def _day_movements(self, brand, day: dt.date):
        prefix = day.strftime('%Y-%m-%d')
        rows = [m for m in self.movements
                if m['brandCode'] == brand and m['creationDate'].startswith(prefix) and not m.get('dropped')]
        rows.sort(key=lambda m: (m['creationDate'], m['transactionId'], m['seq']))
        return rows

    def change_file_bytes(self, brand, day: dt.date) -> bytes:
        """The daily movement CSV of *brand* for local *day* (b'' when none)."""
        rows = self._day_movements(int(brand), day)
        if not rows:
            return b''
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator='\n')
        writer.writerow(['creationDate', 'transactionId', 'recipient', 'recipientType', 'type', 'status',
                         'consentDate', 'source'])
        for m in rows:
            writer.writerow([m['creationDate'], m['transactionId'], m['recipient'], m['recipientType'], m['type'],
                             m['status'], m['consentDate'] or '', m['source'] or ''])
        return buf.getvalue().encode('utf-8')

    def _change_summary(self, req, iys, brand, date, rtype):
        day, err = self._report_date(date)
        if err:
            return err
        if rtype not in RECIPIENT_TYPES:
            return _errors('H116', 'Alıcı tipi (recipientType) kabul edilemedi. İzin verilen değerler: BIREYSEL, '
                                   'TACIR', status=422, location=['recipientType'], value=rtype)
        rows = [m for m in self._day_movements(brand, day) if m['recipientType'] == rtype]
        stats = []
        for type_ in ('ARAMA', 'MESAJ', 'EPOSTA'):
            consents = []
            for group in ('HS', 'IYS'):
                sel = [m for m in rows if m['type'] == type_ and _origin(m) == group]
                approval = sum(1 for m in sel if m['status'] == 'ONAY')
                rejection = sum(1 for m in sel if m['status'] == 'RET')
                consents.append({'source': group, 'approval': approval, 'rejection': rejection, 'pending': 0,
                                 'total': approval + rejection})
            stats.append({'type': type_, 'consents': consents})
        return Response(200, {'changeStats': stats})

    def tamper_change_file(self, brand_code, report_date, content: bytes | None):
        """Serve *content* as the daily file of *brand_code* / *report_date* (``YYYY-MM-DD``).

        For tests of the client's hash check: the agreement (``hashValue``) keeps describing the
        true file.  ``None`` removes the override.
        """
        key = f'{int(brand_code)}|{report_date}'
        with self.lock:
            if content is None:
                self._tampered_files.pop(key, None)
            else:
                self._tampered_files[key] = bytes(content)

    def _change_file(self, req, iys, brand, date):
        day, err = self._report_date(date)
        if err:
            return err
        content = self._tampered_files.get(f'{brand}|{date}')
        if content is None:
            content = self.change_file_bytes(brand, day)
        if not content:
            return Response(204, None)
        return Response(200, content, content_type='text/csv',
                        headers={'Content-Disposition': f'attachment; filename="{date}.csv"'})

    def _agreement_get(self, req, iys, brand, date):
        day, err = self._report_date(date)
        if err:
            return err
        content = self.change_file_bytes(brand, day)
        if not content:
            return Response(204, None)
        today = dt.datetime.fromtimestamp(self.now(), TR_TZ).date()
        status = self._process_status.get(f'{brand}|{date}') or ('completed' if day < today else 'inprogress')
        out = {'processStatus': status, 'hashMethod': 'SHA-384',
               'agreementStatus': bool(self.agreements.get(f'{brand}|{date}'))}
        if status == 'completed':
            out['hashValue'] = hashlib.sha384(content).hexdigest()
        return Response(200, out)

    def _agreement_put(self, req, iys, brand, date):
        day, err = self._report_date(date)
        if err:
            return err
        data = self._json(req)
        if not isinstance(data, dict) or data.get('agreementStatus') is not True:
            return _errors('H512', 'false kabul edilemedi. İzin verilen değerler: true', status=422,
                           location=['agreementStatus'])
        if not self.change_file_bytes(brand, day):
            return Response(204, None)
        self.agreements[f'{brand}|{date}'] = True
        self._mark('agreements', f'{brand}|{date}', True)
        return Response(200, {'agreementCaptured': True})

    def _agreement_timestamp(self, req, iys, brand, date):
        day, err = self._report_date(date)
        if err:
            return err
        digest = hashlib.sha384(self.change_file_bytes(brand, day)).hexdigest()
        # Not a real RFC 3161 token: a readable stand-in carrying the digest of the day's file.
        text = f'IYS-SIMULATOR-TIMESTAMP\nreportDate={date}\nbrandCode={brand}\nsha384={digest}\n'
        return Response(200, text, content_type='text/plain')

    # ------------------------------------------------------------------ info
    def _cities(self, req):
        return Response(200, [{'code': c, 'name': n} for c, n in CITIES])

    def _city(self, req, code):
        for c, n in CITIES:
            if str(c) == code:
                return Response(200, {'code': c, 'name': n})
        return Response(204, None)

    def _towns(self, req):
        return Response(200, [{'name': n, 'code': c, 'city_code': cc} for c, n, cc in TOWNS])

    def _town(self, req, code):
        for c, n, cc in TOWNS:
            if str(c) == code:
                return Response(200, {'code': c, 'name': n, 'city_code': cc})
        return Response(204, None)

