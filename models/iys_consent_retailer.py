# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
"""Consents that carry dealers (bayi): the ledger's side.

* a movement may carry the dealer that collected it (``retailer_id`` or ``retailer_code``) and the
  dealers given access with it (``retailer_access_ids`` / ``retailer_access_codes``): resolved to
  registered dealers of the brand before anything is validated, sent to İYS in the consent's own
  body (``retailerCode`` / ``retailerAccess``, checked by the library's rules), stored on the
  consent and on the movement's event;
* a movement İYS reports may carry a ``retailerCode`` (``retailer_code_reported``): the collecting
  dealer is set when the brand has a dealer with that code; otherwise the raw code is kept on the
  event with a note, and no dealer is invented;
* later changes of the dealers with access are movements of their own
  (:meth:`_iys_record_access_changes`, event kind ``dealer``), queued for İYS's access calls
  (``iys.retailer.access.queue``).
"""
import logging

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tools import SQL

from ..iyslib.const import RETAILER_LIST_MAX
from ..iyslib.masking import mask_recipient
from .iys_consent import ledger
from .iys_selections import IYS_ORIGINS

_logger = logging.getLogger(__name__)


def dealer_code(value):
    """An İYS dealer code as int, or None when *value* is not one (8 digits at most, positive)."""
    text = str(value).strip() if value not in (None, False) else ""
    if text.endswith(".0"):  # a spreadsheet's number
        text = text[:-2]
    if not text.isdigit() or not 0 < int(text) <= 99999999:
        return None
    return int(text)


