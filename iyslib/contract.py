"""The official İYS OpenAPI document (v3.2.0) and every correction this project applies to it.

The official file is the contract: the contract tests validate each request the client sends and
each answer the simulator gives against it.  Where the file contradicts İYS's own documented
behaviour (its prose, its examples, its H-code table) it is corrected here, **and only here**: each
entry of :data:`ERRATA` names the defect, the reason and the patch.  Nothing else in the project
edits the document.

Only the standard library is needed to load and patch the document; :func:`load_openapi` imports
``openapi-core`` lazily (a test dependency) and builds the validator without the spec validator,
because one binary response of the official file does not pass openapi-core's spec validation.
"""
from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ['ERRATA', 'Erratum', 'IYS_DATE_PATTERN', 'IYS_DATE_OR_EMPTY_PATTERN', 'find_spec_path', 'load_spec',
           'apply_errata', 'load_openapi', 'operation_index', 'find_operation', 'SPEC_FILENAME']

SPEC_FILENAME = 'iys-openapi-3.2.0.json'
#: İYS date-time on the wire: ``YYYY-MM-DD HH:mm:ss`` (Turkish time).  Requests must always use it.
IYS_DATE_PATTERN = r'^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$'
#: The same or empty: İYS reports a TACIR record without consentDate with an empty one (documented
#: for the pull); only answers may carry it.
IYS_DATE_OR_EMPTY_PATTERN = r'^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})?$'

_SPS = '/sps/{iysCode}/brands/{brandCode}'


@dataclass(frozen=True)
class Erratum:
    """One correction of the official document."""

    key: str
    reason: str
    patch: Callable[[dict], None]


def _schemas(spec):
    return spec['components']['schemas']


def _op(spec, path, method):
    return spec['paths'][path][method]


def _json_schema(spec, path, method, status):
    return _op(spec, path, method)['responses'][status]['content']['application/json']


def _walk(node, fn):
    if isinstance(node, dict):
        fn(node)
        for value in node.values():
            _walk(value, fn)
    elif isinstance(node, list):
        for value in node:
            _walk(value, fn)


def _patch_dates(spec):
    def fix(node):
        if node.get('format') == 'date-time' and node.get('type', 'string') == 'string':
            del node['format']
            node['pattern'] = IYS_DATE_PATTERN
    for path in spec['paths'].values():
        _walk(path, fix)
    _walk(spec['components'], fix)
    for name in ('consentDate', 'creationDate'):
        prop = _schemas(spec)['AgreementPull']['properties']['list']['items']['properties'][name]
        prop.pop('format', None)
        prop['pattern'] = IYS_DATE_PATTERN


def _patch_consent_required(spec):
    consent = _schemas(spec)['Consent']
    consent['required'] = ['recipient', 'type', 'status']
    # source and consentDate stay required unless the record is TACIR (OpenAPI 3.0 has no if/then)
    consent['anyOf'] = [
        {'required': ['source', 'consentDate']},
        {'required': ['recipientType'], 'properties': {'recipientType': {'enum': ['TACIR']}}},
    ]


def _patch_empty_consent_date_in_answers(spec):
    def allow_empty(prop):
        prop.pop('format', None)
        prop['pattern'] = IYS_DATE_OR_EMPTY_PATTERN
    allow_empty(_schemas(spec)['ConsentDetailResponse']['properties']['consentDate'])
    allow_empty(_schemas(spec)['AgreementPull']['properties']['list']['items']['properties']['consentDate'])


def _patch_retailer_code(spec):
    prop = _schemas(spec)['Consent']['properties']['retailerCode']
    prop['minimum'] = 1
    prop['maximum'] = 99999999


def _patch_brands(spec):
    content = _json_schema(spec, '/sps/{iysCode}/brands', 'get', '200')
    content['schema'] = {'type': 'array', 'items': content['schema']}
    counts = {'type': 'object', 'properties': {k: {'type': 'integer'} for k in ('approval', 'rejection', 'total')}}
    _schemas(spec)['BrandStats'] = {
        'type': 'object', 'title': 'BrandStats',
        'properties': {'consents': counts,
                       'retailers': {'type': 'object', 'properties': {'total': {'type': 'integer'}}}}}


