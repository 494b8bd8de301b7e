# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
"""İYS push notifications (İzin Hareketi İletimi): İYS POSTs citizen movements here.

İYS calls ``POST /l10n_tr_iys/push/<account id>`` with HTTP Basic auth (the credentials the
addon generated and registered for the account) and a JSON body ``{"list": [movement, …]}``.
Anything else is refused: 401 without valid credentials, 415 for a body that is not declared JSON,
413 for a body over 10 MB (also when it comes chunked, without a length), 400 for a body that is
not that JSON. The answer counts every item: applied, ignored, invalid or left to the pull.
The answer must come within 5 seconds, so the movements are applied for a bounded time and the
rest is left to the pull (the source of truth; both de-duplicate by transaction id).
The body holds personal data and is never logged.
"""
import base64
import binascii
import hmac
import json
import logging

from odoo import SUPERUSER_ID, http
from odoo.http import request

_logger = logging.getLogger(__name__)

#: compared when the account does not exist, so that the answer takes the same time
_DUMMY = "x" * 43
#: İYS sends lists of movements; anything much larger is not a push notification
MAX_BODY = 10 * 1024 * 1024


def _basic_credentials(httprequest):
    """(user, password) from an ``Authorization: Basic …`` header, or (None, None)."""
    header = httprequest.headers.get("Authorization") or ""
    scheme, _sep, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None, None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None, None
    user, sep, password = decoded.partition(":")
    if not sep:
        return None, None
    return user, password


def _read_bounded(httprequest, limit):
    """The request body, read up to *limit* + 1 bytes (a longer body is not read further).

    A chunked body has no Content-Length to check first, and werkzeug reads such a body to its end
    in ``get_data()``: read the input stream (of the werkzeug request Odoo wraps) piece by piece.
    """
    wrapped = getattr(httprequest, "_HTTPRequest__wrapped", httprequest)
    stream = wrapped.stream
    parts, size = [], 0
    while size <= limit:
        part = stream.read(min(65536, limit + 1 - size))
        if not part:
            break
        parts.append(part)
        size += len(part)
    return b"".join(parts)


def _same(given, expected):
    return hmac.compare_digest((given or "").encode("utf-8"), (expected or _DUMMY).encode("utf-8"))


class IysPushController(http.Controller):
    @http.route(
        "/l10n_tr_iys/push/<int:account_id>",
        type="http", auth="none", methods=["POST"], csrf=False, readonly=False, save_session=False,
    )
    def iys_push(self, account_id, **kwargs):
        env = request.env(user=SUPERUSER_ID, su=True)
        account = env["iys.account"].browse(account_id).exists()
        user, password = _basic_credentials(request.httprequest)
        expected_user = account.push_username if account else None
        # The password is not stored: it is derived from the user name and the database secret.
        expected_password = account._iys_push_password(expected_user) if expected_user else None
        # Both comparisons always run (no short cut), in constant time.
        user_ok = _same(user, expected_user)
        password_ok = _same(password, expected_password)
        if not (account and account.active and expected_password and user_ok and password_ok):
            _logger.warning("İYS push refused for account %s from %s: missing or wrong credentials",
                            account_id, request.httprequest.remote_addr)
            return request.make_json_response(
                {"error": "unauthorized"}, status=401,
                headers=[("WWW-Authenticate", 'Basic realm="iys-push", charset="UTF-8"')],
            )
        if request.httprequest.mimetype != "application/json":
            return request.make_json_response({"error": "unsupported media type"}, status=415)
        if (request.httprequest.content_length or 0) > MAX_BODY:
            return request.make_json_response({"error": "too large"}, status=413)
        # Read at most one byte past the cap: a chunked body has no Content-Length to check first.
        body = _read_bounded(request.httprequest, MAX_BODY)
        if len(body) > MAX_BODY:
            return request.make_json_response({"error": "too large"}, status=413)
        try:
            data = json.loads(body or b"")
        except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nesting past Python's limit
            data = None
        items = data.get("list") if isinstance(data, dict) else None
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            _logger.warning("İYS push for account %s: the body is not {\"list\": [...]}", account_id)
            return request.make_json_response({"error": "bad request"}, status=400)
        result = account.with_company(account.company_id)._iys_receive_push(items)
        return request.make_json_response(result, status=200)
