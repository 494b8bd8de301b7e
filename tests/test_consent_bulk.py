# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
from datetime import datetime, timedelta
from unittest.mock import patch

from odoo.exceptions import AccessError, ValidationError
from odoo.tests import tagged

from .common import IysCommon

#: fields that necessarily differ between the two brands' copies of the same movements
_IDENTITY = {"id", "brand_id", "consent_id", "event_id", "attachment_ids"}


@tagged("post_install", "-at_install", "l10n_tr_iys")
class TestConsentBulk(IysCommon):
    """The bulk path (set-based SQL) against the ORM path: same movements, same ledger."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.partner = cls.env["res.partner"].create({"name": "Ayşe", "email": "ayse@example.com"})

    def _movements(self, brand, now, tx_prefix="a"):
        """A mix covering every rule of the ledger, for *brand*."""
        recent = now - timedelta(hours=2)
        old = now - timedelta(days=20)

        def mov(address, status="ONAY", channel="MESAJ", rtype="BIREYSEL", source="HS_WEB", date=None, **extra):
            return {"brand_id": brand.id, "channel": channel, "recipient_type": rtype, "address": address,
                    "status": status, "source": source, "consent_date": recent if date is None else date, **extra}

        attachment = self.env["ir.attachment"].create({"name": f"form-{brand.id}.pdf", "raw": b"%PDF signed"})
        return [
            mov("0532 100 00 01", evidence={"partner_id": self.partner.id, "note": "web form", "ip_address": "10.0.0.1",
                                            "user_agent": "Firefox", "notice_version": "v3",
                                            "attachment_ids": [attachment.id]}),
            mov("05321000002"),
            mov("+90 532 100 00 02", status="RET", source="HS_CAGRI_MERKEZI", date=recent + timedelta(minutes=5)),
            mov("05321000003", status="RET", source="HS_MESAJ"),  # first record RET: kept here, not sent
            mov("05321000004", status="RET", source="HS_MESAJ", date=old),  # too late for İYS: kept, not sent
            mov("05321000005", date=old),  # H467
            mov("05321000006", source="HS_2015", date=datetime(2015, 4, 30, 21, 0, 0)),  # no deadline
            mov("05321000007", rtype="TACIR", source=False, date=False),  # merchant's first record, no date
            mov("05321000008", status="RET", source="HS_CAGRI_MERKEZI"),  # existing ONAY -> RET
            mov("05321000009", status="RET", source="HS_CAGRI_MERKEZI"),  # existing RET: H174
            mov("05321000010", date=now - timedelta(days=1, hours=1)),  # older than on record: H178
            mov("12345"),  # H121
            mov("05321000011", source="HS_TELEPATI"),  # H119
            mov("05321000012", date=now + timedelta(days=1)),  # H162
            mov("AYSE@Example.com ", channel="EPOSTA", evidence={"partner_id": self.partner.id}),
            mov("ayse@example.com", channel="EPOSTA", status="RET", source="HS_KARAR",
                date=recent + timedelta(minutes=1)),
            mov("05321000013", channel="FAKS"),
            mov("05321000014", status="ONAY", source="HS_KARAR"),  # H408
            mov("05321000015", rtype="TACIR", status="ONAY", source="HS_FIZIKSEL_ORTAM"),  # existing TACIR
        ]

    def _existing(self, brand, now):
        """What the ledger holds before the batch, recorded through the ORM path."""
        before = now - timedelta(days=1)
        for address, status in (("05321000008", "ONAY"), ("05321000010", "ONAY"), ("05321000015", "ONAY")):
            rtype = "TACIR" if address.endswith("15") else "BIREYSEL"
            self.record(address, status=status, brand=brand, consent_date=before, recipient_type=rtype)
        self.record("05321000009", brand=brand, consent_date=before - timedelta(hours=1))
        self.record("05321000009", status="RET", brand=brand, consent_date=before)

    def _incoming(self, brand, now, prefix):
        recent = now - timedelta(hours=1)

        def mov(address, status, tx, date=recent, source="IYS_WEB"):
            return {"brand_id": brand.id, "channel": "MESAJ", "recipient_type": "BIREYSEL", "address": address,
                    "status": status, "source": source, "consent_date": date, "transaction_id": prefix + tx * 63,
                    "creation_date": now - timedelta(minutes=30)}

        return [
            mov("05321000008", "ONAY", "1"),  # newer: applied, confirmed
            mov("05321000008", "RET", "1"),  # same transaction: skipped
            mov("05321000010", "RET", "2", date=now - timedelta(days=5)),  # older than on record: skipped
            mov("05321000020", "RET", "3", source="IYS_YEPYENI"),  # first record RET from İYS, unknown source
            mov("05321000021", "ONAY", "4"),
        ]

    def _snapshot(self, brand):
        """Every stored field of the brand's consents, events and outbox rows, keyed by address."""
        def stored(model):
            return [name for name, field in model._fields.items()
                    if field.store and field.column_type and name not in _IDENTITY]

        self.env.invalidate_all()
        Consent, Event, Outbox = (self.env[m].sudo() for m in ("iys.consent", "iys.consent.event", "iys.outbox"))
        consents = Consent.search([("brand_id", "=", brand.id)])
        snapshot = {}
        for consent in consents:
            key = (consent.channel, consent.recipient_type, consent.address)
            events = Event.search([("consent_id", "=", consent.id)], order="id")
            outbox = Outbox.search([("consent_id", "=", consent.id)], order="id")
            snapshot[key] = {
                "consent": consent.read(stored(Consent))[0],
                "events": [
                    dict(event, attachments=[a.name.split("-")[0] for a in Event.browse(event["id"]).attachment_ids])
                    for event in events.read(stored(Event))
                ],
                "outbox": outbox.read(stored(Outbox)),
            }
        for rows in snapshot.values():
            for row in [rows["consent"], *rows["events"], *rows["outbox"]]:
                row.pop("id", None)
                if row.get("transaction_id"):
                    row["transaction_id"] = row["transaction_id"][1:]
                if row.get("iys_transaction_id"):
                    row["iys_transaction_id"] = row["iys_transaction_id"][1:]
        return snapshot

    def _raw(self, table, brand):
        """The brand's rows of *table* as PostgreSQL holds them (NULL and false stay apart)."""
        self.env.flush_all()
        self.env.cr.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s ORDER BY column_name", [table])
        columns = [name for (name,) in self.env.cr.fetchall() if name not in _IDENTITY]
        self.env.cr.execute(
            f"SELECT {', '.join(columns)} FROM {table} WHERE brand_id = %s ORDER BY address, id",  # trusted names
            [brand.id],
        )
        rows = [dict(zip(columns, row, strict=True)) for row in self.env.cr.fetchall()]
        for row in rows:
            for name in ("transaction_id", "iys_transaction_id"):
                if row.get(name):
                    row[name] = row[name][1:]
        return rows

    def _compare_results(self, orm, bulk):
        self.assertEqual(len(orm), len(bulk))
        for index, (a, b) in enumerate(zip(orm, bulk, strict=True)):
            with self.subTest(movement=index):
                self.assertEqual((a.ok, a.skipped, a.error), (b.ok, b.skipped, b.error))
                self.assertEqual(bool(a.consent), bool(b.consent))
                self.assertEqual(bool(a.event), bool(b.event))

    def test_bulk_path_equals_orm_path(self):
        """The same movements through both paths, one brand each: identical ledgers, field by field."""
        now = self._now()
        self._existing(self.brand, now)
        self._existing(self.brand_b, now)
        Consent = self.env["iys.consent"]
        orm = Consent._iys_record_movements(self._movements(self.brand, now), "import", raise_on_error=False, now=now)
        bulk = Consent._iys_record_movements_bulk(self._movements(self.brand_b, now), "import", now=now)
        self._compare_results(orm, bulk)
        orm = Consent._iys_record_movements(self._incoming(self.brand, now, "a"), "iys_pull", raise_on_error=False,
                                            now=now)
        bulk = Consent._iys_record_movements_bulk(self._incoming(self.brand_b, now, "b"), "iys_pull", now=now)
        self._compare_results(orm, bulk)
        # Guard against a vacuous comparison: the mix exercised every kind of outcome.
        self.assertGreaterEqual(sum(r.ok and not r.skipped for r in bulk), 2)
        expected, actual = self._snapshot(self.brand), self._snapshot(self.brand_b)
        self.assertEqual(sorted(expected), sorted(actual))
        self.assertGreater(len(expected), 12)
        for key in expected:
            with self.subTest(consent=key):
                self.assertEqual(expected[key]["consent"], actual[key]["consent"])
                self.assertEqual(expected[key]["events"], actual[key]["events"])
                self.assertEqual(expected[key]["outbox"], actual[key]["outbox"])
        for table in ("iys_consent", "iys_consent_event", "iys_outbox"):
            with self.subTest(table=table):
                self.assertEqual(self._raw(table, self.brand), self._raw(table, self.brand_b))
        outcomes = {key: (rows["consent"]["status"], rows["consent"]["sync_state"], len(rows["outbox"]))
                    for key, rows in actual.items()}
        self.assertEqual(outcomes[("MESAJ", "BIREYSEL", "+905321000002")], ("RET", "pending", 2))
        self.assertEqual(outcomes[("MESAJ", "BIREYSEL", "+905321000003")], ("RET", "none", 0))
        self.assertEqual(outcomes[("MESAJ", "BIREYSEL", "+905321000004")], ("RET", "none", 0))
        self.assertEqual(outcomes[("MESAJ", "BIREYSEL", "+905321000008")], ("ONAY", "confirmed", 2))
        self.assertEqual(outcomes[("MESAJ", "BIREYSEL", "+905321000020")], ("RET", "confirmed", 0))
        self.assertEqual(outcomes[("EPOSTA", "BIREYSEL", "ayse@example.com")], ("RET", "pending", 2))
        self.assertNotIn(("MESAJ", "BIREYSEL", "+905321000005"), outcomes)
        self.assertEqual(actual[("MESAJ", "BIREYSEL", "+905321000001")]["events"][0]["attachments"], ["form"])

    def test_bulk_errors_carry_h_codes(self):
        results = self.env["iys.consent"]._iys_record_movements_bulk(self._movements(self.brand, self._now()), "api")
        codes = {self._movements(self.brand, self._now())[r.index]["address"]: r.error_code for r in results
                 if r.error}
        self.assertEqual(codes["12345"], "H121")
        self.assertEqual(codes["05321000005"], "H467")
        self.assertEqual(codes["05321000011"], "H119")
        self.assertEqual(codes["05321000012"], "H162")
        self.assertEqual(codes["05321000014"], "H408")

    def test_dry_run_writes_nothing_and_predicts_the_run(self):
        now = self._now()
        self._existing(self.brand, now)
        tables = ("iys_consent", "iys_consent_event", "iys_outbox")

        def counts():
            self.env.flush_all()
            result = []
            for table in tables:
                self.env.cr.execute(f"SELECT count(*), max(write_date) FROM {table}")  # constant table names
                result.append(self.env.cr.fetchone())
            return result

        before = counts()
        Consent = self.env["iys.consent"]
        dry = Consent._iys_record_movements_bulk(self._movements(self.brand, now), "import", now=now, dry_run=True)
        self.assertEqual(counts(), before)
        real = Consent._iys_record_movements_bulk(self._movements(self.brand, now), "import", now=now)
        self.assertEqual([(r.ok, r.skipped, r.error, r.to_send) for r in dry],
                         [(r.ok, r.skipped, r.error, r.to_send) for r in real])

    def test_strict_mode_for_imports(self):
        now = self._now()
        date = now - timedelta(hours=3)
        Consent = self.env["iys.consent"]
        base = {"brand_id": self.brand.id, "channel": "MESAJ", "recipient_type": "BIREYSEL",
                "address": "05321112233", "status": "ONAY", "source": "HS_WEB", "consent_date": date}
        first = Consent._iys_record_movements_bulk([base], "import", strict=True, now=now)[0]
        self.assertTrue(first.ok and not first.skipped)
        # The same row again: unchanged, not an H178 error and no second event.
        again = Consent._iys_record_movements_bulk([base], "import", strict=True, now=now)[0]
        self.assertEqual((again.skipped, again.reason, again.error), (True, "unchanged", None))
        self.assertEqual(len(first.consent.event_ids), 1)
        # Without strict, the ORM semantics: H178.
        loose = Consent._iys_record_movements_bulk([base], "import", now=now)[0]
        self.assertIn("H178", loose.error)
        # No date: refused with the library's code rather than dated now.
        undated = Consent._iys_record_movements_bulk(
            [dict(base, address="05321112244", consent_date=False),
             dict(base, address="05321112255", recipient_type="TACIR", source=False, consent_date=False)],
            "import", strict=True, now=now)
        self.assertEqual(undated[0].error_code, "H112")
        self.assertTrue(undated[1].ok)
        tacir_update = Consent._iys_record_movements_bulk(
            [dict(base, address="05321112255", recipient_type="TACIR", status="RET", consent_date=False)],
            "import", strict=True, now=now)[0]
        self.assertEqual(tacir_update.error_code, "H462")

    def test_registered_mode_checks_format_not_deadline(self):
        now = self._now()
        Consent = self.env["iys.consent"]
        base = {"brand_id": self.brand.id, "channel": "MESAJ", "recipient_type": "BIREYSEL",
                "address": "05321112233", "status": "ONAY", "source": "HS_WEB",
                "consent_date": now - timedelta(days=400)}
        results = Consent._iys_record_movements_bulk([
            base,
            dict(base, address="05321112244", status="RET", source="IYS_KISAMESAJ"),  # first RET, İYS source
            dict(base, address="05321112255", consent_date=now + timedelta(days=3)),  # H162
            dict(base, address="05321112266", consent_date=datetime(2014, 1, 1)),  # H156
            dict(base, address="05321112277", source="HS_UYDURMA"),  # H119
            dict(base, address="05321112288", source=False),  # H113
        ], "import", mode="registered", strict=True, now=now)
        self.assertTrue(results[0].ok and not results[0].skipped)
        self.assertEqual((results[0].consent.sync_state, results[0].event.actor, results[0].event.push_state),
                         ("confirmed", "iys", "confirmed"))
        self.assertEqual((results[1].consent.status, results[1].consent.source), ("RET", "IYS_KISAMESAJ"))
        self.assertEqual([r.error_code for r in results[2:]], ["H162", "H156", "H119", "H113"])
        self.assertFalse(self.env["iys.outbox"].search([("brand_id", "=", self.brand.id)]))
        self.assertEqual(results[0].event.origin, "import")
        # The same fact again is unchanged; an older one too.
        again = Consent._iys_record_movements_bulk(
            [base, dict(base, consent_date=now - timedelta(days=500))], "import", mode="registered", strict=True,
            now=now)
        self.assertEqual([r.reason for r in again], ["unchanged", "older"])

    def test_orm_caches_follow_sql(self):
        consent = self.record("05321112233").consent
        self.assertEqual((consent.status, len(consent.event_ids)), ("ONAY", 1))  # now cached
        self.env["iys.consent"]._iys_record_movements_bulk([{
            "brand_id": self.brand.id, "channel": "MESAJ", "recipient_type": "BIREYSEL", "address": "05321112233",
            "status": "RET", "source": "HS_WEB", "consent_date": self._next_date(),
        }], "form")
        self.assertEqual((consent.status, len(consent.event_ids)), ("RET", 2))
        self.assertEqual(consent.event_ids[0].old_status, "ONAY")
        # what the bulk writer puts in the cache for the hook (the consents' keys) is what SQL wrote
        new = self.env["iys.consent"]._iys_record_movements_bulk([{
            "brand_id": self.brand.id, "channel": "EPOSTA", "recipient_type": "TACIR", "address": "Firma@Example.com",
            "status": "ONAY", "source": "HS_WEB", "consent_date": self._next_date(),
        }], "form")[0].consent
        cached = (new.brand_id.id, new.channel, new.recipient_type, new.address)
        self.env.cr.execute(
            "SELECT brand_id, channel, recipient_type, address FROM iys_consent WHERE id = %s", [new.id])
        self.assertEqual(self.env.cr.fetchone(), cached)
        self.assertEqual(cached, (self.brand.id, "EPOSTA", "TACIR", "firma@example.com"))

    def test_after_movements_hook_once_per_batch(self):
        calls = []
        Consent = self.env["iys.consent"]
        movements = [
            {"brand_id": self.brand.id, "channel": "MESAJ", "recipient_type": "BIREYSEL", "address": address,
             "status": "ONAY", "source": "HS_WEB", "consent_date": self._next_date()}
            for address in ("05321112233", "05321112244", "garbage")
        ]
        with patch.object(type(Consent), "_iys_after_movements", new=lambda self, results: calls.append(results)):
            Consent._iys_record_movements_bulk(movements, "import")
        self.assertEqual(len(calls), 1)
        self.assertEqual(sorted(r.consent.address for r in calls[0]), ["+905321112233", "+905321112244"])

    def test_contact_states_follow_the_bulk_path(self):
        partner = self.env["res.partner"].create({"name": "Deniz", "mobile": "+90 532 111 22 33"})
        self.assertEqual(partner.iys_sms_state, "no_consent")
        self.env["iys.consent"]._iys_record_movements_bulk([{
            "brand_id": self.brand.id, "channel": "MESAJ", "recipient_type": "BIREYSEL", "address": "05321112233",
            "status": "ONAY", "source": "HS_WEB", "consent_date": self._next_date(),
            "evidence": {"partner_id": partner.id},
        }], "import")
        self.assertEqual(partner.iys_sms_state, "unconfirmed")
        self.assertIn("+905321112233", partner.message_ids[:1].body)

    def test_raise_on_error_writes_nothing(self):
        Consent = self.env["iys.consent"]
        movements = [
            {"brand_id": self.brand.id, "channel": "MESAJ", "recipient_type": "BIREYSEL", "address": address,
             "status": "ONAY", "source": "HS_WEB", "consent_date": self._next_date()}
            for address in ("05321112233", "garbage")
        ]
        with self.assertRaises(ValidationError):
            Consent._iys_record_movements_bulk(movements, "import", raise_on_error=True)
        self.assertFalse(Consent.search([("address", "=", "+905321112233")]))

    def test_array_literals_round_trip(self):
        from ..models.iys_consent_bulk import pg_array

        values = ['a "quoted" \\ back\\slash', "comma, {brace}", "new\nline", "İzin çığ", "", "NULL", None, False]
        self.env.cr.execute("SELECT %s::text[]", [pg_array(values)])
        self.assertEqual(self.env.cr.fetchone()[0], [*values[:6], None, None])
        self.env.cr.execute("SELECT %s::int4[]", [pg_array([1, None, 30])])
        self.assertEqual(self.env.cr.fetchone()[0], [1, None, 30])
        # the shortcuts: only integers; only text with nothing to escape
        self.env.cr.execute("SELECT %s::int4[]", [pg_array([1, 20, 300])])
        self.assertEqual(self.env.cr.fetchone()[0], [1, 20, 300])
        plain = ["a", "comma, {brace}", "new\nline", "İzin çığ", "", "NULL", "+905321112233"]
        self.env.cr.execute("SELECT %s::text[]", [pg_array(plain)])
        self.assertEqual(self.env.cr.fetchone()[0], plain)
        for tricky in (["a", 'b"'], ["a\\", "b"], ['","', "x"]):
            self.env.cr.execute("SELECT %s::text[]", [pg_array(tricky)])
            self.assertEqual(self.env.cr.fetchone()[0], tricky)

    def test_access_checked(self):
        movement = {"brand_id": self.brand.id, "channel": "MESAJ", "recipient_type": "BIREYSEL",
                    "address": "05321112233", "status": "ONAY", "source": "HS_WEB", "consent_date": self._next_date()}
        with self.assertRaises(AccessError):
            self.env["iys.consent"].with_user(self.plain_user)._iys_record_movements_bulk([movement], "import")
        result = self.env["iys.consent"].with_user(self.iys_user)._iys_record_movements_bulk([movement], "import")[0]
        self.assertEqual(result.event.sudo().user_id, self.iys_user)
