"""Optional SQLite persistence of the simulator state (stdlib ``sqlite3`` only).

The simulator keeps its state in Python dicts; with a file path every changed document is written
through to one ``docs(collection, key, value)`` table so a demo survives restarts.  Without a path
nothing is written anywhere.
"""
from __future__ import annotations

import json
import sqlite3
import threading

__all__ = ['DocStore']


class DocStore:
    """Tiny document store: ``put``/``delete``/``load`` JSON values by (collection, key)."""

    def __init__(self, path: str | None = None):
        self.path = path
        self._lock = threading.Lock()
        self._conn = None
        if path:
            self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._conn.execute('PRAGMA journal_mode=WAL')
            self._conn.execute('CREATE TABLE IF NOT EXISTS docs (collection TEXT NOT NULL, key TEXT NOT NULL, '
                               'value TEXT NOT NULL, PRIMARY KEY (collection, key))')

    @property
    def enabled(self) -> bool:
        """True when backed by a file."""
        return self._conn is not None

    def write(self, changes: dict):
        """Apply ``{(collection, key): value_or_None}`` in one transaction (``None`` deletes)."""
        if not self._conn or not changes:
            return
        with self._lock:
            cur = self._conn.cursor()
            cur.execute('BEGIN')
            try:
                for (collection, key), value in changes.items():
                    if value is None:
                        cur.execute('DELETE FROM docs WHERE collection=? AND key=?', (collection, str(key)))
                    else:
                        cur.execute('INSERT OR REPLACE INTO docs (collection, key, value) VALUES (?, ?, ?)',
                                    (collection, str(key), json.dumps(value, ensure_ascii=False)))
                cur.execute('COMMIT')
            except sqlite3.Error:
                cur.execute('ROLLBACK')
                raise

    def load(self) -> dict:
        """All documents as ``{collection: {key: value}}``."""
        out = {}
        if not self._conn:
            return out
        with self._lock:
            for collection, key, value in self._conn.execute('SELECT collection, key, value FROM docs'):
                out.setdefault(collection, {})[key] = json.loads(value)
        return out

    def clear(self):
        """Delete every document."""
        if self._conn:
            with self._lock:
                self._conn.execute('DELETE FROM docs')

    def close(self):
        """Close the database."""
        if self._conn:
            with self._lock:
                self._conn.close()
                self._conn = None