def _patch_invalid_error(spec):
    _schemas(spec)['InvalidErrorFor422']['properties']['errors'] = {
        'type': 'array', 'items': {'$ref': '#/components/schemas/InvalidError'}}


def _patch_error_value_location(spec):
    for name in ('InvalidError',):
        props = _schemas(spec)[name]['properties']
        props['value'] = {'description': 'Rejected value (any JSON type).'}
        props['location'] = {'type': 'array', 'items': {'oneOf': [{'type': 'string'}, {'type': 'integer'}]}}
    items = _schemas(spec)['ConsentError']['properties']['errors']['items']['properties']
    items['value'] = {'description': 'Rejected value (any JSON type).'}
    items['location'] = {'type': 'array', 'items': {'oneOf': [{'type': 'string'}, {'type': 'integer'}]}}
    items['index'] = {'type': 'integer'}


def _patch_access_remove(spec):
    schema = _op(spec, _SPS + '/consents/retailers/access/remove', 'post')['requestBody']['content'][
        'application/json']['schema']
    schema['properties']['retailerAccess']['items'] = {'type': 'integer'}


def _patch_subscription(spec):
    schema = _json_schema(spec, '/sps/{iysCode}/subscription', 'get', '200')['schema']
    schema['required'] = [r for r in schema['required'] if r != 'subsciprtionId']
    schema['properties']['subscriptionId'] = {'type': 'string', 'description': 'Subscription id.'}


def _patch_token_429(spec):
    _op(spec, '/oauth2/token', 'post')['responses']['429'] = {
        'description': 'H084: hourly token request limit reached (SPEC text).',
        'content': {'application/json': {'schema': {'$ref': '#/components/schemas/ErrorsArrayCode'}}}}


def _patch_delete_retailer(spec):
    content = _op(spec, _SPS + '/retailers/{retailerCode}', 'delete')['responses']['200']['content']['text/plain']
    content['schema'] = {'type': 'string'}


def _patch_empty_204(spec):
    for path in spec['paths'].values():
        for op in path.values():
            if isinstance(op, dict) and '204' in op.get('responses', {}):
                op['responses']['204'].pop('content', None)


def _patch_retailer_list(spec):
    _schemas(spec)['RetailerSearchwithcurrentPAge']['properties']['list'] = {
        'type': 'array', 'items': {'$ref': '#/components/schemas/RetailerSearchList'}}


