"""HTTP client of the İYS REST API.

:class:`IysClient` wraps every endpoint an HS integration needs.  It

* validates and normalises input with :mod:`iyslib.rules` / :mod:`iyslib.normalize` **before**
  any request, so data İYS would refuse never leaves the process (better for the 70 % success
  ratio İYS watches);
* caches the OAuth token in a :class:`TokenStore` (shared by workers when the store is shared),
  refreshes it about 5 minutes before it lapses (one refresh per cycle for all the workers sharing
  the store: see :class:`TokenStore`), falls back to the password grant only when the refresh
  fails, and honours the H084 hourly token lock without calling İYS until it ends;
* keeps below İYS's rate limits with a :class:`~iyslib.throttle.Throttle`;
* retries 429 answers (never processed, so always safe) and, **only where repeating is safe**
  (GETs, queries, V2 idempotent adds and V2 batches), 5xx answers, timeouts and dropped
  connections with jittered exponential back-off.  Requests that İYS would execute twice (V1 adds
  and batches, retailer creation …) are repeated only when they certainly did not reach İYS (429,
  connection refused); when they may have been processed the caller gets a **non-retryable**
  :class:`~iyslib.errors.IysOutcomeUnknownError` (``outcome_unknown=True``) and must query the
  status before sending again;
* turns every error answer into the right :class:`~iyslib.errors.IysError` subclass.

Results are plain dataclasses that also allow dict-style access to the raw İYS keys
(``receipt['transactionId']``).  Dates in results are naive UTC datetimes.
"""
from __future__ import annotations

import contextlib
import csv
import dataclasses
import datetime as dt
import hashlib
import io
import json
import logging
import os
import random
import threading
import time
from typing import Protocol
from urllib.parse import quote

import requests

from .const import (
    BATCH_MAX,
    ENVIRONMENTS,
    MULTI_STATUS_MAX,
    PAGE_LIMIT_MAX,
    PULL_LAG_SECONDS,
    PULL_LIMIT_MAX,
    PULL_SOURCES,
    PULL_WINDOW_SECONDS,
    RECIPIENT_TYPES,
    REFRESH_TOKEN_TTL,
    RETAILER_LIST_MAX,
    TOKEN_LOCK_SECONDS,
    TOKEN_REFRESH_MARGIN,
    TYPES,
)
from .dates import parse_iys_date, to_report_date
from .errors import (
    IysApiError,
    IysAuthError,
    IysError,
    IysOutcomeUnknownError,
    IysRateLimitError,
    IysServerError,
    IysTokenLockError,
    IysTransportError,
    IysValidationError,
    error_from_response,
)
from .identity import validate_retailer
from .masking import MaskingFilter, mask_recipient, mask_text
from .normalize import normalize_recipient
from .rules import CurrentState, body_to_kwargs, validate_batch, validate_consent, validate_fields
from .throttle import Throttle

__all__ = [
    'IysConfig', 'TokenStore', 'LockingTokenStore', 'MemoryTokenStore', 'FileTokenStore', 'IysClient', 'ConsentReceipt',
    'BatchSubmitResult', 'BatchItemResult', 'ConsentRecord', 'ChangesPage', 'FileVerification', 'UNKNOWN',
]

_log = logging.getLogger(__name__)
_log.addFilter(MaskingFilter())

#: Marker for "the caller does not know what İYS holds": skip the local transition checks.
UNKNOWN = object()
_MAX_BACKOFF = 8.0


# ------------------------------------------------------------------------------------------
# configuration and token storage
# ------------------------------------------------------------------------------------------

@dataclasses.dataclass(repr=False)
class IysConfig:
    """Connection settings of one İYS API user.

    Args:
        base_url: ``https://api.iys.org.tr``, ``https://api.sandbox.iys.org.tr``, a simulator URL,
            or the names ``'production'`` / ``'sandbox'``.
        username, password: the API user created on the İYS web portal.
        iys_code: the service provider's İYS number.
        brand_code: default brand; ``None`` means the master brand, whose code equals the
            iysCode.
        timeout: ``(connect, read)`` seconds for each HTTP request.
        user_agent: sent as ``User-Agent``.
        token_form: send token requests form-encoded instead of JSON (İYS accepts both).
        clock_skew: seconds a consentDate may lie ahead of this host's clock before the local check
            refuses it with H162 (İYS's clock may be ahead of ours).  İYS stays the judge: if its
            clock is behind it answers H162, which is retryable after about a minute.  Default 0.
        max_retry_sleep: longest single wait (seconds) the client may spend sleeping before an
            automatic retry; a retry that would need a longer wait is not made and the error is
            raised instead (with its ``retry_after``).  ``0`` disables every sleeping retry (for
            interactive callers such as a button in a web request); ``None`` (default) allows the
            built-in waits (back-off up to 8 s, or İYS's ``Retry-After`` of a per-second limit).
    """

    base_url: str
    username: str
    password: str
    iys_code: int
    brand_code: int | None = None
    timeout: tuple = (5, 30)
    user_agent: str = 'iyslib/0.1 (l10n_tr_iys; +https://github.com/OCA)'
    token_form: bool = False
    clock_skew: float = 0.0
    max_retry_sleep: float | None = None

    def __post_init__(self):
        self.base_url = ENVIRONMENTS.get(self.base_url, self.base_url).rstrip('/')
        self.iys_code = self._int_code(self.iys_code, 'iysCode', 'H190')
        if self.brand_code in (None, ''):
            self.brand_code = self.iys_code
        else:
            self.brand_code = self._int_code(self.brand_code, 'brandCode', 'H191')
        self.clock_skew = max(0.0, float(self.clock_skew or 0))
        if self.max_retry_sleep is not None:
            self.max_retry_sleep = max(0.0, float(self.max_retry_sleep))

    @staticmethod
    def _int_code(value, name, code):
        try:
            if isinstance(value, bool):
                raise ValueError
            return int(str(value).strip())
        except (TypeError, ValueError):
            raise IysValidationError(code, f'{name} {value!r} tam sayı olmalıdır.', location=[name], value=value,
                                     detail_en=f'{name} {value!r} must be an integer.') from None

    def __repr__(self):
        return (f'IysConfig(base_url={self.base_url!r}, username={self.username!r}, password=***, '
                f'iys_code={self.iys_code}, brand_code={self.brand_code}, timeout={self.timeout!r})')

    @property
    def token_key(self) -> str:
        """Key of this user's token record in a :class:`TokenStore`."""
        return f'{self.base_url}|{self.username}'


class TokenStore(Protocol):
    """Where tokens and the H084 lock are kept; share one store between workers on one IP.

    The record is a dict with ``access_token``, ``access_expires_at``, ``refresh_token``,
    ``refresh_expires_at`` (epoch seconds) and ``lock_until`` (epoch seconds of the H084 lock).

    Required methods:

    * ``get(key) -> dict | None``: the record (a copy), ``None`` when there is none;
    * ``set(key, value) -> None``: replace the record atomically.

    Optional method (see :class:`LockingTokenStore`):

    * ``locked(key)``: a context manager giving exclusive access to *key* **across every worker
      sharing the store** (processes included) for as long as it is held.  The client holds it for
      the whole refresh: it takes it, re-reads the record, returns the token another worker may
      have just stored, and otherwise calls the token service and stores the answer before
      releasing it.  So all the workers sharing a store make **one** token call per refresh cycle
      instead of a stampede that burns İYS's 10 token calls per hour and ends in H084.  ``get`` and
      ``set`` are called while it is held, so it must not block them (e.g. ``SELECT … FOR UPDATE``
      on the record's row in the same transaction, or an advisory lock).

    A store without ``locked`` still works: the client then only serialises the refreshes of its own
    process (a process-wide lock per token key).  Whatever the store, the client never writes back
    a stale record: token answers and the H084 ``lock_until`` are merged into a fresh ``get``.
    """

    def get(self, key: str) -> dict | None:  # pragma: no cover - protocol
        ...

    def set(self, key: str, value: dict) -> None:  # pragma: no cover - protocol
        ...


