# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
"""The consent capture API's work, behind the HTTP layer (controllers/iys_capture_api.py).

The controller authenticates the caller (an Odoo API key), reads the body and hands the decoded
JSON here; this model checks the whole envelope first (anything wrong in it: a 4xx answer and
nothing recorded), then records the items through the ledger's bulk way in
(``iys.consent._iys_record_movements_bulk``, origin ``api``) and answers item by item.

The contract is ``static/api/iys-capture-openapi.json``; the tests validate requests and answers
against it.
"""
import datetime as dt
import hashlib
import json
import logging
import re

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.tools import SQL

from ..iyslib import const, dates
from ..iyslib.errors import IysValidationError
from ..iyslib.masking import mask_recipient, mask_text
from ..iyslib.normalize import normalize_recipient
from ..iyslib.rules import validate_fields
from . import iys_policy
from .iys_consent import iys_error_text

_logger = logging.getLogger(__name__)

#: items (movements, or addresses to read) per call
MAX_ITEMS = 1000
#: largest body accepted (1000 items with long evidence fit in well under 2 MB)
MAX_BODY = 2 * 1024 * 1024
KEY_MAX = 200
TEXT_MAX = {"recipient": 320, "source": 40, "consentTextVersion": 100, "language": 16, "idempotencyKey": KEY_MAX,
            "ip": 64, "userAgent": 1024, "page": 2048, "note": 4000}
ITEM_FIELDS = {"brand", "type", "recipientType", "recipient", "status", "consentDate", "source", "retailerCode",
               "evidence", "consentTextVersion", "language", "idempotencyKey", "confirm"}
EVIDENCE_FIELDS = ("ip", "userAgent", "page", "note")
STATUS_FIELDS = {"brand", "type", "recipientType", "recipients", "retailerCode"}
_IYS_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")


class ApiError(Exception):
    """A refusal of the whole call: HTTP *status* and a machine-readable *code*."""

    def __init__(self, status, code, message, **details):
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details

    def body(self):
        return {"error": {"code": self.code, "message": self.message, **self.details}}


