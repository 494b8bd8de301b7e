# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
"""Streaming readers for İYS consent files (CSV or XLSX), with İYS's own column set.

Pure Python (no Odoo import): a reader yields ``(row number, cells)`` one row at a time, so a
file of a million rows never sits in memory. Row numbers are those a spreadsheet shows: the
header is row 1, the first data row is row 2.

* CSV: UTF-8 with or without BOM, else Windows-1254 (Turkish); delimiter ``;``, ``,`` or tab,
  chosen from the header line.
* XLSX: the first sheet, read with openpyxl in read-only (streaming) mode; dates, numbers and
  phone numbers typed as numbers are turned back into text.

Header names are matched in Turkish or English, in any case and spacing ("Alıcı", "recipient",
"İzin Tipi", "Tip", "type", "consentDate", "İzin Tarihi" …), see :data:`HEADER_ALIASES`.
"""
import codecs
import csv
import datetime as dt
import io
import itertools
import re
import zipfile
import zlib

#: İYS's column set (the İYS CSV tool), then the extra columns of İYS's reconciliation file, then
#: ours: the version label of the consent text shown (iys.consent.text).
COLUMNS = ("recipient", "type", "source", "status", "consentDate", "recipientType", "retailerCode",
           "transactionId", "creationDate", "consentTextVersion")
REQUIRED_COLUMNS = ("recipient", "type", "status")

#: at most this many columns are read (İYS's files have nine); the rest of a wider sheet is ignored
MAX_COLUMNS = 64
#: the longest cell kept (İYS's longest value, an e-mail address, has at most 254 characters)
MAX_CELL_CHARS = 1000
#: what an XLSX file may unpack to, in all and for its table of texts (which openpyxl loads whole)
MAX_UNPACKED_BYTES = 1 << 30
MAX_SHARED_STRINGS_BYTES = 64 << 20
#: the longest text an XLSX part may hold between two tags (a cell, an attribute): openpyxl reads
#: it whole, and a few such cells (a 100 KB file may unpack to a 100 MB cell) take gigabytes
MAX_XML_RUN = 32 << 10
#: the most parts a workbook may have
MAX_MEMBERS = 10000

_FOLD = str.maketrans({
    "İ": "i", "I": "i", "ı": "i", "Ş": "s", "ş": "s", "Ğ": "g", "ğ": "g", "Ü": "u", "ü": "u", "Ö": "o", "ö": "o",
    "Ç": "c", "ç": "c", "Â": "a", "â": "a", "Î": "i", "î": "i", "Û": "u", "û": "u",
})
_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def fold(text):
    """Lower-case ASCII letters and digits only: 'İzin Tarihi' -> 'izintarihi'."""
    return _NON_ALNUM.sub("", str(text or "").strip().translate(_FOLD).lower())


def fold_code(text):
    """An enum value as İYS spells it: ' Onay ' -> 'ONAY', 'tacir' -> 'TACIR', 'hs_web' -> 'HS_WEB'."""
    return re.sub(r"[\s-]+", "_", str(text or "").strip().translate(_FOLD).upper()).strip("_")


#: folded header name -> canonical column
HEADER_ALIASES = {
    alias: column
    for column, aliases in {
        "recipient": ("recipient", "alici", "aliciadresi", "adres", "address", "iletisimadresi"),
        "type": ("type", "tip", "izintipi", "izinturu", "kanal", "channel", "consenttype"),
        "source": ("source", "kaynak", "izinkaynagi", "consentsource"),
        "status": ("status", "durum", "izindurumu", "consentstatus"),
        "consentDate": ("consentdate", "izintarihi", "tarih", "date", "onaytarihi"),
        "recipientType": ("recipienttype", "alicitipi", "alicituru"),
        "retailerCode": ("retailercode", "bayikodu", "bayi", "retailer"),
        "transactionId": ("transactionid", "islemno", "islemkimligi", "islemid"),
        "creationDate": ("creationdate", "kayittarihi", "olusturmatarihi", "iysekayittarihi"),
        "consentTextVersion": ("consenttextversion", "textversion", "consenttext", "noticeversion", "metinsurumu",
                               "metinversiyonu", "onaymetnisurumu", "izinmetnisurumu", "metinsurum"),
    }.items()
    for alias in aliases
}

