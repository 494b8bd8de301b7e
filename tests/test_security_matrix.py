# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
"""The whole access surface of the addon's models: every model × every kind of user × read / write /
create / unlink, in a database with two companies, over the ORM as that user and with the context
keys a client could send (JSON-RPC lets a client set any context key). Then the same over HTTP
(JSON-RPC) for the ledger, as the probe that found the holes did.

The matrix below is the access policy README.rst states ("Who may do what"); a change of it is a
change of this table, reviewed as such."""
import json

from psycopg2 import IntegrityError

from odoo.exceptions import AccessError, MissingError, UserError, ValidationError
from odoo.tests import HttpCase, new_test_user, tagged
from odoo.tools import mute_logger

from .common import IysCommon

#: what a client may put in the context of any call (and what the addon's own code uses internally)
CLIENT_CONTEXT = {
    "iys_ledger_write": True,
    "iys_allow_event_unlink": True,
    "iys_defer_refresh": True,
    "iys_blacklist_create": True,
    "iys_skip_chatter": True,
    "iys_no_index": True,
    "tracking_disable": True,
    "mail_notrack": True,
    "active_test": False,
}

USERS = ("plain", "marketing", "iys_user", "iys_manager", "portal", "public")

#: model -> {user kind: the operations allowed on a record of the user's own company}
POLICY = {
    "iys.account": {"iys_user": "r", "iys_manager": "rwcu"},
    "iys.brand": {"plain": "r", "marketing": "r", "iys_user": "r", "iys_manager": "rwcu"},
    "iys.consent": {"iys_user": "r", "iys_manager": "r"},
    "iys.consent.event": {"iys_user": "r", "iys_manager": "r"},
    "iys.outbox": {"iys_user": "r", "iys_manager": "r"},
    "iys.token": {},
    "iys.consent.import": {"iys_manager": "rwcu"},
    "iys.consent.import.line": {"iys_manager": "r"},
    "iys.consent.import.part": {"iys_manager": "r"},
}

class _NotFound(Exception):
    """A record the user's search does not return: not visible to the user."""


DENIED = (AccessError, UserError, ValidationError, MissingError, _NotFound)


class _Undo(Exception):
    """Rolls an allowed attempt back, so that each attempt starts from the same data."""


