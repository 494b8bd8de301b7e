"""A faithful local İYS for tests and demos (stdlib + iyslib only).

* :class:`IysSimulator`: the state and behaviour (see :mod:`iyslib.simulator.core`);
* :func:`make_wsgi_app`: the WSGI app with the ``/_sim/`` control API (:mod:`iyslib.simulator.app`);
* :class:`SimulatorServer`: a threaded HTTP server in a background thread, as a context manager;
* ``python -m iyslib.simulator --port 8765``: run it from the command line.
"""
from .app import make_wsgi_app
from .core import FAULTS, IysSimulator, Response
from .server import SimulatorServer

__all__ = ['FAULTS', 'IysSimulator', 'Response', 'SimulatorServer', 'make_wsgi_app']
