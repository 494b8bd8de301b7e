"""Send a CSV of consent movements to the İYS capture API of an Odoo with l10n_tr_iys.

For systems that can only export files. From the addon's directory::

    IYS_API_KEY=... python -m iyslib.capture_cli --url https://odoo.example.com --brand 123456 consents.csv

The CSV (comma or semicolon separated, UTF-8) has İYS's import columns ``recipient, type, source,
status, consentDate, recipientType, retailerCode`` (the addon's import template) and may add
``brand, consentTextVersion, language, ip, userAgent, page, note, idempotencyKey``. ``consentDate``
is İYS's ``YYYY-MM-DD HH:MM:SS`` in Turkish time, or ISO 8601 with a zone.

Rows are sent in calls of at most 1000. Each row carries an idempotency key derived from its
content (or its ``idempotencyKey`` column), so running the command again after a crash or a
timeout records nothing twice: the rows already recorded answer with their first result. A call
that fails (network, 5xx) is retried with the same keys; a call refused as a whole stops the run.

Prints one line per refused row (the recipient masked) and a summary. Exit code 0: every row
recorded or unchanged; 1: some rows refused; 2: the run stopped (bad file, refused call).
Pure Python (requests); no Odoo import.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import io
import os
import sys
import time
from dataclasses import dataclass, field

import requests

try:
    from .masking import mask_recipient
except ImportError:  # run as a file: python iyslib/capture_cli.py
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from iyslib.masking import mask_recipient

BATCH_MAX = 1000
REQUIRED = ("recipient", "type", "source", "status", "consentDate")
OPTIONAL = ("recipientType", "retailerCode", "brand", "consentTextVersion", "language", "idempotencyKey")
EVIDENCE = ("ip", "userAgent", "page", "note")
#: the fields of a row that make it the same movement (its idempotency key is derived from them)
KEY_FIELDS = ("brand", "type", "recipientType", "recipient", "status", "consentDate", "source", "retailerCode",
              "consentTextVersion")
API_PATH = "/iys/api/v1/consents"


class CliError(Exception):
    """A problem that stops the run (the file, or a call refused as a whole)."""


@dataclass
class Summary:
    rows: int = 0
    recorded: int = 0
    unchanged: int = 0
    errors: int = 0
    replayed: int = 0
    calls: int = 0
    lines: list = field(default_factory=list)


def row_key(item: dict) -> str:
    """The idempotency key of a row: a hash of the movement it describes (not of its position, so
    that a file re-exported in another order, or a row repeated, records nothing twice)."""
    text = "\x1f".join(str(item.get(name) or "") for name in KEY_FIELDS)
    return "csv-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:40]


def read_rows(stream, brand=None) -> list[dict]:
    """The API items of a CSV (text stream); CliError for a file the API cannot be given."""
    text = stream.read()
    if text.startswith("\ufeff"):
        text = text[1:]
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    columns = [c.strip() for c in reader.fieldnames or ()]
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise CliError(f"The file has no column {', '.join(missing)} (needed: {', '.join(REQUIRED)}).")
    if "brand" not in columns and not brand:
        raise CliError("Give the brand (--brand CODE) or a column 'brand'.")
    items = []
    for raw in reader:
        row = {(k or "").strip(): (v or "").strip() for k, v in raw.items() if k}
        if not any(row.values()):
            continue
        item = {name: row[name] for name in REQUIRED}
        for name in OPTIONAL:
            if row.get(name):
                item[name] = row[name]
        item["brand"] = item.get("brand") or brand
        item.setdefault("recipientType", "BIREYSEL")
        evidence = {name: row[name] for name in EVIDENCE if row.get(name)}
        if evidence:
            item["evidence"] = evidence
        item.setdefault("idempotencyKey", row_key(item))
        items.append(item)
    return items


def post(session, url, key, items, retries=3, timeout=60, sleep=time.sleep):
    """Send one call; retry network failures and 5xx with the same body (the keys make it safe)."""
    last = None
    for attempt in range(retries + 1):
        try:
            response = session.post(url, json={"consents": items}, timeout=timeout,
                                    headers={"Authorization": f"Bearer {key}"})
        except requests.RequestException as exc:
            last = f"network error: {exc.__class__.__name__}"
        else:
            if response.status_code < 500 and response.status_code not in (429,):
                return response
            last = f"HTTP {response.status_code}"
        if attempt < retries:
            sleep(min(2 ** attempt, 30))
    raise CliError(f"The call failed {retries + 1} times ({last}); run the command again later: "
                   "the rows already recorded will not be recorded twice.")


def send(items, url, key, batch=BATCH_MAX, session=None, out=print, retries=3, sleep=time.sleep) -> Summary:
    """Send *items* in calls of *batch*; report refused rows through *out*. Returns the summary."""
    if not 1 <= batch <= BATCH_MAX:
        raise CliError(f"--batch must be between 1 and {BATCH_MAX}.")
    session = session or requests.Session()
    endpoint = url.rstrip("/") + API_PATH
    summary = Summary(rows=len(items))
    for start in range(0, len(items), batch):
        chunk = items[start:start + batch]
        response = post(session, endpoint, key, chunk, retries=retries, sleep=sleep)
        summary.calls += 1
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200 or not isinstance(body, dict) or "results" not in body:
            error = (body or {}).get("error") if isinstance(body, dict) else None
            detail = f"{error.get('code')}: {error.get('message')}" if isinstance(error, dict) else response.text[:200]
            raise CliError(f"Rows {start + 2}-{start + len(chunk) + 1} refused as a whole (HTTP "
                           f"{response.status_code}) {detail}")
        for result in body["results"]:
            item = chunk[result["index"]]
            line_no = start + result["index"] + 2  # the header is line 1
            if result.get("replayed"):
                summary.replayed += 1
            if result["status"] == "recorded":
                summary.recorded += 1
            elif result["status"] == "unchanged":
                summary.unchanged += 1
            else:
                summary.errors += 1
                error = result.get("error") or {}
                line = (f"line {line_no} ({mask_recipient(item.get('recipient'))}): "
                        f"{error.get('code')}: {error.get('message')}")
                summary.lines.append(line)
                out(line)
    return summary


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m iyslib.capture_cli", description=__doc__.split("\n\n")[0])
    parser.add_argument("csv", help="the CSV file ('-' for standard input)")
    parser.add_argument("--url", required=True, help="the Odoo's base URL, e.g. https://odoo.example.com")
    parser.add_argument("--brand", help="the brand's İYS code, when the file has no 'brand' column")
    parser.add_argument("--key-env", default="IYS_API_KEY",
                        help="environment variable holding the Odoo API key (default IYS_API_KEY)")
    parser.add_argument("--batch", type=int, default=BATCH_MAX, help="rows per call (at most 1000)")
    args = parser.parse_args(argv)
    key = os.environ.get(args.key_env)
    if not key:
        print(f"Set the API key in the environment variable {args.key_env}.", file=sys.stderr)
        return 2
    try:
        if args.csv == "-":
            items = read_rows(sys.stdin, args.brand)
        else:
            with open(args.csv, encoding="utf-8-sig", newline="") as stream:
                items = read_rows(stream, args.brand)
        summary = send(items, args.url, key, batch=args.batch)
    except (CliError, OSError, UnicodeDecodeError) as exc:
        print(str(exc), file=sys.stderr)
        return 2
    print(f"{summary.rows} rows in {summary.calls} calls: {summary.recorded} recorded, {summary.unchanged} unchanged, "
          f"{summary.errors} refused ({summary.replayed} already sent before).")
    return 1 if summary.errors else 0


if __name__ == "__main__":
    sys.exit(main())
