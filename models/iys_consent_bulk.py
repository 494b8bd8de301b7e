# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
"""The ledger's bulk way in: :meth:`IysConsent._iys_record_movements_bulk`.

It records many movements at once with set-based SQL, and is meant to be *equivalent* to
:meth:`IysConsent._iys_record_movements` (the ORM path): the same library checks, through the
very same methods (:meth:`_iys_normalize`, :meth:`_iys_prepare_local`,
:meth:`_iys_prepare_incoming`), the same consents, events and outbox rows field by field.
``tests/test_consent_bulk.py`` feeds the same movements through both paths and compares every
stored field. Two differences are deliberate:

* no chatter tracking message is posted on the consents (as with ``tracking_disable``): the
  event log is the consent's history, and a million tracking messages would double an import;
* it logs one line per call (counts), not one per movement.
"""
import json
import logging
from dataclasses import dataclass

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.tools import SQL

from ..iyslib import const
from ..iyslib.errors import IysValidationError
from ..iyslib.masking import mask_recipient
from ..iyslib.rules import CurrentState, validate_fields, validate_transition
from .iys_consent import MovementResult
from .iys_selections import IYS_ORIGINS, stored_source

_logger = logging.getLogger(__name__)

#: ``local``: movements captured by us, validated with every İYS rule and queued for İYS (the
#: ORM path's behaviour for non-İYS origins); ``incoming``: facts reported by İYS, applied when
#: newer (the ORM path's behaviour for İYS origins); ``registered``: facts already on İYS that a
#: user brings in (e.g. a reconciliation export): like ``incoming``, but every field is first
#: checked with the library (format, enums, date range; not the 3-business-day limit).
BULK_MODES = ("local", "incoming", "registered")

#: stand-in source used only to run the library's field checks on a movement İYS reports with an
#: İYS-side source (``IYS_*``), which :func:`validate_fields` refuses from a service provider.
_NEUTRAL_SOURCE = "HS_EORTAM"


@dataclass
class BulkMovementResult(MovementResult):
    """A :class:`MovementResult` that also says why a movement was skipped and whether it is sent."""

    reason: str = None  # skipped because: 'unchanged', 'older', 'known_transaction'
    to_send: bool = False


class _LedgerState:
    """What the ledger holds for one address while a batch is worked on.

    It stands in for the consent record in :meth:`_iys_prepare_local` and
    :meth:`_iys_prepare_incoming`, which read ``status``, ``consent_date``, ``source`` and its
    truth value (a record exists), so that several movements of one address in one batch see
    each other exactly as they do in the ORM path.
    """

    __slots__ = ("id", "key", "status", "consent_date", "source", "sync_state", "values", "old_values")

    def __init__(self, key, row=None):
        self.key = key
        self.values = {}  # consent values written by this batch (merged in order)
        if row:
            self.id, self.status, self.consent_date, self.source, self.sync_state = row
            self.old_values = True
        else:
            self.id = None
            self.status = self.consent_date = self.source = self.sync_state = None
            self.old_values = False

    def __bool__(self):
        return True

    def apply(self, consent_vals):
        self.values.update(consent_vals)
        self.status = consent_vals["status"]
        self.consent_date = consent_vals.get("consent_date") or None
        self.source = consent_vals.get("source") or None
        self.sync_state = consent_vals.get("sync_state")


def pg_array(values):
    """*values* as the text of a PostgreSQL array literal (``{1,NULL,"a \\"b\\""}``); False is NULL.

    Given as one parameter and cast (``%s::varchar[]``), a chunk's column travels as one string
    that PostgreSQL parses once, instead of thousands of quoted literals for psycopg2 to build and
    for PostgreSQL to parse (three to five times faster for a 5000-row chunk).
    """
    kinds = set(map(type, values))
    if kinds == {int}:
        return "{" + ",".join(map(str, values)) + "}"
    if kinds == {str}:  # the usual text column: quoted as a whole when nothing needs escaping
        raw = "".join(values)
        if '"' not in raw and "\\" not in raw:
            return '{"' + '","'.join(values) + '"}'
    items = []
    append = items.append
    for value in values:
        if value is None or value is False:
            append("NULL")
        elif value.__class__ is int:
            append(str(value))
        else:
            text = value if value.__class__ is str else str(value)
            if '"' in text or "\\" in text:
                text = text.replace("\\", "\\\\").replace('"', '\\"')
            append('"' + text + '"')
    return "{" + ",".join(items) + "}"


