"""Contract tests: every request the client sends and every answer the simulator gives is validated
against the official İYS OpenAPI document v3.2.0, corrected only by ``iyslib.contract.ERRATA``.

The traffic is recorded by a WSGI middleware between the HTTP server and the simulator while a
session exercises every client method, including error answers.  Injected faults and the
``/_sim/`` control API are outside the contract and are not recorded.
"""
import base64
import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

import pytest

from iyslib.contract import ERRATA, find_operation, find_spec_path, load_openapi, load_spec, operation_index
from iyslib.dates import to_iys_date
from iyslib.errors import IysError

if find_spec_path() is None:
    # The library ships the official file (iyslib/spec/): the contract suite never skips.
    raise RuntimeError('official İYS OpenAPI file not found in iyslib/spec/ (or $IYS_OPENAPI_PATH)')

openapi_core = pytest.importorskip('openapi_core')
from openapi_core.datatypes import RequestParameters  # noqa: E402
from openapi_core.exceptions import OpenAPIError  # noqa: E402
from openapi_core.validation.request.exceptions import InvalidRequestBody  # noqa: E402
from openapi_core.validation.response.exceptions import InvalidData  # noqa: E402
from werkzeug.datastructures import Headers, ImmutableMultiDict  # noqa: E402

SPEC_HOST = 'https://api.sandbox.iys.org.tr'
PHONE = '+905321112233'


class Recorder:
    """WSGI middleware keeping (request, response) pairs."""

    def __init__(self):
        self.exchanges = []
        self.lock = threading.Lock()

    def __call__(self, app):
        def middleware(environ, start_response):
            length = int(environ.get('CONTENT_LENGTH') or 0)
            body = environ['wsgi.input'].read(length) if length else b''
            environ['wsgi.input'] = io.BytesIO(body)
            seen = {}

            def sr(status, headers, exc_info=None):
                seen['status'], seen['headers'] = status, headers
                return start_response(status, headers, exc_info)

            out = b''.join(app(environ, sr))
            path = environ['PATH_INFO']
            headers = dict(seen['headers'])
            if not path.startswith('/_sim') and 'X-Iys-Simulator-Fault' not in headers:
                req_headers = {k[5:].replace('_', '-').title(): v for k, v in environ.items() if k.startswith('HTTP_')}
                if environ.get('CONTENT_TYPE'):
                    req_headers['Content-Type'] = environ['CONTENT_TYPE']
                with self.lock:
                    self.exchanges.append({
                        'method': environ['REQUEST_METHOD'], 'path': path, 'query': environ.get('QUERY_STRING', ''),
                        'req_headers': req_headers, 'req_body': body, 'status': int(seen['status'].split()[0]),
                        'resp_headers': headers, 'resp_body': out, 'tag': getattr(self, 'tag', None)})
            return [out]
        return middleware


class Req:
    """openapi-core request protocol over a recorded exchange."""

    def __init__(self, ex):
        self.host_url = SPEC_HOST
        self.path = ex['path']
        self.method = ex['method'].lower()
        self.body = ex['req_body'] or None
        ctype = ex['req_headers'].get('Content-Type', '')
        self.content_type = ctype.split(';')[0].strip().lower() if ctype else 'application/octet-stream'
        self.parameters = RequestParameters(query=ImmutableMultiDict(parse_qsl(ex['query'], keep_blank_values=True)),
                                            header=Headers(ex['req_headers']), cookie=ImmutableMultiDict())

    @property
    def full_url_pattern(self):
        return SPEC_HOST + self.path


class Resp:
    """openapi-core response protocol over a recorded exchange."""

    def __init__(self, ex):
        self.data = ex['resp_body']
        self.status_code = ex['status']
        ctype = ex['resp_headers'].get('Content-Type', '')
        self.content_type = ctype.split(';')[0].strip() if ctype else ''
        self.headers = Headers(ex['resp_headers'])


