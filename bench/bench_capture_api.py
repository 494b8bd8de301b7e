#!/usr/bin/env python3
# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
"""Benchmark of the consent capture API over real HTTP, against a throw-away database.

    ODOO_PATH=/path/to/odoo python bench/bench_capture_api.py --runs 5 --ledger 100000

Run it with a Python that has Odoo's requirements (e.g. the venv ``./scripts/test`` creates in
``~/.cache/l10n_tr_iys``). The database (``--db``, default ``iys_bench_api``) is created with the
addon installed when missing (no demo data). The bench adds, once, an account and a brand with
``--ledger`` consents (SQL, kept for later runs), a user of İYS / Capture (API) and an API key,
then starts ``odoo-bin`` on a free port of 127.0.0.1 (one process, no workers, no crons) and times,
as a client would see them:

* ``POST /iys/api/v1/consents`` with 1000 new ONAY movements, each with an idempotency key
  (target: under 1 s), and the same call again (every item answered from its key);
* ``POST /iys/api/v1/consents/status`` for 1000 addresses (half on record).

Each figure is the median (min–max) of ``--runs`` runs after one warm-up call; the load average is
printed with them.
"""

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_gate import (  # the shared bench helpers, next to this file
    db_options,
    fmt_seconds,
    free_port,
    log,
    prepare_odoo,
)

requests = None  # imported in main(), after Odoo
BRAND_CODE = "990201"
LOGIN = "iys_bench_capture"
TARGET = 1.0


def load():
    return "load average %.2f %.2f %.2f" % os.getloadavg()


def ensure_data(env, ledger):
    """The bench's account, brand, ledger rows, capture user and a fresh API key."""
    cr = env.cr
    Brand = env["iys.brand"].sudo()
    brand = Brand.search([("code", "=", BRAND_CODE)], limit=1)
    if not brand:
        account = env["iys.account"].sudo().create({
            "name": "Bench capture", "iys_code": BRAND_CODE, "environment": "simulator",
            "simulator_url": "http://127.0.0.1:9", "username": "bench", "password": "bench"})
        brand = Brand.create({"name": "Bench capture brand", "code": BRAND_CODE, "account_id": account.id})
    cr.execute("SELECT count(*) FROM iys_consent WHERE brand_id = %s AND address LIKE '+90533%%'", [brand.id])
    if cr.fetchone()[0] != ledger:
        log(f"Writing {ledger} ledger rows …")
        cr.execute("DELETE FROM iys_consent WHERE brand_id = %s AND address LIKE '+90533%%'", [brand.id])
        cr.execute("""
            INSERT INTO iys_consent (brand_id, account_id, company_id, channel, recipient_type, address, status,
                                     consent_date, source, sync_state, create_uid, write_uid, create_date, write_date)
            SELECT %(brand)s, %(account)s, %(company)s, 'MESAJ', 'BIREYSEL', '+90533' || lpad(i::text, 7, '0'),
                   CASE WHEN i %% 5 = 0 THEN 'RET' ELSE 'ONAY' END, now() - interval '30 days', 'HS_WEB',
                   CASE WHEN i %% 3 = 0 THEN 'pending' ELSE 'confirmed' END, 1, 1, now(), now()
              FROM generate_series(0, %(n)s - 1) AS i""",
                   {"brand": brand.id, "account": brand.account_id.id, "company": brand.company_id.id, "n": ledger})
    user = env["res.users"].sudo().search([("login", "=", LOGIN)], limit=1)
    if not user:
        user = env["res.users"].sudo().create({
            "name": "Bench capture", "login": LOGIN,
            "groups_id": [(6, 0, [env.ref("base.group_user").id, env.ref("l10n_tr_iys.group_iys_capture").id])]})
    key = env["res.users.apikeys"].with_user(user).sudo()._generate(None, "bench", None)
    # each run's addresses are new: start after what earlier runs recorded
    cr.execute("SELECT count(*) FROM iys_consent WHERE brand_id = %s AND address LIKE '+90534%%'", [brand.id])
    offset = cr.fetchone()[0]
    env.cr.commit()  # pylint: disable=invalid-commit  # the server process must see them
    return brand, key, offset