class LockingTokenStore(TokenStore, Protocol):
    """A :class:`TokenStore` that can also lock one key across all the workers sharing it."""

    def locked(self, key: str) -> contextlib.AbstractContextManager:  # pragma: no cover - protocol
        ...


#: Process-wide locks per token key: every client of this process using the same İYS user (same
#: ``IysConfig.token_key``) serialises its token refreshes, whatever store it uses.
_PROCESS_TOKEN_LOCKS: dict = {}
_PROCESS_TOKEN_LOCKS_GUARD = threading.Lock()


def _process_token_lock(key: str) -> threading.RLock:
    with _PROCESS_TOKEN_LOCKS_GUARD:
        lock = _PROCESS_TOKEN_LOCKS.get(key)
        if lock is None:
            lock = _PROCESS_TOKEN_LOCKS[key] = threading.RLock()
        return lock


class MemoryTokenStore:
    """In-process token store (thread-safe), with a per-key :meth:`locked`."""

    def __init__(self):
        self._data = {}
        self._lock = threading.Lock()
        self._key_locks = {}

    def get(self, key):
        with self._lock:
            value = self._data.get(key)
            return dict(value) if value else None

    def set(self, key, value):
        with self._lock:
            self._data[key] = dict(value)

    @contextlib.contextmanager
    def locked(self, key):
        """Hold the lock of *key* (re-entrant within one thread); ``get``/``set`` stay usable."""
        with self._lock:
            lock = self._key_locks.setdefault(key, threading.RLock())
        with lock:
            yield


class FileTokenStore:
    """Token store in a JSON file, locked with ``fcntl`` so several processes can share it.

    The file is created with mode 0600 (it holds tokens).  Each ``get``/``set`` takes a short
    exclusive lock on ``<path>.lock``.  :meth:`locked` (held by the client across a whole refresh)
    locks a separate per-key file ``<path>.<hash>.refresh.lock``, so readers are never blocked by
    a refresh in progress.  On platforms without ``fcntl`` both fall back to process-local locks.
    """

    _local_locks: dict = {}
    _local_guard = threading.Lock()

    def __init__(self, path):
        self.path = os.fspath(path)
        self._tlock = threading.Lock()

    @staticmethod
    def _fcntl():
        try:
            import fcntl  # noqa: PLC0415 - POSIX only, optional
        except ImportError:  # pragma: no cover - non-POSIX
            return None
        return fcntl

    @classmethod
    def _local_lock(cls, name: str) -> threading.RLock:
        with cls._local_guard:
            return cls._local_locks.setdefault(os.path.abspath(name), threading.RLock())

    @contextlib.contextmanager
    def _flock(self, lock_path: str):
        fcntl = self._fcntl()
        if fcntl is None:  # pragma: no cover - non-POSIX
            with self._local_lock(lock_path):
                yield
            return
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    @contextlib.contextmanager
    def _locked(self):
        with self._tlock, self._flock(self.path + '.lock'):
            yield

    def lock_path(self, key: str) -> str:
        """The file :meth:`locked` locks for *key*."""
        digest = hashlib.sha256(str(key).encode('utf-8')).hexdigest()[:16]
        return f'{self.path}.{digest}.refresh.lock'

    @contextlib.contextmanager
    def locked(self, key):
        """Exclusive lock of *key* for every process and thread using this file (``flock``).

        Each call opens its own descriptor, so two threads of one process exclude each other too.
        Not re-entrant: do not nest it for the same key.
        """
        with self._flock(self.lock_path(key)):
            yield

    def _read(self) -> dict:
        try:
            with open(self.path, encoding='utf-8') as fh:
                data = json.load(fh)
            return data if isinstance(data, dict) else {}
        except (FileNotFoundError, ValueError):
            return {}

    def get(self, key):
        with self._locked():
            value = self._read().get(key)
            return dict(value) if isinstance(value, dict) else None

    def set(self, key, value):
        with self._locked():
            data = self._read()
            data[key] = dict(value)
            tmp = f'{self.path}.{os.getpid()}.{threading.get_ident()}.tmp'
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, 'w', encoding='utf-8') as fh:
                json.dump(data, fh)
            os.replace(tmp, self.path)


# ------------------------------------------------------------------------------------------
# result objects
# ------------------------------------------------------------------------------------------

class _RawAccess:
    """Dict-style access to the raw İYS answer kept in ``raw``."""

    def __getitem__(self, key):
        return self.raw[key]

    def get(self, key, default=None):
        return self.raw.get(key, default)


def _date_or_none(value):
    if not value:
        return None
    try:
        return parse_iys_date(value, 'date')
    except IysValidationError:
        return None


@dataclasses.dataclass
class ConsentReceipt(_RawAccess):
    """İYS's answer to a single add: the movement's id and recording time (naive UTC)."""

    transaction_id: str
    creation_date: dt.datetime | None
    request: dict
    raw: dict = dataclasses.field(default_factory=dict, repr=False)


@dataclasses.dataclass
class BatchSubmitResult(_RawAccess):
    """İYS's 202 answer to a batch: ``request_id`` to poll and the echoed sub-requests."""

    request_id: str
    sub_requests: list
    v2: bool = True
    submitted_at: float | None = None
    raw: dict = dataclasses.field(default_factory=dict, repr=False)


@dataclasses.dataclass
class BatchItemResult(_RawAccess):
    """One item of a batch result.

    ``status`` is ``'success'`` (with ``transaction_id`` and ``creation_date``), ``'failure'``
    (with ``error``) or ``'enqueue'`` (still queued: poll again later).  For V2 batches,
    ``original_request_id``/``original_sub_request_id`` name the request that actually recorded
    an item that was already recorded with identical data.
    """

    index: int
    sub_request_id: str | None
    status: str
    transaction_id: str | None = None
    creation_date: dt.datetime | None = None
    error: IysError | None = None
    original_request_id: str | None = None
    original_sub_request_id: str | None = None
    request_id: str | None = None
    raw: dict = dataclasses.field(default_factory=dict, repr=False)

    @property
    def done(self) -> bool:
        """True once the item is no longer queued."""
        return self.status != 'enqueue'


@dataclasses.dataclass
class ConsentRecord(_RawAccess):
    """A consent state or movement as İYS reports it (status query, history, pull, push)."""

    recipient: str
    type: str
    recipient_type: str
    status: str | None
    source: str | None
    consent_date: dt.datetime | None
    creation_date: dt.datetime | None
    transaction_id: str | None
    retailer_code: int | None = None
    retailer_title: str | None = None
    retailer_access_count: int | None = None
    citizen_name: str | None = None
    brand_code: int | None = None
    raw: dict = dataclasses.field(default_factory=dict, repr=False)

    @classmethod
    def from_iys(cls, d: dict) -> ConsentRecord:
        """Build from an İYS JSON object (status answer, history/pull item, push item)."""
        return cls(
            recipient=d.get('recipient'), type=d.get('type'), recipient_type=d.get('recipientType') or 'BIREYSEL',
            status=d.get('status'), source=d.get('source') or None, consent_date=_date_or_none(d.get('consentDate')),
            creation_date=_date_or_none(d.get('creationDate')), transaction_id=d.get('transactionId'),
            retailer_code=d.get('retailerCode'), retailer_title=d.get('retailerTitle'),
            retailer_access_count=d.get('retailerAccessCount'), citizen_name=d.get('citizenName'),
            brand_code=d.get('brandCode'), raw=dict(d))

    def as_state(self) -> CurrentState:
        """This record as a :class:`~iyslib.rules.CurrentState` for local rule checks."""
        return CurrentState(self.status, self.consent_date, self.source)


