"""WSGI application of the simulator, with the ``/_sim/`` control API.

``make_wsgi_app(sim)`` returns a plain WSGI callable: mount it in any WSGI server, or use
:class:`~iyslib.simulator.server.SimulatorServer`.  Two faults need the server's help and are
signalled through the environ: ``timeout`` (the server waits ``sim.fault_delay`` seconds before
answering) and ``drop`` (the server closes the connection without answering).  Other WSGI servers
ignore these keys and simply answer.

Control API (JSON in, JSON out, no authentication, never subject to faults):

=========================  ==========================================================================
``GET  /_sim/state``       counts, clock, faults (``?consents=1`` adds the consent table)
``GET  /_sim/requests``    the request log (method, path, status, fault)
``GET  /_sim/push-log``    deliveries made to push endpoints
``POST /_sim/reset``       forget everything
``POST /_sim/citizen``     ``{brandCode, recipient, type, status, source, recipientType, consentDate,
                           citizenName}``: inject an İYS-side movement
``POST /_sim/clock``       ``{"offset": s}`` or ``{"advance": s}``
``POST /_sim/batch-delay`` ``{"seconds": s}``
``POST /_sim/faults``      ``{"fault": "500"|"503"|"timeout"|"429_H083"|"429_H124"|"malformed_json"|"drop",
                           "count": n, "path_prefix": "/v2/sps", "method": "POST"}``
``DELETE /_sim/faults``    clear faults
``POST /_sim/change-file`` ``{brandCode, reportDate, content}``: serve *content* (text, UTF-8) as that
                           day's movement file while the agreement keeps the true hash (tests of the
                           hash check); ``"content": null`` restores the true file
``POST /_sim/movement``   ``{brandCode, recipient, type, status, source, recipientType, consentDate,
                           creationDate}``: record a movement only İYS knows (any source, backdated
                           to *creationDate*, no push)
``POST /_sim/drop-movement`` ``{transactionId}``: leave a movement out of its day's file, hash and
                           summary (İYS never recorded it)
``POST /_sim/process-status`` ``{brandCode, reportDate, status}``: force the agreement's processStatus
                           (``null`` restores the simulator's own)
``POST /_sim/config``      ``{token_limit, access_ttl, refresh_ttl, pull_lag, status_limit, history_limit,
                           rate_limit_per_second, fault_delay, allow_http_push}``
=========================  ==========================================================================
"""
from __future__ import annotations

import json
from http import HTTPStatus

from .core import IysSimulator, Response

__all__ = ['make_wsgi_app', 'ENV_TIMEOUT', 'ENV_DROP']

ENV_TIMEOUT = 'iyslib.sim.delay'
ENV_DROP = 'iyslib.sim.drop'

_CONFIG_KEYS = {'token_limit', 'access_ttl', 'refresh_ttl', 'pull_lag', 'status_limit', 'history_limit',
                'rate_limit_per_second', 'fault_delay', 'allow_http_push', 'push_timeout'}


def _read_body(environ) -> bytes:
    try:
        length = int(environ.get('CONTENT_LENGTH') or 0)
    except ValueError:
        length = 0
    stream = environ.get('wsgi.input')
    return stream.read(length) if (stream and length > 0) else b''


def _headers(environ) -> dict:
    out = {}
    for key, value in environ.items():
        if key.startswith('HTTP_'):
            out[key[5:].replace('_', '-').title()] = value
    if environ.get('CONTENT_TYPE'):
        out['Content-Type'] = environ['CONTENT_TYPE']
    if environ.get('CONTENT_LENGTH'):
        out['Content-Length'] = environ['CONTENT_LENGTH']
    return out


