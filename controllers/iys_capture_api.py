# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
"""The consent capture API (JSON over HTTP) for other systems: a website, a shop, a call centre.

* ``POST /iys/api/v1/consents``: record up to 1000 consent movements (ONAY/RET) in one call;
* ``POST /iys/api/v1/consents/status``: the ledger's status and the send gate's decision for up to
  1000 addresses of one brand and channel;
* ``GET /iys/api/v1/openapi.json``: the contract (``static/api/iys-capture-openapi.json``).

Authenticated with an Odoo API key (``Authorization: Bearer <key>``) of a user of the group
İYS / Capture (API). The routes check the key themselves (``auth="none"``) so that every refusal,
401 included, is JSON with a machine-readable code in both 18.0 trees (``auth="bearer"`` answers a
401 without JSON). The body holds personal data and is never logged; neither is the key.
"""
import json
import logging
import re

from odoo import http
from odoo.http import request
from odoo.tools.misc import file_open

from ..models.iys_capture_api import MAX_BODY, ApiError
from .iys_push import _read_bounded

_logger = logging.getLogger(__name__)

_BEARER_RE = re.compile(r"^bearer\s+(\S+)\s*$", re.IGNORECASE)
_SPEC_PATH = "l10n_tr_iys/static/api/iys-capture-openapi.json"
#: where the body read once is kept: Odoo replays a request after a serialisation failure, and the
#: input stream cannot be read twice
_BODY_KEY = "l10n_tr_iys.capture_body"


def _json(body, status=200, headers=None):
    return request.make_json_response(body, status=status, headers=headers)


def _error(status, code, message, headers=None, **details):
    return _json({"error": {"code": code, "message": message, **details}}, status=status, headers=headers)


class IysCaptureApiController(http.Controller):

    def _authenticate(self):
        """Switch the request to the API key's user; None, or the error answer (401)."""
        if not request.db:
            return _error(404, "no_database", "No database is selected for this host.")
        header = request.httprequest.headers.get("Authorization") or ""
        match = _BEARER_RE.match(header)
        uid = None
        if match:
            uid = request.env["res.users.apikeys"].sudo()._check_credentials(scope="rpc", key=match.group(1))
        if not uid:
            _logger.warning("İYS capture API: call refused from %s (%s API key)", request.httprequest.remote_addr,
                            "invalid" if match else "no")
            env = request.env
            message = (env._("Invalid or expired API key.") if match
                       else env._("Authenticate with an Odoo API key: Authorization: Bearer <key>."))
            return _error(401, "unauthorized", message,
                          headers=[("WWW-Authenticate", 'Bearer realm="iys-capture", charset="UTF-8"')])
        request.update_env(user=uid)
        request.update_context(lang=request.env.user.lang or "en_US")
        return None

    def _read_json(self):
        """The decoded JSON body, or the error answer (413, 415, 400)."""
        httprequest = request.httprequest
        environ = httprequest.environ
        if _BODY_KEY not in environ:
            if httprequest.mimetype != "application/json":
                return None, _error(415, "unsupported_media_type", request.env._(
                    "Send the body as JSON (Content-Type: application/json)."))
            if (httprequest.content_length or 0) > MAX_BODY:
                environ[_BODY_KEY] = None
            else:
                body = _read_bounded(httprequest, MAX_BODY)
                environ[_BODY_KEY] = body if len(body) <= MAX_BODY else None
        body = environ[_BODY_KEY]
        if body is None:
            return None, _error(413, "body_too_large", request.env._(
                "The body is larger than %(size)s MB: send fewer items per call.", size=MAX_BODY // (1024 * 1024)))
        try:
            return json.loads(body), None
        except (ValueError, UnicodeDecodeError, RecursionError):
            return None, _error(400, "malformed_json", request.env._("The body is not valid JSON."))

    def _serve(self, method):
        error = self._authenticate()
        if error:
            return error
        data, error = self._read_json()
        if error:
            return error
        try:
            answer = method(request.env["iys.capture.api"], data)
        except ApiError as exc:
            return _json(exc.body(), status=exc.status)
        return _json(answer)

    @http.route("/iys/api/v1/consents", type="http", auth="none", methods=["POST"], csrf=False, readonly=False,
                save_session=False)
    def iys_api_consents(self, **kwargs):
        return self._serve(lambda api, data: api._iys_api_record(data))

    @http.route("/iys/api/v1/consents/status", type="http", auth="none", methods=["POST"], csrf=False,
                readonly=True, save_session=False)
    def iys_api_status(self, **kwargs):
        return self._serve(lambda api, data: api._iys_api_status(data))

    @http.route("/iys/api/v1/openapi.json", type="http", auth="none", methods=["GET"], readonly=True,
                save_session=False)
    def iys_api_openapi(self, **kwargs):
        with file_open(_SPEC_PATH, "rb") as spec:
            return request.make_response(spec.read(), headers=[("Content-Type", "application/json")])
