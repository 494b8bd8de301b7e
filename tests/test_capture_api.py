# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
"""The consent capture API over real HTTP, with a real Odoo API key; requests and answers are
validated against the shipped OpenAPI document (static/api/iys-capture-openapi.json)."""
import json
import time
from datetime import timedelta
from unittest.mock import patch
from urllib.parse import urlsplit

from odoo import fields
from odoo.tests import HttpCase, new_test_user, tagged
from odoo.tools import mute_logger
from odoo.tools.misc import file_path

from ..iyslib import dates
from .common import IysCommon

try:
    from openapi_core import OpenAPI
    from openapi_core.datatypes import RequestParameters
    from werkzeug.datastructures import Headers, ImmutableMultiDict
except ImportError:  # a test dependency (scripts/requirements-dev.txt)
    OpenAPI = None

URL = "/iys/api/v1/consents"
STATUS_URL = "/iys/api/v1/consents/status"


class _Req:
    """openapi-core's request protocol over a request we send."""

    def __init__(self, path, body, headers):
        self.host_url = "http://localhost"
        self.path = path
        self.full_url_pattern = self.host_url + path
        self.method = "post"
        self.body = body if isinstance(body, bytes) else body.encode()
        self.content_type = "application/json"
        self.parameters = RequestParameters(query=ImmutableMultiDict(), header=Headers(headers),
                                            cookie=ImmutableMultiDict())


class _Resp:
    def __init__(self, response):
        self.data = response.content
        self.status_code = response.status_code
        self.content_type = (response.headers.get("Content-Type") or "").split(";")[0].strip()
        self.headers = Headers(dict(response.headers))


