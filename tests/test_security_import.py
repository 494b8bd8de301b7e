# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
"""The consent import against its own users (issue 15): what a client may write, what another
company sees, what a file may unpack to, what the error report hands to a spreadsheet."""
import base64
import csv
import io
import struct
import zipfile
from datetime import timedelta
from unittest.mock import patch

from odoo.exceptions import AccessError, UserError
from odoo.tests import new_test_user, tagged

from ..iyslib.dates import to_iys_date
from ..wizards import iys_consent_import_reader as reader_lib
from .common import IysCommon
from .common_import import ENGLISH, ImportFilesMixin


@tagged("post_install", "-at_install", "l10n_tr_iys")
class TestImportSecurity(ImportFilesMixin, IysCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Import = cls.env["iys.consent.import"]
        cls.recent = to_iys_date(cls._now() - timedelta(hours=1))

    def _row(self, recipient="05321000501"):
        return [recipient, "MESAJ", "HS_WEB", "ONAY", self.recent, "BIREYSEL", ""]

    # ------------------------------------------------------------------------------------------
    # 4. and 5.: the fields the engine owns
    # ------------------------------------------------------------------------------------------
    def test_report_cannot_point_at_another_attachment(self):
        partner = self.env["res.partner"].create({"name": "Victim"})
        victim = self.env["ir.attachment"].create({
            "name": "contract.pdf", "raw": b"%PDF-1.4", "res_model": "res.partner", "res_id": partner.id})
        wizard = self._wizard(self._csv([self._row()]))
        with self.assertRaises(AccessError):
            wizard.write({"report_id": victim.id})
        # Even pointed at it by other means (e.g. a database an earlier version left so), a reset
        # deletes only the import's own reports.
        wizard.sudo().write({"report_id": victim.id})
        wizard.action_reset()
        self.assertTrue(victim.exists(), "a reset must never delete an attachment the import did not make")

    def test_engine_fields_refused_to_clients(self):
        admin = self.env.ref("base.user_admin")
        content = self._csv([self._row()])
        for vals in ({"state": "checking"}, {"user_id": admin.id}, {"phase": "import"}, {"resume_row": 5},
                     {"count_staged": 10}, {"lang": "tr_TR"}, {"column_map": {"recipient": 0}}):
            with self.subTest(vals=vals):
                with self.assertRaises(AccessError):
                    self._wizard(content, **vals)
                wizard = self._wizard(content)
                with self.assertRaises(AccessError):
                    wizard.write(vals)
        # The part of the form a client fills in stays writable, and the engine still writes its own.
        wizard = self._wizard(content)
        wizard.write({"mode": "registered", "file_name": "other.csv", "create_partners": False})
        wizard.action_check()
        self.assertEqual((wizard.state, wizard.user_id, wizard.count_valid), ("checked", self.iys_manager, 1))

    def test_background_run_keeps_the_users_rights(self):
        """The worker runs an import as the user who started it; nobody may change that user."""
        self.env["ir.config_parameter"].set_param("l10n_tr_iys.import_sync_max_bytes", "0")
        self.iys_manager.groups_id += self.env.ref("base.group_partner_manager")
        wizard = self._wizard(self._csv([self._row("05321000502")]), create_partners=True)
        wizard.action_check()
        self.assertEqual(wizard.state, "checking")
        with self.assertRaises(AccessError):
            wizard.write({"user_id": self.env.ref("base.user_admin").id})
        self.Import._cron_run_imports()
        wizard.action_import()
        self.Import._cron_run_imports()
        self.assertEqual(wizard.state, "done")
        created = self.Consent.search([("address", "=", "+905321000502")]).event_ids.partner_id
        self.assertEqual(created.create_uid, self.iys_manager)

    # ------------------------------------------------------------------------------------------
    # 6. Staged rows and ranges belong to the import's company
    # ------------------------------------------------------------------------------------------
    def test_staged_rows_and_ranges_of_another_company(self):
        other = self.env["res.company"].create({"name": "İYS Co 3"})
        account = self.env["iys.account"].create({"name": "Co 3", "iys_code": "900057", "company_id": other.id})
        brand = self.env["iys.brand"].create({"name": "Co 3 brand", "code": "900057", "account_id": account.id})
        manager_b = new_test_user(
            self.env, login="iys_t_manager_b", groups="base.group_user,l10n_tr_iys.group_iys_manager",
            company_id=other.id, company_ids=[(6, 0, other.ids)],
        )
        theirs = self.Import.with_user(manager_b).with_context(allowed_company_ids=other.ids).create({
            "file": base64.b64encode(self._csv([self._row("05321000503"), self._row("0532 12")])),
            "file_name": "b.csv", "brand_id": brand.id,
        })
        theirs.action_check()
        self.assertEqual(theirs.state, "checked")
        Line = self.env["iys.consent.import.line"]
        Part = self.env["iys.consent.import.part"]
        lines = Line.search([("import_id", "=", theirs.id)])
        parts = Part.search([("import_id", "=", theirs.id)])
        self.assertEqual(len(lines), 2)
        self.assertTrue(parts)
        # their own manager sees them
        self.assertEqual(Line.with_user(manager_b).with_context(allowed_company_ids=other.ids).search_count(
            [("import_id", "=", theirs.id)]), 2)
        # a manager of the first company does not: no address, raw cell or error of theirs
        self.assertFalse(Line.with_user(self.iys_manager).search([("id", "in", lines.ids)]))
        self.assertFalse(Part.with_user(self.iys_manager).search([("id", "in", parts.ids)]))
        with self.assertRaises(AccessError):
            lines.with_user(self.iys_manager).read(["address", "raw", "error_message"])
        with self.assertRaises(AccessError):
            parts.with_user(self.iys_manager).read(["start_key", "end_key"])
        with self.assertRaises(AccessError):
            lines.with_user(self.iys_manager).unlink()
        self.assertEqual(len(lines.exists()), 2)

    # ------------------------------------------------------------------------------------------
    # 9. What a file may be and unpack to
    # ------------------------------------------------------------------------------------------
    def test_xlsx_with_a_huge_cell_refused_before_openpyxl_reads_it(self):
        # 2 MB of one letter: a few KB once packed
        content = self._xlsx([["A" * (2 << 20), "MESAJ", "HS_WEB", "ONAY", self.recent, "BIREYSEL", ""]])
        self.assertLess(len(content), 100_000)
        wizard = self._wizard(content, name="bomb.xlsx")
        import openpyxl

        with patch.object(openpyxl, "load_workbook", side_effect=AssertionError("openpyxl must not read it")), \
                self.assertRaises(UserError) as caught:
            wizard.action_check()
        self.assertIn("longer than", caught.exception.args[0])
        self.assertEqual(wizard.state, "draft")

    def test_xlsx_unpacking_beyond_the_bound_refused(self):
        rows = [self._row(f"053210006{n:02d}") for n in range(60)]
        content = self._xlsx(rows)
        unpacked = reader_lib.xlsx_unpacked_size(io.BytesIO(content))
        self.assertGreater(unpacked, len(content))
        self.env["ir.config_parameter"].set_param("l10n_tr_iys.import_max_unpacked_bytes", str(unpacked - 1))
        wizard = self._wizard(content, name="big.xlsx")
        with self.assertRaises(UserError) as caught:
            wizard.action_check()
        self.assertIn("unpacks to", caught.exception.args[0])
        # The worker checks it again (the file may have been accepted under another bound).
        self.env["ir.config_parameter"].set_param("l10n_tr_iys.import_max_unpacked_bytes", str(unpacked))
        wizard.action_check()
        self.assertEqual((wizard.state, wizard.count_valid), ("checked", 60))

    def test_xlsx_declaring_less_than_it_unpacks_to_refused(self):
        content = bytearray(self._xlsx([self._row()]))
        with zipfile.ZipFile(io.BytesIO(bytes(content))) as archive:
            info = archive.getinfo("xl/worksheets/sheet1.xml")
        self.assertGreater(info.file_size, 100)
        # the sheet declares 10 bytes, in its local header and in the central directory
        local = info.header_offset
        struct.pack_into("<I", content, local + 22, 10)
        name = info.filename.encode()
        central = content.find(b"PK\x01\x02")
        while central >= 0:
            name_len = struct.unpack_from("<H", content, central + 28)[0]
            if content[central + 46:central + 46 + name_len] == name:
                struct.pack_into("<I", content, central + 24, 10)
                break
            central = content.find(b"PK\x01\x02", central + 4)
        with self.assertRaises(reader_lib.UnsafeFile) as caught:
            reader_lib.check_xlsx(io.BytesIO(bytes(content)))
        self.assertEqual(caught.exception.reason, "bad_zip")
        wizard = self._wizard(bytes(content), name="lying.xlsx")
        with self.assertRaises(UserError) as caught:
            wizard.action_check()
        self.assertIn("not a readable XLSX", caught.exception.args[0])

    def test_in_request_path_chosen_by_unpacked_size(self):
        content = self._xlsx([self._row(f"053210007{n:02d}") for n in range(30)])
        unpacked = reader_lib.xlsx_unpacked_size(io.BytesIO(content))
        self.assertGreater(unpacked, len(content))
        # packed, the file is under the bound of the click; unpacked, it is over: background
        self.env["ir.config_parameter"].set_param("l10n_tr_iys.import_sync_max_bytes", str(len(content) + 1))
        wizard = self._wizard(content, name="packed.xlsx")
        wizard.action_check()
        self.assertEqual(wizard.state, "checking")

    def test_file_size_bound(self):
        self.env["ir.config_parameter"].set_param("l10n_tr_iys.import_max_bytes", "100")
        wizard = self._wizard(self._csv([self._row(f"053210008{n:02d}") for n in range(5)]))
        with self.assertRaises(UserError) as caught:
            wizard.action_check()
        self.assertIn("Split it", caught.exception.args[0])
        self.assertEqual(wizard.state, "draft")

    def test_cell_and_row_bounds(self):
        long_address = "a" * 5000 + "@example.com"
        wizard = self._wizard(self._csv([self._row(long_address), self._row("05321000901")]))
        wizard.action_check()
        self.assertEqual((wizard.count_valid, wizard.count_invalid), (1, 1))
        line = self.env["iys.consent.import.line"].search([("import_id", "=", wizard.id), ("row_no", "=", 2)])
        self.assertEqual(line.error_code, "CELL")
        self.assertLessEqual(len(line.raw), 1000 * 7 + 6)
        wide = [f"extra{n}" for n in range(100)]
        wizard = self._wizard(self._csv([self._row() + [""] * 100], header=list(ENGLISH) + wide))
        with self.assertRaises(UserError) as caught:
            wizard.action_check()
        self.assertIn("at most 64", caught.exception.args[0])

    # ------------------------------------------------------------------------------------------
    # Low: the error report is no vector for spreadsheet formulas
    # ------------------------------------------------------------------------------------------
    def test_error_report_neutralises_formulas(self):
        cells = ['=HYPERLINK("http://evil.example","click")', "+cmd|' /C calc'!A0", "@SUM(1+1)", "-2+3"]
        rows = [[cell, "MESAJ", "HS_WEB", "ONAY", self.recent, "BIREYSEL", ""] for cell in cells]
        rows.append(["05321000902", "MESAJ", "=1+1", "ONAY", self.recent, "BIREYSEL", ""])
        wizard = self._wizard(self._csv(rows))
        wizard.action_check()
        self.assertEqual(wizard.count_invalid, 5)
        data = wizard.report_id.sudo().raw.decode("utf-8-sig")
        report = list(csv.reader(io.StringIO(data), delimiter=wizard.file_delimiter))
        self.assertEqual([row[1] for row in report[1:5]], ["'" + cell for cell in cells])
        self.assertEqual(report[5][3], "'=1+1")
        for row in report[1:]:
            for cell in row:
                self.assertFalse(cell.startswith(("=", "+", "-", "@")), cell)