def _as_datetime(value):
    if not value:
        return None
    return fields.Datetime.to_datetime(value).replace(microsecond=0)


class IysConsent(models.Model):
    _inherit = "iys.consent"

    # ------------------------------------------------------------------------------------------
    # Public entry point
    # ------------------------------------------------------------------------------------------
    @api.model
    def _iys_record_movements_bulk(self, movements, origin, mode=None, now=None, raise_on_error=False,
                                   strict=False, dry_run=False, normalized=False):
        """Record a batch of movements with set-based SQL; equivalent to ``_iys_record_movements``.

        Meant for batches of a few thousand movements (an import chunk): it reads and locks the
        ledger rows of the batch once (``FOR UPDATE``), validates each movement in order with the
        İYS library (several movements of one address see each other), then inserts and updates
        consents, events and outbox rows with one statement each, keeps the ORM caches consistent
        and calls ``_iys_after_movements(results)`` once with the movements recorded, as the ORM
        path does after its loop (stored states of the contacts carrying the addresses, chatter
        notes unless the context says ``iys_skip_chatter``).

        :param movements: list of dicts, as for ``_iys_record_movements``.
        :param origin: the event origin (``import``, ``api`` …).
        :param mode: one of :data:`BULK_MODES`; by default ``incoming`` for İYS origins and
            ``local`` otherwise, as in the ORM path.
        :param raise_on_error: raise the first ValidationError, before anything is written.
        :param strict: for imports: a movement identical to what the ledger holds (same status,
            date and source; for facts from İYS also already confirmed) is skipped as
            ``unchanged`` instead of being refused (H178/H174) or recorded twice; a movement
            without a consent date is refused (H112/H462) instead of being dated now, except the
            first record of a merchant (TACIR), which İYS accepts without a date.
        :param dry_run: validate exactly as a real run would, without locking or writing.
        :param normalized: the addresses were normalised by the caller with the library's
            ``normalize_recipient`` (an import does it when it reads the file): they are not
            normalised a second time before the validation, which normalises them again anyway.
        :returns: list of :class:`BulkMovementResult`, in input order (``consent`` and ``event``
            are records, or None: no consent yet; on a dry run, no event).
        """
        mode = mode or ("incoming" if origin in IYS_ORIGINS else "local")
        if mode not in BULK_MODES:
            raise UserError(self.env._("Unknown way of recording movements: %(mode)s.", mode=mode))
        now = now or fields.Datetime.now()
        from_iys = mode != "local"
        # What the user may record (the set-based writes below check nothing): as in the ORM path.
        self._iys_check_may_record(movements, origin, mode)
        results = [BulkMovementResult(index=i) for i in range(len(movements))]
        prepared = self._iys_prepare_movements(movements, results, raise_on_error, normalized)
        if not prepared:
            return results
        states = self._iys_bulk_states(prepared, lock=not dry_run)
        seen_transactions = self._iys_bulk_seen_transactions(prepared) if from_iys else set()

        events = []  # (result, state, event values without ids)
        for result, mov in prepared:
            key = (mov["brand_id"], mov["channel"], mov.get("recipient_type") or "BIREYSEL", mov["address"])
            state = states.get(key)
            try:
                values = self._iys_bulk_prepare_one(state, mov, mode, now, origin, strict, seen_transactions, result)
            except (ValidationError, UserError) as exc:
                result.error = exc.args[0]
                result.error_code = getattr(exc, "iys_code", None)
                if raise_on_error:
                    raise
                continue
            if values is None:
                result.skipped = True
                result.reason = result.reason or ("older" if result.notes else "known_transaction")
                result.consent = self.browse(state.id) if state and state.id else None
                continue
            if state is None:
                state = states[key] = _LedgerState(key)
            old_status = state.status or False
            state.apply(values["consent"])
            result.to_send = values["to_send"]
            if mov.get("transaction_id"):
                seen_transactions.add(mov["transaction_id"])
            events.append((result, state, self._iys_bulk_event_values(mov, values, old_status, origin, from_iys,
                                                                      result)))
        if dry_run:
            for result, state, _vals in events:
                result.consent = self.browse(state.id) if state.id else None
            return results
        self._iys_bulk_write(states, events)
        _logger.info(
            "İYS ledger (bulk, %s): %d movements, %d recorded, %d skipped, %d refused; first %s",
            origin, len(movements), len(events), sum(r.skipped for r in results), sum(bool(r.error) for r in results),
            mask_recipient(prepared[0][1]["address"]),
        )
        recorded = [result for result, _state, _vals in events]
        if recorded:
            # What follows recorded movements (stored states of the records carrying the addresses,
            # chatter notes): the ORM path's own hook, once per batch.
            self._iys_after_movements(recorded)
        return results

    # ------------------------------------------------------------------------------------------
    # Validation (same methods and order as the ORM path)
    # ------------------------------------------------------------------------------------------
    def _iys_bulk_prepare_one(self, state, mov, mode, now, origin, strict, seen_transactions, result):
        """Validate one movement against the state of its address; the values to store or None."""
        recipient_type = mov.get("recipient_type") or "BIREYSEL"
        if mode == "registered":
            self._iys_bulk_check_fields(mov, recipient_type, now)
        if strict:
            if self._iys_bulk_is_unchanged(state, mov, mode):
                result.reason = "unchanged"
                return None
            if mode == "local" and not mov.get("consent_date") and (state or recipient_type != "TACIR"):
                self._iys_bulk_refuse_missing_date(state, mov, recipient_type, now)
        if mode == "local":
            return self._iys_prepare_local(state, mov, now, origin)
        return self._iys_prepare_incoming(state, mov, seen_transactions, result)

    def _iys_bulk_check_fields(self, mov, recipient_type, now):
        """Field checks for a fact already registered on İYS (no 3-business-day limit, any IYS_*)."""
        source = mov.get("source") or None
        check_source = _NEUTRAL_SOURCE if const.is_iys_source(source) else source
        try:
            validate_fields(
                mov["address"], mov["channel"], mov.get("status"), check_source, mov.get("consent_date") or None,
                recipient_type, now=now, check_deadline=False, recipient_normalized=True,
            )
        except IysValidationError as exc:
            raise self._iys_validation_error(mov, recipient_type, exc) from exc

    def _iys_bulk_is_unchanged(self, state, mov, mode):
        if not state or not state.status or mov.get("status") != state.status:
            return False
        if _as_datetime(mov.get("consent_date")) != (state.consent_date or None):
            return False
        source = stored_source(mov.get("source")) or None
        if source and source != state.source:
            return False
        return mode == "local" or state.sync_state == "confirmed"

    def _iys_bulk_refuse_missing_date(self, state, mov, recipient_type, now):
        """A movement without a date: the library's answer (H112, or H462 for a merchant's update)."""
        try:
            if state:
                previous = CurrentState(status=state.status, consent_date=state.consent_date, source=state.source)
                validate_transition(previous, mov.get("status"), None, mov.get("source") or None, recipient_type)
            else:
                validate_fields(mov["address"], mov["channel"], mov.get("status"), mov.get("source") or None, None,
                                recipient_type, now=now, recipient_normalized=True)
        except IysValidationError as exc:
            raise self._iys_validation_error(mov, recipient_type, exc) from exc

    # ------------------------------------------------------------------------------------------
    # Reading the ledger
    # ------------------------------------------------------------------------------------------
    def _iys_bulk_states(self, prepared, lock=True):
        """{key: _LedgerState} of the consents the batch touches, locked ``FOR UPDATE`` in id order.

        Found key by key through the ledger's indexes (a nested loop the planner cannot turn into a
        scan of the whole ledger), then locked in id order, as the ORM path locks them.
        """
        keys = sorted({
            (mov["brand_id"], mov["channel"], mov.get("recipient_type") or "BIREYSEL", mov["address"])
            for _r, mov in prepared
        })
        self.env["iys.consent"].flush_model(["brand_id", "channel", "recipient_type", "address", "status",
                                             "consent_date", "source", "sync_state"])
        brands, channels, rtypes, addresses = (pg_array(column) for column in zip(*keys, strict=True))
        self.env.cr.execute(SQL(
            """SELECT c.id
                 FROM unnest(%s::int4[], %s::varchar[], %s::varchar[], %s::varchar[]) AS k(b, ch, rt, ad)
           CROSS JOIN LATERAL (SELECT id FROM iys_consent
                                WHERE brand_id = k.b AND channel = k.ch AND recipient_type = k.rt AND address = k.ad
                                LIMIT 1) AS c""",
            brands, channels, rtypes, addresses,
        ))
        ids = [row[0] for row in self.env.cr.fetchall()]
        if not ids:
            return {}
        self.env.cr.execute(SQL(
            """SELECT id, brand_id, channel, recipient_type, address, status, consent_date, source, sync_state
                 FROM iys_consent WHERE id = ANY(%s::int4[]) ORDER BY id %s""",
            pg_array(ids), SQL("FOR UPDATE") if lock else SQL(),
        ), log_exceptions=False)  # see _iys_bulk_insert
        states = {}
        for consent_id, brand, channel, rtype, address, *state in self.env.cr.fetchall():
            key = (brand, channel, rtype, address)
            states[key] = _LedgerState(key, row=(consent_id, *state))
        return states

    def _iys_bulk_seen_transactions(self, prepared):
        transaction_ids = list({mov["transaction_id"] for _r, mov in prepared if mov.get("transaction_id")})
        if not transaction_ids:
            return set()
        self.env["iys.consent.event"].flush_model(["transaction_id"])
        # One index look-up per transaction id (a nested loop): with ``= ANY(…)`` the planner
        # scanned the whole event log whenever its statistics were behind (a freshly filled log),
        # 0.1 s per pull page at 150 000 events, growing with the log.
        self.env.cr.execute(SQL(
            """SELECT k.t FROM unnest(%s::varchar[]) AS k(t)
           CROSS JOIN LATERAL (SELECT 1 FROM iys_consent_event e WHERE e.transaction_id = k.t LIMIT 1) AS found""",
            pg_array(transaction_ids),
        ))
        return {row[0] for row in self.env.cr.fetchall()}

    # ------------------------------------------------------------------------------------------
    # Writing (set-based)
    # ------------------------------------------------------------------------------------------
    def _iys_bulk_event_values(self, mov, values, old_status, origin, from_iys, result):
        """The event's own values, as the ORM path gives them to ``create``, plus what the ORM
        would compute (``push_state``) and what the bulk writer needs apart (underscored keys)."""
        evidence = mov.get("evidence") or {}
        return {
            **self._iys_event_values(mov, values, old_status, origin, from_iys, result),
            "push_state": "confirmed" if from_iys else ("pending" if values["to_send"] else "none"),
            # not columns: used below
            "_attachment_ids": evidence.get("attachment_ids") or [],
            "_payload": values["payload"] if values["to_send"] else None,
            "_deadline": values["consent"].get("deadline"),
        }

    def _iys_bulk_write(self, states, events):
        """Insert/update consents, insert events and outbox rows; return the consents changed."""
        Consent = self.env["iys.consent"]
        Event = self.env["iys.consent.event"].sudo()
        Outbox = self.env["iys.outbox"].sudo()
        for model in (Consent, Event, Outbox):
            model.flush_model()
        changed = [state for state in states.values() if state.values]
        if not changed:
            return Consent
        brand_info = {
            brand.id: (brand.account_id.id, brand.company_id.id)
            for brand in self.env["iys.brand"].sudo().browse({state.key[0] for state in changed})
        }
        new_states = [state for state in changed if not state.old_values]
        old_states = [state for state in changed if state.old_values]
        # Consents: insert the new ones with their final values, update the others.
        value_names = sorted({name for state in changed for name in state.values})
        consent_columns = update_columns = []
        if new_states:
            rows = {
                "brand_id": [s.key[0] for s in new_states],
                "account_id": [brand_info[s.key[0]][0] or None for s in new_states],
                "company_id": [brand_info[s.key[0]][1] or None for s in new_states],
                "channel": [s.key[1] for s in new_states],
                "recipient_type": [s.key[2] for s in new_states],
                "address": [s.key[3] for s in new_states],
            }
            for name in value_names:
                rows[name] = [s.values.get(name) for s in new_states]
            new_ids, consent_columns = self._iys_bulk_insert(Consent, rows)
            for state, new_id in zip(new_states, new_ids, strict=True):
                state.id = new_id
        if old_states:
            rows = {"id": [s.id for s in old_states]}
            for name in value_names:
                rows[name] = [s.values.get(name) for s in old_states]
            update_columns = self._iys_bulk_update(Consent, rows)
        # Events, in movement order (ids ascending in that order, as the ORM path creates them).
        # Built column by column: a chunk is thousands of rows.
        keys = [state.key for _result, state, _vals in events]
        companies = {brand_id: info[1] or None for brand_id, info in brand_info.items()}
        event_rows = {
            "consent_id": [state.id for _result, state, _vals in events],
            "brand_id": [key[0] for key in keys],
            "company_id": [companies[key[0]] for key in keys],
            "channel": [key[1] for key in keys],
            "recipient_type": [key[2] for key in keys],
            "address": [key[3] for key in keys],
        }
        names = [name for name in events[0][2] if not name.startswith("_")]  # every event has the same keys
        for name in names:
            event_rows[name] = [vals[name] for _result, _state, vals in events]
        event_ids, event_columns = self._iys_bulk_insert(Event, event_rows)
        # Outbox rows of the movements İYS must receive, in the same order.
        sent = [(state, vals, event_id) for (_result, state, vals), event_id in zip(events, event_ids, strict=True)
                if vals["_payload"] is not None]
        # (the stored related fields given from what is at hand, as for the events: otherwise the
        # INSERT reads the consent and the event of each row back with a subquery per row)
        outbox_rows = {
            "event_id": [event_id for _state, _vals, event_id in sent],
            "consent_id": [state.id for state, _vals, _event_id in sent],
            "brand_id": [state.key[0] for state, _vals, _event_id in sent],
            "account_id": [brand_info[state.key[0]][0] or None for state, _vals, _event_id in sent],
            "company_id": [companies[state.key[0]] for state, _vals, _event_id in sent],
            "address": [state.key[3] for state, _vals, _event_id in sent],
            "channel": [state.key[1] for state, _vals, _event_id in sent],
            "recipient_type": [state.key[2] for state, _vals, _event_id in sent],
            "status": [vals["new_status"] for _state, vals, _event_id in sent],
            "payload": [vals["_payload"] for _state, vals, _event_id in sent],
            "deadline": [vals["_deadline"] for _state, vals, _event_id in sent],
        }
        attachments = [(event_id, vals["_attachment_ids"])
                       for (_result, _state, vals), event_id in zip(events, event_ids, strict=True)
                       if vals["_attachment_ids"]]
        browse_consent, browse_event = Consent.browse, self.env["iys.consent.event"].browse
        for (result, state, _vals), event_id in zip(events, event_ids, strict=True):
            result.consent = browse_consent(state.id)
            result.event = browse_event(event_id)
        outbox_ids, outbox_columns = [], []
        if outbox_rows["event_id"]:
            outbox_rows["state"] = ["pending"] * len(outbox_rows["event_id"])
            outbox_ids, outbox_columns = self._iys_bulk_insert(Outbox, outbox_rows)
        if attachments:
            self._iys_bulk_link_attachments(Event, attachments)
        # The ORM knows nothing of what SQL wrote: drop its caches, then let what depends on the
        # ledger elsewhere be recomputed.
        for model in (Consent, Event, Outbox):
            model.invalidate_model()
        # The consents' keys, which SQL just wrote and what follows reads right back (the hook
        # _iys_after_movements reads each consent's channel and address): cached, not fetched.
        changed_consents = Consent.browse([state.id for state in changed])
        for name, position in (("brand_id", 0), ("channel", 1), ("recipient_type", 2), ("address", 3)):
            self.env.cache.update(changed_consents, Consent._fields[name], [state.key[position] for state in changed])
        consents = Consent.browse(sorted(state.id for state in changed))
        self._iys_bulk_modified(Consent.browse([s.id for s in new_states]), consent_columns, create=True)
        self._iys_bulk_modified(Consent.browse([s.id for s in old_states]), update_columns, create=False)
        self._iys_bulk_modified(Event.browse(event_ids), event_columns, create=True)
        self._iys_bulk_modified(Outbox.browse(outbox_ids), outbox_columns, create=True)
        # Likewise the events' fields the hook reads for each event (its consent, the partner it
        # names, its origin): without them it read back every column of every event just written.
        new_events = Event.browse(event_ids)
        for name in ("consent_id", "partner_id", "origin"):
            field = Event._fields[name]
            self.env.cache.update(new_events, field, [
                field.convert_to_cache(value, new_events, validate=False) for value in event_rows[name]
            ])
        return consents

    def _iys_bulk_columns(self, model, rows, defaults=True):
        """{column: (SQL type, values)} for *rows* ({field: [values]}), with the log-access columns
        and (*defaults*) the defaults of the other stored fields added.

        Values are converted as the ORM converts them for its own INSERT/UPDATE; selection values
        are checked against the selection, as the ORM does (ValueError).
        """
        count = len(next(iter(rows.values())))
        record = model.browse()
        columns = {}
        for name, values in rows.items():
            field = model._fields[name]
            if field.type == "json":
                values = [json.dumps(value) if value is not None else None for value in values]
            elif field.type == "selection" and isinstance(field.selection, list):
                allowed = {value for value, _label in field.selection}
                for value in set(values):
                    if value and value not in allowed:
                        raise ValueError(f"Wrong value for {field}: {value!r}")
            elif field.type == "boolean":
                values = ["t" if value else "f" for value in values]
            elif field.type not in ("char", "text", "datetime", "integer", "many2one", "selection"):
                values = [field.convert_to_column(value, record) for value in values]
            columns[name] = (field.column_type[1], values)
        if model._log_access:
            now = self.env.cr.now()
            for name, value in (("create_uid", self.env.uid), ("create_date", now), ("write_uid", self.env.uid),
                                ("write_date", now)):
                columns.setdefault(name, (model._fields[name].column_type[1], [value] * count))
        if defaults:
            missing = [
                name for name, field in model._fields.items()
                if field.store and field.column_type and name not in columns and field.default and not field.compute
            ]
            for name, value in model.default_get(missing).items() if missing else ():
                field = model._fields[name]
                columns[name] = (field.column_type[1], [field.convert_to_column(value, record)] * count)
        return columns

    @staticmethod
    def _iys_bulk_sources(columns):
        """SQL expressions of *columns*: a constant when the column has one value for every row, else
        a column of ``unnest``. Returns ({column: SQL}, [unnest arguments], [unnest column names])."""
        expressions, arrays, names = {}, [], []
        for name, (sql_type, values) in columns.items():
            first = values[0] if values else None
            kind = first.__class__
            # (count() compares in C; the class check then tells False from 0, 1 from True)
            if name != "id" and values.count(first) == len(values) and set(map(type, values)) <= {kind}:
                # False is the ORM's empty value, NULL in the database (as in pg_array)
                expressions[name] = SQL(f"%s::{sql_type}", None if first is False else first)
            else:
                expressions[name] = SQL("u.%s", SQL.identifier(name))
                arrays.append(SQL(f"%s::{sql_type}[]", pg_array(values)))
                names.append(SQL.identifier(name))
        return expressions, arrays, names

    def _iys_bulk_insert(self, model, rows):
        """Insert rows ({field: [values]}); return their ids, in the order of the rows, and the
        names of the columns written (``id`` included).

        Stored related fields the rows do not give, of the form ``many2one.stored_field`` with
        the many2one given (e.g. ``brand_id.account_id``), are read in the same statement; other
        stored computed fields are left to the ORM (see :meth:`_iys_bulk_modified`).
        """
        columns = self._iys_bulk_columns(model, rows)
        expressions, arrays, names = self._iys_bulk_sources(columns)
        for name, field in model._fields.items():
            path = (field.related or "").split(".")
            if not (field.store and field.column_type and len(path) == 2 and name not in expressions
                    and path[0] in expressions and model._fields[path[0]].type == "many2one"):
                continue
            comodel = self.env[model._fields[path[0]].comodel_name]
            target = comodel._fields.get(path[1])
            if target is None or not target.store or not target.column_type:
                continue
            # A scalar subquery, not a join: the rows keep the array order (see below).
            expressions[name] = SQL(
                "(SELECT r.%s FROM %s r WHERE r.id = %s)",
                SQL.identifier(path[1]), SQL.identifier(comodel._table), expressions[path[0]],
            )
        count = len(next(iter(rows.values())))
        # The rows are produced and inserted in array order, so RETURNING gives their ids in that
        # order (as for the ORM's own multi-row INSERT … VALUES … RETURNING id).
        source = (SQL("unnest(%s) AS u(%s)", SQL(", ").join(arrays), SQL(", ").join(names)) if arrays
                  else SQL("generate_series(1, %s) AS u(n)", count))
        # (not logged by the cursor when it fails: the statement holds the addresses; callers log
        # the error masked)
        self.env.cr.execute(SQL(
            "INSERT INTO %s (%s) SELECT %s FROM %s RETURNING id",
            SQL.identifier(model._table),
            SQL(", ").join(SQL.identifier(name) for name in expressions),
            SQL(", ").join(expressions.values()),
            source,
        ), log_exceptions=False)
        ids = [row[0] for row in self.env.cr.fetchall()]
        return ids, ["id", *expressions]

    def _iys_bulk_update(self, model, rows):
        """Update rows ({field: [values]}, with ``id``); return the names of the columns written."""
        columns = self._iys_bulk_columns(model, rows, defaults=False)
        columns = {
            name: column for name, column in columns.items() if name in rows or name in ("write_uid", "write_date")
        }
        expressions, arrays, names = self._iys_bulk_sources(columns)
        written = [name for name in columns if name != "id"]
        self.env.cr.execute(SQL(
            "UPDATE %s AS t SET %s FROM unnest(%s) AS u(%s) WHERE t.id = u.id",
            SQL.identifier(model._table),
            SQL(", ").join(SQL("%s = %s", SQL.identifier(name), expressions[name]) for name in written),
            SQL(", ").join(arrays),
            SQL(", ").join(names),
        ), log_exceptions=False)  # see _iys_bulk_insert
        return written

    def _iys_bulk_link_attachments(self, Event, attachments):
        field = Event._fields["attachment_ids"]
        pairs = [(event_id, attachment_id) for event_id, ids in attachments for attachment_id in ids]
        self.env.cr.execute(SQL(
            "INSERT INTO %s (%s, %s) SELECT * FROM unnest(%s::int4[], %s::int4[]) ON CONFLICT DO NOTHING",
            SQL.identifier(field.relation), SQL.identifier(field.column1), SQL.identifier(field.column2),
            [pair[0] for pair in pairs], [pair[1] for pair in pairs],
        ))
        Attachment = self.env["ir.attachment"].sudo()
        for event_id, ids in attachments:
            Attachment.browse(ids).write({"res_model": "iys.consent.event", "res_id": event_id})

    def _iys_bulk_modified(self, records, written, create):
        """Tell the ORM that SQL wrote the columns *written* of *records*.

        What depends on them elsewhere is marked for recomputation (as the ORM's own create and
        write do); the columns written are not recomputed; stored computed fields of new records
        that SQL did not fill are computed by the ORM.
        """
        if not records:
            return
        fields_written = [records._fields[name] for name in written]
        if create:
            for field in records._fields.values():
                if field.store and field.compute and field.name not in written:
                    self.env.add_to_compute(field, records)
        with self.env.protecting(fields_written, records):
            records.modified([field.name for field in fields_written], create=create)
