"""A small threaded HTTP server for the simulator (stdlib ``http.server`` running a WSGI app).

It speaks HTTP/1.1 with keep-alive, runs each connection in its own thread, and supports the two
faults a plain WSGI server cannot express: answering late (``timeout``) and closing the connection
without an answer (``drop``).
"""
from __future__ import annotations

import io
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from .app import ENV_DROP, ENV_TIMEOUT, make_wsgi_app
from .core import IysSimulator

__all__ = ['SimulatorServer']


class _Dropped(Exception):
    pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    server_version = 'IysSimulator/0.1'
    # One send per answer and no Nagle delay: keeps keep-alive round trips at loopback speed.
    disable_nagle_algorithm = True
    wbufsize = 64 * 1024

    def log_message(self, format, *args):
        if getattr(self.server, 'verbose', False):
            sys.stderr.write('%s - %s\n' % (self.address_string(), format % args))

    def _run(self):
        app = self.server.wsgi_app
        parts = urlsplit(self.path)
        length = int(self.headers.get('Content-Length') or 0)
        body = self.rfile.read(length) if length > 0 else b''
        environ = {
            'REQUEST_METHOD': self.command, 'PATH_INFO': parts.path, 'QUERY_STRING': parts.query,
            'SERVER_NAME': self.server.server_address[0], 'SERVER_PORT': str(self.server.server_address[1]),
            'SERVER_PROTOCOL': self.request_version, 'REMOTE_ADDR': self.client_address[0],
            'CONTENT_TYPE': self.headers.get('Content-Type', ''), 'CONTENT_LENGTH': str(len(body)),
            'wsgi.version': (1, 0), 'wsgi.url_scheme': 'http', 'wsgi.input': io.BytesIO(body),
            'wsgi.errors': sys.stderr, 'wsgi.multithread': True, 'wsgi.multiprocess': False,
            'wsgi.run_once': False,
        }
        for key, value in self.headers.items():
            name = 'HTTP_' + key.upper().replace('-', '_')
            if name not in ('HTTP_CONTENT_TYPE', 'HTTP_CONTENT_LENGTH'):
                environ[name] = value
        dropped = []

        def drop():
            dropped.append(True)

        environ[ENV_DROP] = drop
        environ[ENV_TIMEOUT] = self.server.delay
        status_headers = []

        def start_response(status, headers, exc_info=None):
            status_headers[:] = [status, headers]
            return lambda data: None

        chunks = b''.join(app(environ, start_response))
        if dropped:
            raise _Dropped()
        status, headers = status_headers
        code, _, reason = status.partition(' ')
        self.send_response(int(code), reason)
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != 'HEAD' and int(code) != 204:
            self.wfile.write(chunks)

    def _handle(self):
        try:
            self._run()
        except _Dropped:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, app, delay, verbose=False):
        self.wsgi_app = app
        self.delay = delay
        self.verbose = verbose
        super().__init__(addr, _Handler)

    def handle_error(self, request, client_address):
        if self.verbose:
            super().handle_error(request, client_address)


class SimulatorServer:
    """Run an :class:`~iyslib.simulator.IysSimulator` on ``host:port`` in a background thread.

    Use as a context manager::

        with SimulatorServer() as srv:
            client = IysClient(IysConfig(srv.url, 'iys-demo', 'iys-demo-secret', 700001))

    ``port=0`` picks a free port.  ``.url`` is the base URL, ``.sim`` the simulator.
    *middleware*, when given, wraps the WSGI app (``middleware(app) -> app``), e.g. to record
    traffic for contract tests.
    """

    def __init__(self, sim: IysSimulator | None = None, host: str = '127.0.0.1', port: int = 0,
                 verbose: bool = False, middleware=None):
        self.sim = sim if sim is not None else IysSimulator()
        self.middleware = middleware
        self.host = host
        self.port = port
        self.verbose = verbose
        self._httpd = None
        self._thread = None

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321``."""
        if not self._httpd:
            raise RuntimeError('server not started')
        host, port = self._httpd.server_address[:2]
        return f'http://{host}:{port}'

    def start(self) -> SimulatorServer:
        """Bind and serve in a daemon thread; returns self."""
        if self._httpd:
            return self
        self._httpd = _Server((self.host, self.port), self._app(), self._delay, self.verbose)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={'poll_interval': 0.02},
                                        name=f'iys-simulator-{self.port}', daemon=True)
        self._thread.start()
        return self

    def _app(self):
        app = make_wsgi_app(self.sim)
        return self.middleware(app) if self.middleware else app

    def _delay(self, seconds: float):
        self.sim.sleep(seconds)

    def stop(self):
        """Stop serving and close the socket."""
        if self._httpd:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(timeout=5)
            self._httpd = None
            self._thread = None

    def serve_forever(self):
        """Serve in the calling thread (used by ``python -m iyslib.simulator``)."""
        if not self._httpd:
            self._httpd = _Server((self.host, self.port), self._app(), self._delay, self.verbose)
            self.port = self._httpd.server_address[1]
        try:
            self._httpd.serve_forever(poll_interval=0.2)
        finally:
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

