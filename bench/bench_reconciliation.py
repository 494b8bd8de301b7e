#!/usr/bin/env python3
# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
"""Benchmark of the daily reconciliation with İYS: one brand's day of ``--movements`` movements.

    ODOO_PATH=/path/to/odoo python bench/bench_reconciliation.py --movements 100000

Run it with a Python that has Odoo's requirements (e.g. the venv ``./scripts/test`` creates in
``~/.cache/l10n_tr_iys``). The database (``--db``) is created with the addon
installed when missing (see ``bench_gate.py``; its own database, default ``iys_bench_recon``). The bench then

* writes yesterday's (Turkish time) movements of a bench brand into a simulator state file (SQLite)
  and starts the library's simulator on a free port of 127.0.0.1 in its own process;
* writes the same movements into the ledger by SQL (one consent and one event per address, with
  İYS's transaction id and dates, as the pull or the outbox leave them), except ``--differences``
  movements only İYS has; plus ``--differences`` movements confirmed in Odoo that İYS lost, and
  ``--differences`` with another status;
* reconciles the day ``--runs`` times, each in a fresh process (so the peak RSS printed is the
  reconciliation's) and in a transaction that is rolled back: fetch the agreement info, the file,
  the summaries and the timestamp; check the SHA-384; compare in SQL; apply the movements only İYS
  has through the ledger (as the pull does); count.

Figures: time as median (min–max) of the runs, and the peak RSS of each run's process, with the
targets of issue 12 (< 30 s, < 300 MB).
"""

import argparse
import datetime
import hashlib
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_gate import addons_path, db_options, ensure_db, fmt_seconds, free_port, log, peak_rss_mb, rss_mb

from iyslib.dates import from_local, to_local
from iyslib.simulator.store import DocStore

IYS_CODE = 990101
BRAND_CODE = str(IYS_CODE)
SIM_USER, SIM_PASSWORD = "iys-demo", "iys-demo-secret"
TARGET_SECONDS, TARGET_MB = 30.0, 300.0


def yesterday():
    return to_local(datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)).date() - datetime.timedelta(
        days=1)


def movements(day, count):
    """The day's movements: (index, address, channel, status, source, consent_local, creation_local, txid)."""
    start = datetime.datetime.combine(day, datetime.time(0, 0, 30))
    step = (86400 - 60) / max(count, 1)
    for i in range(count):
        created = start + datetime.timedelta(seconds=int(i * step))
        channel = "MESAJ" if i % 2 else "EPOSTA"
        address = f"+90532{i:07d}" if channel == "MESAJ" else f"bench.recon{i}@example.com"
        status = "RET" if i % 10 == 3 else "ONAY"
        source = "IYS_MOBIL" if i % 7 == 0 else "HS_WEB"
        txid = hashlib.sha256(f"bench-recon|{day}|{i}".encode()).hexdigest()
        yield i, address, channel, status, source, created - datetime.timedelta(seconds=30), created, txid


def write_simulator_state(path, day, count, differences):
    """The simulator's state file: the day's movements (and the current states of their addresses)."""
    if os.path.exists(path):
        os.unlink(path)
    store = DocStore(path)
    changes = {}
    for i, address, channel, status, source, consent, created, txid in movements(day, count):
        created_utc = from_local(created)
        mv = {"seq": i + 1, "brandCode": IYS_CODE, "recipient": address, "recipientType": "BIREYSEL",
              "type": channel, "status": status, "source": source, "consentDate": consent.strftime("%Y-%m-%d %H:%M:%S"),
              "creationDate": created.strftime("%Y-%m-%d %H:%M:%S"),
              "creationTs": int(created_utc.replace(tzinfo=datetime.timezone.utc).timestamp()), "transactionId": txid}
        changes[("movements", f"{i + 1:012d}")] = mv
        key = f"{IYS_CODE}|BIREYSEL|{channel}|{address}"
        changes[("consents", key)] = {"status": status, "consentDate": mv["consentDate"], "source": source,
                                      "creationDate": mv["creationDate"], "transactionId": txid, "recipient": address,
                                      "recipientType": "BIREYSEL", "type": channel, "brandCode": IYS_CODE}
    changes[("meta", "meta")] = {"clock_offset": 0.0, "batch_delay": 0.0, "pull_lag": 0.0, "seq": count,
                                 "retailer_seq": 0, "token_calls": [], "token_lock_until": 0.0}
    store.write(changes)
    store.close()


