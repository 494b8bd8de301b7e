# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
import contextlib
import hashlib
import logging
import time

import psycopg2.errors

from odoo import fields, models
from odoo.tools import SQL

from ..iyslib.errors import IysTransportError
from .iys_sync_common import in_test_mode

_logger = logging.getLogger(__name__)

#: the record the library's TokenStore protocol exchanges, in column order
TOKEN_FIELDS = ("access_token", "access_expires_at", "refresh_token", "refresh_expires_at", "lock_until")


class IysToken(models.Model):
    """İYS OAuth tokens and the H084 token lock, shared by every Odoo worker.

    System use only: the access rights grant nothing to anybody, the synchronisation reads and
    writes the table through :class:`DbTokenStore` (plain SQL on its own cursor), and
    ``data/neutralize.sql`` empties it. Rows are keyed by a hash of (İYS URL, API user), so the
    table holds no user name either.
    """

    _name = "iys.token"
    _description = "İYS API token (system use only)"
    _log_access = False

    key = fields.Char(required=True, readonly=True, help="SHA-256 of the İYS base URL and API user.")
    account_id = fields.Many2one("iys.account", ondelete="cascade", index=True, readonly=True)
    access_token = fields.Char(readonly=True)
    access_expires_at = fields.Float(readonly=True, help="Epoch seconds.")
    refresh_token = fields.Char(readonly=True)
    refresh_expires_at = fields.Float(readonly=True, help="Epoch seconds.")
    lock_until = fields.Float(
        readonly=True,
        help="Epoch seconds until which no token may be requested (İYS answered H084: hourly limit).",
    )

    _sql_constraints = [
        ("key_uniq", "unique(key)", "One token record per İYS API user."),
    ]


class DbTokenStore:
    """The library's ``TokenStore`` protocol (``get``/``set``) on the ``iys_token`` table.

    * Every worker reads the same row, so one token serves all of them and the H084 lock one
      worker records stops every other worker too.
    * When the stored token cannot be used (missing or about to lapse) the client is about to
      call the token service: the library enters :meth:`locked`, which locks the row
      (``SELECT … FOR UPDATE`` on a cursor of its own) until the refresh is stored. A second
      worker waits on that lock, re-reads the row and finds the fresh token, so two workers never
      both fetch one (İYS allows only ~10 token calls an hour).
    * Token rows live in their own transactions: a rollback of the caller's work never loses a
      token or, worse, an H084 lock. Under Odoo's test runner the caller's cursor is used instead
      (nothing may be committed there).
    * Values are never logged.

    """

    def __init__(self, env, account_id=None, own_cursor=None, clock=time.time, lock_timeout=30.0):
        self.env = env
        self.account_id = account_id or None
        self.own_cursor = (not in_test_mode()) if own_cursor is None else own_cursor
        self.clock = clock
        self.lock_timeout = lock_timeout
        self._held = None  # (cursor, hashed key) while the row is locked for a token call

    @staticmethod
    def hash_key(key):
        return hashlib.sha256(key.encode("utf-8")).hexdigest()

    def _new_cursor(self):
        """A cursor of its own, in READ COMMITTED: after waiting for another worker's lock it must
        see the row that worker committed (Odoo's default, REPEATABLE READ, would fail instead)."""
        cr = self.env.registry.cursor()
        cr.execute(SQL("SET TRANSACTION ISOLATION LEVEL READ COMMITTED"))
        return cr

    @contextlib.contextmanager
    def _short_cursor(self):
        if not self.own_cursor:
            yield self.env.cr
            return
        with self._new_cursor() as cr:  # commits on success
            yield cr

    @staticmethod
    def _select(cr, hkey, lock=False):
        cr.execute(
            SQL(
                "SELECT access_token, access_expires_at, refresh_token, refresh_expires_at, lock_until "
                "FROM iys_token WHERE key = %s %s",
                hkey,
                SQL("FOR UPDATE") if lock else SQL(),
            )
        )
        row = cr.fetchone()
        return dict(zip(TOKEN_FIELDS, row, strict=True)) if row else None

    def _upsert(self, cr, hkey, value):
        vals = [value.get(name) or None for name in TOKEN_FIELDS]
        cr.execute(
            SQL(
                """INSERT INTO iys_token (key, account_id, access_token, access_expires_at, refresh_token,
                                          refresh_expires_at, lock_until)
                        VALUES (%s, %s, %s, %s, %s, %s, %s)
                   ON CONFLICT (key) DO UPDATE
                          SET access_token = EXCLUDED.access_token,
                              access_expires_at = EXCLUDED.access_expires_at,
                              refresh_token = EXCLUDED.refresh_token,
                              refresh_expires_at = EXCLUDED.refresh_expires_at,
                              lock_until = EXCLUDED.lock_until,
                              account_id = COALESCE(EXCLUDED.account_id, iys_token.account_id)""",
                hkey, self.account_id, *vals,
            )
        )

    def _end(self, cr, commit=True):
        if not self.own_cursor:
            return
        try:
            if commit:
                # the store's own cursor, never the caller's
                cr.commit()  # pylint: disable=invalid-commit
            else:
                cr.rollback()
        finally:
            cr.close()

    # ------------------------------------------------------------------ TokenStore protocol
    @contextlib.contextmanager
    def locked(self, key):
        """Exclusive access to *key* across every worker (the library holds it for a whole token
        refresh): the row is locked with ``SELECT … FOR UPDATE`` on a cursor of the store's own,
        and :meth:`get`/:meth:`set` inside use that cursor. A second worker waits here, then re-reads
        the row and finds the token the first one stored, so two workers never both fetch one."""
        hkey = self.hash_key(key)
        cr = self._new_cursor() if self.own_cursor else self.env.cr
        try:
            if self.own_cursor:
                cr.execute(SQL("SET LOCAL lock_timeout = %s", f"{int(self.lock_timeout * 1000)}ms"))
            cr.execute(
                SQL(
                    "INSERT INTO iys_token (key, account_id) VALUES (%s, %s) ON CONFLICT (key) DO NOTHING",
                    hkey, self.account_id,
                )
            )
            self._select(cr, hkey, lock=True)
        except psycopg2.errors.LockNotAvailable:
            self._end(cr, commit=False)
            _logger.warning("İYS token: another worker has been fetching a token for %ss", self.lock_timeout)
            raise IysTransportError(
                "Başka bir iş süreci İYS jetonunu alıyor; daha sonra tekrar deneyin.",
                retry_after=self.lock_timeout,
            ) from None
        except Exception:
            self._end(cr, commit=False)
            raise
        self._held = (cr, hkey)
        try:
            yield
        except Exception:
            self._held = None
            # Keep what was stored inside (a new token or an H084 lock must never be lost).
            self._end(cr, commit=True)
            raise
        self._held = None
        self._end(cr, commit=True)

    def get(self, key):
        hkey = self.hash_key(key)
        if self._held and self._held[1] == hkey:
            return self._select(self._held[0], hkey)
        with self._short_cursor() as cr:
            return self._select(cr, hkey)

    def set(self, key, value):
        hkey = self.hash_key(key)
        if self._held and self._held[1] == hkey:
            self._upsert(self._held[0], hkey, value)
            return
        with self._short_cursor() as cr:
            self._upsert(cr, hkey, value)

    def release(self):
        """Kept for callers of the earlier protocol: locks now end with :meth:`locked`."""
        return None