#: Every correction applied to the official document, in order.
ERRATA = (
    Erratum('iys-date-time',
            'The document types consentDate/creationDate as ISO date-time (and the pull items as date) while the '
            'same document, the old portal and İYS itself use "YYYY-MM-DD HH:mm:ss" in Turkish time.',
            _patch_dates),
    Erratum('empty-consent-date-in-answers',
            'A TACIR record first recorded without consentDate is reported with an empty consentDate (documented '
            'for the pull; the status answer does the same). Only these answers may carry the empty value: '
            'request bodies keep the strict date pattern.', _patch_empty_consent_date_in_answers),
    Erratum('consent-required-for-tacir',
            'Consent lists source and consentDate as required, but the text (and H462/H463) make them optional on '
            'the first TACIR record; they stay required for BIREYSEL (anyOf, as OpenAPI 3.0 has no if/then).',
            _patch_consent_required),
    Erratum('consent-retailer-code-range',
            'Consent.retailerCode has "maximum: 8", a misreading of "8 digits"; retailer codes are 8-digit '
            'integers.', _patch_retailer_code),
    Erratum('brands-array',
            'The brand list answer is typed as one object with BrandStats as an array, but its own example (and '
            'every client) shows an array of brands whose stats are an object of counters.', _patch_brands),
    Erratum('invalid-error-array',
            'InvalidErrorFor422 types "errors" as a single object; every example of it is an array.',
            _patch_invalid_error),
    Erratum('error-value-and-location',
            'Error items type "value" as string and "location" items as strings, but the examples carry numbers, '
            'lists and objects as values and list indexes (["recipients", 3]) in locations; batch validation '
            'errors carry "index".', _patch_error_value_location),
    Erratum('access-remove-integer-codes',
            'The access-remove request types retailerAccess items as strings; its example and the sibling '
            'endpoints use integer retailer codes.', _patch_access_remove),
    Erratum('subscription-id-spelling',
            'The subscription answer requires the misspelt "subsciprtionId" while its examples use '
            '"subscipritionId" and "subscriptionId"; the reference names the field subscriptionId.',
            _patch_subscription),
    Erratum('token-429',
            'The token operation documents H084 (429, hourly token limit) in its text but lists no 429 answer.',
            _patch_token_429),
    Erratum('delete-retailer-text',
            'The retailer deletion answer is text/plain (example "Başarı") but is typed as a JSON object.',
            _patch_delete_retailer),
    Erratum('no-content-204',
            '204 answers are declared with a JSON body schema; a 204 has no body.', _patch_empty_204),
    Erratum('retailer-list-array',
            'The retailer listing types "list" as a single retailer object; its examples (and the pagination around '
            'it) show an array of retailers.', _patch_retailer_list),
)


def find_spec_path(path: str | None = None) -> str | None:
    """Locate the official document: *path*, ``$IYS_OPENAPI_PATH``, or the copy the library ships in
    ``iyslib/spec/`` (the contract the code is tested against lives in the repository, unchanged: the
    corrections are the :data:`ERRATA` above).  Returns ``None`` when it cannot be found."""
    here = os.path.dirname(os.path.abspath(__file__))
    candidates = [path, os.environ.get('IYS_OPENAPI_PATH'), os.path.join(here, 'spec', SPEC_FILENAME)]
    for cand in candidates:
        if cand and os.path.isfile(cand):
            return os.path.abspath(cand)
    return None


def load_spec(path: str | None = None, errata: bool = True) -> dict:
    """The official document as a dict, corrected with :data:`ERRATA` unless ``errata=False``."""
    found = find_spec_path(path)
    if not found:
        raise FileNotFoundError(f'{SPEC_FILENAME} not found (set IYS_OPENAPI_PATH)')
    with open(found, encoding='utf-8') as fh:
        spec = json.load(fh)
    return apply_errata(spec) if errata else spec


def apply_errata(spec: dict) -> dict:
    """Return a corrected deep copy of *spec*."""
    spec = copy.deepcopy(spec)
    for erratum in ERRATA:
        erratum.patch(spec)
    return spec


def load_openapi(path: str | None = None):
    """An ``openapi_core.OpenAPI`` validator on the corrected document (spec validation off)."""
    from openapi_core import Config, OpenAPI  # noqa: PLC0415 - test-only dependency, imported on demand
    return OpenAPI.from_dict(load_spec(path), config=Config(spec_validator_cls=None))


def operation_index(spec: dict) -> list:
    """``[(method, regex, path_template, operationId)]`` for matching concrete request paths."""
    out = []
    for template, item in spec['paths'].items():
        rx = '^' + re.sub(r'\\\{[^}]+\\\}', '[^/]+', re.escape(template)) + '/?$'
        for method, op in item.items():
            if isinstance(op, dict) and 'responses' in op:
                out.append((method.upper(), re.compile(rx), template, op.get('operationId')))
    # more literal segments first, so /consents/status wins over /consents/{recipientType}/status/{type}
    out.sort(key=lambda t: (-t[2].count('/'), t[2].count('{')))
    return out


def find_operation(index: list, method: str, path: str):
    """``(path_template, operationId)`` of the operation serving *method* *path*, or ``None``."""
    for m, rx, template, op_id in index:
        if m == method.upper() and rx.match(path):
            return template, op_id
    return None
