# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
import ast
import csv
import io
import re
from datetime import datetime, timedelta
from unittest.mock import patch

from psycopg2 import errors as pg_errors

from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged

from ..iyslib.dates import to_iys_date
from .common import IysCommon
from .common_import import ENGLISH, TURKISH, ImportFilesMixin


@tagged("post_install", "-at_install", "l10n_tr_iys")
class TestConsentImport(ImportFilesMixin, IysCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Import = cls.env["iys.consent.import"]
        cls.now = cls._now()
        cls.recent = to_iys_date(cls.now - timedelta(hours=1))
        cls.recent2 = to_iys_date(cls.now - timedelta(minutes=50))
        cls.old = to_iys_date(cls.now - timedelta(days=20))
        cls.future = to_iys_date(cls.now + timedelta(days=2))

    # ------------------------------------------------------------------------------------------
    # Helpers
    # ------------------------------------------------------------------------------------------
    def _ledger_size(self):
        self.env.flush_all()
        sizes = []
        for table in ("iys_consent", "iys_consent_event", "iys_outbox", "res_partner"):
            self.env.cr.execute(f"SELECT count(*) FROM {table}")  # constant table names
            sizes.append(self.env.cr.fetchone()[0])
        return sizes

    @staticmethod
    def _report(wizard):
        data = wizard.report_id.sudo().raw.decode("utf-8-sig")
        delimiter = wizard.file_delimiter or ";"
        rows = list(csv.reader(io.StringIO(data), delimiter=delimiter))
        return rows[0], {int(row[0]): row for row in rows[1:]}

    def _insert_lines_failing(self, at, error):
        """A patch of the file reading that raises *error* right after the *at*-th chunk of rows is
        stored; returns the patch and the list of the chunks' sizes, filled as they are stored."""
        Import = type(self.Import)
        original_insert = Import._iys_insert_lines
        calls = []

        def insert(record, lines):
            calls.append(len(lines))
            original_insert(record, lines)
            if len(calls) == at:
                raise error

        return patch.object(Import, "_iys_insert_lines", insert), calls

    def _crash(self, function):
        try:
            function()
        except MemoryError:
            return
        self.fail("the simulated crash did not happen")

    def _consent(self, address, channel="MESAJ", recipient_type="BIREYSEL", brand=None):
        return self.Consent.search([("brand_id", "=", (brand or self.brand).id), ("channel", "=", channel),
                                    ("recipient_type", "=", recipient_type), ("address", "=", address)])

    # ------------------------------------------------------------------------------------------
    # Tests
    # ------------------------------------------------------------------------------------------
    def test_csv_english_headers_dry_run_then_import(self):
        content = self._csv([
            ["0532 100 00 01", "MESAJ", "HS_WEB", "ONAY", self.recent, "BIREYSEL", ""],
            ["Ayse.Yilmaz@Example.com", "EPOSTA", "HS_MOBIL", "ONAY", self.recent, "BIREYSEL", ""],
            ["05321000002", "ARAMA", "HS_CAGRI_MERKEZI", "RET", self.recent, "", ""],  # first RET: kept, not sent
            ["05321000003", "MESAJ", "", "ONAY", "", "TACIR", ""],  # merchant's first record without date
        ])
        wizard = self._wizard(content)
        before = self._ledger_size()
        wizard.action_check()
        self.assertEqual(wizard.state, "checked")
        self.assertEqual(self._ledger_size(), before, "the dry run must not write to the ledger or contacts")
        self.assertEqual(
            (wizard.count_rows, wizard.count_valid, wizard.count_invalid, wizard.count_unchanged,
             wizard.count_duplicate, wizard.count_local_only),
            (4, 4, 0, 0, 0, 1),
        )
        self.assertFalse(wizard.report_id)
        wizard.action_import()
        self.assertEqual(wizard.state, "done")
        self.assertEqual((wizard.count_valid, wizard.count_invalid), (4, 0))
        sms = self._consent("+905321000001")
        self.assertEqual((sms.status, sms.sync_state, sms.source), ("ONAY", "pending", "HS_WEB"))
        self.assertEqual(sms.consent_date, self.now - timedelta(hours=1))
        event = sms.event_ids
        self.assertEqual((event.origin, event.actor, event.user_id), ("import", "user", self.iys_manager))
        self.assertIn("consents.csv, row 2", event.evidence_note)
        self.assertEqual(self.env["iys.outbox"].search([("consent_id", "=", sms.id)]).payload["recipient"],
                         "+905321000001")
        self.assertTrue(self._consent("ayse.yilmaz@example.com", channel="EPOSTA"))
        call = self._consent("+905321000002", channel="ARAMA")
        self.assertEqual((call.status, call.sync_state), ("RET", "none"))
        tacir = self._consent("+905321000003", recipient_type="TACIR")
        self.assertEqual((tacir.status, tacir.consent_date), ("ONAY", False))
        self.assertEqual(self.env["iys.outbox"].search_count([("brand_id", "=", self.brand.id)]), 3)
        self.assertFalse(self.env["iys.consent.import.line"].search([("import_id", "=", wizard.id)]))

    def test_turkish_headers_any_spelling_semicolon_and_encodings(self):
        header = ["ALICI", " izin  tipi ", "Kaynak", "durum", "İZİN TARİHİ", "alıcı tipi", "Bayi Kodu"]
        rows = [
            ["0532 100 00 11", "Mesaj", "hs_web", "Onay", self.recent, "Bireysel", ""],
            ["05321000012", "MESAJ", "HS_FIZIKSEL_ORTAM", "onay", self.recent, "Tacir", ""],
            ["çiğdem@example.com", "EPOSTA", "HS_WEB", "ONAY", self.recent, "BIREYSEL", ""],  # H120: Turkish letters
        ]
        for encoding, delimiter in (("cp1254", ";"), ("utf-8-sig", ";"), ("utf-8", ",")):
            with self.subTest(encoding=encoding, delimiter=delimiter):
                wizard = self._wizard(self._csv(rows, header=header, delimiter=delimiter, encoding=encoding))
                wizard.action_check()
                self.assertEqual((wizard.file_delimiter, wizard.count_valid, wizard.count_invalid), (delimiter, 2, 1))
                self.assertEqual(wizard.file_encoding, "cp1254" if encoding == "cp1254" else "utf-8-sig")
                _header, report = self._report(wizard)
                self.assertEqual(report[4][1], "çiğdem@example.com", "the original value, decoded right")
                self.assertEqual(report[4][-2], "H120")

    def test_bad_rows_do_not_block_good_ones_and_error_report(self):
        content = self._csv([
            ["05321000021", "MESAJ", "HS_WEB", "ONAY", self.recent, "BIREYSEL", ""],  # row 2: good
            ["0532 12", "MESAJ", "HS_WEB", "ONAY", self.recent, "BIREYSEL", ""],  # row 3: H121
            ["05321000023", "MESAJ", "HS_WEB", "ONAY", self.future, "BIREYSEL", ""],  # row 4: H162
            ["05321000024", "MESAJ", "HS_TELEPATI", "ONAY", self.recent, "BIREYSEL", ""],  # row 5: H119
            ["05321000025", "MESAJ", "HS_WEB", "ONAY"],  # row 6: broken row
            ["05321000026", "MESAJ", "HS_WEB", "ONAY", self.recent, "KURUMSAL", ""],  # row 7: H116
            ["05321000027", "MESAJ", "HS_2015", "ONAY", "2015-06-01 00:00:00", "BIREYSEL", ""],  # row 8: H155
            ["05321000028", "MESAJ", "HS_2015", "ONAY", "2015-05-01 00:00:00", "BIREYSEL", ""],  # row 9: good
            ["05321000029", "MESAJ", "HS_WEB", "ONAY", self.old, "BIREYSEL", ""],  # row 10: H467
            ["05321000030", "MESAJ", "HS_WEB", "ONAY", "2026-02-30 10:00:00", "BIREYSEL", ""],  # row 11: H157
            ["05321000031", "MESAJ", "HS_WEB", "ONAY", "2026-11-20T10:00:00Z", "BIREYSEL", ""],  # row 12: H158
            ["05321000032", "FAKS", "HS_WEB", "ONAY", self.recent, "BIREYSEL", ""],  # row 13: H117
            ["05321000033", "MESAJ", "HS_WEB", "ONAY", "", "BIREYSEL", ""],  # row 14: H112
            ["05321000034", "MESAJ", "HS_WEB", "ONAY", self.recent, "BIREYSEL", "12345678"],  # row 15: no such dealer
        ])
        wizard = self._wizard(content)
        wizard.action_check()
        self.assertEqual((wizard.count_rows, wizard.count_valid, wizard.count_invalid), (14, 2, 12))
        header, report = self._report(wizard)
        self.assertEqual(header, ["Row", *ENGLISH, "Code", "Message"])
        self.assertEqual(sorted(report), [3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 15])
        codes = {row_no: row[-2] for row_no, row in report.items()}
        self.assertEqual(codes, {3: "H121", 4: "H162", 5: "H119", 6: "COLUMNS", 7: "H116", 8: "H155", 10: "H467",
                                 11: "H157", 12: "H158", 13: "H117", 14: "H112", 15: "H180"})
        self.assertEqual(report[3][1:8], ["0532 12", "MESAJ", "HS_WEB", "ONAY", self.recent, "BIREYSEL", ""])
        self.assertIn("0532 12", report[3][-1])
        self.assertIn("future", report[4][-1])
        self.assertIn("HS_TELEPATI", report[5][-1])
        self.assertIn("4 columns, the header 7", report[6][-1])
        self.assertIn("2015-05-01 00:00:00", report[8][-1])
        self.assertIn("3 business days", report[10][-1])
        wizard.action_import()
        self.assertEqual((wizard.count_valid, wizard.count_invalid), (2, 12))
        self.assertTrue(self._consent("+905321000021"))
        self.assertEqual(self._consent("+905321000028").source, "HS_2015")
        self.assertFalse(self.Consent.search([("address", "in", ["+905321000023", "+905321000029"])]))
        _header, final_report = self._report(wizard)
        self.assertEqual(sorted(final_report), sorted(report))

    def test_retailer_codes_known_unknown_and_unregistered(self):
        Retailer = self.env["iys.retailer"].sudo()
        dealer = Retailer.create({"name": "Bayi", "brand_id": self.brand.id, "code": "12345678",
                                  "sync_state": "registered"})
        Retailer.create({"name": "Taslak bayi", "brand_id": self.brand.id})
        Retailer.create({"name": "B bayisi", "brand_id": self.brand_b.id, "code": "22222222",
                         "sync_state": "registered"})
        rows = [
            ["05321000051", "MESAJ", "HS_WEB", "ONAY", self.recent, "BIREYSEL", "12345678"],  # row 2: known
            ["05321000052", "MESAJ", "HS_WEB", "ONAY", self.recent, "BIREYSEL", "87654321"],  # row 3: unknown
            ["05321000053", "MESAJ", "HS_WEB", "ONAY", self.recent, "BIREYSEL", "22222222"],  # row 4: other brand
            ["05321000054", "MESAJ", "HS_WEB", "ONAY", self.recent, "BIREYSEL", ""],  # row 5: the brand's own
        ]
        wizard = self._wizard(self._csv(rows))
        wizard.action_check()
        self.assertEqual((wizard.count_valid, wizard.count_invalid), (2, 2))
        _header, report = self._report(wizard)
        self.assertEqual({row_no: row[-2] for row_no, row in report.items()}, {3: "H180", 4: "H180"})
        self.assertIn("No dealer of this brand has the code “87654321”", report[3][-1])
        wizard.action_import()
        consent = self._consent("+905321000051")
        self.assertEqual(consent.retailer_id, dealer)
        self.assertEqual(consent.event_ids.retailer_id, dealer)
        outbox = self.env["iys.outbox"].sudo().search([("consent_id", "=", consent.id)])
        self.assertEqual(outbox.payload["retailerCode"], 12345678)
        self.assertFalse(self._consent("+905321000054").retailer_id)
        self.assertFalse(self._consent("+905321000052"), "the unknown dealer's row is not recorded")
        # Facts already on İYS carry their dealer too.
        registered = self._wizard(self._csv([["05321000055", "MESAJ", "HS_WEB", "ONAY", self.old, "BIREYSEL",
                                              "12345678"]]), mode="registered")
        registered.action_check()
        registered.action_import()
        self.assertEqual(self._consent("+905321000055").retailer_id, dealer)

    def test_report_in_the_users_language(self):
        self.env["res.lang"]._activate_lang("tr_TR")
        self.iys_manager.lang = "tr_TR"
        wizard = self._wizard(self._csv([["0532 12", "MESAJ", "HS_WEB", "ONAY", self.recent, "BIREYSEL", ""]],
                                        header=TURKISH, delimiter=";"))
        wizard.with_user(self.iys_manager).with_context(lang="tr_TR").action_check()
        _header, report = self._report(wizard)
        self.assertEqual(report[2][-2], "H121")
        self.assertIn("Telefon numarası", report[2][-1])

    def test_old_consents_refused_to_send_but_accepted_as_registered(self):
        rows = [["05321000041", "MESAJ", "HS_WEB", "ONAY", self.old, "BIREYSEL", ""],
                ["05321000042", "MESAJ", "IYS_MOBIL", "RET", self.old, "BIREYSEL", ""]]
        to_send = self._wizard(self._csv(rows))
        to_send.action_check()
        self.assertEqual((to_send.count_valid, to_send.count_invalid), (0, 2))
        _header, report = self._report(to_send)
        self.assertEqual((report[2][-2], report[3][-2]), ("H467", "H119"))
        registered = self._wizard(self._csv(rows), mode="registered")
        registered.action_check()
        self.assertEqual((registered.count_valid, registered.count_invalid), (2, 0))
        registered.action_import()
        consent = self._consent("+905321000041")
        self.assertEqual((consent.status, consent.sync_state), ("ONAY", "confirmed"))
        self.assertEqual(consent.event_ids.push_state, "confirmed")
        refused = self._consent("+905321000042")
        self.assertEqual((refused.status, refused.source, refused.sync_state), ("RET", "IYS_MOBIL", "confirmed"))
        self.assertFalse(self.env["iys.outbox"].search([("consent_id", "in", (consent | refused).ids)]))

    def test_partners_matched_or_created(self):
        Partner = self.env["res.partner"]
        by_email = Partner.create({"name": "Ayşe", "email": "Ayse@Example.com"})
        by_phone = Partner.create({"name": "Mehmet", "mobile": "+90 532 100 00 51"})
        rows = [["ayse@example.com", "EPOSTA", "HS_WEB", "ONAY", self.recent, "BIREYSEL", ""],
                ["05321000051", "MESAJ", "HS_WEB", "ONAY", self.recent, "BIREYSEL", ""],
                ["05321000052", "MESAJ", "HS_WEB", "ONAY", self.recent, "BIREYSEL", ""]]
        wizard = self._wizard(self._csv(rows))
        wizard.action_check()
        self.assertEqual((wizard.count_partner_matched, wizard.count_partner_created), (2, 0))
        wizard.action_import()
        self.assertEqual(self._consent("ayse@example.com", channel="EPOSTA").event_ids.partner_id, by_email)
        self.assertEqual(self._consent("+905321000051").event_ids.partner_id, by_phone)
        self.assertFalse(self._consent("+905321000052").event_ids.partner_id)
        # With creation on request: counted by the dry run, created by the import, if allowed.
        wizard = self._wizard(self._csv([["05321000054", "MESAJ", "HS_WEB", "ONAY", self.recent, "BIREYSEL", ""]]),
                              create_partners=True)
        with self.assertRaises(UserError):
            wizard.action_check()
        self.iys_manager.groups_id += self.env.ref("base.group_partner_manager")
        rows = [["05321000053", "MESAJ", "HS_WEB", "ONAY", self.recent, "TACIR", ""],
                ["05321000051", "ARAMA", "HS_WEB", "ONAY", self.recent, "BIREYSEL", ""]]
        wizard = self._wizard(self._csv(rows), create_partners=True)
        partners_before = Partner.search_count([])
        wizard.action_check()
        self.assertEqual((wizard.count_partner_matched, wizard.count_partner_created), (1, 1))
        self.assertEqual(Partner.search_count([]), partners_before)
        wizard.action_import()
        created = self._consent("+905321000053", recipient_type="TACIR").event_ids.partner_id
        self.assertTrue(created)
        self.assertEqual((created.mobile, created.phone_sanitized, created.iys_recipient_type),
                         ("+905321000053", "+905321000053", "TACIR"))
        self.assertEqual(self._consent("+905321000051", channel="ARAMA").event_ids.partner_id, by_phone)
        self.assertEqual(Partner.search_count([]), partners_before + 1)

    def test_duplicates_applied_in_consent_date_order(self):
        rows = [
            ["05321000061", "MESAJ", "HS_CAGRI_MERKEZI", "RET", self.recent2, "BIREYSEL", ""],  # row 2: later
            ["0532 100 00 61", "MESAJ", "HS_WEB", "ONAY", self.recent, "BIREYSEL", ""],  # row 3: earlier
            ["+905321000061", "MESAJ", "HS_WEB", "ONAY", self.recent, "BIREYSEL", ""],  # row 4: same as row 3
            ["05321000062", "MESAJ", "HS_WEB", "ONAY", self.recent, "BIREYSEL", ""],
        ]
        wizard = self._wizard(self._csv(rows))
        wizard.action_check()
        self.assertEqual((wizard.count_valid, wizard.count_duplicate, wizard.count_multi, wizard.count_invalid),
                         (3, 1, 3, 0))
        _header, report = self._report(wizard)
        self.assertEqual(sorted(report), [4])
        self.assertEqual(report[4][-2], "DUPLICATE")
        self.assertIn("row 3", report[4][-1])
        wizard.action_import()
        consent = self._consent("+905321000061")
        self.assertEqual(consent.status, "RET")
        events = consent.event_ids.sorted("id")
        self.assertEqual(events.mapped("new_status"), ["ONAY", "RET"])
        self.assertEqual(events.mapped("old_status"), [False, "ONAY"])
        outbox = self.env["iys.outbox"].search([("consent_id", "=", consent.id)], order="id")
        self.assertEqual([row.payload["status"] for row in outbox], ["ONAY", "RET"])

    def test_reimport_is_unchanged(self):
        content = self._csv([["05321000071", "MESAJ", "HS_WEB", "ONAY", self.recent, "BIREYSEL", ""],
                             ["05321000072", "MESAJ", "HS_WEB", "RET", self.recent, "BIREYSEL", ""]])
        first = self._wizard(content)
        first.action_check()
        first.action_import()
        again = self._wizard(content)
        again.action_check()
        self.assertEqual((again.count_valid, again.count_unchanged, again.count_invalid), (0, 2, 0))
        self.assertFalse(again.report_id)

    def test_xlsx_with_turkish_headers(self):
        local = (self.now + timedelta(hours=3) - timedelta(hours=1)).replace(microsecond=0)
        content = self._xlsx([
            [5321000081, "MESAJ", "HS_WEB", "ONAY", local, "BIREYSEL", None],  # a number and a date cell
            ["ayse@example.com", "EPOSTA", "HS_WEB", "ONAY", self.recent, "BIREYSEL", None],
            ["12", "MESAJ", "HS_WEB", "ONAY", self.recent, "BIREYSEL", None],
        ])
        wizard = self._wizard(content, name="izinler.xlsx")
        wizard.action_check()
        self.assertEqual((wizard.file_kind, wizard.count_rows, wizard.count_valid, wizard.count_invalid),
                         ("xlsx", 3, 2, 1))
        header, report = self._report(wizard)
        self.assertEqual(header[1:8], list(TURKISH))
        self.assertEqual(report[4][-2], "H121")
        wizard.action_import()
        self.assertEqual(self._consent("+905321000081").consent_date, self.now - timedelta(hours=1))

    def test_missing_column_refused(self):
        wizard = self._wizard(self._csv([["MESAJ", "ONAY"]], header=["type", "status"]))
        with self.assertRaises(UserError) as caught:
            wizard.action_check()
        self.assertIn("recipient", caught.exception.args[0])

    def test_background_run_resumes_after_a_crash_without_duplicates(self):
        self.env["ir.config_parameter"].set_param("l10n_tr_iys.import_chunk_size", "2")
        self.env["ir.config_parameter"].set_param("l10n_tr_iys.import_parts", "1")  # chunks in file order
        self.env["ir.config_parameter"].set_param("l10n_tr_iys.import_sync_max_bytes", "0")
        rows = [[f"053210001{n:02d}", "MESAJ", "HS_WEB", "ONAY", self.recent, "BIREYSEL", ""] for n in range(9)]
        rows.append(["bad", "MESAJ", "HS_WEB", "ONAY", self.recent, "BIREYSEL", ""])
        wizard = self._wizard(self._csv(rows))
        cron = self.env.ref("l10n_tr_iys.ir_cron_iys_consent_import")
        triggers = self.env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)])
        wizard.action_check()
        self.assertEqual(wizard.state, "checking", "large files are checked in the background")
        self.assertEqual(self.env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)]), triggers + 1)
        # A crash while reading the file: the chunk in progress is lost, the others are kept. (Not
        # assertRaises, whose savepoint would roll back the chunks committed before the crash too.)
        crash_on_third_chunk, _calls = self._insert_lines_failing(3, MemoryError("worker killed"))
        with crash_on_third_chunk:
            self._crash(self.Import._cron_run_imports)
        self.env.invalidate_all()
        self.assertEqual((wizard.state, wizard.phase, wizard.resume_row), ("checking", "parse", 5))
        self.Import._cron_run_imports()
        self.assertEqual(wizard.state, "checked")
        self.assertEqual((wizard.count_rows, wizard.count_valid, wizard.count_invalid), (10, 9, 1))
        wizard.action_import()
        self.assertEqual(wizard.state, "importing")
        Consent = type(self.Consent)
        original_bulk_insert = Consent._iys_bulk_insert
        inserts = []

        def crash_in_third_chunk(record, model, rows):
            if model._name == "iys.consent.event":
                inserts.append(len(rows["consent_id"]))
                if len(inserts) == 3:
                    raise MemoryError("worker killed after the consents of the chunk were inserted")
            return original_bulk_insert(record, model, rows)

        # A crash in the middle of a chunk of the import.
        with patch.object(Consent, "_iys_bulk_insert", crash_in_third_chunk):
            self._crash(self.Import._cron_run_imports)
        self.env.invalidate_all()
        self.assertEqual((wizard.state, wizard.phase, wizard.count_valid), ("importing", "import", 4))
        imported = self.Consent.search([("brand_id", "=", self.brand.id)])
        self.assertEqual(len(imported), 4, "the interrupted chunk left nothing behind")
        self.Import._cron_run_imports()
        self.assertEqual(wizard.state, "done")
        self.assertEqual((wizard.count_valid, wizard.count_invalid), (9, 1))
        consents = self.Consent.search([("brand_id", "=", self.brand.id)])
        self.assertEqual(len(consents), 9)
        events = self.env["iys.consent.event"].search([("consent_id", "in", consents.ids)])
        self.assertEqual(len(events), 9)
        self.assertEqual(set(events.mapped("consent_id")), set(consents))
        self.assertEqual(self.env["iys.outbox"].search_count([("consent_id", "in", consents.ids)]), 9)

    def _ranged_rows(self):
        """Twelve rows: phones and e-mails, one phone in two channels, one duplicate, one bad row."""
        rows = [[f"053210002{n:02d}", "MESAJ", "HS_WEB", "ONAY", self.recent, "BIREYSEL", ""] for n in range(6)]
        rows += [[f"user{n}@example.com", "EPOSTA", "HS_WEB", "ONAY", self.recent, "BIREYSEL", ""] for n in range(3)]
        rows.append(["05321000203", "ARAMA", "HS_WEB", "RET", self.recent, "BIREYSEL", ""])  # same phone, other channel
        rows.append(rows[0])  # exact duplicate
        rows.append(["0532 12", "MESAJ", "HS_WEB", "ONAY", self.recent, "BIREYSEL", ""])
        return rows

    def _walk_counts(self, wizard):
        return (wizard.count_rows, wizard.count_valid, wizard.count_invalid, wizard.count_duplicate,
                wizard.count_multi, wizard.count_local_only, wizard.count_partner_matched, wizard.count_walked)

    def test_walk_split_in_address_ranges(self):
        """The walk is split into consecutive address ranges (one worker each at a time) that
        together hold every row once, every row of one address in the same range; the counts are
        the same as for one range."""
        self.env["ir.config_parameter"].set_param("l10n_tr_iys.import_chunk_size", "2")
        Partner = self.env["res.partner"]
        phone_holder = Partner.create({"name": "Two channels", "mobile": "+905321000203"})
        content = self._csv(self._ranged_rows())
        counts = {}
        for parts in (1, 3):
            self.env["ir.config_parameter"].set_param("l10n_tr_iys.import_parts", str(parts))
            wizard = self._wizard(content)
            wizard.action_check()
            self.assertEqual(wizard.state, "checked")
            counts[parts] = self._walk_counts(wizard)
            ranges = wizard.part_ids.sorted("sequence")
            self.assertEqual(len(ranges), parts)
            self.assertTrue(all(ranges.mapped("done")))
            ends = [end for end in ranges.mapped("end_key") if end]
            self.assertEqual(ends, sorted(set(ends)), "ranges follow each other, none overlaps")
            self.assertEqual(sum(ranges.mapped("count_walked")), wizard.count_staged)
        self.assertEqual(counts[1], counts[3])
        self.assertEqual(counts[3], (12, 10, 1, 1, 2, 1, 1, 11))
        # The phone's two channels are in one range: its contact is matched once, by one worker.
        phone_range = wizard.part_ids.filtered(
            lambda part: (not part.start_key or part.start_key < "+905321000203")
            and (not part.end_key or "+905321000203" <= part.end_key))
        self.assertEqual(len(phone_range), 1)
        self.assertGreaterEqual(phone_range.count_walked, 3, "both channels of the phone and the duplicate")
        wizard.action_import()
        self.assertEqual(wizard.state, "done")
        self.assertEqual((wizard.count_valid, wizard.count_invalid), (10, 1))
        consents = self.Consent.search([("brand_id", "=", self.brand.id)])
        self.assertEqual(len(consents), 10)
        self.assertEqual(self.env["iys.consent.event"].search_count([("consent_id", "in", consents.ids)]), 10)
        self.assertEqual(set(self._consent("+905321000203", channel="ARAMA").event_ids.partner_id.ids),
                         {phone_holder.id})

    def test_a_range_held_by_another_worker(self):
        """A worker walks the free ranges and leaves the one another worker holds; the walk ends
        (report, counts, state) only when every range is walked, by whichever worker sees it."""
        self.env["ir.config_parameter"].set_param("l10n_tr_iys.import_chunk_size", "2")
        self.env["ir.config_parameter"].set_param("l10n_tr_iys.import_parts", "3")
        self.env["ir.config_parameter"].set_param("l10n_tr_iys.import_sync_max_bytes", "0")
        wizard = self._wizard(self._csv(self._ranged_rows()))
        wizard.action_check()
        self.Import._cron_run_imports()  # reads the file, then walks every range
        self.assertEqual(wizard.state, "checked")
        expected = self._walk_counts(wizard)
        wizard.action_import()
        Import = type(self.Import)
        original = Import._iys_next_part
        held = {1}  # the sequence of the range another worker holds

        def next_part(record, lock):
            part, busy = original(record, lock)
            if part and part.sequence in held:
                # what FOR … SKIP LOCKED gives when another worker holds it: the next free range
                # (none here: ranges are walked in order), and "busy"
                rest = record.part_ids.filtered(lambda p: not p.done and p.sequence not in held).sorted("sequence")
                return rest[:1], not rest
            return part, busy

        with patch.object(Import, "_iys_next_part", next_part):
            self.Import._cron_run_imports()
        self.assertEqual(wizard.state, "importing", "a range is still being walked by another worker")
        self.assertFalse(wizard.date_done)
        ranges = wizard.part_ids.sorted("sequence")
        self.assertEqual(ranges.mapped("done"), [True, False, True])
        walked_before = wizard.count_walked
        self.assertLess(walked_before, wizard.count_staged)
        self.assertEqual(self.Consent.search_count([("brand_id", "=", self.brand.id)]), wizard.count_valid)
        # The other worker finishes its range and the walk.
        self.Import._cron_run_imports()
        self.assertEqual(wizard.state, "done")
        self.assertEqual(self._walk_counts(wizard), expected)
        self.assertEqual(self.Consent.search_count([("brand_id", "=", self.brand.id)]), 10)
        self.assertTrue(wizard.report_id, "the bad row and the duplicate are reported")

    def test_chunk_walked_again_after_a_conflict_with_another_worker(self):
        """Two workers meeting on one row (serialization failure, deadlock): the chunk is rolled
        back and walked again, nothing is recorded twice; after MAX_CONFLICTS in a row the error
        is raised (the cron then stops the import with it; Resume continues)."""
        self.env["ir.config_parameter"].set_param("l10n_tr_iys.import_chunk_size", "2")
        self.env["ir.config_parameter"].set_param("l10n_tr_iys.import_parts", "2")
        wizard = self._wizard(self._csv(self._ranged_rows()))
        wizard.action_check()
        expected = self._walk_counts(wizard)
        wizard.sudo().write({"state": "importing"})
        wizard._iys_start_walk("import")
        Consent = type(self.Consent)
        original_bulk = Consent._iys_record_movements_bulk
        failures = [pg_errors.SerializationFailure("could not serialize access due to concurrent update"),
                    pg_errors.DeadlockDetected("deadlock detected")]

        def conflicting(record, movements, *args, **kwargs):
            results = original_bulk(record, movements, *args, **kwargs)  # written, then rolled back
            if failures:
                raise failures.pop(0)
            return results

        # As a background worker does (commit per chunk; here the test's transaction stands for it).
        cr = self.env.cr
        with patch.object(cr, "commit", lambda: None), patch.object(cr, "rollback", lambda: None), \
                patch.object(Consent, "_iys_record_movements_bulk", conflicting):
            wizard._iys_run(commit=True)
        self.assertFalse(failures)
        self.assertEqual(wizard.state, "done")
        self.assertEqual(self._walk_counts(wizard), expected)
        consents = self.Consent.search([("brand_id", "=", self.brand.id)])
        self.assertEqual(len(consents), 10)
        self.assertEqual(self.env["iys.consent.event"].search_count([("consent_id", "in", consents.ids)]), 10)
        self.assertEqual(self.env["iys.outbox"].search_count([("consent_id", "in", consents.ids)]), 9)
        # A conflict while the file is read: the rows of the rolled-back chunk are read again.
        self.env["ir.config_parameter"].set_param("l10n_tr_iys.import_sync_max_bytes", "0")
        wizard = self._wizard(self._csv(self._ranged_rows()))
        wizard.action_check()
        self.assertEqual((wizard.state, wizard.phase), ("checking", "parse"))
        conflicting_insert, inserts = self._insert_lines_failing(
            2, pg_errors.SerializationFailure("could not serialize access due to concurrent update"))
        with patch.object(cr, "commit", lambda: None), patch.object(cr, "rollback", lambda: None), \
                conflicting_insert:
            wizard._iys_run(commit=True)
        self.assertEqual(inserts, [2, 2, 2, 2, 2, 2, 2, 0], "the second chunk read twice, then the rest")
        self.assertEqual(wizard.state, "checked")
        # every row read once, walked once (the ledger holds them all already: unchanged)
        self.assertEqual((wizard.count_rows, wizard.count_walked, wizard.count_unchanged, wizard.count_invalid,
                          wizard.count_duplicate), (12, 11, 10, 1, 1))
        self.env["ir.config_parameter"].set_param("l10n_tr_iys.import_sync_max_bytes", "1000000")
        # Conflicts on every try: the run gives up after MAX_CONFLICTS, nothing recorded.
        wizard = self._wizard(self._csv([["05321000299", "MESAJ", "HS_WEB", "ONAY", self.recent, "BIREYSEL", ""]]))
        wizard.action_check()
        wizard.sudo().write({"state": "importing"})
        wizard._iys_start_walk("import")
        calls = []

        def always_conflicting(record, movements, *args, **kwargs):
            calls.append(len(movements))
            raise pg_errors.SerializationFailure("could not serialize access due to concurrent update")

        with patch.object(cr, "commit", lambda: None), patch.object(cr, "rollback", lambda: None), \
                patch.object(Consent, "_iys_record_movements_bulk", always_conflicting), \
                self.assertRaises(pg_errors.SerializationFailure):
            wizard._iys_run(commit=True)
        self.assertEqual(len(calls), 5)
        self.assertEqual((wizard.state, wizard.count_valid), ("importing", 0))
        self.assertFalse(self._consent("+905321000299"))
        # In a click (no commit), such an error is the caller's: raised.
        with patch.object(Consent, "_iys_record_movements_bulk", always_conflicting), \
                self.assertRaises(pg_errors.SerializationFailure):
            wizard._iys_run()

    def test_workers_share_one_import_at_a_time(self):
        """The workers stay on the oldest running import until it is over: two imports walked
        at once could both create a contact for one address."""
        self.env["ir.config_parameter"].set_param("l10n_tr_iys.import_sync_max_bytes", "0")
        first = self._wizard(self._csv([["05321000311", "MESAJ", "HS_WEB", "ONAY", self.recent, "BIREYSEL", ""]]))
        second = self._wizard(self._csv([["05321000312", "MESAJ", "HS_WEB", "ONAY", self.recent, "BIREYSEL", ""]]))
        first.action_check()
        second.action_check()
        Import = type(self.Import)
        original = Import._iys_run
        ran = []

        def first_is_held(record, *args, **kwargs):
            ran.append(record.id)
            if record.id == first.id:
                return 0  # another worker holds what is left of it
            return original(record, *args, **kwargs)

        with patch.object(Import, "_iys_run", first_is_held):
            self.Import._cron_run_imports()
        self.assertEqual(ran, [first.id])
        self.assertEqual((second.state, second.count_rows), ("checking", 0))
        self.assertEqual(self.Import._cron_run_imports(), 4, "each file's row read, then walked")
        self.assertEqual((first.state, second.state), ("checked", "checked"))

    def test_walk_started_without_ranges_is_walked_again(self):
        """A walk in progress when the addon is upgraded from the version that kept one resume
        point (no ranges) is walked again in ranges: nothing is lost, nothing recorded twice."""
        rows = [[f"053210003{n:02d}", "MESAJ", "HS_WEB", "ONAY", self.recent, "BIREYSEL", ""] for n in range(4)]
        wizard = self._wizard(self._csv(rows))
        wizard.action_check()
        self.assertEqual(wizard.count_valid, 4)
        # As the earlier version left it: importing, two rows recorded, no range rows.
        self.env["iys.consent"]._iys_record_movements([
            {"brand_id": self.brand.id, "channel": "MESAJ", "address": f"+9053210003{n:02d}", "status": "ONAY",
             "source": "HS_WEB", "consent_date": self.now - timedelta(hours=1)} for n in range(2)
        ], "import")
        wizard.part_ids.sudo().unlink()
        wizard.sudo().write({"state": "importing", "phase": "import"})
        self.assertEqual(wizard.count_valid, 0)
        self.Import._cron_run_imports()
        self.assertEqual(wizard.state, "done")
        self.assertEqual((wizard.count_valid, wizard.count_unchanged), (2, 2))
        consents = self.Consent.search([("brand_id", "=", self.brand.id)])
        self.assertEqual(len(consents), 4)
        self.assertEqual(self.env["iys.consent.event"].search_count([("consent_id", "in", consents.ids)]), 4)

    def test_stop_and_resume(self):
        self.env["ir.config_parameter"].set_param("l10n_tr_iys.import_sync_max_bytes", "0")
        wizard = self._wizard(self._csv([["05321000091", "MESAJ", "HS_WEB", "ONAY", self.recent, "BIREYSEL", ""]]))
        wizard.action_check()
        wizard.action_stop()
        self.assertEqual(wizard.state, "failed")
        self.Import._cron_run_imports()
        self.assertEqual(wizard.state, "failed", "a stopped import stays stopped")
        wizard.action_resume()
        self.Import._cron_run_imports()
        self.assertEqual((wizard.state, wizard.count_valid), ("checked", 1))

    def test_new_file_makes_the_dry_run_stale(self):
        wizard = self._wizard(self._csv([["05321000095", "MESAJ", "HS_WEB", "ONAY", self.recent, "BIREYSEL", ""]]))
        wizard.action_check()
        self.assertEqual(wizard.state, "checked")
        wizard.write({"mode": "registered"})
        self.assertEqual((wizard.state, wizard.count_rows), ("draft", 0))
        self.assertFalse(self.env["iys.consent.import.line"].search([("import_id", "=", wizard.id)]))

    def test_only_managers_import(self):
        content = self._csv([["05321000099", "MESAJ", "HS_WEB", "ONAY", self.recent, "BIREYSEL", ""]])
        for user in (self.plain_user, self.iys_user):
            with self.subTest(user=user.login), self.assertRaises(AccessError):
                self._wizard(content, user=user)
        wizard = self._wizard(content)
        with self.assertRaises(AccessError):
            wizard.with_user(self.iys_user).action_check()
        with self.assertRaises(AccessError):
            wizard.with_user(self.iys_user).read(["state"])
        with self.assertRaises(AccessError):
            self.env["iys.consent.import.line"].with_user(self.iys_user).search([])
        self.assertFalse(self.Consent.search([("address", "=", "+905321000099")]))

    def test_reader_helpers(self):
        from ..wizards import iys_consent_import_reader as reader

        mapping, unknown, missing = reader.map_header(
            ["Alıcı", "Tip", "SOURCE", "Durum", "consent_date", "Alıcı Tipi", "retailer code", "Not"])
        self.assertEqual(mapping, {"recipient": 0, "type": 1, "source": 2, "status": 3, "consentDate": 4,
                                   "recipientType": 5, "retailerCode": 6})
        self.assertEqual((unknown, missing), (["Not"], []))
        self.assertEqual(reader.map_header(["type"])[2], ["recipient", "status"])
        self.assertEqual(reader.fold_code(" tacir "), "TACIR")
        self.assertEqual(reader.fold_code("hs çağrı merkezi"), "HS_CAGRI_MERKEZI")
        self.assertEqual(reader.normalize_date_text("23.11.2026 14:05"), "2026-11-23 14:05:00")
        self.assertEqual(reader.cell_text(datetime(2026, 11, 23, 9, 0)), "2026-11-23 09:00:00")
        self.assertEqual(reader.cell_text(905321112233.0), "905321112233")
        self.assertEqual(reader.detect_encoding(io.BytesIO("İzin;Şu".encode("cp1254"))), "cp1254")
        self.assertEqual(reader.detect_encoding(io.BytesIO("İzin;Şu".encode())), "utf-8-sig")

    # ------------------------------------------------------------------------------------------
    # Contacts: never damaged (issue 11 §1)
    # ------------------------------------------------------------------------------------------
    def test_contacts_created_only_for_recorded_rows(self):
        self.iys_manager.groups_id += self.env.ref("base.group_partner_manager")
        Partner = self.env["res.partner"]
        rows = [["05321000601", "MESAJ", "HS_KARAR", "ONAY", self.recent, "BIREYSEL", ""],  # H408: refused
                ["05321000602", "MESAJ", "HS_WEB", "ONAY", self.recent, "BIREYSEL", ""]]
        wizard = self._wizard(self._csv(rows), create_partners=True)
        before = Partner.search_count([])
        wizard.action_check()
        self.assertEqual((wizard.count_valid, wizard.count_invalid), (1, 1))
        self.assertEqual(wizard.count_partner_created, 1, "the dry run counts the contacts that would be created")
        self.assertEqual(Partner.search_count([]), before, "the dry run creates nothing")
        wizard.action_import()
        self.assertEqual(wizard.count_partner_created, 1)
        self.assertEqual(Partner.search_count([]), before + 1)
        self.assertFalse(Partner.search([("phone_sanitized", "=", "+905321000601")]),
                         "no contact for a refused row")
        self.assertTrue(Partner.search([("phone_sanitized", "=", "+905321000602")]))

    def test_contacts_matched_on_every_phone_field(self):
        self.iys_manager.groups_id += self.env.ref("base.group_partner_manager")
        Partner = self.env["res.partner"]
        tr = self.env.ref("base.tr")
        # the number in Phone, another number in Mobile (phone_sanitized is the mobile's)
        in_phone = Partner.create({"name": "Phone holder", "phone": "0532 100 06 11", "mobile": "0532 999 99 91",
                                   "country_id": tr.id})
        # the number in Phone as typed, no mobile
        phone_only = Partner.create({"name": "Phone only", "phone": "(532) 100-0612", "country_id": tr.id})
        # one number on two contacts
        first = Partner.create({"name": "Shared 1", "mobile": "+90 532 100 06 13"})
        second = Partner.create({"name": "Shared 2", "phone": "+90 532 100 06 13", "mobile": "0532 999 99 93",
                                 "country_id": tr.id})
        by_email = Partner.create({"name": "Mail", "email": "Ayse.Kaya@Example.com"})
        rows = [[f"0532 100 06 1{n}", "MESAJ", "HS_WEB", "ONAY", self.recent, "BIREYSEL", ""] for n in (1, 2, 3)]
        rows.append(["ayse.kaya@example.com", "EPOSTA", "HS_WEB", "ONAY", self.recent, "BIREYSEL", ""])
        wizard = self._wizard(self._csv(rows), create_partners=True)
        before = Partner.search_count([])
        wizard.action_check()
        self.assertEqual((wizard.count_partner_matched, wizard.count_partner_created, wizard.count_partner_shared),
                         (4, 0, 1))
        _header, report = self._report(wizard)
        self.assertEqual(sorted(report), [4])
        self.assertEqual(report[4][-2], "CONTACTS")
        self.assertIn("Shared 1", report[4][-1])
        self.assertIn("Shared 2", report[4][-1])
        wizard.action_import()
        self.assertEqual(wizard.count_valid, 4)
        self.assertEqual(Partner.search_count([]), before, "no duplicate contact")
        self.assertEqual(self._consent("+905321000611").event_ids.partner_id, in_phone)
        self.assertEqual(self._consent("+905321000612").event_ids.partner_id, phone_only)
        self.assertEqual(self._consent("ayse.kaya@example.com", channel="EPOSTA").event_ids.partner_id, by_email)
        self.assertFalse(self._consent("+905321000613").event_ids.partner_id, "no contact chosen among several")
        for partner in (first, second):
            self.assertIn("+905321000613", partner.message_ids[:1].body)

    def test_created_contact_is_readable_and_says_where_it_came_from(self):
        self.iys_manager.groups_id += self.env.ref("base.group_partner_manager")
        rows = [["05321000621", "MESAJ", "HS_WEB", "ONAY", self.recent, "BIREYSEL", ""],
                ["Yeni.Kisi@Example.com", "EPOSTA", "HS_WEB", "ONAY", self.recent, "BIREYSEL", ""]]
        wizard = self._wizard(self._csv(rows), name="kampanya.csv", create_partners=True)
        wizard.action_check()
        wizard.action_import()
        phone = self._consent("+905321000621").event_ids.partner_id
        self.assertEqual(phone.name, "+90 532 100 06 21")
        self.assertEqual(phone.mobile, "+905321000621")
        email = self._consent("yeni.kisi@example.com", channel="EPOSTA").event_ids.partner_id
        self.assertEqual((email.name, email.email), ("yeni.kisi@example.com", "yeni.kisi@example.com"))
        note = phone.message_ids.filtered(lambda message: "consent import" in (message.body or ""))
        self.assertEqual(len(note), 1)
        self.assertIn(f"consent import {wizard.id} (kampanya.csv), from row 2", note.body)
        self.assertIn("row 3", email.message_ids[:1].body)

    # ------------------------------------------------------------------------------------------
    # After the import: what the user is told (issue 11 §1)
    # ------------------------------------------------------------------------------------------
    def test_confirmation_and_notification_state_the_counts(self):
        self.iys_manager.groups_id += self.env.ref("base.group_partner_manager")
        rows = [["05321000701", "MESAJ", "HS_WEB", "ONAY", self.recent, "BIREYSEL", ""],
                ["05321000702", "MESAJ", "HS_WEB", "ONAY", self.recent, "BIREYSEL", ""],
                ["0532 12", "MESAJ", "HS_WEB", "ONAY", self.recent, "BIREYSEL", ""]]
        wizard = self._wizard(self._csv(rows), create_partners=True)
        wizard.action_check()
        confirm = wizard.action_confirm_import()
        self.assertEqual((confirm["target"], confirm["res_id"]), ("new", wizard.id))
        self.assertEqual(confirm["views"][0][0], self.env.ref("l10n_tr_iys.view_iys_consent_import_confirm").id)
        self.assertIn("Rows to record in the consent ledger: 2.", wizard.import_summary)
        self.assertIn("Refused rows, left out (see the error report): 1.", wizard.import_summary)
        self.assertIn("Contacts to create: 2.", wizard.import_summary)
        self.assertEqual(wizard.state, "checked", "the confirmation records nothing")
        action = wizard.action_import()
        self.assertEqual(action["tag"], "display_notification")
        params = action["params"]
        self.assertIn("Rows recorded: 2, refused: 1", params["message"])
        self.assertIn("Contacts created (2)", params["message"])
        self.assertEqual(params["message"].count("%s"), len(params["links"]))
        self.assertEqual(len(params["links"]), 2)
        self.assertTrue(params["links"][0]["url"].endswith(
            f"/{wizard.id}/action-l10n_tr_iys.action_iys_consent_import_consents"))
        # what the links (and the smart buttons) open
        consents = self.Consent.search(wizard.action_view_consents()["domain"])
        self.assertEqual(sorted(consents.mapped("address")), ["+905321000701", "+905321000702"])
        partners = self.env["res.partner"].search(wizard.action_view_partners()["domain"])
        self.assertEqual(sorted(partners.mapped("mobile")), ["+905321000701", "+905321000702"])
        self.assertEqual(consents.event_ids.partner_id, partners)

    def test_first_errors_listed_on_the_import(self):
        rows = [["0532 12", "MESAJ", "HS_WEB", "ONAY", self.recent, "BIREYSEL", ""],
                ["05321000711", "MESAJ", "HS_WEB", "ONAY", self.recent, "BIREYSEL", ""],
                ["05321000712", "MESAJ", "HS_TELEPATI", "ONAY", self.recent, "BIREYSEL", ""]]
        wizard = self._wizard(self._csv(rows))
        wizard.action_check()
        self.assertEqual(wizard.error_line_ids.mapped("row_no"), [2, 4])
        self.assertEqual(wizard.error_line_ids.mapped("error_code"), ["H121", "H119"])
        self.assertIn("0532 12 | MESAJ", wizard.error_line_ids[0].values)
        wizard.action_import()
        self.assertEqual(wizard.state, "done")
        self.assertEqual(wizard.error_line_ids.mapped("row_no"), [2, 4], "still listed after the import")
        self.assertTrue(wizard.report_id, "the full report stays downloadable")

    def test_templates_have_iys_columns(self):
        from odoo.tools.misc import file_open

        from ..wizards import iys_consent_import_reader as reader

        # The form offers them as plain links: a button would save the new import first, which
        # fails without its file ("Invalid fields: File").
        arch = self.Import.get_view(self.env.ref("l10n_tr_iys.view_iys_consent_import_form").id, "form")["arch"]
        urls = re.findall(r'href="(/l10n_tr_iys/static/templates/[^"]+)"', arch)
        self.assertEqual([url.rsplit(".", 1)[1] for url in urls], ["csv", "xlsx"])
        self.assertNotIn("action_download_template", arch)
        for url in urls:
            with file_open(url.lstrip("/"), "rb") as template:
                content = template.read()
            read = reader.open_reader(io.BytesIO(content), url)
            mapping, unknown, missing = reader.map_header(read.header)
            self.assertEqual((list(mapping), unknown, missing), (list(reader.COLUMNS[:7]), [], []))
            self.assertFalse(list(read.rows()), "a template holds no row to import by mistake")

    def test_no_empty_draft_in_the_history_and_no_title_before_a_file(self):
        self.assertEqual(self.Import.new({}).name, "New consent import")
        history = self.env.ref("l10n_tr_iys.action_iys_consent_import_history")
        domain = ast.literal_eval(history.domain or "[]")
        # an upload refused by the check leaves its record at the upload step
        wizard = self._wizard(self._csv([["MESAJ", "ONAY"]], header=["type", "status"]))
        with self.assertRaises(UserError):
            wizard.action_check()
        done = self._wizard(self._csv([["05321000721", "MESAJ", "HS_WEB", "ONAY", self.recent, "BIREYSEL", ""]]))
        done.action_check()
        listed = self.Import.search(domain)
        self.assertNotIn(wizard, listed)
        self.assertIn(done, listed)
        # and abandoned drafts go after a day
        self.env.cr.execute("UPDATE iys_consent_import SET write_date = now() - interval '2 days' WHERE id = %s",
                            [wizard.id])
        self.Import._gc_drafts()
        self.assertFalse(wizard.exists())
        self.assertTrue(done.exists())