@tagged("post_install", "-at_install", "l10n_tr_iys", "l10n_tr_iys_security")
class TestAccessMatrix(IysCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        env = cls.env
        cls.company_a = env.company
        cls.company_b = env["res.company"].create({"name": "İYS Company B"})
        cls.users = {
            "plain": cls.plain_user,
            "marketing": new_test_user(env, login="iys_m_marketing",
                                       groups="base.group_user,mass_mailing.group_mass_mailing_user"),
            "iys_user": cls.iys_user,
            "iys_manager": cls.iys_manager,
            "portal": new_test_user(env, login="iys_m_portal", groups="base.group_portal"),
            "public": env.ref("base.public_user"),
        }
        cls.account_b = env["iys.account"].create(
            {"name": "İYS B", "iys_code": "900101", "environment": "simulator", "company_id": cls.company_b.id}
        )
        cls.brand_b2 = env["iys.brand"].create(
            {"name": "Brand of B", "code": "900101", "account_id": cls.account_b.id, "is_default": True}
        )
        cls.records = {
            "a": cls._records_of(cls.brand, "+905321230001"),
            "b": cls._records_of(cls.brand_b2, "+905321230002"),
        }

    @classmethod
    def _records_of(cls, brand, phone):
        env = cls.env
        result = cls.record(phone, brand=brand)
        imp = env["iys.consent.import"].create({"brand_id": brand.id, "file_name": "x.csv"})
        env.cr.execute(
            "INSERT INTO iys_consent_import_line (import_id, row_no, address) VALUES (%s, 2, %s) RETURNING id",
            (imp.id, phone),
        )
        line = env["iys.consent.import.line"].browse(env.cr.fetchone()[0])
        env.cr.execute(
            "INSERT INTO iys_consent_import_part (import_id, sequence) VALUES (%s, 1) RETURNING id", (imp.id,)
        )
        part = env["iys.consent.import.part"].browse(env.cr.fetchone()[0])
        env.cr.execute(
            "INSERT INTO iys_token (key, account_id) VALUES (%s, %s) RETURNING id",
            (f"k{brand.id}", brand.account_id.id),
        )
        token = env["iys.token"].browse(env.cr.fetchone()[0])
        outbox = env["iys.outbox"].search([("event_id", "=", result.event.id)])
        assert outbox, "a local ONAY is queued for İYS"
        return {
            "iys.account": brand.account_id, "iys.brand": brand, "iys.consent": result.consent,
            "iys.consent.event": result.event, "iys.outbox": outbox, "iys.token": token,
            "iys.consent.import": imp, "iys.consent.import.line": line, "iys.consent.import.part": part,
        }

    #: a harmless write per model (for the forbidden ones, what an attacker would want)
    WRITES = {
        "iys.account": {"name": "Renamed"},
        "iys.brand": {"name": "Renamed"},
        "iys.consent": {"status": "RET", "sync_state": "confirmed"},
        "iys.consent.event": {"new_status": "ONAY"},
        "iys.outbox": {"state": "pending"},
        "iys.token": {"access_token": "stolen"},
        "iys.consent.import": {"mode": "registered"},
        "iys.consent.import.line": {"address": "+905329999999"},
        "iys.consent.import.part": {"done": True},
    }

    def _create_vals(self, model, company):
        recs = self.records[company]
        return {
            "iys.account": {"name": "New", "iys_code": "900555", "environment": "simulator",
                            "company_id": (self.company_a if company == "a" else self.company_b).id},
            "iys.brand": {"name": "New brand", "code": "900556", "account_id": recs["iys.account"].id},
            "iys.consent": {"brand_id": recs["iys.brand"].id, "channel": "MESAJ", "address": "+905321239999",
                            "status": "ONAY", "sync_state": "confirmed"},
            "iys.consent.event": {"consent_id": recs["iys.consent"].id, "new_status": "ONAY", "origin": "api"},
            "iys.outbox": {"event_id": recs["iys.consent.event"].id, "consent_id": recs["iys.consent"].id,
                           "brand_id": recs["iys.brand"].id},
            "iys.token": {"key": "forged", "account_id": recs["iys.account"].id},
            "iys.consent.import": {"brand_id": recs["iys.brand"].id, "file_name": "y.csv"},
            "iys.consent.import.line": {"import_id": recs["iys.consent.import"].id, "row_no": 9},
            "iys.consent.import.part": {"import_id": recs["iys.consent.import"].id, "sequence": 9},
        }[model]

    def _attempt(self, op, model, user, company):
        """Run *op* as *user* (with every context key a client could send); True when it went through."""
        record = self.records[company][model].with_user(user).with_context(**CLIENT_CONTEXT)
        try:
            with self.env.cr.savepoint(), mute_logger("odoo.models", "odoo.sql_db", "odoo.models.unlink"):
                if op == "r":
                    record.read(["display_name"])
                    record.invalidate_recordset()
                    # search must not reveal it either
                    if not record.search([("id", "=", record.id)]):
                        raise _NotFound("not found by search")
                elif op == "w":
                    record.write(self.WRITES[model])
                    record.flush_recordset()
                elif op == "c":
                    new = record.create(self._create_vals(model, company))
                    new.flush_recordset()
                elif op == "u":
                    record.unlink()
                raise _Undo
        except _Undo:
            return True
        except DENIED as exc:
            self._last_refusal = f"{type(exc).__name__}: {str(exc)[:160]}"
            return False
        except IntegrityError:
            # allowed by the access rules, refused by the data (e.g. a restricted foreign key)
            return True
        finally:
            self.env.invalidate_all()

    def test_matrix_own_company(self):
        problems = []
        for model, allowed in POLICY.items():
            for kind in USERS:
                for op in "rwcu":
                    expected = op in allowed.get(kind, "")
                    self._last_refusal = ""
                    got = self._attempt(op, model, self.users[kind], "a")
                    if got != expected:
                        problems.append(f"{model} {kind} {op}: {'allowed' if got else 'denied'}, "
                                        f"policy says {'allowed' if expected else 'denied'} {self._last_refusal}")
        self.assertFalse(problems, "\n".join(problems))

    def test_matrix_other_company(self):
        # The users belong to company A only: nothing of company B is theirs to read or change.
        problems = []
        for model in POLICY:
            for kind in USERS:
                for op in "rwu":
                    if self._attempt(op, model, self.users[kind], "b"):
                        problems.append(f"{model} {kind} {op} on company B: allowed")
        self.assertFalse(problems, "\n".join(problems))

    def test_ledger_untouched_by_refused_attempts(self):
        # After every refused attempt above, the ledger still says what its events say.
        self._attempt("w", "iys.consent", self.users["iys_manager"], "a")
        consent = self.records["a"]["iys.consent"]
        consent.invalidate_recordset()
        self.assertEqual((consent.status, consent.sync_state), ("ONAY", "pending"))
        self.assertEqual(consent.event_ids.mapped("new_status"), ["ONAY"])


@tagged("post_install", "-at_install", "l10n_tr_iys", "l10n_tr_iys_security")
class TestLedgerOverJsonRpc(HttpCase, IysCommon):
    """The probe's own requests: JSON-RPC with a context of the client's choosing."""

    def _call(self, model, method, args, kwargs=None):
        payload = {"jsonrpc": "2.0", "method": "call", "id": 1, "params": {
            "model": model, "method": method, "args": args, "kwargs": kwargs or {}}}
        response = self.url_open(f"/web/dataset/call_kw/{model}/{method}", data=json.dumps(payload),
                                 headers={"Content-Type": "application/json"})
        return response.json()

    def test_forged_context_does_not_open_the_ledger(self):
        result = self.record("+905321230010", status="RET", recipient_type="BIREYSEL")
        consent = result.consent
        context = {**CLIENT_CONTEXT, "allowed_company_ids": [self.env.company.id]}
        for login in ("iys_t_user", "iys_t_manager"):
            self.authenticate(login, login)
            with mute_logger("odoo.http"):
                forged = {"status": "ONAY", "sync_state": "confirmed"}
                answer = self._call("iys.consent", "write", [[consent.id], forged], {"context": context})
                self.assertIn("error", answer, login)
                answer = self._call("iys.consent", "create", [{
                    "brand_id": self.brand.id, "channel": "MESAJ", "recipient_type": "BIREYSEL",
                    "address": "+905321230011", "status": "ONAY", "sync_state": "confirmed"}], {"context": context})
                self.assertIn("error", answer, login)
        consent.invalidate_recordset()
        self.assertEqual((consent.status, len(consent.event_ids)), ("RET", 1))
        self.assertFalse(self.env["iys.consent"].search([("address", "=", "+905321230011")]))

    def test_anonymous_and_portal_read_nothing(self):
        self.record("+905321230012")
        for login in (None, "iys_m_portal2"):
            if login:
                new_test_user(self.env, login=login, groups="base.group_portal")
                self.authenticate(login, login)
            for model in POLICY:
                with mute_logger("odoo.http"):
                    answer = self._call(model, "search_read", [[]], {"fields": ["id"], "context": CLIENT_CONTEXT})
                self.assertIn("error", answer, f"{login or 'anonymous'} read {model}")
