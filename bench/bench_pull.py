#!/usr/bin/env python3
# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
"""Benchmark of the pull from İYS (citizen movements) with real Odoo 18.0, against a throw-away database.

    ODOO_PATH=/path/to/odoo python bench/bench_pull.py --changes 1000000

Run it with a Python that has Odoo's requirements (e.g. the venv ``./scripts/test`` creates in
``~/.cache/l10n_tr_iys``). The database (``--db``, default ``iys_bench_ingest``) is created with the
addon installed when missing.

Each run starts the library's İYS simulator in this process (127.0.0.1, a free port, answering at
once: no pull lag, no token limit), fills it with ``--changes`` citizen movements of one brand
(``IysSimulator.fill_citizen_changes``: two thirds mobile numbers on MESAJ and ARAMA, one third
e-mail addresses, one in ten RET, spread over the recent hours), then starts one worker process
that creates an İYS account and brand pointed at the simulator and calls the pull cron's method
(``iys.brand._cron_iys_pull``, limited to the bench's brand) until no page is left, committing
after each call as Odoo's cron runner does. The worker then checks the ledger: one event per
movement (each transaction id once), one consent per address.

Printed, as median (min–max) of ``--runs`` runs, each with its target and met / NOT met:
movements applied per second (≥ 5,000), the worker's peak RSS (< 300 MB), the longest cron call
(≤ 60 s), movements applied against expected. With ``--profile <folder>`` the worker runs under
cProfile (``pull-worker-<run>.prof``; its figures are then not the benchmark's). The bench's rows
are deleted after each run unless ``--keep``.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench_gate import (  # the shared bench helpers
    addons_path,
    cpu_backend,
    cpu_self,
    db_options,
    ensure_db,
    free_port,
    log,
    peak_rss_mb,
    rss_mb,
)

REPO = Path(__file__).resolve().parent.parent
SIM_USER, SIM_PASSWORD = "iys-bench", "iys-bench-secret"

TARGET_RATE = 5000  # movements applied per second
TARGET_RSS_MB = 300
TARGET_CALL_S = 60


def odoo_path():
    path = Path(os.environ.get("ODOO_PATH", "")).expanduser()
    if not (path / "odoo-bin").is_file():
        sys.exit("Set ODOO_PATH to an Odoo 18.0 source tree (with odoo-bin).")
    return path


def met(ok):
    return "target met" if ok else "target NOT met"


# ---------------------------------------------------------------------------------------------
# The worker (a child process: its peak RSS is the pull's)
# ---------------------------------------------------------------------------------------------
def child(args):
    tree = odoo_path()
    sys.path.insert(0, str(tree))
    import odoo  # noqa: PLC0415 - from ODOO_PATH
    from odoo import SUPERUSER_ID, api  # noqa: PLC0415
    from odoo.modules.registry import Registry  # noqa: PLC0415
    from odoo.tools import config  # noqa: PLC0415

    config.parse_config([f"--addons-path={args.paths}", f"--database={args.db}", *db_options(),
                         "--log-level=warn", "--max-cron-threads=0"])
    registry = Registry(args.db)
    code = str(args.code)
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        account = env["iys.account"].create({
            "name": f"Bench pull {code}", "iys_code": code, "environment": "simulator", "simulator_url": args.url,
            "username": SIM_USER, "password": SIM_PASSWORD, "sequence": 99,
        })
        brand = env["iys.brand"].create({"name": f"Bench pull {code}", "code": code, "account_id": account.id})
        brand_id, account_id = brand.id, account.id
    Brand = registry["iys.brand"]
    original_brands = Brand._iys_pull_brands
    # only the bench's brand (the database may hold other benchmarks' accounts, not pointed at a simulator)
    Brand._iys_pull_brands = lambda self: original_brands(self).filtered(lambda b: b.id == brand_id)
    profiler = None
    if args.profile:
        import cProfile  # noqa: PLC0415

        profiler = cProfile.Profile()
        profiler.enable()
    calls, applied, unchanged, errors, pages = [], 0, 0, 0, 0
    cpu_odoo, cpu_pg, rss_after = 0.0, 0.0, []
    startup_peak = peak_rss_mb()  # Odoo loaded, the bench's account and brand created
    started = time.perf_counter()
    while True:
        call_started = time.perf_counter()
        with registry.cursor() as cr:  # one cron call: its own transaction, committed at the end
            odoo_before, pg_before = cpu_self(), cpu_backend(cr)
            env = api.Environment(cr, SUPERUSER_ID, {})
            stats = env["iys.brand"]._cron_iys_pull()
            cpu_odoo, cpu_pg = cpu_odoo + cpu_self() - odoo_before, cpu_pg + cpu_backend(cr) - pg_before
        calls.append(time.perf_counter() - call_started)
        rss_after.append((rss_mb(), peak_rss_mb()))
        applied, unchanged, errors, pages = (applied + stats.applied, unchanged + stats.unchanged,
                                             errors + len(stats.errors), pages + stats.pages)
        if stats.stop or not stats.waiting:
            break
    elapsed = time.perf_counter() - started
    pull_peak = peak_rss_mb()  # the pull's own peak (the ledger check and clean-up below come after)
    if profiler:
        profiler.disable()
        profiler.dump_stats(str(Path(args.profile) / f"pull-worker-{args.run}.prof"))
    with registry.cursor() as cr:
        cr.execute("SELECT count(*), count(DISTINCT transaction_id) FROM iys_consent_event "
                   "WHERE brand_id = %s AND origin = 'iys_pull'", [brand_id])
        events, transactions = cr.fetchone()
        cr.execute("SELECT count(*), count(*) FILTER (WHERE sync_state = 'confirmed') FROM iys_consent "
                   "WHERE brand_id = %s", [brand_id])
        consents, confirmed = cr.fetchone()
        cr.execute("SELECT count(*) FROM iys_outbox WHERE brand_id = %s", [brand_id])
        outbox = cr.fetchone()[0]
        cr.execute("SELECT iys_pull_error FROM iys_brand WHERE id = %s", [brand_id])
        pull_error = cr.fetchone()[0]
        if not args.keep:
            for statement in ("DELETE FROM iys_outbox WHERE brand_id = %s",
                              "DELETE FROM iys_consent_event WHERE brand_id = %s",
                              "DELETE FROM iys_consent WHERE brand_id = %s",
                              "DELETE FROM iys_brand WHERE id = %s"):
                cr.execute(statement, [brand_id])
            cr.execute("DELETE FROM iys_account WHERE id = %s", [account_id])
    print(json.dumps({
        "elapsed": elapsed, "calls": calls, "applied": applied, "unchanged": unchanged, "errors": errors,
        "pages": pages, "events": events, "transactions": transactions, "consents": consents,
        "confirmed": confirmed, "outbox": outbox, "cpu_odoo": cpu_odoo, "cpu_pg": cpu_pg, "pull_error": pull_error,
        "maxrss_mb": pull_peak, "maxrss_end_mb": peak_rss_mb(), "maxrss_startup_mb": startup_peak,
        "rss_after_calls": rss_after,
        "version": odoo.release.version,
    }), flush=True)


# ---------------------------------------------------------------------------------------------
# The run: simulator here, the worker in its own process
# ---------------------------------------------------------------------------------------------
def run_once(args, paths, number):
    sys.path.insert(0, str(REPO))
    from iyslib.simulator import IysSimulator, SimulatorServer  # noqa: PLC0415 - the pure library

    code = 880000 + (int(time.time()) + number) % 100000  # a fresh İYS code and brand per run
    sim = IysSimulator(username=SIM_USER, password=SIM_PASSWORD, iys_code=code, brands={code: "Bench pull"},
                       pull_lag=0, batch_delay=0, token_limit=None)
    started = time.perf_counter()
    sim.fill_citizen_changes(code, args.changes, seconds=max(3600, args.changes // 50))
    fill = time.perf_counter() - started
    server = SimulatorServer(sim, port=free_port()).start()
    try:
        cmd = [sys.executable, __file__, "--child", "--db", args.db, "--paths", paths, "--url", server.url,
               "--code", str(code), "--run", str(number)]
        if args.profile:
            cmd += ["--profile", args.profile]
        if args.keep:
            cmd.append("--keep")
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    finally:
        server.stop()
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode or not lines:
        sys.stderr.write(result.stdout[-3000:] + result.stderr[-3000:])
        sys.exit(f"the worker failed (exit {result.returncode})")
    out = json.loads(lines[-1])
    out["fill"] = fill
    out["load"] = os.getloadavg()
    return out


def spread(values, fmt="{:,.0f}"):
    if len(values) == 1:
        return fmt.format(values[0]) + " (1 run)"
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}–{fmt.format(max(values))})"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--changes", type=int, default=100000, help="citizen movements in the feed")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--db", default=os.environ.get("IYS_BENCH_DB", "iys_bench_ingest"))
    parser.add_argument("--profile", help="folder for the worker's cProfile output (slows it down)")
    parser.add_argument("--keep", action="store_true", help="keep the bench's consents and events")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--paths", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--code", help=argparse.SUPPRESS)
    parser.add_argument("--run", default="1", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    tree = odoo_path()
    paths = addons_path(tree)
    ensure_db(tree, args.db, paths)
    log(f"bench_pull: {args.changes:,} citizen movements, {args.runs} run(s), db {args.db}, Odoo {tree}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    results = []
    for number in range(1, args.runs + 1):
        r = run_once(args, paths, number)
        results.append(r)
        rate = r["applied"] / r["elapsed"]
        log(f"  run {number}: fill {r['fill']:.1f} s; pull {r['elapsed']:.1f} s, {rate:,.0f} movements/s, "
            f"CPU Odoo {r['cpu_odoo']:.1f} s + PostgreSQL {r['cpu_pg']:.1f} s "
            f"({r['applied'] / (r['cpu_odoo'] + r['cpu_pg']):,.0f} movements per CPU-second); "
            f"{len(r['calls'])} cron calls (longest {max(r['calls']):.2f} s), {r['pages']} pages, "
            f"applied {r['applied']:,}, already known {r['unchanged']:,}, invalid {r['errors']}; ledger: "
            f"{r['events']:,} events ({r['transactions']:,} transaction ids), {r['consents']:,} consents "
            f"({r['confirmed']:,} confirmed), {r['outbox']} outbox rows; "
            f"peak RSS {r['maxrss_startup_mb']:.0f} MB before the first call, "
            f"{r['maxrss_mb']:.0f} MB when the pull ends, "
            f"{r['maxrss_end_mb']:.0f} MB at the end (after the ledger check and clean-up); "
            f"RSS (peak so far) after the calls "
            f"{', '.join(f'{now:.0f} ({peak:.0f})' for now, peak in r['rss_after_calls'])} MB; "
            f"load {r['load'][0]:.2f}" + (f"; pull error: {r['pull_error']}" if r["pull_error"] else ""))
    rates = [r["applied"] / r["elapsed"] for r in results]
    cpu_rates = [r["applied"] / (r["cpu_odoo"] + r["cpu_pg"]) for r in results]
    rss = [r["maxrss_mb"] for r in results]
    longest = [max(r["calls"]) for r in results]
    exact = all(r["applied"] == r["events"] == r["transactions"] == args.changes and not r["outbox"]
                and r["consents"] == r["confirmed"] == args.changes for r in results)
    log(f"\nPull of {args.changes:,} citizen movements, median (min–max) of {len(results)} run(s), "
        f"Odoo {results[0]['version']}:")
    log(f"  movements applied per second  {spread(rates)}   target >= {TARGET_RATE:,}: "
        f"{met(statistics.median(rates) >= TARGET_RATE)}")
    log(f"  movements per CPU-second      {spread(cpu_rates)}   (the worker and its PostgreSQL backend take turns: "
        f"the wall-clock rate on an idle machine; with other load, wall-clock is lower)")
    log(f"  worker peak RSS               {spread(rss)} MB   target < {TARGET_RSS_MB} MB: "
        f"{met(max(rss) < TARGET_RSS_MB)}")
    log(f"  longest cron call             {spread(longest, '{:.2f}')} s   target <= {TARGET_CALL_S} s: "
        f"{met(max(longest) <= TARGET_CALL_S)}")
    applied = ", ".join(f"{r['applied']:,}" for r in results)
    log(f"  applied vs expected           {applied} of {args.changes:,} "
        f"(one event and one confirmed consent per movement, no outbox row): {met(exact)}")
    log(f"  load average at the end       {' / '.join(f'{x:.2f}' for x in os.getloadavg())} "
        f"(1 / 5 / 15 min) on {os.cpu_count()} CPUs")
    if args.profile:
        log(f"  (profiled: figures slowed by cProfile; profiles in {args.profile})")


if __name__ == "__main__":
    main()
