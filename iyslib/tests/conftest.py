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


# ----------------------------------------------------------------------------- simulator fixtures

@pytest.fixture
def clock():
    """A fake clock at Monday 2026-11-23 12:00 Turkish time, shared by client and simulator."""
    from iyslib.testing import FakeClock
    return FakeClock()


@pytest.fixture
def sim(clock):
    """A simulator on the fake clock, without pull lag and with immediate batch processing."""
    from iyslib.simulator import IysSimulator
    return IysSimulator(clock=clock, pull_lag=0, batch_delay=0, fault_delay=0.6)


@pytest.fixture
def server(sim):
    """The simulator served on a free 127.0.0.1 port."""
    from iyslib.simulator import SimulatorServer
    with SimulatorServer(sim) as srv:
        yield srv


@pytest.fixture
def make_client(server, clock):
    """Factory of clients talking to the simulator on the fake clock."""
    from iyslib.client import IysClient, IysConfig

    def factory(store=None, brand_code=None, timeout=(2, 3), **kw):
        cfg = IysConfig(server.url, 'iys-demo', 'iys-demo-secret', 700001, brand_code=brand_code, timeout=timeout)
        kw.setdefault('clock', clock)
        kw.setdefault('sleep', clock.sleep)
        return IysClient(cfg, token_store=store, **kw)
    return factory


@pytest.fixture
def client(make_client):
    return make_client()