class _PushSink:
    def __init__(self):
        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers.get('Content-Length') or 0))
                ok = self.headers.get('Authorization') == 'Basic ' + base64.b64encode(b'hook:pw').decode()
                self.send_response(200 if ok else 401)
                self.send_header('Content-Length', '0')
                self.end_headers()
        self.httpd = ThreadingHTTPServer(('127.0.0.1', 0), H)
        self.url = f'http://127.0.0.1:{self.httpd.server_address[1]}/push'
        threading.Thread(target=self.httpd.serve_forever, kwargs={'poll_interval': 0.05}, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def _consent(clock, **kw):
    body = {'recipient': PHONE, 'type': 'MESAJ', 'source': 'HS_WEB', 'status': 'ONAY',
            'consentDate': to_iys_date(clock.utcnow()), 'recipientType': 'BIREYSEL'}
    body.update(kw)
    return {k: v for k, v in body.items() if v is not None}


def _expect_error(fn, *a, **kw):
    with pytest.raises(IysError):
        fn(*a, **kw)


def run_session() -> Recorder:
    """Run every client method against a recording simulator; return the recorder."""
    from iyslib.client import IysClient, IysConfig
    from iyslib.simulator import IysSimulator, SimulatorServer
    from iyslib.testing import FakeClock

    clock = FakeClock()
    sim = IysSimulator(clock=clock, pull_lag=0, batch_delay=300)
    rec = Recorder()
    sink = _PushSink()
    with SimulatorServer(sim, middleware=rec) as srv:
        def mk(**kw):
            return IysClient(IysConfig(srv.url, 'iys-demo', 'iys-demo-secret', 700001, **kw), clock=clock,
                             sleep=clock.sleep)
        c = mk()
        form = mk(token_form=True)
        form.get_access_token()                                   # form-encoded password grant
        c.list_brands()
        c.add_consent(_consent(clock))                            # V2
        clock.advance(10)
        c.add_consent(_consent(clock, status='RET'), idempotent=False)      # V1
        clock.advance(10)
        c.add_consent({'recipient': '+905321110000', 'type': 'ARAMA', 'status': 'ONAY', 'recipientType': 'TACIR'})
        sub = c.add_consents_batch([_consent(clock, recipient='a@example.com', type='EPOSTA'),
                                    _consent(clock, recipient='+905321110001', status='RET')])
        c.get_batch_result(sub.request_id)                        # enqueue
        clock.advance(300)
        c.get_batch_result(sub.request_id)                        # success + failure
        sub1 = c.add_consents_batch([_consent(clock, recipient='b@example.com', type='EPOSTA')], v2=False)
        clock.advance(300)
        c.get_batch_result(sub1.request_id, v2=False)
        c.get_consent_status(PHONE, 'MESAJ')
        c.get_consent_status('nobody@example.com', 'EPOSTA')      # no record
        c.get_consent_status('+905321110000', 'ARAMA', 'TACIR')  # TACIR without consentDate/source: empty
        c.get_multiple_status('BIREYSEL', 'EPOSTA', ['a@example.com', 'b@example.com'])
        c.get_history(PHONE, 'MESAJ', page_size=1)
        sim.inject_citizen_change(700001, PHONE, 'MESAJ', 'ONAY', source='IYS_WEB_YENI', citizen_name='Ali Veli')
        clock.advance(1)
        page = c.pull_changes()
        c.pull_changes(after=page.after)                          # 204
        c.pull_changes(source='HS', limit=2)
        c.register_push(sink.url, 'MESAJ', 'hook', 'pw')
        c.list_push()
        c.unregister_push(sink.url, 'MESAJ', 'hook', 'pw')
        retailer = {'title': 'XYZ Ticaret', 'name': 'Ali Veli', 'tckn': '10000000146', 'tin': '1234567890',
                    'city': {'code': '34', 'name': 'İstanbul'}, 'town': {'code': '429', 'name': 'Kadıköy'},
                    'mobile': '+905325001111', 'alias': 'Sisli', 'mersis': '0123456789012345'}
        code = c.create_retailer(retailer)
        code2 = c.create_retailer({**retailer, 'tckn': '11111111110', 'mersis': '0123456789012346'})
        c.list_retailers()
        c.list_retailers(short=True, all=True)
        c.get_retailer(code)
        c.add_retailer_access(PHONE, 'MESAJ', 'BIREYSEL', [code])
        c.list_retailer_access(PHONE, 'MESAJ')
        c.replace_retailer_access([PHONE], 'MESAJ', 'BIREYSEL', [code, code2])
        c.remove_retailer_access([PHONE], 'MESAJ', 'BIREYSEL', [code2])
        c.remove_all_retailer_access([PHONE], 'MESAJ', 'BIREYSEL')
        c.delete_retailer(code2)
        c.add_consent(_consent(clock, recipient='+905321119999', retailerCode=code, retailerAccess=[code]))
        c.get_consent_status('+905321119999', 'MESAJ')
        day = to_iys_date(clock.utcnow())[:10]
        clock.advance(86400)
        c.get_change_summary(day, 'BIREYSEL')
        c.get_change_file(day)
        c.verify_change_file(day)
        c.confirm_agreement(day)
        c.get_agreement_timestamp(day)
        c.get_change_file(to_iys_date(clock.utcnow())[:10])      # today, nothing yet: 204
        c.get_agreement(to_iys_date(clock.utcnow())[:10])        # 204
        c.get_subscription()
        c.list_cities()
        c.get_city(34)
        c.get_city(99)                                            # 204
        c.list_towns()
        c.get_town(429)
        c.get_town(99999)                                         # 204
        # error answers (requests deliberately invalid: only the answers are checked)
        rec.tag = 'invalid'
        _expect_error(c.add_consent, _consent(clock, status='RET', recipient='+905321118888'), validate=False)
        _expect_error(c.add_consent, _consent(clock, status='BEKLIYOR'), validate=False)
        _expect_error(c.add_consent, {**_consent(clock), 'x': 1}, validate=False)
        _expect_error(c.add_consents_batch, [_consent(clock), _consent(clock)], validate=False)
        _expect_error(c.pull_changes, after='broken')
        _expect_error(c.get_change_file, '2026-01-01')
        _expect_error(mk(brand_code=999999).list_push)
        _expect_error(c.add_retailer_access, PHONE, 'MESAJ', 'BIREYSEL', [99999998])
        _expect_error(c.get_retailer, 99999998)
        _expect_error(c.delete_retailer, 99999998)
        _expect_error(c.create_retailer, {**retailer, 'tckn': '1'})
        _expect_error(c._request, 'POST', '/sps/700001/brands/700001/consents/history', params={'limit': 0},
                      json_body={'recipient': PHONE, 'recipientType': 'BIREYSEL', 'type': 'MESAJ'})
        _expect_error(c.get_multiple_status, 'BIREYSEL', 'MESAJ', ['+905321112233', 'a@example.com'], strict=True)
        _expect_error(c._request, 'POST', '/sps/700001/brands/700001/consents/BIREYSEL/status/MESAJ',
                      json_body={'recipients': [PHONE, 'a@example.com']})
        rec.tag = None
        sim.access_tokens.clear()
        c.list_brands()                                           # 401 H351, then re-login
        sim.token_limit = 1
        _expect_error(mk().get_access_token)                      # 429 H084
    sink.close()
    return rec


@pytest.fixture(scope='module')
def session():
    return run_session()


@pytest.fixture(scope='module')
def validator():
    return load_openapi()


@pytest.fixture(scope='module')
def index():
    return operation_index(load_spec())


CLIENT_OPERATIONS = {
    'createToken2', 'getBrandsDetails', 'addConsent', 'addConsentV2', 'addBatchConsent', 'addBatchConsentV2',
    'searchRequestDetails', 'searchRequestDetailsV2', 'consentDetail', 'batchConsentStatus', 'consentsHistory',
    'PullPerBrandCode', 'pushRegistration', 'getPushRegistration', 'pushUnregistration', 'createRetailer',
    'searchRetailers', 'searchSingleRetailer', 'deleteRetailer', 'addRetailers', 'overrideRetailers',
    'searchRetailersOfOneConsent', 'removeRelationBetweenRetailer', 'removeRelationsBetweenRetailersAndConsents',
    'changeSummary', 'agreementFile', 'agreementsDate', 'agreementDatePut', 'agreementTimeStamp',
    'get-subscription', 'getCities', 'cityDetails', 'getTowns', 'townDetails',
}


def test_every_client_operation_is_exercised(session, index):
    used = set()
    for ex in session.exchanges:
        found = find_operation(index, ex['method'], ex['path'])
        assert found, f'{ex["method"]} {ex["path"]} is not an operation of the official document'
        used.add(found[1])
    assert CLIENT_OPERATIONS <= used, sorted(CLIENT_OPERATIONS - used)


def _why(exc):
    cause = exc.__cause__
    detail = getattr(cause, 'schema_errors', None) or cause or ''
    return f'{type(exc).__name__}: {str(detail)[:400]}'


def test_requests_match_the_contract(session, validator):
    checked, failures = 0, []
    for ex in session.exchanges:
        if ex['tag'] == 'invalid' or ex['status'] >= 400:
            continue
        try:
            validator.validate_request(Req(ex))
        except OpenAPIError as exc:   # report every contract violation with its exchange
            failures.append(f'{ex["method"]} {ex["path"]}?{ex["query"]} {ex["req_body"][:200]!r}: {_why(exc)}')
        checked += 1
    assert not failures, '\n'.join(failures)
    assert checked >= 50


def test_responses_match_the_contract(session, validator):
    statuses, failures = set(), []
    for ex in session.exchanges:
        try:
            validator.validate_response(Req(ex), Resp(ex))
        except OpenAPIError as exc:   # report every contract violation with its exchange
            failures.append(f'{ex["status"]} to {ex["method"]} {ex["path"]}: {ex["resp_body"][:200]!r}: {_why(exc)}')
        statuses.add(ex['status'])
    assert not failures, '\n'.join(failures)
    assert {200, 201, 202, 204, 400, 401, 403, 404, 422, 429} <= statuses


def test_invalid_requests_are_refused_by_the_contract_too(session, validator):
    bad = [ex for ex in session.exchanges if ex['tag'] == 'invalid' and ex['path'].endswith('/consents')
           and b'BEKLIYOR' in ex['req_body']]
    assert bad
    with pytest.raises(InvalidRequestBody):
        validator.validate_request(Req(bad[0]))


def _violations(spec, exchanges):
    from openapi_core import Config, OpenAPI
    o = OpenAPI.from_dict(spec, config=Config(spec_validator_cls=None))
    found = []
    for ex in exchanges:
        if ex['tag'] != 'invalid' and ex['status'] < 400:
            try:
                o.validate_request(Req(ex))
            except OpenAPIError:
                found.append(('request', ex['method'], ex['path']))
        try:
            o.validate_response(Req(ex), Resp(ex))
        except OpenAPIError:
            found.append(('response', ex['status'], ex['path']))
    return found


@pytest.mark.parametrize('erratum', ERRATA, ids=[e.key for e in ERRATA])
def test_each_erratum_is_needed(erratum, session):
    """Without this one correction the recorded traffic violates the official document."""
    spec = load_spec(errata=False)
    for other in ERRATA:
        if other is not erratum:
            other.patch(spec)
    assert _violations(spec, session.exchanges), f'{erratum.key} is not exercised by the contract session'


def test_corrupted_answer_is_caught(session, validator):
    ex = next(e for e in session.exchanges if e['path'].endswith('/consents') and e['status'] == 200)
    broken = dict(ex, resp_body=json.dumps({'transactionId': 12, 'creationDate': '2026-11-23T12:00:00Z'}).encode())
    with pytest.raises(InvalidData):
        validator.validate_response(Req(broken), Resp(broken))


def test_errata_are_needed_and_documented():
    raw = load_spec(errata=False)
    fixed = load_spec()
    assert raw != fixed
    assert len({e.key for e in ERRATA}) == len(ERRATA)
    for e in ERRATA:
        assert len(e.reason) > 40 and callable(e.patch)
    assert raw['components']['schemas']['Consent']['properties']['consentDate']['format'] == 'date-time'
    assert 'format' not in fixed['components']['schemas']['Consent']['properties']['consentDate']
    assert json.dumps(raw, sort_keys=True) == json.dumps(load_spec(errata=False), sort_keys=True)  # no mutation


def _consent_request(body):
    return Req({'method': 'POST', 'path': '/sps/700001/brands/700001/consents', 'query': '',
                'req_headers': {'Content-Type': 'application/json', 'Authorization': 'Bearer x'},
                'req_body': json.dumps(body).encode()})


_BODY = {'recipient': PHONE, 'type': 'MESAJ', 'status': 'ONAY', 'source': 'HS_WEB',
         'consentDate': '2026-11-23 12:00:00', 'recipientType': 'BIREYSEL'}


@pytest.mark.parametrize('body', [
    dict(_BODY, consentDate=''),                                            # empty dates only in answers
    dict(_BODY, consentDate='2026-11-23T12:00:00'),
    {k: v for k, v in _BODY.items() if k not in ('source', 'consentDate')},  # BIREYSEL needs both
    {k: v for k, v in _BODY.items() if k != 'source'},
    {k: v for k, v in _BODY.items() if k not in ('source', 'consentDate', 'recipientType')},   # default BIREYSEL
    dict(_BODY, recipientType='TACIR', consentDate=''),
], ids=['empty-date', 'iso-date', 'bireysel-no-source-no-date', 'bireysel-no-source', 'default-no-date',
        'tacir-empty-date'])
def test_corrected_contract_refuses_bad_consent_requests(validator, body):
    with pytest.raises(InvalidRequestBody):
        validator.validate_request(_consent_request(body))


def test_corrected_contract_accepts_first_tacir_record_without_source_and_date(validator):
    body = {k: v for k, v in _BODY.items() if k not in ('source', 'consentDate')}
    validator.validate_request(_consent_request(dict(body, recipientType='TACIR')))
    validator.validate_request(_consent_request(_BODY))


def test_empty_consent_date_is_accepted_in_answers_only(session, validator):
    tacir = [ex for ex in session.exchanges if ex['path'].endswith('/consents/status') and b'TACIR' in ex['req_body']]
    assert tacir and json.loads(tacir[0]['resp_body'])['consentDate'] == ''
    validator.validate_response(Req(tacir[0]), Resp(tacir[0]))
    assert json.loads(tacir[0]['resp_body'])['source'] == ''     # same representation as pull and history