def start_server(odoo_path, paths, db):
    port = free_port()
    cmd = [sys.executable, str(odoo_path / "odoo-bin"), f"--addons-path={paths}", f"--database={db}",
           f"--db-filter=^{db}$", *db_options(), "--http-interface=127.0.0.1", f"--http-port={port}",
           "--workers=0", "--max-cron-threads=0", "--log-level=warn"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(240):
        try:
            if requests.get(url + "/iys/api/v1/openapi.json", timeout=5).status_code == 200:
                return proc, url
        except requests.RequestException:
            pass
        if proc.poll() is not None:
            sys.exit("odoo-bin stopped before answering")
        time.sleep(0.5)
    proc.terminate()
    sys.exit("odoo-bin did not answer within 2 minutes")


def items(start, count):
    date = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return [{
        "brand": BRAND_CODE, "type": "MESAJ", "recipientType": "BIREYSEL", "recipient": f"+90534{i:07d}",
        "status": "ONAY", "consentDate": date, "source": "HS_WEB", "idempotencyKey": f"bench-{i}",
        "evidence": {"ip": "203.0.113.10", "userAgent": "Mozilla/5.0 (bench)", "page": "https://shop.example.com/k"},
    } for i in range(start, start + count)]


SERVER_PID = None  # the odoo-bin process, whose CPU time each call costs is measured too
CPU = {}  # url -> [CPU seconds of the odoo-bin process per call]
DB_CPU = {}  # url -> [CPU seconds of the database's PostgreSQL backends per call]
DB_CURSOR = None  # a connection of the bench's own, to list those backends


def cpu_seconds(pid):
    """User + system CPU time of a process (all its threads), from /proc; None elsewhere."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def backend_pids():
    """The PostgreSQL backends of the bench database (on this machine), for their CPU time."""
    if not DB_CURSOR:
        return []
    DB_CURSOR.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
    return [row[0] for row in DB_CURSOR.fetchall()]


def db_cpu():
    values = [cpu_seconds(pid) for pid in backend_pids()]
    return sum(v for v in values if v is not None) if values and None not in values else None


def timed_post(session, url, body):
    db_before = db_cpu()
    cpu_before = cpu_seconds(SERVER_PID) if SERVER_PID else None
    started = time.perf_counter()
    response = session.post(url, json=body, timeout=120)
    elapsed = time.perf_counter() - started
    cpu_after = cpu_seconds(SERVER_PID) if SERVER_PID else None
    db_after = db_cpu()
    if cpu_before is not None and cpu_after is not None:
        CPU.setdefault(url, []).append(cpu_after - cpu_before)
    if db_before is not None and db_after is not None:
        DB_CPU.setdefault(url, []).append(max(db_after - db_before, 0.0))
    if response.status_code != 200:
        raise SystemExit(f"HTTP {response.status_code}: {response.text[:300]}")
    return elapsed, response.json()


def concurrent_check(session, url, registry, batch):
    """Two identical calls at the same moment: every movement must be recorded once."""
    import threading  # noqa: PLC0415

    answers = [None, None]

    def send(slot):
        answers[slot] = requests.post(url, json={"consents": batch}, timeout=120,
                                      headers={"Authorization": session.headers["Authorization"]})

    threads = [threading.Thread(target=send, args=(slot,)) for slot in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    codes = [answer.status_code for answer in answers]
    if codes != [200, 200]:
        raise SystemExit(f"concurrent calls: HTTP {codes}")
    events = [[r["eventId"] for r in answer.json()["results"]] for answer in answers]
    with registry.cursor() as cr:
        cr.execute("SELECT count(*) FROM iys_consent_event WHERE address = ANY(%s)", [[i["recipient"] for i in batch]])
        stored = cr.fetchone()[0]
    same = events[0] == events[1]
    log(f"  two identical 1000-item calls at once: {stored} events stored (expected 1000), "
        f"same answers: {same}  [{'OK' if stored == 1000 and same else 'FAILED'}]")
    if stored != 1000 or not same:
        raise SystemExit("concurrent calls recorded twice")


def verdict(values):
    return "target met" if statistics.median(values) < TARGET else "target NOT met"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--ledger", type=int, default=100000, help="consents already on record for the brand")
    parser.add_argument("--db", default=os.environ.get("IYS_BENCH_DB", "iys_bench_api"))
    args = parser.parse_args()

    odoo_path, paths = prepare_odoo(args.db)
    import odoo  # noqa: PLC0415 - from ODOO_PATH
    from odoo import SUPERUSER_ID, api  # noqa: PLC0415
    from odoo.modules.registry import Registry  # noqa: PLC0415
    from odoo.tools import config  # noqa: PLC0415

    global requests  # imported after Odoo, which patches urllib3 first
    import requests  # noqa: PLC0415

    config.parse_config([f"--addons-path={paths}", f"--database={args.db}", *db_options(), "--log-level=warn"])
    registry = Registry(args.db)
    with registry.cursor() as cr:
        _brand, key, offset = ensure_data(api.Environment(cr, SUPERUSER_ID, {}), args.ledger)
    log(f"bench_capture_api: Odoo {odoo.release.version} ({odoo_path}), db {args.db}, ledger {args.ledger}, "
        f"{args.runs} runs")
    proc, url = start_server(odoo_path, paths, args.db)
    global SERVER_PID, DB_CURSOR
    SERVER_PID = proc.pid
    monitor = registry.cursor()
    DB_CURSOR = monitor
    try:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {key}"
        record_url, status_url = url + "/iys/api/v1/consents", url + "/iys/api/v1/consents/status"
        timed_post(session, record_url, {"consents": items(offset, 10)})  # warm-up
        offset += 10
        CPU.clear()
        DB_CPU.clear()
        record, replay, status = [], [], []
        for _run in range(args.runs):
            body = {"consents": items(offset, 1000)}
            offset += 1000
            elapsed, answer = timed_post(session, record_url, body)
            if answer["recorded"] != 1000:
                raise SystemExit(f"expected 1000 recorded, got {answer['recorded']} {answer['results'][0]}")
            record.append(elapsed)
            elapsed, answer = timed_post(session, record_url, body)
            if not all(r.get("replayed") for r in answer["results"]):
                raise SystemExit("the retry recorded something")
            replay.append(elapsed)
            recipients = ([f"+90533{i:07d}" for i in range(0, 1000, 2)]
                          + [f"+90534{i:07d}" for i in range(offset - 500, offset)])
            elapsed, answer = timed_post(session, status_url,
                                         {"brand": BRAND_CODE, "type": "MESAJ", "recipients": recipients})
            if len(answer["results"]) != 1000:
                raise SystemExit("status read: wrong number of results")
            status.append(elapsed)
        concurrent_check(session, record_url, registry, items(offset, 1000))
        offset += 1000
        log(f"  record 1000 items (new):      {fmt_seconds(record)}  [{verdict(record)}: < {TARGET:.0f} s]  {load()}")
        log(f"  same call again (replayed):   {fmt_seconds(replay)}  {load()}")
        log(f"  status of 1000 addresses:     {fmt_seconds(status)}  [{verdict(status)}: < {TARGET:.0f} s]  {load()}")
        if CPU.get(record_url):
            # without the machine's load: what one call costs the Odoo process itself (not PostgreSQL)
            calls = CPU[record_url]
            log(f"  odoo-bin CPU per call: record {fmt_seconds(calls[0::2])}, replay {fmt_seconds(calls[1::2])}, "
                f"status {fmt_seconds(CPU[status_url])}")
        if DB_CPU.get(record_url):
            calls = DB_CPU[record_url]
            log(f"  PostgreSQL CPU per call: record {fmt_seconds(calls[0::2])}, replay {fmt_seconds(calls[1::2])}, "
                f"status {fmt_seconds(DB_CPU[status_url])}")
    finally:
        monitor.close()
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