#: spellings of channel values that are not İYS's own, folded with :func:`fold_code`
TYPE_SYNONYMS = {"SMS": "MESAJ", "EMAIL": "EPOSTA", "E_MAIL": "EPOSTA", "E_POSTA": "EPOSTA", "MAIL": "EPOSTA",
                 "CALL": "ARAMA", "VOICE": "ARAMA"}

_DOTTED_DATE = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?)?$")


def map_header(header):
    """Map header cells to İYS columns.

    :returns: ``(mapping, unknown, missing)``: ``{column: index}``, the header names that match
        no column (ignored), and the required columns that are missing.
    """
    mapping, unknown = {}, []
    for index, name in enumerate(header):
        column = HEADER_ALIASES.get(fold(name))
        if column and column not in mapping:
            mapping[column] = index
        elif str(name or "").strip():
            unknown.append(str(name).strip())
    missing = [column for column in REQUIRED_COLUMNS if column not in mapping]
    return mapping, unknown, missing


def normalize_date_text(value):
    """İYS's date text, also from the day-first form Turkish spreadsheets write (23.11.2026 14:05)."""
    value = (value or "").strip()
    match = _DOTTED_DATE.match(value)
    if match:
        day, month, year, hour, minute, second = match.groups()
        return f"{year}-{int(month):02d}-{int(day):02d} {int(hour or 0):02d}:{minute or '00'}:{second or '00'}"
    return value


def cell_text(value):
    """A spreadsheet cell as text (numbers without '.0', dates in İYS's format)."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.strftime("%Y-%m-%d 00:00:00")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def detect_encoding(binary):
    """'utf-8-sig' when the whole stream is UTF-8 (with or without BOM), else 'cp1254'."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        while block := binary.read(1 << 20):
            decoder.decode(block)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return "cp1254"
    finally:
        binary.seek(0)
    return "utf-8-sig"


class UnsafeFile(ValueError):
    """A file refused before it is read: *reason* says why (``bad_zip``, ``members``, ``unpacked``,
    ``shared_strings``, ``run``), *size* what was found and *limit* the bound."""

    def __init__(self, reason, size=0, limit=0, detail=""):
        super().__init__(reason, size, limit, detail)
        self.reason, self.size, self.limit, self.detail = reason, size, limit, detail


def _zip_infos(archive):
    infos = archive.infolist()
    if len(infos) > MAX_MEMBERS:
        raise UnsafeFile("members", len(infos), MAX_MEMBERS)
    return infos


def xlsx_unpacked_size(binary, max_unpacked=MAX_UNPACKED_BYTES):
    """What an XLSX file says it unpacks to (the sizes its directory declares), checked against
    the bounds; cheap (only the zip's directory is read). Raises :class:`UnsafeFile`."""
    try:
        with zipfile.ZipFile(binary) as archive:
            infos = _zip_infos(archive)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError) as exc:
        raise UnsafeFile("bad_zip", detail=str(exc)) from exc
    finally:
        binary.seek(0)
    total = sum(info.file_size for info in infos)
    if total > max_unpacked:
        raise UnsafeFile("unpacked", total, max_unpacked)
    for info in infos:
        if info.filename.lower().endswith("sharedstrings.xml") and info.file_size > MAX_SHARED_STRINGS_BYTES:
            raise UnsafeFile("shared_strings", info.file_size, MAX_SHARED_STRINGS_BYTES)
    return total


def check_xlsx(binary, max_unpacked=MAX_UNPACKED_BYTES, max_run=MAX_XML_RUN):
    """Unpack every part of an XLSX file once, as a stream, before openpyxl reads it: what it
    declares and what it really unpacks to are bounded, and no XML part holds a text (a cell, an
    attribute) longer than *max_run* bytes. Returns the unpacked size; raises :class:`UnsafeFile`.
    """
    declared = xlsx_unpacked_size(binary, max_unpacked)
    # (from a '<': ten times faster than a search for the run alone)
    too_long = re.compile(rb"<[^<]{%d}" % (max_run + 1))
    real = 0
    try:
        with zipfile.ZipFile(binary) as archive:
            for info in _zip_infos(archive):
                is_xml = info.filename.lower().endswith((".xml", ".rels", ".vml"))
                run = 0  # bytes since the last '<', across blocks
                with archive.open(info) as member:
                    # (zipfile stops at the declared size, then checks the CRC: a part that
                    # unpacks to more than it declares is refused as damaged)
                    while block := member.read(1 << 20):
                        real += len(block)
                        if real > max_unpacked:
                            raise UnsafeFile("unpacked", real, max_unpacked)
                        if not is_xml:
                            continue
                        first = block.find(b"<")
                        if first < 0:
                            run += len(block)
                        else:
                            run += first
                            if run > max_run or too_long.search(block, first):
                                raise UnsafeFile("run", limit=max_run)
                            run = len(block) - block.rfind(b"<") - 1
                        if run > max_run:
                            raise UnsafeFile("run", limit=max_run)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, zlib.error, NotImplementedError, ValueError,
            OSError) as exc:
        if isinstance(exc, UnsafeFile):
            raise
        raise UnsafeFile("bad_zip", detail=str(exc)) from exc
    finally:
        binary.seek(0)
    if real != declared:
        raise UnsafeFile("bad_zip", detail=f"{real} != {declared}")
    return real