def _control(sim: IysSimulator, method: str, path: str, query: str, body: bytes) -> Response:
    try:
        data = json.loads(body.decode('utf-8')) if body else {}
    except (ValueError, UnicodeDecodeError):
        return Response(400, {'error': 'invalid JSON'})
    route = path[len('/_sim'):].rstrip('/') or '/'
    try:
        if route == '/state' and method == 'GET':
            out = sim.summary()
            out['brands'] = {str(k): v for k, v in out['brands'].items()}
            if 'consents=1' in (query or ''):
                with sim.lock:
                    out['consent_table'] = list(sim.consents.values())
            return Response(200, out)
        if route == '/requests' and method == 'GET':
            with sim.lock:
                return Response(200, list(sim.requests_log))
        if route == '/push-log' and method == 'GET':
            with sim.lock:
                return Response(200, list(sim.push_log))
        if route == '/reset' and method == 'POST':
            sim.reset()
            return Response(200, {'ok': True})
        if route == '/citizen' and method == 'POST':
            mv = sim.inject_citizen_change(
                data.get('brandCode', sim.master_brand), data['recipient'], data['type'], data['status'],
                source=data.get('source', 'IYS_MOBIL'), recipient_type=data.get('recipientType', 'BIREYSEL'),
                consent_date=data.get('consentDate'), citizen_name=data.get('citizenName'))
            return Response(200, mv)
        if route == '/clock' and method == 'POST':
            if 'advance' in data:
                sim.advance_clock(float(data['advance']))
            elif 'offset' in data:
                sim.set_clock_offset(float(data['offset']))
            return Response(200, {'offset': sim.clock_offset, 'now': sim.local_now_str()})
        if route == '/batch-delay' and method == 'POST':
            sim.set_batch_delay(float(data.get('seconds', 0)))
            return Response(200, {'batch_delay': sim.batch_delay})
        if route == '/faults' and method == 'POST':
            sim.inject_fault(data['fault'], int(data.get('count', 1)), data.get('path_prefix'), data.get('method'))
            return Response(200, {'faults': sim.summary()['faults']})
        if route == '/change-file' and method == 'POST':
            content = data['content']
            sim.tamper_change_file(data.get('brandCode', sim.master_brand), data['reportDate'],
                                   None if content is None else str(content).encode('utf-8'))
            return Response(200, {'ok': True})
        if route == '/movement' and method == 'POST':
            mv = sim.inject_movement(
                data.get('brandCode', sim.master_brand), data['recipient'], data['type'], data['status'],
                source=data.get('source', 'HS_WEB'), recipient_type=data.get('recipientType', 'BIREYSEL'),
                consent_date=data.get('consentDate'), creation_date=data.get('creationDate'))
            return Response(200, mv)
        if route == '/drop-movement' and method == 'POST':
            return Response(200, {'dropped': sim.drop_movement(data['transactionId'])})
        if route == '/process-status' and method == 'POST':
            sim.set_process_status(data.get('brandCode', sim.master_brand), data['reportDate'], data.get('status'))
            return Response(200, {'ok': True})
        if route == '/faults' and method == 'DELETE':
            sim.clear_faults()
            return Response(200, {'faults': []})
        if route == '/config' and method == 'POST':
            unknown = set(data) - _CONFIG_KEYS
            if unknown:
                return Response(400, {'error': f'unknown keys: {sorted(unknown)}'})
            with sim.lock:
                for key, value in data.items():
                    setattr(sim, key, value)
            return Response(200, {k: getattr(sim, k) for k in sorted(_CONFIG_KEYS)})
    except (KeyError, ValueError, TypeError) as exc:
        return Response(400, {'error': f'{type(exc).__name__}: {exc}'})
    return Response(404, {'error': f'unknown control route {method} {path}'})


def make_wsgi_app(sim: IysSimulator):
    """Return the WSGI callable serving *sim* (İYS paths plus the ``/_sim/`` control API)."""

    def app(environ, start_response):
        method = environ.get('REQUEST_METHOD', 'GET').upper()
        path = environ.get('PATH_INFO', '') or '/'
        query = environ.get('QUERY_STRING', '')
        body = _read_body(environ)
        if path.startswith('/_sim/') or path == '/_sim':
            resp = _control(sim, method, path, query, body)
        else:
            resp = sim.handle(method, path, query, _headers(environ), body,
                              remote=environ.get('REMOTE_ADDR', '127.0.0.1'))
            if resp.fault == 'timeout':
                delay = environ.get(ENV_TIMEOUT)
                if callable(delay):
                    delay(sim.fault_delay)
            elif resp.fault == 'drop':
                drop = environ.get(ENV_DROP)
                if callable(drop):
                    drop()
                    start_response('500 Internal Server Error', [('Content-Length', '0'),
                                                                 ('X-Iys-Simulator-Fault', 'drop')])
                    return [b'']
        reason = HTTPStatus(resp.status).phrase if resp.status in HTTPStatus._value2member_map_ else 'Unknown'
        headers = [('Content-Length', str(len(resp.body)))]
        if resp.status != 204:
            ctype = resp.content_type
            if ctype.startswith('text/') or ctype == 'application/json':
                ctype += '; charset=utf-8'
            headers.append(('Content-Type', ctype))
        headers.extend((k, str(v)) for k, v in resp.headers.items())
        if resp.fault:
            headers.append(('X-Iys-Simulator-Fault', resp.fault))   # injected: outside the contract
        start_response(f'{resp.status} {reason}', headers)
        return [resp.body] if resp.status != 204 else [b'']

    app.sim = sim
    return app