@dataclasses.dataclass
class ChangesPage:
    """One page of the pull feed.

    Attributes:
        after: the cursor to store durably and pass to the next call (unchanged when empty).
        items: :class:`ConsentRecord` movements, oldest first.
        exhausted: True when there is nothing more to fetch right now (204 or a short page).
        cursor_stale: True when the caller's previous successful poll (``last_polled_at``) is older
            than İYS's window (7 days minus the 60-minute lag): movements may have been missed;
            reconcile with the daily file or history.  False when ``last_polled_at`` was not given.
        polled_at: epoch seconds (client clock) at which this poll succeeded; store it with the
            cursor and pass it as ``last_polled_at`` next time.
    """

    after: str | None
    items: list
    exhausted: bool
    cursor_stale: bool = False
    polled_at: float | None = None


@dataclasses.dataclass
class FileVerification:
    """Result of :meth:`IysClient.verify_change_file`; truthy when the hashes match."""

    ok: bool
    report_date: str
    computed_hash: str
    expected_hash: str | None
    content: bytes
    rows: list
    agreement: dict | None

    def __bool__(self):
        return self.ok


# ------------------------------------------------------------------------------------------
# the client
# ------------------------------------------------------------------------------------------

def _utc_from_epoch(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).replace(tzinfo=None, microsecond=0)


