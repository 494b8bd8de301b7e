# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
"""Plain helpers shared by the synchronisation models (no model here).

* :func:`in_test_mode` / :func:`commit`: the crons commit between bounded batches, except under
  Odoo's test runner, where commits are forbidden (the test transaction is rolled back);
* :class:`SyncStats`: counters a push, poll, pull or status query reports back (cron logs, the
  mass-sync wizard's summary, the daily health message);
* :func:`error_code_and_text`: a library error as (H-code, explanation in the user's language).
"""

import threading
from collections import Counter
from dataclasses import dataclass, field

from odoo.modules import module as odoo_module

from ..iyslib.errors import IysError, explain


def in_test_mode():
    """True under Odoo's test runner (18.0 sets both markers; 19.0 keeps ``current_test``)."""
    return bool(odoo_module.current_test) or getattr(threading.current_thread(), "testing", False)


def commit(env):
    """Commit the work done so far, so a crash later loses nothing and row locks are released.

    Never under tests: TransactionCase forbids it and rolls everything back at the end.
    """
    if not in_test_mode():
        env.cr.commit()  # pylint: disable=invalid-commit


def lang_of(env, lang=None):
    """'tr' or 'en': the language İYS explanations are stored in."""
    return "tr" if (lang or env.lang or "").startswith("tr") else "en"


def error_code_and_text(exc, lang="en"):
    """(H-code or False, human explanation) of a library error, in Turkish or English."""
    if isinstance(exc, IysError):
        return exc.code or False, exc.explain(lang)
    return False, str(exc)


def code_text(code, lang="en", detail=None):
    """Explanation of an H-code reported by İYS (e.g. a batch item), with İYS's own text."""
    text = explain(code, lang)
    if detail and detail != text:
        text = f"{text} ({detail})"
    return text


@dataclass
class SyncStats:
    """What one synchronisation step did."""

    sent: int = 0            # movements submitted to İYS
    confirmed: int = 0       # movements İYS recorded
    refused: int = 0         # movements İYS refused or that would certainly be refused (not sent)
    retried: int = 0         # movements rescheduled after a transient failure
    waiting: int = 0         # movements İYS still processes
    applied: int = 0         # İYS movements applied to the ledger (pull, push, query)
    unchanged: int = 0       # movements/addresses that needed no change
    behind: int = 0          # movements waiting for İYS's answer to an earlier one of their consent
    differences: int = 0     # addresses where İYS and the ledger disagree
    pages: int = 0           # pull pages fetched
    batches: int = 0         # push batches claimed
    reasons: Counter = field(default_factory=Counter)   # H-code -> count of refusals
    errors: list = field(default_factory=list)          # texts of failures that stopped a step
    details: list = field(default_factory=list)         # lines for the wizard's result (differences …)
    stop: bool = False       # the step should not go on (token lock, account-level error)

    def add(self, other):
        for name in ("sent", "confirmed", "refused", "retried", "waiting", "applied", "unchanged",
                     "behind", "differences", "pages", "batches"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.reasons.update(other.reasons)
        self.errors.extend(other.errors)
        self.details.extend(other.details)
        self.stop = self.stop or other.stop
        return self

    @property
    def done(self):
        """Units of work done, for ``ir.cron._notify_progress``."""
        return self.sent + self.confirmed + self.refused + self.applied + self.pages