class ItemError(Exception):
    """A refusal of one item (the others go on)."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code, self.message = code, message


def _iso(value):
    """A naive UTC datetime as ISO 8601 with zone (``2026-12-05T08:30:00Z``), or None."""
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def fingerprint(item):
    """SHA-256 of an item as received (keys sorted), to tell a retry from another item."""
    return hashlib.sha256(json.dumps(item, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
                          .encode("utf-8")).hexdigest()


class IysCaptureApi(models.AbstractModel):
    _name = "iys.capture.api"
    _description = "İYS Capture API"

    # ------------------------------------------------------------------------------------------
    # Who may call
    # ------------------------------------------------------------------------------------------
    @api.model
    def _iys_api_check_user(self):
        """Refuse (403) a user outside the Capture (API) group."""
        if not self.env.user.has_group("l10n_tr_iys.group_iys_capture"):
            raise ApiError(403, "forbidden", self.env._(
                "This user may not use the İYS capture API: add them to the group İYS / Capture (API)."))

    @api.model
    def _iys_api_brands(self, refs):
        """{reference: brand} for brand references (an int is an id, a text a brand code) of the
        user's companies; ApiError 400 for an unknown or ambiguous brand, 403 for another company's."""
        Brand = self.env["iys.brand"].sudo()
        allowed = set(self.env.user.company_ids.ids)
        ids = sorted({ref for ref in refs if isinstance(ref, int)})
        codes = sorted({ref.strip() for ref in refs if isinstance(ref, str)})
        found = Brand.search(["|", ("id", "in", ids), ("code", "in", codes)]) if (ids or codes) else Brand
        brands = {}
        for ref in refs:
            if ref in brands:
                continue
            if isinstance(ref, int):
                candidates = found.filtered(lambda b, ref=ref: b.id == ref)
            else:
                candidates = found.filtered(lambda b, ref=ref: b.code == ref.strip())
            if not candidates:
                raise ApiError(400, "unknown_brand", self.env._(
                    "Unknown İYS brand “%(brand)s” (give the brand's İYS code as text, or its id as a number).",
                    brand=ref), brand=ref)
            mine = candidates.filtered(lambda b: b.company_id.id in allowed)
            if not mine:
                raise ApiError(403, "brand_forbidden", self.env._(
                    "The brand “%(brand)s” belongs to a company this user may not work for.", brand=ref),
                    brand=ref)
            if len(mine) > 1:
                raise ApiError(400, "ambiguous_brand", self.env._(
                    "Several brands have the code “%(brand)s” (on several İYS accounts): give the brand's id instead.",
                    brand=ref), brand=ref)
            brands[ref] = mine
        return brands

    # ------------------------------------------------------------------------------------------
    # The envelope (checked whole before anything is recorded)
    # ------------------------------------------------------------------------------------------
    def _iys_api_invalid(self, where, message):
        return ApiError(400, "invalid_request", self.env._("%(where)s: %(message)s", where=where, message=message),
                        field=where)

    def _iys_api_check_text(self, value, where, name, required=False):
        if value is None:
            if required:
                raise self._iys_api_invalid(where, self.env._("required."))
            return
        if not isinstance(value, str):
            raise self._iys_api_invalid(where, self.env._("must be a text."))
        if required and not value.strip():
            raise self._iys_api_invalid(where, self.env._("must not be empty."))
        if len(value) > TEXT_MAX.get(name, 4000):
            raise self._iys_api_invalid(where, self.env._("too long (at most %(max)s characters).",
                                                          max=TEXT_MAX.get(name, 4000)))

    def _iys_api_check_enum(self, value, allowed, where, required=True):
        if value is None and not required:
            return
        if value not in allowed:
            raise self._iys_api_invalid(where, self.env._("must be one of %(values)s.", values=", ".join(allowed)))

    def _iys_api_check_brand_ref(self, value, where):
        if value is None:
            raise self._iys_api_invalid(where, self.env._("required."))
        if (isinstance(value, bool) or not isinstance(value, (int, str))
                or (isinstance(value, str) and not value.strip())):
            raise self._iys_api_invalid(where, self.env._("must be the brand's İYS code (text) or its id (number)."))

    def _iys_api_check_retailer(self, value, where):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, str))):
            raise self._iys_api_invalid(where, self.env._("must be the dealer's İYS code (number or text)."))

    def _iys_api_items(self, data, name):
        """The list *name* of the body object, 1..1000 entries, or ApiError 400."""
        if not isinstance(data, dict):
            raise ApiError(400, "invalid_request", self.env._("The body must be a JSON object."))
        items = data.get(name)
        if not isinstance(items, list):
            raise ApiError(400, "invalid_request", self.env._(
                "The body must have a list “%(name)s”.", name=name), field=name)
        if not items:
            raise ApiError(400, "empty_request", self.env._("“%(name)s” is empty: send 1 to %(max)s items.",
                                                            name=name, max=MAX_ITEMS), field=name)
        if len(items) > MAX_ITEMS:
            raise ApiError(413, "too_many_items", self.env._(
                "“%(name)s” has %(count)s items: send at most %(max)s per call.",
                name=name, count=len(items), max=MAX_ITEMS), field=name)
        return items

    def _iys_api_check_consents(self, data):
        """Check the shape of a record call (every item); return its items."""
        items = self._iys_api_items(data, "consents")
        unknown = set(data) - {"consents"}
        if unknown:
            raise self._iys_api_invalid(sorted(unknown)[0], self.env._("unknown field."))
        for index, item in enumerate(items):
            where = f"consents[{index}]"
            if not isinstance(item, dict):
                raise self._iys_api_invalid(where, self.env._("must be an object."))
            unknown = set(item) - ITEM_FIELDS
            if unknown:
                raise self._iys_api_invalid(f"{where}.{sorted(unknown)[0]}", self.env._("unknown field."))
            self._iys_api_check_brand_ref(item.get("brand"), f"{where}.brand")
            self._iys_api_check_enum(item.get("type"), const.TYPES, f"{where}.type")
            self._iys_api_check_enum(item.get("recipientType"), const.RECIPIENT_TYPES, f"{where}.recipientType",
                                     required=False)
            self._iys_api_check_enum(item.get("status"), const.STATUSES, f"{where}.status")
            for name in ("recipient", "consentDate", "source"):
                self._iys_api_check_text(item.get(name), f"{where}.{name}", name, required=True)
            for name in ("consentTextVersion", "language", "idempotencyKey"):
                self._iys_api_check_text(item.get(name), f"{where}.{name}", name)
            if item.get("idempotencyKey") is not None and not item["idempotencyKey"].strip():
                raise self._iys_api_invalid(f"{where}.idempotencyKey", self.env._("must not be empty."))
            self._iys_api_check_retailer(item.get("retailerCode"), f"{where}.retailerCode")
            if "confirm" in item and not isinstance(item["confirm"], bool):
                raise self._iys_api_invalid(f"{where}.confirm", self.env._("must be true or false."))
            evidence = item.get("evidence")
            if evidence is not None:
                if not isinstance(evidence, dict):
                    raise self._iys_api_invalid(f"{where}.evidence", self.env._("must be an object."))
                unknown = set(evidence) - set(EVIDENCE_FIELDS)
                if unknown:
                    raise self._iys_api_invalid(f"{where}.evidence.{sorted(unknown)[0]}", self.env._("unknown field."))
                for name in EVIDENCE_FIELDS:
                    self._iys_api_check_text(evidence.get(name), f"{where}.evidence.{name}", name)
        return items

    # ------------------------------------------------------------------------------------------
    # Item values
    # ------------------------------------------------------------------------------------------
    def _iys_api_date(self, value):
        """A consent date as naive UTC: ISO 8601 with a zone (``2026-12-05T08:30:00+03:00``,
        ``…Z``), or İYS's ``YYYY-MM-DD HH:MM:SS`` in Turkish time."""
        if _IYS_DATE_RE.fullmatch(value):
            try:
                return dates.parse_iys_date(value)
            except IysValidationError as exc:
                raise ItemError(exc.code, iys_error_text(self.env, exc)) from exc
        try:
            parsed = dt.datetime.fromisoformat(value) if "T" in value else None
        except ValueError:
            parsed = None
        if parsed is None:
            raise ItemError("invalid_date", self.env._(
                "consentDate “%(value)s” is not a date: use ISO 8601 with a zone (2026-01-31T14:05:00+03:00) or "
                "YYYY-MM-DD HH:MM:SS in Turkish time.", value=value))
        if parsed.tzinfo is None:
            raise ItemError("invalid_date", self.env._(
                "consentDate “%(value)s” has no time zone: add one (Z, +03:00) or use YYYY-MM-DD HH:MM:SS in "
                "Turkish time.", value=value))
        return parsed.astimezone(dt.timezone.utc).replace(tzinfo=None, microsecond=0)

    @api.model
    def _iys_api_text(self, brand, channel, version, lang=None):
        """The consent text version *version* (its label) of *brand* and *channel* (published: in use
        or superseded), in *lang* when several languages share the label; None without label: the
        API links only the text the calling system says it showed."""
        if not version:
            return None
        try:
            # the brand was checked against the user's companies: its texts are the user's to link
            return self.env["iys.consent.text"].sudo()._iys_resolve(brand, channel, version=version, lang=lang)
        except ValidationError as exc:
            raise ItemError("unknown_text_version", exc.args[0]) from exc

    def _iys_api_movement(self, item, brand):
        """The ledger movement of a checked item (ItemError for what the ledger cannot be given)."""
        channel = item["type"]
        evidence = item.get("evidence") or {}
        text = self._iys_api_text(brand, channel, item.get("consentTextVersion"), item.get("language"))
        note = evidence.get("note") or ""
        if evidence.get("page"):
            note = self.env._("Page: %(page)s", page=evidence["page"]) + ("\n" + note if note else "")
        mov = {
            "brand_id": brand.id,
            "channel": channel,
            "recipient_type": item.get("recipientType") or "BIREYSEL",
            "address": item["recipient"],
            "status": item["status"],
            "source": item["source"],
            "consent_date": self._iys_api_date(item["consentDate"]),
            "evidence": {
                # the person's, as the calling system saw them (never the calling system's own)
                "ip_address": evidence.get("ip") or False,
                "user_agent": evidence.get("userAgent") or False,
                "note": note or False,
                "consent_text_id": text.id if text else False,
            },
        }
        if item.get("retailerCode") not in (None, ""):
            mov["retailer_code"] = item["retailerCode"]
        return mov

    def _iys_api_request_confirmation(self, index, item, brand):
        """Double opt-in for an item sent with ``confirm: true``: nothing is recorded in the ledger
        now; the person gets a code by SMS or a link by e-mail, and only their confirmation records
        the ONAY (``iys.consent.request``), with its proof. Returns the item's result."""
        if item["status"] != "ONAY":
            raise ItemError("confirm_only_consent", self.env._(
                "Only a consent (ONAY) waits for the person's confirmation; a refusal (RET) is recorded at once: "
                "send it without “confirm”."))
        channel = item["type"]
        recipient_type = item.get("recipientType") or "BIREYSEL"
        try:
            address = normalize_recipient(channel, item["recipient"])
            validate_fields(address, channel, "ONAY", item["source"], fields.Datetime.now(), recipient_type,
                            recipient_normalized=True)
        except IysValidationError as exc:
            raise ItemError(exc.code or "rejected", mask_text(iys_error_text(self.env, exc))) from exc
        text = self._iys_api_text(brand, channel, item.get("consentTextVersion"), item.get("language"))
        evidence = item.get("evidence") or {}
        request = self.env["iys.consent.request"].sudo()._iys_request([{
            "brand_id": brand.id,
            "channel": channel,
            "recipient_type": recipient_type,
            "address": address,
            "consent_text_id": text.id if text else False,
            "source": item["source"],
            "origin": "api",
            "request_ip": evidence.get("ip") or False,
            "request_user_agent": evidence.get("userAgent") or False,
            "lang": item.get("language") or False,
            "requested_by_id": self.env.uid,
        }])
        if request.state != "sent":
            raise ItemError("confirmation_not_sent", request.error_message or self.env._(
                "The confirmation request could not be sent."))
        return {"index": index, "status": "to_confirm", "consentId": None, "eventId": None, "syncState": None,
                "error": None, "requestId": request.id}

    # ------------------------------------------------------------------------------------------
    # Recording
    # ------------------------------------------------------------------------------------------
    @api.model
    def _iys_api_record(self, data):
        """Record the items of a checked call; returns the answer body (HTTP 200).

        :param data: the decoded JSON body
        :raises ApiError: the call is refused as a whole (nothing recorded)
        """
        self._iys_api_check_user()
        items = self._iys_api_check_consents(data)
        brands = self._iys_api_brands([item["brand"] for item in items])
        results = [None] * len(items)
        prints = [fingerprint(item) for item in items]
        # Idempotency keys: the first item of a key in the call owns it; a later one with the
        # same content gets its answer, with other content a conflict.
        owners, copies = {}, {}
        for index, item in enumerate(items):
            key = item.get("idempotencyKey")
            if key is None:
                continue
            if key in owners:
                copies[index] = owners[key]
            else:
                owners[key] = index
        claimed = self._iys_api_claim_keys(owners, prints, items, brands, results)
        # Movements of the items that are not answered yet.
        todo, movements = [], []
        for index, item in enumerate(items):
            if results[index] is not None or index in copies:
                continue
            try:
                if item.get("confirm"):
                    results[index] = self._iys_api_request_confirmation(index, item, brands[item["brand"]])
                    continue
                movements.append(self._iys_api_movement(item, brands[item["brand"]]))
                todo.append(index)
            except ItemError as exc:
                results[index] = self._iys_api_error(index, exc.code, exc.message)
        if movements:
            Consent = self.env["iys.consent"].sudo()  # the user was checked above: the ledger's way in
            try:
                outcomes = Consent._iys_record_movements_bulk(movements, "api", strict=True)
            except (UserError, ValidationError) as exc:  # the ledger refused the batch as a whole
                raise ApiError(422, "rejected", mask_text(exc.args[0])) from exc
            # the sync state the ledger just wrote (a local movement waits for İYS, or stays in Odoo
            # when İYS cannot take it); read only for the consents left unchanged
            sync = {o.consent.id: "pending" if o.to_send else "none"
                    for o in outcomes if o.consent and o.event and not o.error}
            unchanged = sorted({o.consent.id for o in outcomes if o.consent and o.skipped} - set(sync))
            sync.update({c.id: c.sync_state for c in Consent.browse(unchanged)})
            for index, outcome in zip(todo, outcomes, strict=True):
                results[index] = self._iys_api_outcome(index, outcome, sync)
        for index, owner in copies.items():
            first = results[owner]
            if prints[index] != prints[owner]:
                results[index] = self._iys_api_conflict(index)
            else:
                results[index] = dict(first, index=index)
        self._iys_api_store_keys(claimed, results)
        counts = {state: sum(1 for r in results if r["status"] == state)
                  for state in ("recorded", "unchanged", "to_confirm", "error")}
        _logger.info("İYS capture API (user %s): %d items, %d recorded, %d unchanged, %d to confirm, %d refused; "
                     "first %s", self.env.uid, len(items), counts["recorded"], counts["unchanged"],
                     counts["to_confirm"], counts["error"],
                     mask_recipient(items[0].get("recipient")))
        return {"results": results, **counts}

    def _iys_api_error(self, index, code, message):
        return {"index": index, "status": "error", "consentId": None, "eventId": None, "syncState": None,
                "error": {"code": code, "message": message}}

    def _iys_api_conflict(self, index):
        return self._iys_api_error(index, "idempotency_conflict", self.env._(
            "This idempotency key was already used for another item: use a new key for a new item."))

    def _iys_api_outcome(self, index, outcome, sync):
        consent_id = outcome.consent.id if outcome.consent else None
        if outcome.error:
            return self._iys_api_error(index, outcome.error_code or "rejected", outcome.error)
        if outcome.skipped:
            return {"index": index, "status": "unchanged", "consentId": consent_id, "eventId": None,
                    "syncState": sync.get(consent_id), "error": None}
        return {"index": index, "status": "recorded", "consentId": consent_id, "eventId": outcome.event.id,
                "syncState": sync.get(consent_id), "error": None}

    def _iys_api_claim_keys(self, owners, prints, items, brands, results):
        """Insert the keys of this call; answer the items whose key is already known (the first
        answer, or a conflict). Returns {key: index} of the keys this call owns now.

        The unique index (user, key) decides between two identical calls at the same moment: the
        second waits for the first to commit, then fails to serialise and Odoo replays it, and the
        replay finds the keys with their answers."""
        if not owners:
            return {}
        keys = list(owners)
        self.env["iys.api.idempotency"].flush_model()
        self.env.cr.execute(SQL(
            """INSERT INTO iys_api_idempotency (user_id, key, fingerprint, brand_id, company_id, create_uid,
                                                write_uid, create_date, write_date)
               SELECT %(uid)s, k.key, k.print, k.brand, b.company_id, %(uid)s, %(uid)s, now() at time zone 'UTC',
                      now() at time zone 'UTC'
                 FROM unnest(%(keys)s::varchar[], %(prints)s::varchar[], %(brands)s::int4[]) AS k(key, print, brand)
                 JOIN iys_brand b ON b.id = k.brand
          ON CONFLICT (user_id, key) DO NOTHING
            RETURNING key""",
            uid=self.env.uid, keys=keys, prints=[prints[owners[k]] for k in keys],
            brands=[brands[items[owners[k]]["brand"]].id for k in keys],
        ))
        claimed = {row[0]: owners[row[0]] for row in self.env.cr.fetchall()}
        known = [k for k in keys if k not in claimed]
        if known:
            self.env.cr.execute(SQL(
                "SELECT key, fingerprint, result FROM iys_api_idempotency WHERE user_id = %s AND key = ANY(%s)",
                self.env.uid, known,
            ))
            for key, print_, result in self.env.cr.fetchall():
                index = owners[key]
                if print_ != prints[index] or not result:
                    results[index] = self._iys_api_conflict(index)
                else:
                    results[index] = dict(json.loads(result), index=index, replayed=True)
        return claimed

    def _iys_api_store_keys(self, claimed, results):
        """Keep the answers of the recorded (or unchanged) items with their keys; free the keys of
        refused items, so that a corrected item may be sent again with its key."""
        keep = {k: i for k, i in claimed.items() if results[i]["status"] != "error"}
        free = [k for k in claimed if k not in keep]
        if keep:
            self.env.cr.execute(SQL(
                """UPDATE iys_api_idempotency i SET result = u.result, event_id = u.event
                     FROM unnest(%s::varchar[], %s::text[], %s::int4[]) AS u(key, result, event)
                    WHERE i.user_id = %s AND i.key = u.key""",
                list(keep), [json.dumps(results[i]) for i in keep.values()],
                [results[i]["eventId"] for i in keep.values()], self.env.uid,
            ))
        if free:
            self.env.cr.execute(SQL("DELETE FROM iys_api_idempotency WHERE user_id = %s AND key = ANY(%s)",
                                    self.env.uid, free))
        self.env["iys.api.idempotency"].invalidate_model()

    # ------------------------------------------------------------------------------------------
    # Reading statuses
    # ------------------------------------------------------------------------------------------
    @api.model
    def _iys_api_status(self, data):
        """The ledger's status, sync state and the send gate's decision for up to 1000 addresses
        of one brand and channel; returns the answer body (HTTP 200)."""
        self._iys_api_check_user()
        recipients = self._iys_api_items(data, "recipients")
        unknown = set(data) - STATUS_FIELDS
        if unknown:
            raise self._iys_api_invalid(sorted(unknown)[0], self.env._("unknown field."))
        self._iys_api_check_brand_ref(data.get("brand"), "brand")
        self._iys_api_check_enum(data.get("type"), const.TYPES, "type")
        self._iys_api_check_enum(data.get("recipientType"), const.RECIPIENT_TYPES, "recipientType", required=False)
        self._iys_api_check_retailer(data.get("retailerCode"), "retailerCode")
        default_type = data.get("recipientType") or "BIREYSEL"
        wanted = []
        for index, entry in enumerate(recipients):
            where = f"recipients[{index}]"
            if isinstance(entry, dict):
                unknown = set(entry) - {"recipient", "recipientType"}
                if unknown:
                    raise self._iys_api_invalid(f"{where}.{sorted(unknown)[0]}", self.env._("unknown field."))
                self._iys_api_check_text(entry.get("recipient"), f"{where}.recipient", "recipient", required=True)
                self._iys_api_check_enum(entry.get("recipientType"), const.RECIPIENT_TYPES, f"{where}.recipientType",
                                         required=False)
                wanted.append((entry["recipient"], entry.get("recipientType") or default_type))
            else:
                self._iys_api_check_text(entry, where, "recipient", required=True)
                wanted.append((entry, default_type))
        brand = self._iys_api_brands([data["brand"]])[data["brand"]]
        channel = data["type"]
        dealer = None
        if data.get("retailerCode") not in (None, ""):
            from .iys_consent_retailer import dealer_code  # noqa: PLC0415 - the ledger's own reading of a code
            code = dealer_code(data["retailerCode"])
            dealer = self.env["iys.retailer"].sudo().search(
                [("brand_id", "=", brand.id), ("code", "=", str(code or ""))], limit=1)
            if not dealer:
                raise ApiError(400, "unknown_retailer", self.env._(
                    "No dealer of this brand has the code “%(code)s”.", code=data["retailerCode"]),
                    field="retailerCode")
        results = [None] * len(wanted)
        keys = []
        for index, (raw, rtype) in enumerate(wanted):
            try:
                address = normalize_recipient(channel, raw)
            except IysValidationError as exc:
                results[index] = {"index": index, "recipient": None, "recipientType": rtype,
                                  "error": {"code": exc.code or "invalid_recipient",
                                            "message": mask_text(iys_error_text(self.env, exc))}}
                continue
            keys.append((index, address, rtype))
        Consent = self.env["iys.consent"].sudo()
        rows = {}
        if keys:
            Consent.flush_model(["brand_id", "channel", "recipient_type", "address", "status", "sync_state",
                                 "consent_date", "source"])
            self.env.cr.execute(SQL(
                """SELECT c.id, c.address, c.recipient_type, c.status, c.consent_date, c.source, c.sync_state
                     FROM iys_consent c
                    WHERE c.brand_id = %s AND c.channel = %s AND c.address = ANY(%s::varchar[])""",
                brand.id, channel, sorted({a for _i, a, _t in keys}),
            ))
            rows = {(row[1], row[2]): row for row in self.env.cr.fetchall()}
        decisions = Consent._iys_gate_decisions(brand, channel, [(a, t) for _i, a, t in keys],
                                                company=brand.company_id, dealer=dealer)
        for index, address, rtype in keys:
            row = rows.get((address, rtype))
            decision = decisions[(address, rtype)]
            results[index] = {
                "index": index, "recipient": address, "recipientType": rtype,
                "consentId": row[0] if row else None,
                "status": row[3] if row else None,
                "consentDate": _iso(row[4]) if row else None,
                "source": row[5] if row else None,
                "syncState": row[6] if row else None,
                "decision": decision,
                "maySend": decision == iys_policy.ALLOWED,
                "error": None,
            }
        return {"brand": brand.code, "brandId": brand.id, "type": channel, "results": results}