class IysConsent(models.Model):
    _inherit = "iys.consent"

    retailer_access_item_ids = fields.One2many(
        "iys.retailer.access.queue", "consent_id", string="Dealer access changes for İYS")

    # ------------------------------------------------------------------------------------------
    # Movements carrying dealers (both ways in: ORM and bulk)
    # ------------------------------------------------------------------------------------------
    @api.model
    def _iys_prepare_movements(self, movements, results, raise_on_error, normalized=False):
        prepared = super()._iys_prepare_movements(movements, results, raise_on_error, normalized)
        return self._iys_prepare_dealers(prepared, raise_on_error)

    @api.model
    def _iys_dealers_of(self, brand_ids, codes=(), ids=()):
        """{(brand id, code int): dealer} and {id: dealer} of the given brands (archived included)."""
        Retailer = self.env["iys.retailer"].sudo().with_context(active_test=False)
        domain = [("brand_id", "in", list(brand_ids))]
        found = Retailer.browse()
        if codes:
            found |= Retailer.search(domain + [("code", "in", sorted({str(c) for c in codes}))])
        if ids:
            found |= Retailer.browse(sorted(set(ids))).exists()
        by_code = {(r.brand_id.id, int(r.code)): r for r in found if r.code and r.code.isdigit()}
        return by_code, {r.id: r for r in found}

    def _iys_dealer_refusal(self, dealer, brand_id, given):
        """Why *dealer* may not be named on a consent of *brand_id* (a text), or None."""
        if not dealer:
            return self.env._(
                "No dealer of this brand has the code “%(code)s”: register the dealer on İYS first (Dealers menu).",
                code=given)
        if dealer.brand_id.id != brand_id:
            return self.env._("The dealer %(dealer)s belongs to another brand.", dealer=dealer.display_name)
        if dealer.sync_state != "registered" or not dealer.code:
            return self.env._(
                "The dealer %(dealer)s is not registered on İYS (no İYS dealer code yet): register it first.",
                dealer=dealer.display_name)
        if not dealer.active or dealer.status != "active":
            return self.env._("The dealer %(dealer)s is not active on İYS.", dealer=dealer.display_name)
        return None

    @api.model
    def _iys_prepare_dealers(self, prepared, raise_on_error):
        """Resolve the dealers the movements name (see the module's docstring); a movement naming an
        unknown, unregistered or inactive dealer gets an error, the others go on."""
        wanted = [(r, m) for r, m in prepared if any(m.get(k) for k in (
            "retailer_id", "retailer_code", "retailer_access_ids", "retailer_access_codes",
            "retailer_code_reported"))]
        if not wanted:
            return prepared
        brand_ids = {m["brand_id"] for _r, m in wanted}
        codes, ids = set(), set()
        for _r, m in wanted:
            for key in ("retailer_code", "retailer_code_reported"):
                if dealer_code(m.get(key)):
                    codes.add(dealer_code(m.get(key)))
            codes.update(c for c in map(dealer_code, m.get("retailer_access_codes") or ()) if c)
            ids.update(i for i in [m.get("retailer_id"), *(m.get("retailer_access_ids") or ())] if i)
        by_code, by_id = self._iys_dealers_of(brand_ids, codes, ids)
        wanted_ids = {id(r) for r, _m in wanted}
        out = []
        for result, mov in prepared:
            if id(result) not in wanted_ids:
                out.append((result, mov))
                continue
            brand_id = mov["brand_id"]
            try:
                mov = dict(mov)
                reported = mov.get("retailer_code_reported")
                if reported:
                    # İYS's word: set the dealer when we know it, never invent one
                    dealer = by_code.get((brand_id, dealer_code(reported) or 0))
                    if dealer:
                        mov["_dealer"] = dealer.id
                    else:
                        mov["_dealer_raw"] = str(reported)
                        result.notes.append(self.env._(
                            "İYS reports dealer code %(code)s, which no dealer of this brand has in Odoo: kept as "
                            "received; fetch the brand's dealers from İYS to link it.", code=reported))
                if mov.get("retailer_id") or mov.get("retailer_code"):
                    given = mov.get("retailer_code") or mov.get("retailer_id")
                    dealer = (by_id.get(mov["retailer_id"]) if mov.get("retailer_id")
                              else by_code.get((brand_id, dealer_code(given) or 0)))
                    self._iys_raise_dealer_refusal(mov, dealer, brand_id, given)
                    mov["_dealer"], mov["_dealer_code"] = dealer.id, int(dealer.code)
                access = []
                for given in mov.get("retailer_access_ids") or ():
                    access.append((by_id.get(given), given))
                for given in mov.get("retailer_access_codes") or ():
                    access.append((by_code.get((brand_id, dealer_code(given) or 0)), given))
                if access:
                    dealers = []
                    for dealer, given in access:
                        self._iys_raise_dealer_refusal(mov, dealer, brand_id, given)
                        if dealer not in dealers:
                            dealers.append(dealer)
                    mov["_access"] = [d.id for d in dealers]
                    mov["_access_codes"] = [int(d.code) for d in dealers]
                result.iys_dealers = {k: mov[k] for k in ("_dealer", "_dealer_raw", "_access") if mov.get(k)}
                out.append((result, mov))
            except ValidationError as exc:
                result.error = exc.args[0]
                result.error_code = getattr(exc, "iys_code", None)
                if raise_on_error:
                    raise
        return out

    def _iys_raise_dealer_refusal(self, mov, dealer, brand_id, given):
        refusal = self._iys_dealer_refusal(dealer, brand_id, given)
        if refusal:
            error = ValidationError(self.env._(
                "%(address)s: %(reason)s", address=mask_recipient(mov["address"]), reason=refusal))
            # what İYS answers for a retailer code it does not know for the brand (403 H180)
            error.iys_code = "H180" if not dealer or dealer.brand_id.id != brand_id or not dealer.code else None
            raise error

    @api.model
    def _iys_event_values(self, mov, values, old_status, origin, from_iys, result):
        vals = super()._iys_event_values(mov, values, old_status, origin, from_iys, result)
        vals.update({
            "kind": "status",
            "retailer_id": mov.get("_dealer") or False,
            "retailer_code_raw": mov.get("_dealer_raw") or False,
        })
        return vals

    @api.model
    def _iys_after_movements(self, results):
        self._iys_store_movement_dealers(results)
        return super()._iys_after_movements(results)

    @api.model
    def _iys_store_movement_dealers(self, results):
        """Store on the consents (and the events) the dealers the recorded movements carried."""
        collected, access, event_access = {}, [], []
        for result in results:
            info = getattr(result, "iys_dealers", None)
            if not info or not result.event:
                continue
            if info.get("_dealer"):
                collected[result.consent.id] = info["_dealer"]
            for dealer_id in info.get("_access") or ():
                access.append((result.consent.id, dealer_id))
                event_access.append((result.event.id, dealer_id))
        if not (collected or access):
            return
        self.env.flush_all()
        cr = self.env.cr
        if collected:
            cr.execute(SQL(
                "UPDATE iys_consent c SET retailer_id = u.r FROM unnest(%s::int4[], %s::int4[]) AS u(c, r) "
                "WHERE c.id = u.c", list(collected), list(collected.values())))
        for table, column, pairs in (("iys_consent_retailer_access_rel", "consent_id", access),
                                     ("iys_consent_event_access_added_rel", "event_id", event_access)):
            if pairs:
                cr.execute(SQL(
                    "INSERT INTO %s (%s, retailer_id) SELECT * FROM unnest(%s::int4[], %s::int4[]) "
                    "ON CONFLICT DO NOTHING",
                    SQL.identifier(table), SQL.identifier(column), [p[0] for p in pairs], [p[1] for p in pairs]))
        self.invalidate_model(["retailer_id", "retailer_access_ids"])
        self.env["iys.consent.event"].invalidate_model(["access_added_ids"])

    # ------------------------------------------------------------------------------------------
    # Dealer access changes: the ledger's way in
    # ------------------------------------------------------------------------------------------
    @api.model
    def _iys_check_may_change_access(self, brands):
        """Only İYS managers give or take dealers' access to consents, of their own companies'
        brands: it decides which other legal entities may message the brand's customers (the same
        trust as bringing in facts already on İYS). İYS users record consents, with the dealer
        that collected them."""
        if self.env.su:
            return
        if not self.env.user.has_group("l10n_tr_iys.group_iys_user"):
            raise AccessError(self.env._("Only İYS users may record consents and refusals."))
        if not self.env.user.has_group("l10n_tr_iys.group_iys_manager"):
            raise AccessError(self.env._("Only İYS managers may give dealers access to consents or remove it."))
        brands.check_access("read")

    @api.model
    def _iys_record_access_changes(self, consents, add=None, remove=None, origin="wizard", note=None,
                                   change=None, from_iys=False):
        """Give the dealers *add* access to *consents* and/or take it from the dealers *remove*:
        one ``dealer`` event per consent whose access changes (who, when, the dealers added and
        removed, the note) and one row in the access queue for İYS. Consents whose access does not
        change are skipped; a consent that would exceed İYS's 100 dealers is refused (H126).

        :returns: dict with ``changed`` (consents), ``unchanged`` (count), ``errors`` (list of texts)
        """
        add = (add or self.env["iys.retailer"]).sudo()
        remove = (remove or self.env["iys.retailer"]).sudo() - add
        consents = consents.with_env(self.env)
        self._iys_check_may_change_access(consents.brand_id)
        if not from_iys:
            consents.check_access("read")
        report = {"changed": self.browse(), "unchanged": 0, "errors": []}
        if not consents or not (add or remove):
            return report
        for dealer in add:
            for brand in consents.brand_id:
                refusal = self._iys_dealer_refusal(dealer, brand.id, dealer.code or dealer.display_name)
                if refusal:
                    raise UserError(refusal)
        self.env.flush_all()
        cr = self.env.cr
        # Lock the consents (as every movement of them does), then read their access in one query.
        cr.execute(SQL("SELECT id FROM iys_consent WHERE id = ANY(%s) ORDER BY id FOR UPDATE", consents.ids))
        cr.execute(SQL(
            """SELECT c.id, c.status, c.sync_state, c.brand_id, c.retailer_id,
                      array_remove(array_agg(r.retailer_id ORDER BY r.retailer_id), NULL)
                 FROM iys_consent c LEFT JOIN iys_consent_retailer_access_rel r ON r.consent_id = c.id
                WHERE c.id = ANY(%s) GROUP BY c.id ORDER BY c.id""", consents.ids))
        rows = cr.fetchall()
        codes = {d.id: int(d.code) for d in (add | remove) if d.code}
        add_ids, remove_ids = set(add.ids), set(remove.ids)
        inserts, deletes, events, items = [], [], [], []
        for consent_id, status, sync_state, _brand_id, collector, current in rows:
            current = set(current)
            added, removed = add_ids - current, remove_ids & current
            if not added and not removed:
                report["unchanged"] += 1
                continue
            target = (current | added) - removed
            if len(target | ({collector} if collector else set())) > RETAILER_LIST_MAX:
                report["errors"].append(self.env._(
                    "H126: consent %(id)s would have more than %(max)s dealers with access (İYS's limit): not changed.",
                    id=consent_id, max=RETAILER_LIST_MAX))
                continue
            inserts += [(consent_id, d) for d in added]
            deletes += [(consent_id, d) for d in removed]
            to_send = not from_iys and sync_state != "none"
            events.append({
                "consent_id": consent_id, "old_status": status, "new_status": status, "to_send": to_send,
                "_added": sorted(added), "_removed": sorted(removed),
            })
            if to_send:
                if added and removed:
                    operation = "replace" if target else "remove_all"
                else:
                    operation = "add" if added else "remove"
                call = added if operation == "add" else removed if operation == "remove" else target
                if operation == "replace" and collector:
                    # İYS's replace also takes the access of the dealer that collected it: keep it
                    call = target | {collector}
                items.append((consent_id, operation, call, target | ({collector} if collector else set())))
        if not events:
            return report
        if inserts:
            cr.execute(SQL(
                "INSERT INTO iys_consent_retailer_access_rel (consent_id, retailer_id) "
                "SELECT * FROM unnest(%s::int4[], %s::int4[]) ON CONFLICT DO NOTHING",
                [p[0] for p in inserts], [p[1] for p in inserts]))
        if deletes:
            cr.execute(SQL(
                "DELETE FROM iys_consent_retailer_access_rel r USING unnest(%s::int4[], %s::int4[]) AS u(c, d) "
                "WHERE r.consent_id = u.c AND r.retailer_id = u.d",
                [p[0] for p in deletes], [p[1] for p in deletes]))
        self.invalidate_model(["retailer_access_ids"])
        event_of = self._iys_insert_access_events(events, origin, note, from_iys)
        if items:
            missing = {d for _c, _o, call, target in items for d in call | target} - set(codes)
            for dealer in self.env["iys.retailer"].sudo().browse(sorted(missing)):
                codes[dealer.id] = int(dealer.code or 0)
            Queue = self.env["iys.retailer.access.queue"].sudo()
            queue_ids, queue_columns = self._iys_bulk_insert(Queue, {
                "consent_id": [item[0] for item in items],
                "event_id": [event_of[item[0]] for item in items],
                "change_id": [change.id if change else False] * len(items),
                "operation": [item[1] for item in items],
                "retailer_codes": [",".join(str(codes[d]) for d in sorted(item[2], key=codes.get)) for item in items],
                "target_codes": [",".join(str(codes[d]) for d in sorted(item[3], key=codes.get)) for item in items],
                "state": ["pending"] * len(items),
            })
            Queue.invalidate_model()
            self._iys_bulk_modified(Queue.browse(queue_ids), queue_columns, create=True)
        report["changed"] = self.browse(sorted(event_of))
        _logger.info("İYS dealer access (%s): %d consents changed, %d unchanged, %d refused, %d queued for İYS",
                     origin, len(event_of), report["unchanged"], len(report["errors"]), len(items))
        return report

    def _iys_insert_access_events(self, events, origin, note, from_iys):
        """Insert the ``dealer`` events (one set-based statement each for the events and their
        dealers added/removed, as the bulk way in does); returns {consent id: event id}."""
        Event = self.env["iys.consent.event"].sudo()
        count = len(events)
        rows = {
            "consent_id": [e["consent_id"] for e in events],
            "kind": ["dealer"] * count,
            "old_status": [e["old_status"] for e in events],
            "new_status": [e["new_status"] for e in events],
            "origin": [origin] * count,
            "actor": ["iys" if from_iys else "user"] * count,
            "user_id": [self.env.uid] * count,
            "to_send": [e["to_send"] for e in events],
            "push_state": ["confirmed" if from_iys else "pending" if e["to_send"] else "none" for e in events],
            "note": [note or False] * count,
        }
        event_ids, columns = self._iys_bulk_insert(Event, rows)
        for table, key in (("iys_consent_event_access_added_rel", "_added"),
                           ("iys_consent_event_access_removed_rel", "_removed")):
            pairs = [(event_id, d) for event, event_id in zip(events, event_ids, strict=True) for d in event[key]]
            if pairs:
                self.env.cr.execute(SQL(
                    "INSERT INTO %s (event_id, retailer_id) SELECT * FROM unnest(%s::int4[], %s::int4[])",
                    SQL.identifier(table), [p[0] for p in pairs], [p[1] for p in pairs]))
        Event.invalidate_model()
        self._iys_bulk_modified(Event.browse(event_ids), columns, create=True)
        return {event["consent_id"]: event_id for event, event_id in zip(events, event_ids, strict=True)}

    # ------------------------------------------------------------------------------------------
    # What İYS reports about dealers (reconciliation, status queries)
    # ------------------------------------------------------------------------------------------
    @api.model
    def _iys_apply_reported_dealers(self, brand, reports, origin="iys_query"):
        """Apply the collecting dealer İYS reports for consents of *brand* (for the reconciliation
        and the status queries: records that carry ``retailerCode`` without a movement to apply).

        :param reports: iterable of dicts ``{"channel", "recipient_type", "address", "retailer_code"}``
            (or :class:`iyslib.client.ConsentRecord`-like objects with ``type``, ``recipient_type``,
            ``recipient``, ``retailer_code``); addresses normalised as İYS gives them
        :returns: dict ``applied`` (consents whose dealer was set), ``unknown`` ({address: code} of
            codes no dealer of the brand has: nothing is changed for them), ``missing`` (count of
            addresses without a consent in Odoo)
        """
        if not self.env.su:
            raise AccessError(self.env._("Movements reported by İYS are recorded by the synchronisation only."))
        if origin not in IYS_ORIGINS:
            raise UserError(self.env._("Unknown way of recording movements: %(mode)s.", mode=origin))
        wanted = {}
        for rep in reports:
            get = rep.get if isinstance(rep, dict) else lambda k, rep=rep: getattr(rep, {
                "channel": "type", "address": "recipient"}.get(k, k), None)
            code = dealer_code(get("retailer_code"))
            if code:
                wanted[(get("channel"), get("recipient_type") or "BIREYSEL", get("address"))] = code
        report = {"applied": self.browse(), "unknown": {}, "missing": 0}
        if not wanted:
            return report
        by_code, _by_id = self._iys_dealers_of([brand.id], set(wanted.values()))
        consents = self.sudo().search([("brand_id", "=", brand.id), ("address", "in", [k[2] for k in wanted])])
        found = {(c.channel, c.recipient_type, c.address): c for c in consents}
        report["missing"] = len(set(wanted) - set(found))
        events, updates = [], {}
        for key, code in wanted.items():
            consent = found.get(key)
            if not consent:
                continue
            dealer = by_code.get((brand.id, code))
            if not dealer:
                report["unknown"][key[2]] = code
                if consent.retailer_id or consent.event_ids.filtered(lambda e, c=code: e.retailer_code_raw == str(c)):
                    continue
            elif consent.retailer_id == dealer:
                continue
            else:
                updates[consent.id] = dealer.id
            events.append({
                "consent_id": consent.id, "kind": "dealer", "old_status": consent.status,
                "new_status": consent.status, "origin": origin, "actor": "iys", "to_send": False,
                "retailer_id": dealer.id if dealer else False,
                "retailer_code_raw": False if dealer else str(code),
                "note": False if dealer else self.env._(
                    "İYS reports dealer code %(code)s, which no dealer of this brand has in Odoo: kept as received; "
                    "fetch the brand's dealers from İYS to link it.", code=code),
            })
        by_dealer = {}
        for consent_id, dealer_id in updates.items():
            by_dealer.setdefault(dealer_id, []).append(consent_id)
        for dealer_id, consent_ids in by_dealer.items():
            ledger(self.browse(consent_ids)).write({"retailer_id": dealer_id})
        if events:
            ledger(self.env["iys.consent.event"]).create(events)
        report["applied"] = self.browse(sorted(updates))
        return report