@tagged("post_install", "-at_install")
class TestCaptureApi(HttpCase, IysCommon):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_b = cls.env["res.company"].create({"name": "İYS Capture Company B"})
        cls.account_b = cls.env["iys.account"].create({
            "name": "B İYS", "iys_code": "900009", "environment": "simulator", "company_id": cls.company_b.id,
            "username": "b", "password": "b"})
        cls.brand_other = cls.env["iys.brand"].create({
            "name": "Brand of B", "code": "900077", "account_id": cls.account_b.id})
        cls.capture = new_test_user(cls.env, login="iys_t_capture",
                                    groups="base.group_user,l10n_tr_iys.group_iys_capture")
        cls.outsider = new_test_user(cls.env, login="iys_t_capture_no", groups="base.group_user")
        cls.key = cls.env["res.users.apikeys"].with_user(cls.capture).sudo()._generate(None, "capture", None)
        cls.outsider_key = cls.env["res.users.apikeys"].with_user(cls.outsider).sudo()._generate(None, "x", None)
        cls.text = cls.env["iys.consent.text"].create({
            "name": "ETK", "brand_id": cls.brand.id, "channel": "MESAJ", "lang": "en_US", "version": "ETK-1",
            "body": "<p>I agree</p>", "state": "active"})
        cls.openapi = None
        if OpenAPI is not None:
            with open(file_path("l10n_tr_iys/static/api/iys-capture-openapi.json"), "rb") as spec:
                cls.openapi = OpenAPI.from_dict(json.load(spec))

    # ------------------------------------------------------------------------------------------
    def item(self, n=1, **over):
        date = fields.Datetime.now() - timedelta(hours=1)
        item = {
            "brand": "900001", "type": "MESAJ", "recipientType": "BIREYSEL", "recipient": f"0532 1{n:06d}",
            "status": "ONAY", "consentDate": date.strftime("%Y-%m-%dT%H:%M:%SZ"), "source": "HS_WEB",
        }
        item.update(over)
        return item

    def post(self, data, key=None, url=URL, raw=None, headers=None, validate=True):
        body = raw if raw is not None else json.dumps(data)
        sent = {"Content-Type": "application/json", "Authorization": f"Bearer {key or self.key}"}
        sent.update(headers or {})
        sent = {k: v for k, v in sent.items() if v is not None}
        self.env.flush_all()
        with mute_logger("odoo.http", "odoo.addons.l10n_tr_iys.controllers.iys_capture_api"):
            response = self.url_open(url, data=body, headers=sent)
        self.env.invalidate_all()
        if validate and self.openapi is not None:
            request = _Req(url, body, sent)
            if 200 <= response.status_code < 300:
                self.openapi.validate_request(request)
            self.openapi.validate_response(request, _Resp(response))
        return response

    def events(self):
        return self.env["iys.consent.event"].search_count([("origin", "=", "api"), ("user_id", "=", self.capture.id)])

    def test_confirm_true_asks_the_person_and_records_only_on_confirmation(self):
        """Double opt-in through the API: nothing in the ledger until the person clicks the link
        sent by e-mail; then the ONAY is recorded with origin api and the confirmation's proof."""
        item = self.item(20, type="EPOSTA", recipient="Onay.Bekleyen@Example.com", confirm=True,
                         idempotencyKey="confirm-20", evidence={"ip": "203.0.113.9", "userAgent": "Shop/1.0"})
        token = "Api-Confirm-Token-0123456789abcdefghijklmnop"
        with patch("odoo.addons.l10n_tr_iys.models.iys_consent_request.secrets.token_urlsafe", return_value=token):
            response = self.post({"consents": [item]})
        self.assertEqual(response.status_code, 200, response.text)
        body = response.json()
        result = body["results"][0]
        self.assertEqual((result["status"], body["to_confirm"], body["recorded"]), ("to_confirm", 1, 0))
        request = self.env["iys.consent.request"].browse(result["requestId"])
        self.assertEqual((request.state, request.origin, request.method, request.address),
                         ("sent", "api", "email_link", "onay.bekleyen@example.com"))
        self.assertEqual(request.request_ip, "203.0.113.9")
        self.assertEqual(self.events(), 0, "nothing is recorded before the person confirms")
        self.assertFalse(self.env["iys.consent"].search([("address", "=", "onay.bekleyen@example.com")]))
        # a retry with the same key sends no second request
        again = self.post({"consents": [item]}).json()["results"][0]
        self.assertEqual((again["status"], again["requestId"], again.get("replayed")),
                         ("to_confirm", request.id, True))
        self.assertEqual(self.env["iys.consent.request"].search_count(
            [("address", "=", "onay.bekleyen@example.com")]), 1)
        confirmed = self.env["iys.consent.request"]._iys_confirm_token(token, ip_address="198.51.100.7",
                                                                       user_agent="Firefox")
        self.assertEqual(confirmed, request)
        event = request.event_id
        self.assertEqual((event.origin, event.new_status, event.channel, event.ip_address),
                         ("api", "ONAY", "EPOSTA", "198.51.100.7"))
        self.assertEqual(event.consent_id.status, "ONAY")

    # ------------------------------------------------------------------------------------------
    # Authentication, group, company
    # ------------------------------------------------------------------------------------------
    def test_no_key_or_wrong_key_is_401_with_www_authenticate(self):
        for headers in ({"Authorization": None}, {"Authorization": "Bearer nope"},
                        {"Authorization": "Basic dXNlcjpwYXNz"}):
            response = self.post({"consents": [self.item()]}, headers=headers)
            self.assertEqual(response.status_code, 401)
            self.assertIn("Bearer", response.headers["WWW-Authenticate"])
            self.assertEqual(response.json()["error"]["code"], "unauthorized")
        self.assertEqual(self.events(), 0)

    def test_user_outside_group_is_403(self):
        response = self.post({"consents": [self.item()]}, key=self.outsider_key)
        self.assertEqual(response.status_code, 403)
        self.assertEqual(response.json()["error"]["code"], "forbidden")
        response = self.post({"brand": "900001", "type": "MESAJ", "recipients": ["05321000001"]},
                             key=self.outsider_key, url=STATUS_URL)
        self.assertEqual(response.status_code, 403)

    def test_brand_of_another_company_is_403_and_nothing_recorded(self):
        response = self.post({"consents": [self.item(1), self.item(2, brand="900077")]})
        self.assertEqual(response.status_code, 403)
        self.assertEqual(response.json()["error"]["code"], "brand_forbidden")
        self.assertEqual(self.events(), 0)
        # once the user may work for company B, the brand is theirs
        self.capture.sudo().company_ids = [(4, self.company_b.id)]
        response = self.post({"consents": [self.item(2, brand=self.brand_other.id)]})
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.json()["results"][0]["status"], "recorded", response.text)

    def test_unknown_brand_is_400_and_nothing_recorded(self):
        response = self.post({"consents": [self.item(1), self.item(2, brand="123")]})
        self.assertEqual(response.status_code, 400)
        self.assertEqual(response.json()["error"]["code"], "unknown_brand")
        self.assertEqual(self.events(), 0)

    # ------------------------------------------------------------------------------------------
    # Recording
    # ------------------------------------------------------------------------------------------
    def test_records_through_the_ledger_with_evidence(self):
        item = self.item(1, consentTextVersion="ETK-1", evidence={
            "ip": "203.0.113.7", "userAgent": "Mozilla/5.0", "page": "https://shop.example.com/signup",
            "note": "newsletter box"})
        response = self.post({"consents": [item, self.item(2, brand=self.brand.id, type="EPOSTA",
                                                              recipient="Ali@Example.com")]})
        self.assertEqual(response.status_code, 200, response.text)
        body = response.json()
        self.assertEqual(body["recorded"], 2)
        first = body["results"][0]
        self.assertEqual((first["index"], first["status"], first["syncState"]), (0, "recorded", "pending"))
        event = self.env["iys.consent.event"].browse(first["eventId"])
        self.assertEqual(event.consent_id.id, first["consentId"])
        self.assertEqual(event.origin, "api")
        self.assertEqual(event.user_id, self.capture)
        self.assertEqual(event.address, "+905321000001")
        self.assertEqual(event.ip_address, "203.0.113.7")
        self.assertEqual(event.user_agent, "Mozilla/5.0")
        self.assertIn("https://shop.example.com/signup", event.evidence_note)
        self.assertIn("newsletter box", event.evidence_note)
        self.assertEqual(event.consent_text_id, self.text)
        self.assertEqual(event.notice_version, "ETK-1")
        self.assertTrue(self.env["iys.outbox"].search([("event_id", "=", event.id)]))
        second = self.env["iys.consent"].browse(body["results"][1]["consentId"])
        self.assertEqual((second.channel, second.address), ("EPOSTA", "ali@example.com"))

    def test_iys_date_format_is_turkish_time(self):
        local = dates.to_local(fields.Datetime.now() - timedelta(hours=2)).replace(microsecond=0)
        response = self.post({"consents": [self.item(1, consentDate=local.strftime("%Y-%m-%d %H:%M:%S"))]})
        consent = self.env["iys.consent"].browse(response.json()["results"][0]["consentId"])
        self.assertEqual(consent.consent_date, dates.from_local(local))

    def test_bad_items_fail_alone(self):
        future = (fields.Datetime.now() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
        items = [
            self.item(1),
            self.item(2, recipient="12"),  # not a phone number
            self.item(3, consentDate=future),
            self.item(4, source="HS_NOWHERE"),
            self.item(5, consentDate="2026-02-30 10:00:00"),  # not a date (H157)
            self.item(6, consentDate="2026-01-31T10:00:00"),  # no zone
            self.item(7, consentTextVersion="NOPE"),
            self.item(8, confirm=True, status="RET"),
            self.item(9, status="RET"),
        ]
        response = self.post({"consents": items})
        self.assertEqual(response.status_code, 200, response.text)
        results = response.json()["results"]
        self.assertEqual([r["index"] for r in results], list(range(9)))
        self.assertEqual([r["status"] for r in results],
                         ["recorded"] + ["error"] * 7 + ["recorded"])
        codes = [r["error"]["code"] for r in results[1:8]]
        for code in codes[:3]:
            self.assertRegex(code, r"^H\d{3}$")
        self.assertEqual(codes[3:], ["H157", "invalid_date", "unknown_text_version", "confirm_only_consent"])
        self.assertEqual(self.events(), 2)

    def test_same_movement_again_is_unchanged(self):
        item = self.item(1)
        self.post({"consents": [item]})
        response = self.post({"consents": [item]})
        self.assertEqual(response.json()["results"][0]["status"], "unchanged")
        self.assertEqual(self.events(), 1)

    # ------------------------------------------------------------------------------------------
    # Malformed calls: 4xx and nothing recorded
    # ------------------------------------------------------------------------------------------
    def test_malformed_bodies_record_nothing(self):
        good = self.item(1)
        cases = [
            ("{not json", 400, "malformed_json"),
            (json.dumps([good]), 400, "invalid_request"),
            (json.dumps({"consents": good}), 400, "invalid_request"),
            (json.dumps({"consents": []}), 400, "empty_request"),
            (json.dumps({"consents": [good, "x"]}), 400, "invalid_request"),
            (json.dumps({"consents": [good, dict(good, status="MAYBE")]}), 400, "invalid_request"),
            (json.dumps({"consents": [good, dict(good, recipient=5321000001)]}), 400, "invalid_request"),
            (json.dumps({"consents": [good, dict(good, brand=True)]}), 400, "invalid_request"),
            (json.dumps({"consents": [good, dict(good, evidence="x")]}), 400, "invalid_request"),
            (json.dumps({"consents": [good, dict(good, colour="red")]}), 400, "invalid_request"),
            (json.dumps({"consents": [good, {k: v for k, v in good.items() if k != "source"}]}), 400,
             "invalid_request"),
            (json.dumps({"consents": [good] * 1001}), 413, "too_many_items"),
            ("[" * 5000 + "]" * 5000, 400, "malformed_json"),
        ]
        for raw, status, code in cases:
            response = self.post(None, raw=raw)
            self.assertEqual(response.status_code, status, raw[:60])
            self.assertEqual(response.json()["error"]["code"], code, raw[:60])
        where = self.post(None, raw=json.dumps({"consents": [good, dict(good, status="MAYBE")]})).json()["error"]
        self.assertEqual(where["field"], "consents[1].status")
        response = self.post({"consents": [good]}, headers={"Content-Type": "text/plain"})
        self.assertEqual(response.status_code, 415)
        self.assertEqual(self.events(), 0)

    def test_oversized_body_is_413(self):
        item = self.item(1, evidence={"note": "x" * 4000})
        raw = json.dumps({"consents": [item] * 600})  # ~2.5 MB
        response = self.post(None, raw=raw)
        self.assertEqual(response.status_code, 413)
        self.assertEqual(response.json()["error"]["code"], "body_too_large")
        self.assertEqual(self.events(), 0)

    def test_get_is_refused(self):
        response = self.url_open(URL, headers={"Authorization": f"Bearer {self.key}"})
        self.assertEqual(response.status_code, 405)

    # ------------------------------------------------------------------------------------------
    # Idempotency
    # ------------------------------------------------------------------------------------------
    def test_idempotent_retry_records_nothing_twice(self):
        items = [self.item(1, idempotencyKey="row-1"), self.item(2, idempotencyKey="row-2", recipient="12")]
        first = self.post({"consents": items}).json()["results"]
        self.assertEqual([r["status"] for r in first], ["recorded", "error"])
        again = self.post({"consents": items}).json()["results"]
        self.assertEqual(self.events(), 1)
        self.assertTrue(again[0]["replayed"])
        self.assertEqual((again[0]["status"], again[0]["eventId"]), ("recorded", first[0]["eventId"]))
        # a refused item does not keep its key: corrected, it is recorded under the same key
        self.assertNotIn("replayed", again[1])
        fixed = self.post({"consents": [self.item(2, idempotencyKey="row-2")]}).json()["results"][0]
        self.assertEqual(fixed["status"], "recorded")
        self.assertEqual(self.events(), 2)
        key = self.env["iys.api.idempotency"].with_user(self.iys_manager).search([("key", "=", "row-1")])
        self.assertEqual((key.user_id, key.event_id.id, key.company_id), (self.capture, first[0]["eventId"],
                                                                          self.brand.company_id))
        self.assertEqual(json.loads(key.result)["eventId"], first[0]["eventId"])

    def test_same_key_other_item_is_a_conflict(self):
        self.post({"consents": [self.item(1, idempotencyKey="k")]})
        result = self.post({"consents": [self.item(1, idempotencyKey="k", status="RET")]}).json()["results"][0]
        self.assertEqual(result["error"]["code"], "idempotency_conflict")
        # within one call: the first owns the key, a copy gets its answer, another item a conflict
        results = self.post({"consents": [self.item(3, idempotencyKey="z"), self.item(3, idempotencyKey="z"),
                                          self.item(4, idempotencyKey="z")]}).json()["results"]
        self.assertEqual([r["status"] for r in results], ["recorded", "recorded", "error"])
        self.assertEqual(results[0]["eventId"], results[1]["eventId"])
        self.assertEqual(results[2]["error"]["code"], "idempotency_conflict")
        self.assertEqual(self.events(), 2)

    def test_keys_are_per_user(self):
        other = new_test_user(self.env, login="iys_t_capture2", groups="base.group_user,l10n_tr_iys.group_iys_capture")
        other_key = self.env["res.users.apikeys"].with_user(other).sudo()._generate(None, "c2", None)
        self.post({"consents": [self.item(1, idempotencyKey="same")]})
        result = self.post({"consents": [self.item(2, idempotencyKey="same")]}, key=other_key).json()["results"][0]
        self.assertEqual(result["status"], "recorded")

    def test_cleanup_forgets_old_keys(self):
        self.post({"consents": [self.item(1, idempotencyKey="old"), self.item(2, idempotencyKey="new")]})
        Key = self.env["iys.api.idempotency"].sudo()
        self.env.cr.execute("UPDATE iys_api_idempotency SET create_date = now() - interval '40 days' WHERE key = 'old'")
        self.assertEqual(Key._cron_iys_cleanup(), 1)
        self.assertEqual(Key.search([("user_id", "=", self.capture.id)]).mapped("key"), ["new"])

    # ------------------------------------------------------------------------------------------
    # 1000 items, status read
    # ------------------------------------------------------------------------------------------
    def test_thousand_items_in_one_call(self):
        items = [self.item(n, idempotencyKey=f"bulk-{n}") for n in range(1000)]
        start = time.perf_counter()
        response = self.post({"consents": items})
        elapsed = time.perf_counter() - start
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.json()["recorded"], 1000)
        self.assertEqual(self.events(), 1000)
        self.assertLess(elapsed, 20)  # the benchmark measures it properly (bench/bench_capture_api.py)
        response = self.post({"consents": items})
        self.assertEqual(self.events(), 1000)
        self.assertTrue(all(r.get("replayed") for r in response.json()["results"]))

    def test_status_read_through_the_policy(self):
        self.post({"consents": [self.item(1), self.item(2, recipientType="TACIR", status="RET"),
                                self.item(3, recipientType="TACIR")]})
        self.env["iys.consent"].search([("address", "=", "+905321000001")]).company_id.iys_pending_policy = "block"
        response = self.post({"brand": "900001", "type": "MESAJ", "recipients": [
            "0532 100 00 01", {"recipient": "+905321000002", "recipientType": "TACIR"},
            {"recipient": "05321000003", "recipientType": "TACIR"}, "05321000004", "12"]}, url=STATUS_URL)
        self.assertEqual(response.status_code, 200, response.text)
        results = response.json()["results"]
        self.assertEqual([r.get("decision") for r in results],
                         ["unconfirmed", "refused", "allowed", "no_consent", None])
        self.assertEqual([r.get("maySend") for r in results], [False, False, True, False, None])
        self.assertEqual((results[0]["status"], results[0]["syncState"]), ("ONAY", "pending"))
        self.assertIsNone(results[3]["status"])
        self.assertRegex(results[4]["error"]["code"], r"^H\d{3}$")
        # the same answer as the gate's own lookup
        gate = self.env["iys.consent"]._iys_gate_decisions(self.brand, "MESAJ", [("+905321000001", "BIREYSEL")])
        self.assertEqual(gate[("+905321000001", "BIREYSEL")], results[0]["decision"])

    def test_status_read_of_a_thousand_and_bad_envelopes(self):
        recipients = [f"0532 1{n:06d}" for n in range(1000)]
        response = self.post({"brand": "900001", "type": "MESAJ", "recipients": recipients}, url=STATUS_URL)
        self.assertEqual(len(response.json()["results"]), 1000)
        for data, status in (({"brand": "900001", "type": "MESAJ", "recipients": recipients + ["x"]}, 413),
                             ({"brand": "900001", "type": "FAX", "recipients": ["x"]}, 400),
                             ({"brand": "900077", "type": "MESAJ", "recipients": ["05321000001"]}, 403)):
            self.assertEqual(self.post(data, url=STATUS_URL).status_code, status)

    def test_openapi_document_is_served(self):
        response = self.url_open("/iys/api/v1/openapi.json")
        self.assertEqual(response.status_code, 200)
        spec = response.json()
        self.assertIn("/iys/api/v1/consents", spec["paths"])
        self.assertEqual(urlsplit(spec["servers"][0]["url"]).path, "/")
