# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
import contextlib
import hashlib
import logging
import time

import psycopg2.errors

from odoo import fields, models
from odoo.tools import SQL

from ..iyslib.const import TOKEN_REFRESH_MARGIN
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
      call the token service: ``get`` then locks the row (``SELECT … FOR UPDATE`` on a cursor of
      its own) and keeps it locked until the client stores the new token with ``set``. A second
      worker waits on that lock, re-reads the row and finds the fresh token, so two workers never
      both fetch one (İYS allows only ~10 token calls an hour).
    * Token rows live in their own transactions: a rollback of the caller's work never loses a
      token or, worse, an H084 lock. Under Odoo's test runner the caller's cursor is used instead
      (nothing may be committed there).
    * Values are never logged.

    Call :meth:`release` when done with a client (the synchronisation does it in ``finally``), in
    case a token call failed before ``set``.
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

    def _usable(self, rec):
        """True when the client will not call the token service with this record."""
        if not rec:
            return False
        now = self.clock()
        if rec.get("access_token") and now < (rec.get("access_expires_at") or 0) - TOKEN_REFRESH_MARGIN:
            return True
        return now < (rec.get("lock_until") or 0)

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
    def get(self, key):
        self.release()
        hkey = self.hash_key(key)
        with self._short_cursor() as cr:
            rec = self._select(cr, hkey)
        if self._usable(rec):
            return rec
        # The client is about to call the token service: one worker at a time.
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
            rec = self._select(cr, hkey, lock=True)
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
        if self._usable(rec):  # another worker stored a fresh token while we waited
            self._end(cr)
            return rec
        self._held = (cr, hkey)
        return rec

    def set(self, key, value):
        hkey = self.hash_key(key)
        if self._held and self._held[1] == hkey:
            cr = self._held[0]
            self._held = None
            try:
                self._upsert(cr, hkey, value)
            except Exception:
                self._end(cr, commit=False)
                raise
            self._end(cr)
            return
        with self._short_cursor() as cr:
            self._upsert(cr, hkey, value)

    def release(self):
        """Give up the row lock taken by :meth:`get` if the client never called :meth:`set`."""
        if self._held:
            cr = self._held[0]
            self._held = None
            self._end(cr, commit=True)