def _is_connect_failure(exc: BaseException) -> bool:
    """True when *exc* happened while connecting, i.e. before any byte of the request was sent."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if not isinstance(exc, requests.ConnectionError):
        return False
    seen = set()
    node = exc
    while node is not None and id(node) not in seen:
        seen.add(id(node))
        name = type(node).__name__
        if name in ('NewConnectionError', 'ConnectTimeoutError', 'NameResolutionError'):
            return True
        reason = getattr(node, 'reason', None)
        if isinstance(reason, BaseException):
            node = reason
            continue
        args = getattr(node, 'args', ())
        node = args[0] if args and isinstance(args[0], BaseException) else node.__cause__ or node.__context__
    return False


class IysClient:
    """Client of the İYS REST API (see the module docstring for its guarantees).

    Args:
        config: :class:`IysConfig`.
        token_store: where tokens and the H084 lock live (default: a private in-memory store).
        session: a :class:`requests.Session` to use (default: a new one).
        throttle: a :class:`~iyslib.throttle.Throttle` (default: a new one on *clock*/*sleep*).
        clock: returns epoch seconds (injectable for tests).
        sleep: waits seconds (injectable for tests).
        max_retries: automatic retries of transient failures (only where safe); ``0`` turns the
            automatic retries off (see also ``IysConfig.max_retry_sleep``).
        rng: random source for jitter.
    """

    def __init__(self, config: IysConfig, token_store: TokenStore | None = None, session=None, throttle=None,
                 clock=time.time, sleep=time.sleep, max_retries: int = 3, rng=None):
        self.config = config
        self.token_store = token_store if token_store is not None else MemoryTokenStore()
        self.session = session or requests.Session()
        self.clock = clock
        self.sleep = sleep
        self.throttle = throttle if throttle is not None else Throttle(clock=clock, sleep=sleep)
        self.max_retries = max_retries
        self.rng = rng or random.Random()
        # shared by every client of this process using the same İYS user (see TokenStore)
        self._auth_lock = _process_token_lock(config.token_key)
        self.request_count = 0      # HTTP requests actually sent (diagnostics, tests)

    def __repr__(self):
        return f'IysClient({self.config!r})'

    # ---------------------------------------------------------------- helpers
    def _now_utc(self) -> dt.datetime:
        return _utc_from_epoch(self.clock())

    def _brand(self, brand_code) -> int:
        code = self.config.brand_code if brand_code in (None, '') else brand_code
        try:
            return int(code)
        except (TypeError, ValueError):
            raise IysValidationError('H191', f'brandCode {code!r} tam sayı olmalıdır.', location=['brandCode'],
                                     value=code, detail_en=f'brandCode {code!r} must be an integer.') from None

    def _sps(self, brand_code=None, v2=False) -> str:
        prefix = '/v2' if v2 else ''
        return f'{prefix}/sps/{self.config.iys_code}/brands/{self._brand(brand_code)}'

    def _backoff(self, attempt: int, err: IysError | None = None) -> float:
        if err is not None and isinstance(err, IysRateLimitError) and err.retry_after is not None:
            return err.retry_after
        base = min(_MAX_BACKOFF, 0.5 * (2 ** attempt))
        return base * (0.5 + self.rng.random())

    # ---------------------------------------------------------------- auth
    def _store_get(self) -> dict:
        return self.token_store.get(self.config.token_key) or {}

    def _store_set(self, rec: dict):
        self.token_store.set(self.config.token_key, rec)

    def _store_lock(self):
        """The store's cross-worker lock of our key, or a no-op when the store has none."""
        locked = getattr(self.token_store, 'locked', None)
        if not callable(locked):
            return contextlib.nullcontext()
        return locked(self.config.token_key)

    def _merge_lock(self, lock_until: float):
        """Record the H084 lock in a fresh read of the record (never write back a stale snapshot)."""
        fresh = self._store_get()
        fresh['lock_until'] = max(fresh.get('lock_until') or 0, lock_until)
        self._store_set(fresh)

    def _token_call(self, payload: dict) -> dict:
        """POST /oauth2/token once; persist the H084 lock on 429."""
        now = self.clock()
        try:
            self.throttle.acquire('token')
        except IysTokenLockError as exc:
            # local budget exhausted: persist a lock so other workers also stay away
            self._merge_lock(exc.lock_until or now)
            raise
        url = self.config.base_url + '/oauth2/token'
        headers = {'User-Agent': self.config.user_agent, 'Accept': 'application/json'}
        try:
            self.request_count += 1
            if self.config.token_form:
                resp = self.session.post(url, data=payload, headers=headers, timeout=self.config.timeout)
            else:
                resp = self.session.post(url, json=payload, headers=headers, timeout=self.config.timeout)
        except requests.RequestException as exc:
            raise IysTransportError(f'İYS jeton servisine ulaşılamadı: {type(exc).__name__}') from None
        _log.debug('POST /oauth2/token (%s) -> %s', payload.get('grant_type'), resp.status_code)
        if resp.status_code == 200:
            try:
                data = resp.json()
                if not isinstance(data, dict) or not data.get('access_token'):
                    raise ValueError('no access_token')
            except ValueError:
                raise IysTransportError('İYS jeton servisi geçersiz bir yanıt döndü.') from None
            return data
        err = error_from_response(resp.status_code, resp.content, resp.headers, now=self.clock())
        if isinstance(err, IysTokenLockError) or err.code == 'H084':
            # İYS's lock lasts an hour and every call restarts it: never shorter, whatever Retry-After says.
            wait = max(float(TOKEN_LOCK_SECONDS), err.retry_after or 0.0)
            lock_until = self.clock() + wait
            self._merge_lock(lock_until)
            raise IysTokenLockError(err.message, http_status=err.http_status, retry_after=wait,
                                    lock_until=lock_until)
        raise err

    def _save_token(self, data: dict) -> dict:
        """Merge a token answer into a fresh read of the record and store it."""
        now = self.clock()
        rec = self._store_get()
        rec['access_token'] = data['access_token']
        rec['access_expires_at'] = now + float(data.get('expires_in') or 7200)
        if data.get('refresh_token'):
            rec['refresh_token'] = data['refresh_token']
            rec['refresh_expires_at'] = now + float(data.get('refresh_expires_in') or REFRESH_TOKEN_TTL)
        rec['lock_until'] = None
        self._store_set(rec)
        return rec

    @staticmethod
    def _fresh_token(rec: dict, now: float, margin: float = TOKEN_REFRESH_MARGIN) -> str | None:
        token = rec.get('access_token')
        if token and now < (rec.get('access_expires_at') or 0) - margin:
            return token
        return None

    def get_access_token(self, force: bool = False) -> str:
        """Return a valid access token, refreshing or logging in only when needed.

        Order: cached token (valid for more than 5 more minutes) → refresh grant → password grant.
        While an H084 lock is recorded in the store, raises IysTokenLockError without any HTTP call.
        A refresh runs under the process-wide lock of the token key and the store's ``locked(key)``
        (when it has one); after taking them the record is read again, and a token another worker
        stored in the meantime is used instead of calling İYS.  ``force=True`` always calls İYS.
        """
        if not force:
            token = self._fresh_token(self._store_get(), self.clock())
            if token:
                return token
        with self._auth_lock, self._store_lock():
            rec = self._store_get()          # fresh: another worker may have refreshed while we waited
            now = self.clock()
            token = self._fresh_token(rec, now)
            if token and not force:
                return token
            lock_until = rec.get('lock_until') or 0
            if now < lock_until:
                still_valid = self._fresh_token(rec, now, margin=5)
                if still_valid and not force:
                    return still_valid
                raise IysTokenLockError(
                    'H084 saatlik jeton sınırı nedeniyle jeton servisi kilitli; kilit bitene kadar istek yapılmayacak.',
                    http_status=None, retry_after=lock_until - now, lock_until=lock_until)
            if rec.get('refresh_token') and now < (rec.get('refresh_expires_at') or 0) - 30:
                try:
                    data = self._token_call({'grant_type': 'refresh_token', 'refresh_token': rec['refresh_token']})
                    return self._save_token(data)['access_token']
                except IysAuthError:
                    # A store without locked(): another worker may have rotated the refresh token first.
                    fresh = self._store_get()
                    other = self._fresh_token(fresh, self.clock())
                    if other and other != rec.get('access_token') and not force:
                        return other
                    _log.info('İYS refresh token refused; falling back to the password grant')
                except (IysTransportError, IysServerError):
                    still_valid = self._fresh_token(rec, now, margin=5)
                    if still_valid and not force:
                        return still_valid
                    raise
            data = self._token_call({'username': self.config.username, 'password': self.config.password,
                                     'grant_type': 'password'})
            return self._save_token(data)['access_token']

    def invalidate_token(self, token: str | None = None):
        """Forget the cached access token (the refresh token is kept).

        With *token* (the one İYS refused) the record is cleared only if it still holds that token:
        a fresh token another worker stored in the meantime is kept.
        """
        with self._auth_lock, self._store_lock():
            rec = self._store_get()
            if token is not None and rec.get('access_token') != token:
                return
            rec['access_token'] = None
            rec['access_expires_at'] = 0
            self._store_set(rec)

    # ---------------------------------------------------------------- transport
    def _may_sleep(self, delay: float) -> bool:
        cap = self.config.max_retry_sleep
        return cap is None or delay <= cap

    @staticmethod
    def _outcome_unknown(err: IysError, method: str, path: str) -> IysOutcomeUnknownError:
        what = f'HTTP {err.http_status}' if err.http_status else 'yanıt alınamadı'
        return IysOutcomeUnknownError(
            f'{method} {mask_text(path)} gönderildi ancak sonucu bilinmiyor ({what}: {err.message}). İYS isteği '
            'işlemiş olabilir: yeniden göndermeden önce durumu sorgulayın (ya da V2 uçlarını kullanın).',
            code=err.code, http_status=err.http_status, cause=err,
            detail_en=f'{method} {mask_text(path)} was sent but its outcome is unknown ({err}); İYS may have '
                      'processed it: query the status before sending it again (or use the V2 endpoints).')

    def _request(self, method: str, path: str, *, json_body=None, params=None, endpoint: str = 'default',
                 safe_to_retry: bool = False, expect=(200,), parse: str = 'json'):
        """Send one logical request with auth, throttle, retries and error mapping.

        Returns ``(status_code, parsed_body, response)``; *parse* is ``'json'``, ``'bytes'`` or
        ``'text'``.  A 204 gives ``None`` as body.

        *safe_to_retry* says whether repeating the request can never record anything twice.  When
        it is False, only failures that certainly happened before İYS saw the request (429, refused
        connection, connect timeout) are retried; any other failure after sending raises
        :class:`~iyslib.errors.IysOutcomeUnknownError`.
        """
        url = self.config.base_url + path
        reauthed = False
        attempt = 0
        while True:
            self.throttle.acquire(endpoint)
            token = self.get_access_token()
            headers = {'Authorization': f'Bearer {token}', 'User-Agent': self.config.user_agent,
                       'Accept': 'application/json'}
            err = None
            sent = True
            try:
                self.request_count += 1
                resp = self.session.request(method, url, json=json_body, params=params, headers=headers,
                                            timeout=self.config.timeout)
            except requests.Timeout as exc:
                sent = not isinstance(exc, requests.ConnectTimeout)
                err = IysTransportError(f'İYS isteği zaman aşımına uğradı: {method} {mask_text(path)}')
            except requests.RequestException as exc:
                sent = not _is_connect_failure(exc)
                err = IysTransportError(f'İYS bağlantı hatası ({type(exc).__name__}): {method} {mask_text(path)}')
            else:
                _log.debug('%s %s -> %s', method, path, resp.status_code)
                status = resp.status_code
                if status in expect:
                    if status == 204 or (not resp.content and parse == 'json'):
                        return status, None, resp
                    if parse == 'bytes':
                        return status, resp.content, resp
                    if parse == 'text':
                        return status, resp.content.decode('utf-8', 'replace'), resp
                    try:
                        return status, resp.json(), resp
                    except ValueError:
                        err = IysTransportError(f'İYS geçersiz JSON döndürdü: {method} {mask_text(path)} '
                                                f'(HTTP {status})', http_status=status)
                else:
                    err = error_from_response(status, resp.content, resp.headers, now=self.clock())
                    if status == 401 and err.code == 'H351':
                        if reauthed:
                            raise IysAuthError(err.message or 'Eksik veya geçersiz jeton.', code='H351',
                                               http_status=401) from None
                        reauthed = True
                        self.invalidate_token(token)
                        continue
                    if isinstance(err, IysRateLimitError) and not isinstance(err, IysTokenLockError):
                        # A per-second 429 was not processed, so repeating is safe for any method.  Hourly
                        # quotas (H086/H089) are handed to the caller with their retry_after instead.
                        per_second = err.code in (None, 'H083', 'H124') and (err.retry_after or 0) <= 10
                        if per_second and attempt < self.max_retries:
                            delay = self._backoff(attempt + 1, err)
                            if self._may_sleep(delay):
                                attempt += 1
                                _log.info('İYS rate limit %s on %s; retrying in %.1fs', err.code, path, delay)
                                self.sleep(delay)
                                continue
                        raise err
                    if not isinstance(err, IysServerError):
                        raise err
                    # a 5xx (or a transient İYS code) may come after İYS processed the request
                    sent = True
            # transport errors and 5xx: retry only where repeating cannot duplicate a movement
            if safe_to_retry or not sent:
                if attempt < self.max_retries:
                    delay = self._backoff(attempt + 1)
                    if self._may_sleep(delay):
                        attempt += 1
                        _log.info('İYS transient failure on %s %s (%s); retry %d in %.1fs', method, path, err,
                                  attempt, delay)
                        self.sleep(delay)
                        continue
                raise err
            if err.http_status is not None and err.http_status < 500 and not isinstance(err, IysTransportError):
                raise err        # a transient İYS code in a 4xx answer (H123 busy …): not processed
            raise self._outcome_unknown(err, method, path)

    # ---------------------------------------------------------------- validation helpers
    def _validate_consent(self, consent, previous=UNKNOWN, check_deadline=True) -> dict:
        kw = body_to_kwargs(consent, strict=False)
        skew = self.config.clock_skew
        if previous is UNKNOWN:
            return validate_fields(now=self._now_utc(), check_deadline=check_deadline, clock_skew=skew, **kw)
        return validate_consent(now=self._now_utc(), check_deadline=check_deadline, previous=previous,
                                clock_skew=skew, **kw)

    @staticmethod
    def _int_arg(value, name: str, code: str) -> int:
        """*value* as an integer path argument, or IysValidationError *code*."""
        try:
            if isinstance(value, bool):
                raise ValueError
            return int(str(value).strip())
        except (TypeError, ValueError):
            raise IysValidationError(code, f'{name} {value!r} tam sayı olmalıdır.', location=[name], value=value,
                                     detail_en=f'{name} {value!r} must be an integer.') from None

    @staticmethod
    def _check_enums(type_=None, recipient_type=None):
        if type_ is not None and type_ not in TYPES:
            raise IysValidationError('H117',
                                     f'İzin tipi (type) {type_!r} geçersiz; ARAMA, MESAJ veya EPOSTA olmalıdır.',
                                     location=['type'], value=type_,
                                     detail_en=f'The consent type {type_!r} is invalid; use ARAMA, MESAJ or EPOSTA.')
        if recipient_type is not None and recipient_type not in RECIPIENT_TYPES:
            raise IysValidationError('H116', f'Alıcı tipi (recipientType) {recipient_type!r} geçersiz; BIREYSEL veya '
                                             'TACIR olmalıdır.', location=['recipientType'], value=recipient_type,
                                     detail_en=f'The recipient type {recipient_type!r} is invalid; use BIREYSEL or '
                                               'TACIR.')

    def _query_body(self, recipient, type_, recipient_type) -> dict:
        self._check_enums(type_, recipient_type or 'BIREYSEL')
        return {'recipient': normalize_recipient(type_, recipient), 'recipientType': recipient_type or 'BIREYSEL',
                'type': type_}

    def _recipient_list(self, recipients, type_, max_len, code_too_many='H127') -> list:
        if recipients is None:
            raise IysValidationError('H168', 'Alıcı listesi (recipients) bulunamadı.', location=['recipients'],
                                     detail_en='The recipients list is missing.')
        if isinstance(recipients, str):
            recipients = [recipients]
        elif isinstance(recipients, (dict, bytes)) or not hasattr(recipients, '__iter__'):
            raise IysValidationError('H478', 'Alıcı listesi (recipients) liste olmalıdır.', location=['recipients'],
                                     value=type(recipients).__name__,
                                     detail_en='The recipients must be a list of addresses.')
        out = []
        for i, r in enumerate(recipients):
            try:
                norm = normalize_recipient(type_, r)
            except IysValidationError as exc:
                exc.index = i
                raise
            if norm not in out:
                out.append(norm)
        if not out:
            raise IysValidationError('H164', 'Alıcı listesi (recipients) boş olmamalıdır.', location=['recipients'],
                                     detail_en='The recipients list must not be empty.')
        if len(out) > max_len:
            raise IysValidationError(code_too_many, f'Alıcı listesi {len(out)} kayıt içeriyor; en fazla {max_len} '
                                                    'olabilir.', location=['recipients'], value=len(out),
                                     detail_en=f'The recipients list has {len(out)} items; at most {max_len} allowed.')
        return out

    @staticmethod
    def _retailer_codes(codes) -> list:
        codes = list(codes or [])
        if not codes:
            raise IysValidationError('H163', 'Bayi listesi (retailerAccess) boş olmamalıdır.',
                                     location=['retailerAccess'], detail_en='The retailer list must not be empty.')
        if len(codes) > RETAILER_LIST_MAX:
            raise IysValidationError('H126', f'Bayi listesi {len(codes)} kayıt içeriyor; en fazla {RETAILER_LIST_MAX} '
                                             'olabilir.', location=['retailerAccess'], value=len(codes),
                                     detail_en=f'The retailer list has {len(codes)} items; at most '
                                               f'{RETAILER_LIST_MAX}.')
        out = []
        for c in codes:
            if isinstance(c, bool) or not isinstance(c, int) or not 0 < c <= 99999999:
                raise IysValidationError('H085', f'Bayi kodu {c!r} en fazla 8 haneli bir tam sayı olmalıdır.',
                                         location=['retailerAccess'], value=c,
                                         detail_en=f'Retailer code {c!r} must be an integer of at most 8 digits.')
            if c in out:
                raise IysValidationError('H193', f'Bayi kodu {c} listede tekrarlanıyor.', location=['retailerAccess'],
                                         value=c, detail_en=f'Retailer code {c} is repeated in the list.')
            out.append(c)
        return out

    @staticmethod
    def _report_date(report_date) -> str:
        value = to_report_date(report_date)
        try:
            dt.datetime.strptime(value, '%Y-%m-%d')
        except ValueError:
            raise IysValidationError('H501', f'reportDate {value!r} YYYY-AA-GG biçiminde olmalıdır.',
                                     location=['reportDate'], value=value,
                                     detail_en=f'reportDate {value!r} must have the format YYYY-MM-DD.') from None
        return value

    @staticmethod
    def _page(offset, limit, max_limit=PAGE_LIMIT_MAX):
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
            raise IysValidationError('H182', f'limit değeri {limit!r} geçerli olmalıdır.', location=['limit'],
                                     value=limit, detail_en=f'limit {limit!r} must be a positive integer.')
        if limit == 0:
            raise IysValidationError('H187', 'limit değeri sıfır olamaz.', location=['limit'], value=0,
                                     detail_en='limit cannot be zero.')
        if limit > max_limit:
            raise IysValidationError('H186', f'Sayfa boyutu en fazla {max_limit} olabilir; istenen: {limit}.',
                                     location=['limit'], value=limit,
                                     detail_en=f'The page size can be at most {max_limit}; asked: {limit}.')
        if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
            raise IysValidationError('H183', f'offset değeri {offset!r} geçerli olmalıdır.', location=['offset'],
                                     value=offset, detail_en=f'offset {offset!r} must be a non-negative integer.')
        return {'offset': offset, 'limit': limit}

    # ---------------------------------------------------------------- brands
    def list_brands(self) -> list:
        """``GET /sps/{iysCode}/brands``: the brands of this service provider with statistics."""
        _, body, _ = self._request('GET', f'/sps/{self.config.iys_code}/brands', safe_to_retry=True)
        return body or []

    # ---------------------------------------------------------------- consents
    def add_consent(self, consent: dict, brand_code=None, idempotent: bool = True, *, previous=UNKNOWN,
                    check_deadline: bool = True, validate: bool = True) -> ConsentReceipt:
        """Record one consent movement (``POST …/consents``, or the V2 path when *idempotent*).

        *consent* is an İYS ``Consent`` body or the keyword arguments of
        :func:`~iyslib.rules.validate_consent` (``type_``, ``consent_date`` as naive UTC …).  It is
        validated and normalised first; pass *previous* (a :class:`~iyslib.rules.CurrentState`,
        or ``None`` for "İYS has no record") to also check the transition rules locally.

        With ``idempotent=True`` (default) the V2 endpoint is used and timeouts, dropped
        connections and 5xx answers are retried: İYS returns the same ``transactionId`` for an
        identical request.  With ``idempotent=False`` (V1) nothing is retried automatically.
        ``validate=False`` skips local checks (only for testing İYS's own answers).
        """
        if validate:
            body = self._validate_consent(consent, previous, check_deadline)
        else:
            body = dict(consent)
        path = self._sps(brand_code, v2=idempotent) + '/consents'
        _log.info('İYS add consent %s %s %s (%s)', mask_recipient(body.get('recipient')), body.get('type'),
                  body.get('status'), 'V2' if idempotent else 'V1')
        _, data, _ = self._request('POST', path, json_body=body, safe_to_retry=idempotent)
        if not isinstance(data, dict) or not isinstance(data.get('transactionId'), str) or not data['transactionId']:
            raise self._bad_success('transactionId', data, path, idempotent)
        return ConsentReceipt(transaction_id=data.get('transactionId'), creation_date=_date_or_none(
            data.get('creationDate')), request=body, raw=data)

    @staticmethod
    def _bad_success(field: str, data, path: str, idempotent: bool) -> IysApiError:
        """A success answer without the id it must carry: İYS (or a proxy) broke the protocol.

        The request was answered with success, so İYS may have processed it: a V1 request is
        ``outcome_unknown`` (check before resending); a V2 one may simply be sent again.
        """
        shown = mask_text(json.dumps(data, ensure_ascii=False, default=str)[:200]) if data is not None else 'boş'
        return IysApiError(
            f'İYS başarılı yanıt verdi ancak {field} içermiyor ({mask_text(path)}): {shown}.',
            retryable=idempotent, retry_after=30.0 if idempotent else None, outcome_unknown=not idempotent,
            detail_en=f'İYS answered success without {field} ({mask_text(path)}): {shown}.')

    def add_consents_batch(self, items, brand_code=None, v2: bool = True, *, check_deadline: bool = True,
                           validate: bool = True) -> BatchSubmitResult:
        """Submit up to 1000 consents asynchronously (``POST …/consents/request``, V2 by default).

        Every item is validated first (per-index errors, H194 for an address repeated in the
        list, H091 above 1000); any failure raises :class:`~iyslib.errors.IysValidationError`
        whose ``errors`` list every failing index, and nothing is sent.  Poll
        :meth:`get_batch_result` no sooner than :data:`~iyslib.const.BATCH_POLL_DELAY` seconds
        later.  The V2 submission is retried on transient failures (a repeated submission gets a
        new requestId but does not record anything twice); V1 is not.
        """
        if validate:
            res = validate_batch(list(items), now=self._now_utc(), check_deadline=check_deadline,
                                 clock_skew=self.config.clock_skew)
            res.raise_for_errors()
            bodies = res.bodies
        else:
            bodies = list(items)
            if len(bodies) > BATCH_MAX:
                raise IysValidationError('H091', f'Listede {len(bodies)} izin var; en fazla {BATCH_MAX} olabilir.',
                                         value=len(bodies))
        path = self._sps(brand_code, v2=v2) + '/consents/request'
        _log.info('İYS batch of %d consents (%s)', len(bodies), 'V2' if v2 else 'V1')
        _, data, _ = self._request('POST', path, json_body=bodies, safe_to_retry=v2, expect=(202, 200))
        if not isinstance(data, dict) or not isinstance(data.get('requestId'), str) or not data['requestId']:
            raise self._bad_success('requestId', data, path, v2)
        return BatchSubmitResult(request_id=data.get('requestId'), sub_requests=data.get('subRequests') or [], v2=v2,
                                 submitted_at=self.clock(), raw=data)

    def get_batch_result(self, request_id: str, brand_code=None, v2: bool = True) -> list:
        """Per-item results of a batch (``GET …/consents/request/{requestId}``).

        Returns a list of :class:`BatchItemResult` sorted by index; an empty list means İYS is
        still processing (or the id is older than 60 days).  Both ``subRequestId`` and
        ``subrequestId`` spellings are understood.
        """
        if not isinstance(request_id, str) or not request_id:
            raise IysValidationError('H092', 'requestId boş olmamalıdır.', location=['requestId'], value=request_id)
        if len(request_id) > 36:
            raise IysValidationError('H198', f'requestId {request_id!r} 36 karakterden uzun olamaz.',
                                     location=['requestId'], value=request_id)
        if request_id.isalpha():
            raise IysValidationError('H199', f'requestId {request_id!r} yalnızca harflerden oluşamaz.',
                                     location=['requestId'], value=request_id)
        if request_id.isdigit():
            raise IysValidationError('H400', f'requestId {request_id!r} yalnızca rakamlardan oluşamaz.',
                                     location=['requestId'], value=request_id)
        path = self._sps(brand_code, v2=v2) + f'/consents/request/{quote(request_id, safe="")}'
        _, data, _ = self._request('GET', path, safe_to_retry=True)
        if not data:
            return []
        if isinstance(data, dict):
            data = data.get('list') or data.get('subRequests') or []
        results = []
        for item in data:
            if not isinstance(item, dict):
                continue
            err = None
            if item.get('status') == 'failure':
                e = item.get('error') or {}
                code = e.get('code') or e.get('code:')
                err = error_from_response(None, {'errors': [{'code': code, 'message': e.get('message') or ''}]})
                err.index = item.get('index')
            orig = item.get('originalRequestInformation') or {}
            results.append(BatchItemResult(
                index=item.get('index'), sub_request_id=item.get('subRequestId') or item.get('subrequestId'),
                status=item.get('status'), transaction_id=item.get('transactionId'),
                creation_date=_date_or_none(item.get('creationDate')), error=err,
                original_request_id=orig.get('requestId'),
                original_sub_request_id=orig.get('subRequestId') or orig.get('subrequestId'),
                request_id=item.get('requestId'), raw=item))
        results.sort(key=lambda r: (r.index is None, r.index))
        return results

    def get_consent_status(self, recipient, type_, recipient_type='BIREYSEL', brand_code=None) -> ConsentRecord | None:
        """Current consent of one address (``POST …/consents/status``); ``None`` when İYS has no record.

        İYS allows 1000 of these per hour; prefer :meth:`get_multiple_status` for send gates.
        """
        body = self._query_body(recipient, type_, recipient_type)
        status, data, _ = self._request('POST', self._sps(brand_code) + '/consents/status', json_body=body,
                                        endpoint='status', safe_to_retry=True, expect=(200, 204))
        if not data or not isinstance(data, dict) or not data.get('status'):
            return None
        return ConsentRecord.from_iys(data)

    def get_multiple_status(self, recipient_type, type_, recipients, brand_code=None, strict: bool = False) -> set:
        """Which of *recipients* are ONAY right now (``POST …/consents/{recipientType}/status/{type}``).

        Addresses are normalised and de-duplicated; lists above 1000 are split automatically.
        Returns the set of normalised addresses that are ONAY; anything else (RET, no record) is
        absent.  Addresses that fail normalisation can never be ONAY: they are left out of the
        query, or raise IysValidationError when *strict*.
        """
        self._check_enums(type_, recipient_type)
        if isinstance(recipients, str):
            recipients = [recipients]
        normalized = []
        seen = set()
        for i, r in enumerate(recipients):
            try:
                n = normalize_recipient(type_, r)
            except IysValidationError as exc:
                if strict:
                    exc.index = i
                    raise
                continue
            if n not in seen:
                seen.add(n)
                normalized.append(n)
        onay = set()
        path = self._sps(brand_code) + f'/consents/{recipient_type}/status/{type_}'
        for start in range(0, len(normalized), MULTI_STATUS_MAX):
            chunk = normalized[start:start + MULTI_STATUS_MAX]
            _, data, _ = self._request('POST', path, json_body={'recipients': chunk}, safe_to_retry=True)
            onay.update((data or {}).get('list') or [])
        return onay

    def iter_history(self, recipient, type_, recipient_type='BIREYSEL', page_size: int = PAGE_LIMIT_MAX,
                     brand_code=None):
        """Yield every movement of one address, newest first (``POST …/consents/history``).

        İYS allows 100 history requests per hour; each page is one request.
        """
        body = self._query_body(recipient, type_, recipient_type)
        offset = 0
        while True:
            params = self._page(offset, page_size)
            _, data, _ = self._request('POST', self._sps(brand_code) + '/consents/history', json_body=body,
                                       params=params, endpoint='history', safe_to_retry=True)
            items = (data or {}).get('list') or []
            if not isinstance(items, list):
                items = []
            for item in items:
                yield ConsentRecord.from_iys(item)
            total = ((data or {}).get('pagination') or {}).get('totalCount')
            offset += len(items)
            if not items or len(items) < page_size or (isinstance(total, int) and offset >= total):
                return

    def get_history(self, recipient, type_, recipient_type='BIREYSEL', page_size: int = PAGE_LIMIT_MAX,
                    brand_code=None) -> list:
        """All movements of one address as a list (see :meth:`iter_history`)."""
        return list(self.iter_history(recipient, type_, recipient_type, page_size, brand_code))

    def pull_changes(self, after: str | None = None, limit: int = PULL_LIMIT_MAX, source: str = 'IYS',
                     brand_code=None, *, last_polled_at=None) -> ChangesPage:
        """One page of movements (``GET …/consents/changes``), oldest first.

        Store ``page.after`` durably after processing ``page.items`` and pass it next time.
        *source* ``'IYS'`` returns citizen/İYS-side movements, ``'HS'`` the HS's own.  A 204 gives
        an empty, exhausted page with the cursor unchanged.

        *last_polled_at* is when the caller's previous **successful** poll of this feed happened
        (``page.polled_at`` of that poll: epoch seconds, or a naive-UTC datetime).  İYS keeps 7 days
        minus its 60-minute lag; when the previous poll is older than that, movements may have left
        the window unseen and ``page.cursor_stale`` is True: reconcile with the daily file or the
        history.  Without *last_polled_at* the client cannot know and ``cursor_stale`` stays False
        (the age of the cursor says nothing: a quiet brand keeps an old cursor while every poll
        succeeds).  İYS does not document its answer to a cursor that left the window; if it refuses
        it, that error is raised (restart without *after* and de-duplicate by transactionId).

        Raises IysApiError when İYS returns a full page without an ``after`` cursor (the feed
        cannot continue from it).
        """
        if source not in PULL_SOURCES:
            raise IysValidationError('H506', f'Çekme kaynağı (source) {source!r} geçersiz; IYS veya HS olmalıdır.',
                                     location=['source'], value=source)
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise IysValidationError('H182', f'limit değeri {limit!r} geçerli olmalıdır.', location=['limit'],
                                     value=limit)
        if limit > PULL_LIMIT_MAX:
            raise IysValidationError('H507', f'limit en fazla {PULL_LIMIT_MAX} olabilir; istenen: {limit}.',
                                     location=['limit'], value=limit)
        params = {'source': source, 'limit': limit}
        if after:
            params['after'] = after
        status, data, _ = self._request('GET', self._sps(brand_code) + '/consents/changes', params=params,
                                        safe_to_retry=True, expect=(200, 204))
        polled_at = self.clock()
        stale = False
        if last_polled_at is not None:
            last = last_polled_at
            if isinstance(last, dt.datetime):
                last = last.replace(tzinfo=dt.timezone.utc).timestamp() if last.tzinfo is None else last.timestamp()
            stale = float(last) < polled_at - (PULL_WINDOW_SECONDS - PULL_LAG_SECONDS)
        if status == 204 or not data:
            return ChangesPage(after=after, items=[], exhausted=True, cursor_stale=stale, polled_at=polled_at)
        raw_items = data.get('list') if isinstance(data, dict) else None
        items = [ConsentRecord.from_iys(x) for x in (raw_items or []) if isinstance(x, dict)]
        new_after = data.get('after') if isinstance(data, dict) else None
        if items and not new_after and len(items) >= limit:
            raise IysApiError(
                f'İYS tam bir sayfa ({len(items)} hareket) döndürdü ancak "after" imleci vermedi; akış devam '
                'ettirilemez.', http_status=status,
                detail_en=f'İYS returned a full page ({len(items)} movements) without an "after" cursor; the feed '
                          'cannot be continued.')
        return ChangesPage(after=new_after or after, items=items, exhausted=len(items) < limit,
                           cursor_stale=stale, polled_at=polled_at)

    def iter_changes(self, after: str | None = None, limit: int = PULL_LIMIT_MAX, source: str = 'IYS',
                     brand_code=None, *, last_polled_at=None):
        """Yield pages from *after* until the feed is exhausted (persist each page's cursor).

        *last_polled_at* is passed to the first page only (see :meth:`pull_changes`).  Raises
        IysApiError when a page that is not the last one does not move the cursor forward.
        """
        while True:
            page = self.pull_changes(after, limit, source, brand_code, last_polled_at=last_polled_at)
            yield page
            if page.exhausted:
                return
            if page.after == after:
                raise IysApiError('İYS "after" imlecini ilerletmedi; aynı sayfa yeniden istenmeyecek.',
                                  detail_en='İYS did not move the "after" cursor forward; the same page will not be '
                                            'requested again.')
            after = page.after
            last_polled_at = None

    # ---------------------------------------------------------------- push
    def register_push(self, url: str, type_: str, username: str, password: str, brand_code=None) -> dict:
        """Register a push connection (``POST …/push/registration``); İYS tests it immediately.

        İYS requires https, POST and HTTP Basic auth on the endpoint, an answer within 5 seconds,
        and at most 2 active connections per type.
        """
        self._check_enums(type_)
        if not url or not isinstance(url, str):
            raise IysValidationError('H531', 'Bağlantı adresi (url) boş olmamalıdır.', location=['url'], value=url)
        if not username or not password:
            raise IysValidationError('H093', 'Push bağlantısı için kullanıcı adı ve şifre verilmelidir.',
                                     location=['username' if not username else 'password'])
        body = {'connection': [{'url': url, 'type': type_, 'username': username, 'password': password}]}
        _, data, _ = self._request('POST', self._sps(brand_code) + '/push/registration', json_body=body)
        return data or {}

    def list_push(self, brand_code=None) -> list:
        """Registered push connections with their status (``GET …/push/registration``)."""
        _, data, _ = self._request('GET', self._sps(brand_code) + '/push/registration', safe_to_retry=True)
        return data or []

    def unregister_push(self, url: str, type_: str, username: str, password: str, brand_code=None) -> dict:
        """Remove one push connection (``POST …/push/unregistration``)."""
        self._check_enums(type_)
        body = {'url': url, 'type': type_, 'username': username, 'password': password}
        _, data, _ = self._request('POST', self._sps(brand_code) + '/push/unregistration', json_body=body)
        return data or {}

    # ---------------------------------------------------------------- retailers
    def create_retailer(self, retailer: dict, brand_code=None) -> int:
        """Create a retailer (``POST …/retailers``); returns its 8-digit ``retailerCode``.

        Required: title, name, tckn (11 digits), tin (10/11 digits), city and town as
        ``{code, name}``.  Optional fields must be left out rather than sent empty.
        """
        # The same checks as the simulator's and the Odoo layer's (iyslib.identity): TCKN and VKN check
        # digits, MERSİS length, E.164 mobile, required fields; optional fields left out when empty.
        body = validate_retailer(retailer)
        path = self._sps(brand_code) + '/retailers'
        _, data, _ = self._request('POST', path, json_body=body, expect=(201, 200))
        code = data.get('retailerCode') if isinstance(data, dict) else None
        if isinstance(code, bool) or not isinstance(code, (int, str)) or not str(code).strip().isdigit():
            raise self._bad_success('retailerCode', data, path, idempotent=False)
        return int(code)

    def list_retailers(self, offset: int = 0, limit: int = PAGE_LIMIT_MAX, all: bool | None = None,
                       short: bool | None = None, brand_code=None) -> dict:
        """One page of retailers (``GET …/retailers``): ``{'pagination': …, 'list': […]}``."""
        params = self._page(offset, limit)
        if all is not None:
            params['all'] = 'true' if all else 'false'
        if short is not None:
            params['short'] = 'true' if short else 'false'
        _, data, _ = self._request('GET', self._sps(brand_code) + '/retailers', params=params, safe_to_retry=True)
        return data or {'pagination': {}, 'list': []}

    def get_retailer(self, retailer_code: int, brand_code=None) -> dict:
        """One retailer (``GET …/retailers/{retailerCode}``)."""
        code = self._int_arg(retailer_code, 'retailerCode', 'H085')
        _, data, _ = self._request('GET', self._sps(brand_code) + f'/retailers/{code}', safe_to_retry=True)
        return data or {}

    def delete_retailer(self, retailer_code: int, brand_code=None) -> str:
        """Delete a retailer without linked consents (``DELETE …/retailers/{retailerCode}``)."""
        code = self._int_arg(retailer_code, 'retailerCode', 'H085')
        _, data, _ = self._request('DELETE', self._sps(brand_code) + f'/retailers/{code}', parse='text')
        return data or ''

    def add_retailer_access(self, recipient, type_, recipient_type, retailer_codes, brand_code=None) -> dict:
        """Give retailers access to one consent (``POST …/consents/retailers/access``)."""
        body = self._query_body(recipient, type_, recipient_type)
        body['retailerAccess'] = self._retailer_codes(retailer_codes)
        _, data, _ = self._request('POST', self._sps(brand_code) + '/consents/retailers/access', json_body=body)
        return data or {}

    def replace_retailer_access(self, recipients, type_, recipient_type, retailer_codes, brand_code=None):
        """Overwrite the retailer list of up to 100 consents (``PUT …/consents/retailers/access``)."""
        self._check_enums(type_, recipient_type)
        body = {'recipients': self._recipient_list(recipients, type_, RETAILER_LIST_MAX),
                'recipientType': recipient_type, 'type': type_,
                'retailerAccess': self._retailer_codes(retailer_codes)}
        _, data, _ = self._request('PUT', self._sps(brand_code) + '/consents/retailers/access', json_body=body,
                                   safe_to_retry=True, expect=(202, 200))
        return data

    def list_retailer_access(self, recipient, type_, recipient_type='BIREYSEL', offset: int = 0,
                             limit: int = PAGE_LIMIT_MAX, brand_code=None) -> dict:
        """Retailers with access to one consent (``POST …/consent/retailers/access/list``)."""
        body = self._query_body(recipient, type_, recipient_type)
        _, data, _ = self._request('POST', self._sps(brand_code) + '/consent/retailers/access/list', json_body=body,
                                   params=self._page(offset, limit), safe_to_retry=True)
        return data or {'pagination': {}, 'list': []}

    def remove_retailer_access(self, recipients, type_, recipient_type, retailer_codes, brand_code=None):
        """Remove some retailers' access (``POST …/consents/retailers/access/remove``)."""
        self._check_enums(type_, recipient_type)
        body = {'recipients': self._recipient_list(recipients, type_, RETAILER_LIST_MAX),
                'recipientType': recipient_type, 'type': type_,
                'retailerAccess': self._retailer_codes(retailer_codes)}
        _, data, _ = self._request('POST', self._sps(brand_code) + '/consents/retailers/access/remove',
                                   json_body=body, safe_to_retry=True, expect=(200, 202))
        return data

    def remove_all_retailer_access(self, recipients, type_, recipient_type, brand_code=None):
        """Remove every retailer's access (``POST …/consents/retailers/access/remove/all``)."""
        self._check_enums(type_, recipient_type)
        body = {'recipients': self._recipient_list(recipients, type_, RETAILER_LIST_MAX),
                'recipientType': recipient_type, 'type': type_}
        _, data, _ = self._request('POST', self._sps(brand_code) + '/consents/retailers/access/remove/all',
                                   json_body=body, safe_to_retry=True, expect=(202, 200))
        return data

    # ---------------------------------------------------------------- reconciliation
    def get_change_summary(self, report_date, recipient_type='BIREYSEL', brand_code=None) -> dict:
        """Daily change statistics (``GET …/changes/{reportDate}/recipients/{recipientType}``)."""
        self._check_enums(None, recipient_type)
        rd = self._report_date(report_date)
        _, data, _ = self._request('GET', self._sps(brand_code) + f'/changes/{rd}/recipients/{recipient_type}',
                                   safe_to_retry=True)
        return data or {'changeStats': []}

    def get_change_file(self, report_date, brand_code=None, parse: bool = True) -> tuple:
        """The daily movement CSV (``GET …/changes/{reportDate}/file``) as ``(bytes, rows)``.

        *rows* are dicts keyed by the CSV header.  A 204 (no movement) gives ``(b'', [])``.  With
        ``parse=False`` *rows* is ``None``: the caller streams the bytes itself (a day of 100k
        movements as dicts takes far more memory than the file).
        """
        rd = self._report_date(report_date)
        status, content, _ = self._request('GET', self._sps(brand_code) + f'/changes/{rd}/file', safe_to_retry=True,
                                           expect=(200, 204), parse='bytes')
        if status == 204 or not content:
            return b'', []
        if not parse:
            return content, None
        try:
            text = content.decode('utf-8-sig')
            rows = list(csv.DictReader(io.StringIO(text, newline='')))
        except (UnicodeDecodeError, csv.Error) as exc:
            raise IysApiError(f'İYS günlük hareket dosyası ({rd}) okunamadı: {type(exc).__name__}.', http_status=status,
                              detail_en=f'The daily movement file of {rd} cannot be read as UTF-8 CSV '
                                        f'({type(exc).__name__}).') from None
        return content, rows

    def get_agreement(self, report_date, brand_code=None) -> dict | None:
        """Agreement info with the file's SHA-384 (``GET …/agreements/{reportDate}``); ``None`` on 204."""
        rd = self._report_date(report_date)
        status, data, _ = self._request('GET', self._sps(brand_code) + f'/agreements/{rd}', safe_to_retry=True,
                                        expect=(200, 204))
        return None if status == 204 else data

    def verify_change_file(self, report_date, brand_code=None) -> FileVerification:
        """Download the daily file and compare its SHA-384 (lowercase hex) with İYS's hashValue."""
        content, rows = self.get_change_file(report_date, brand_code)
        agreement = self.get_agreement(report_date, brand_code)
        computed = hashlib.sha384(content).hexdigest()
        expected = (agreement or {}).get('hashValue')
        ok = bool(expected) and computed == str(expected).lower()
        return FileVerification(ok=ok, report_date=self._report_date(report_date), computed_hash=computed,
                                expected_hash=expected, content=content, rows=rows, agreement=agreement)

    def confirm_agreement(self, report_date, brand_code=None) -> bool:
        """Record the agreement for *report_date* (``PUT …/agreements/{reportDate}``).

        True only when İYS answers ``agreementCaptured: true``.  A 204 (no movement that day, so
        nothing to agree on) or any other answer gives False.
        """
        rd = self._report_date(report_date)
        _, data, _ = self._request('PUT', self._sps(brand_code) + f'/agreements/{rd}',
                                   json_body={'agreementStatus': True}, safe_to_retry=True, expect=(200, 204))
        if not isinstance(data, dict):
            return False
        return data.get('agreementCaptured', data.get('aggrementCaptured')) is True

    def get_agreement_timestamp(self, report_date, brand_code=None) -> bytes:
        """The timestamp (``.tsr``) of the daily summary (``GET …/agreements/{reportDate}/timestamp``)."""
        rd = self._report_date(report_date)
        _, content, _ = self._request('GET', self._sps(brand_code) + f'/agreements/{rd}/timestamp',
                                      safe_to_retry=True, parse='bytes')
        return content or b''

    # ---------------------------------------------------------------- subscription and info
    def get_subscription(self) -> dict:
        """The service provider's subscription (``GET /sps/{iysCode}/subscription``)."""
        _, data, _ = self._request('GET', f'/sps/{self.config.iys_code}/subscription', safe_to_retry=True)
        return data or {}

    def list_cities(self) -> list:
        """City codes for retailer addresses (``GET /info/city``)."""
        _, data, _ = self._request('GET', '/info/city', safe_to_retry=True)
        return data or []

    def get_city(self, code) -> dict | None:
        """One city (``GET /info/city/{code}``); ``None`` when unknown (204)."""
        code = self._int_arg(code, 'code', 'H218')
        status, data, _ = self._request('GET', f'/info/city/{code}', safe_to_retry=True, expect=(200, 204))
        return None if status == 204 else data

    def list_towns(self) -> list:
        """Town codes (``GET /info/town``)."""
        _, data, _ = self._request('GET', '/info/town', safe_to_retry=True)
        return data or []

    def get_town(self, code) -> dict | None:
        """One town (``GET /info/town/{code}``); ``None`` when unknown (204)."""
        code = self._int_arg(code, 'code', 'H221')
        status, data, _ = self._request('GET', f'/info/town/{code}', safe_to_retry=True, expect=(200, 204))
        return None if status == 204 else data