def is_xlsx(binary, file_name=""):
    head = binary.read(4)
    binary.seek(0)
    return head == b"PK\x03\x04" or (file_name or "").lower().endswith((".xlsx", ".xlsm"))


class CsvReader:
    """Rows of a CSV file, streamed from a binary file object."""

    kind = "csv"

    def __init__(self, binary, encoding=None, delimiter=None):
        self.binary = binary
        self.encoding = encoding or detect_encoding(binary)
        self.text = io.TextIOWrapper(binary, encoding=self.encoding, errors="replace", newline="")
        first = self.text.readline()
        self.delimiter = delimiter or self._sniff(first)
        self._rows = csv.reader(itertools.chain([first], self.text), delimiter=self.delimiter)
        self.header = next(self._rows, [])

    @staticmethod
    def _sniff(line):
        counts = {delimiter: line.count(delimiter) for delimiter in (";", ",", "\t")}
        best = max(counts, key=counts.get)
        return best if counts[best] else ","

    def position(self):
        """How far the reading is, in units of :meth:`size` (bytes)."""
        return self.binary.tell()

    def size(self):
        current = self.binary.tell()
        end = self.binary.seek(0, io.SEEK_END)
        self.binary.seek(current)
        return end

    def rows(self):
        """``(row number, cells, problem)`` after the header; blank lines are skipped.

        *problem* is the text of the CSV error of a line that cannot be read (then *cells* is
        empty); reading goes on with the next line.
        """
        number = 1
        while True:
            number += 1
            try:
                cells = next(self._rows)
            except StopIteration:
                return
            except csv.Error as exc:
                yield number, [], str(exc)
                continue
            width = len(self.header)
            while len(cells) > width and not cells[-1].strip():
                cells.pop()
            if cells and any(cell.strip() for cell in cells):
                yield number, cells, None

    def close(self):
        self.text.detach()


class XlsxReader:
    """Rows of the first sheet of an XLSX workbook, streamed by openpyxl (read-only mode)."""

    kind = "xlsx"
    encoding = None
    delimiter = None

    def __init__(self, binary):
        import openpyxl  # noqa: PLC0415 - optional until an XLSX file is read

        self.binary = binary
        self.workbook = openpyxl.load_workbook(binary, read_only=True, data_only=True)
        self.sheet = self.workbook.worksheets[0]
        # at most MAX_COLUMNS columns: openpyxl gives every row the width the sheet declares
        width = min(self.sheet.max_column or MAX_COLUMNS, MAX_COLUMNS)
        self._rows = self.sheet.iter_rows(values_only=True, max_col=width)
        self.header = [cell_text(value) for value in next(self._rows, ())]
        self._read = 1

    def position(self):
        return self._read

    def size(self):
        return self.sheet.max_row or 0

    def rows(self):
        width = len(self.header)
        for number, values in enumerate(self._rows, start=2):
            self._read = number
            cells = [cell_text(value) for value in values]
            if not any(cells):
                continue
            # openpyxl gives every row the sheet's width; cut empty trailing cells beyond the header
            while len(cells) > width and not cells[-1]:
                cells.pop()
            cells += [""] * (width - len(cells))
            yield number, cells, None

    def close(self):
        self.workbook.close()


def open_reader(binary, file_name="", encoding=None, delimiter=None):
    """A :class:`CsvReader` or :class:`XlsxReader` for *binary* (a seekable binary file object)."""
    if is_xlsx(binary, file_name):
        return XlsxReader(binary)
    return CsvReader(binary, encoding=encoding, delimiter=delimiter)
