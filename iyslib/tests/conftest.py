"""Shared fixtures of the iyslib test-suite (pure Python, no Odoo, no network beyond 127.0.0.1).

The tests directory is deliberately not a package: the repository root is an Odoo addon whose
``__init__.py`` imports Odoo, so pytest must not walk up to it.  The addon root is put on
``sys.path`` so ``import iyslib`` works from any working directory.
"""
import datetime as dt
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402
from hypothesis.configuration import set_hypothesis_home_dir  # noqa: E402

# Hypothesis' caches live under iyslib/tests/.hypothesis (git-ignored), never in the addon root.
set_hypothesis_home_dir(os.path.join(os.path.dirname(os.path.abspath(__file__)), '.hypothesis'))

# No example database: nothing may be written outside iyslib/ (and nothing needs to persist).
settings.register_profile('iyslib', database=None, deadline=None)
settings.load_profile('iyslib')

#: A fixed "now" for rule tests: Monday 2026-11-23 12:00 Turkish time (09:00 UTC).
NOW = dt.datetime(2026, 11, 23, 9, 0, 0)


@pytest.fixture
def now():
    return NOW