def start_simulator(path, port):
    cmd = [sys.executable, "-m", "iyslib.simulator", "--port", str(port), "--db", path, "--iys-code", str(IYS_CODE),
           "--brand-codes", BRAND_CODE, "--token-limit", "0", "--batch-delay", "0"]
    proc = subprocess.Popen(cmd, cwd=str(Path(__file__).resolve().parent.parent), stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _attempt in range(600):
        try:
            with urllib.request.urlopen(f"{url}/_sim/state", timeout=2) as resp:
                state = json.loads(resp.read())
                return proc, url, state["movements"]
        except OSError:
            time.sleep(0.2)
    proc.kill()
    sys.exit("The simulator did not start.")


def ensure_ledger(env, day, count, differences, url):
    """The bench account and brand, and the day's movements in the ledger (rebuilt every time)."""
    cr = env.cr
    company = env.ref("base.main_company")
    Account = env["iys.account"].sudo()
    account = Account.search([("iys_code", "=", BRAND_CODE), ("company_id", "=", company.id)])
    if not account:
        account = Account.create({"name": "Bench reconciliation", "iys_code": BRAND_CODE, "environment": "simulator",
                                  "company_id": company.id, "simulator_url": url})
        env["iys.brand"].sudo().create({"name": "Bench reconciliation", "code": BRAND_CODE,
                                        "account_id": account.id})
    account.write({"simulator_url": url, "username": SIM_USER, "password": SIM_PASSWORD, "active": True})
    brand = account.brand_ids[:1]
    cr.execute("DELETE FROM iys_reconciliation WHERE brand_id = %s", (brand.id,))
    cr.execute("DELETE FROM iys_consent_event WHERE brand_id = %s", (brand.id,))
    cr.execute("DELETE FROM iys_consent WHERE brand_id = %s", (brand.id,))
    cr.execute("DROP TABLE IF EXISTS bench_recon")
    cr.execute("CREATE TABLE bench_recon (address varchar, channel varchar, status varchar, source varchar, "
               "consent_date timestamp, creation_date timestamp, txid varchar)")
    buf = io.StringIO()
    for i, address, channel, status, source, consent, created, txid in movements(day, count):
        if i >= count - differences:
            continue                                   # only İYS has these
        if i < differences:
            status = "RET" if status == "ONAY" else "ONAY"   # another status in Odoo
        buf.write(f"{address},{channel},{status},{source},{from_local(consent)},{from_local(created)},{txid}\n")
    for k in range(differences):                       # confirmed in Odoo, lost by İYS
        created = datetime.datetime.combine(day, datetime.time(12, 0, 0)) + datetime.timedelta(seconds=k)
        txid = hashlib.sha256(f"bench-recon-lost|{day}|{k}".encode()).hexdigest()
        buf.write(f"+90533{k:07d},MESAJ,ONAY,HS_WEB,{from_local(created) - datetime.timedelta(minutes=1)},"
                  f"{from_local(created)},{txid}\n")
    buf.seek(0)
    cr.copy_expert("COPY bench_recon FROM STDIN WITH (FORMAT csv)", buf)
    params = {"brand": brand.id, "account": account.id, "company": company.id}
    cr.execute("""
        INSERT INTO iys_consent (brand_id, account_id, company_id, channel, recipient_type, address, status,
                                 consent_date, source, sync_state, iys_transaction_id, iys_creation_date,
                                 create_date, write_date, create_uid, write_uid)
        SELECT %(brand)s, %(account)s, %(company)s, channel, 'BIREYSEL', address, status, consent_date, source,
               'confirmed', txid, creation_date, now(), now(), 1, 1 FROM bench_recon""", params)
    cr.execute("""
        INSERT INTO iys_consent_event (consent_id, brand_id, company_id, channel, recipient_type, address,
                                       new_status, source, source_raw, consent_date, user_id, actor, origin, to_send,
                                       push_state, transaction_id, iys_creation_date, create_date, write_date,
                                       create_uid, write_uid)
        SELECT c.id, c.brand_id, c.company_id, c.channel, 'BIREYSEL', c.address, b.status, b.source, b.source,
               b.consent_date, 1, 'iys', 'iys_pull', false, 'confirmed', b.txid, b.creation_date, now(), now(), 1, 1
          FROM bench_recon b
          JOIN iys_consent c ON c.brand_id = %(brand)s AND c.channel = b.channel AND c.recipient_type = 'BIREYSEL'
                            AND c.address = b.address""", params)
    cr.execute("DROP TABLE bench_recon")
    cr.execute("ANALYZE iys_consent")
    cr.execute("ANALYZE iys_consent_event")
    cr.commit()  # pylint: disable=invalid-commit  # the bench data is kept for the measured runs
    env.invalidate_all()
    return brand


def open_registry(args, odoo_path, paths):
    sys.path.insert(0, str(odoo_path))
    import odoo  # noqa: PLC0415 - from ODOO_PATH
    from odoo.modules.registry import Registry  # noqa: PLC0415
    from odoo.tools import config  # noqa: PLC0415

    config.parse_config([f"--addons-path={paths}", f"--database={args.db}", *db_options(), "--log-level=warn",
                         "--max-cron-threads=0"])
    return odoo, Registry(args.db)


def measure(args, odoo_path, paths):
    """One run (a child process): reconcile the day, print one JSON line, roll back."""
    odoo, registry = open_registry(args, odoo_path, paths)
    from odoo import SUPERUSER_ID, api  # noqa: PLC0415

    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        brand = env["iys.brand"].search([("code", "=", BRAND_CODE)], limit=1)
        day = datetime.date.fromisoformat(args.measure)
        rec = env["iys.reconciliation"]._iys_ensure_days(brand, [day])
        env.invalidate_all()
        before = rss_mb()
        started = time.perf_counter()
        rec._iys_reconcile()
        env.flush_all()
        seconds = time.perf_counter() - started
        out = {"seconds": seconds, "rss_before": before, "peak": peak_rss_mb(), "state": rec.state,
               "error": rec.error_message or "", "file": rec.iys_movement_count, "matched": rec.matched_count,
               "iys_only": rec.iys_only_count, "applied": rec.applied_count, "odoo_only": rec.odoo_only_count,
               "status": rec.status_diff_count, "date": rec.date_diff_count, "left": rec.unexplained_count,
               "odoo": odoo.release.version}
        cr.rollback()
    print(json.dumps(out), flush=True)  # pylint: disable=print-used


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--movements", type=int, default=100_000, help="movements of the day (default 100000)")
    parser.add_argument("--differences", type=int, default=100,
                        help="movements of each kind of difference (default 100)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--db", default=os.environ.get("IYS_BENCH_RECON_DB", "iys_bench_recon"))
    parser.add_argument("--measure", help=argparse.SUPPRESS)   # internal: one run, in a child process
    args = parser.parse_args()
    odoo_path = Path(os.environ.get("ODOO_PATH", "")).expanduser()
    if not (odoo_path / "odoo-bin").is_file():
        sys.exit("Set ODOO_PATH to an Odoo 18.0 source tree (with odoo-bin).")
    paths = os.environ.get("IYS_BENCH_ADDONS") or addons_path(odoo_path)
    if args.measure:
        measure(args, odoo_path, paths)
        return
    ensure_db(odoo_path, args.db, paths)
    day = yesterday()
    log(f"bench_reconciliation: db {args.db}, day {day} (Turkish time), {args.movements} movements on İYS, "
        f"{args.differences} of each difference, {args.runs} runs")
    started = time.monotonic()
    state_file = os.path.join(tempfile.mkdtemp(prefix="iys_bench_sim_"), "sim.sqlite")
    write_simulator_state(state_file, day, args.movements, args.differences)
    proc, url, loaded = start_simulator(state_file, free_port())
    try:
        log(f"  simulator on {url} with {loaded} movements ({time.monotonic() - started:.0f} s)")
        _odoo, registry = open_registry(args, odoo_path, paths)
        from odoo import SUPERUSER_ID, api  # noqa: PLC0415

        with registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            ensure_ledger(env, day, args.movements, args.differences, url)
            cr.execute("SELECT count(*) FROM iys_consent_event")
            events = cr.fetchone()[0]
        log(f"  ledger written ({events} events in the database, {time.monotonic() - started:.0f} s)")
        env_vars = dict(os.environ, IYS_BENCH_ADDONS=paths)
        results = []
        for run in range(args.runs):
            out = subprocess.run([sys.executable, __file__, "--db", args.db, "--measure", day.isoformat()],
                                 check=True, capture_output=True, text=True, env=env_vars)
            result = json.loads(out.stdout.strip().splitlines()[-1])
            results.append(result)
            log(f"  run {run + 1}: {result['seconds']:.2f} s, peak RSS {result['peak']:.0f} MB "
                f"(before: {result['rss_before']:.0f} MB), state {result['state']} {result['error']}")
        last = results[-1]
        log(f"result: {last['file']} movements on İYS, {last['matched']} matched, {last['iys_only']} on İYS only "
            f"({last['applied']} applied), {last['odoo_only']} confirmed in Odoo only, {last['status']} other "
            f"status, {last['date']} other date; {last['left']} left to explain")
        times = [r["seconds"] for r in results]
        peaks = [r["peak"] for r in results]
        ok_time = statistics.median(times) < TARGET_SECONDS
        ok_mem = max(peaks) < TARGET_MB
        log(f"reconcile a day of {args.movements} movements (Odoo {last['odoo']}): {fmt_seconds(times)} "
            f"(target < {TARGET_SECONDS:.0f} s: {'met' if ok_time else 'NOT met'})")
        log(f"peak RSS of the reconciling process: {statistics.median(peaks):.0f} MB median "
            f"({min(peaks):.0f}–{max(peaks):.0f}) (target < {TARGET_MB:.0f} MB: {'met' if ok_mem else 'NOT met'})")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    main()
