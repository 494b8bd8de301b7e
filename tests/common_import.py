# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
"""Files for the consent import tests: İYS-format CSV and XLSX built in memory, and the import
record holding one."""
import base64
import csv
import io

ENGLISH = ("recipient", "type", "source", "status", "consentDate", "recipientType", "retailerCode")
TURKISH = ("Alıcı", "İzin Tipi", "Kaynak", "Durum", "İzin Tarihi", "Alıcı Tipi", "Bayi Kodu")


class ImportFilesMixin:
    """Needs ``cls.Import`` (the import model), ``cls.brand`` and ``cls.iys_manager``."""

    @staticmethod
    def _csv(rows, header=ENGLISH, delimiter=",", encoding="utf-8"):
        out = io.StringIO()
        writer = csv.writer(out, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
        return out.getvalue().encode(encoding)

    @staticmethod
    def _xlsx(rows, header=TURKISH):
        import openpyxl

        workbook = openpyxl.Workbook()
        sheet = workbook.active
        sheet.append(header)
        for row in rows:
            sheet.append(row)
        out = io.BytesIO()
        workbook.save(out)
        return out.getvalue()

    def _wizard(self, content, name="consents.csv", user=None, **vals):
        return self.Import.with_user(user or self.iys_manager).create({
            "file": base64.b64encode(content), "file_name": name, "brand_id": self.brand.id, **vals,
        })
