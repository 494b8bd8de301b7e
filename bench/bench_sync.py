#!/usr/bin/env python3
# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
"""Benchmark of the push to İYS (send and poll crons) with real Odoo 18.0, against a throw-away
database and the library's simulator answering at once.

    ODOO_PATH=/path/to/odoo python bench/bench_sync.py --movements 100000 --workers 1,2 --runs 3
    ODOO_PATH=/path/to/odoo python bench/bench_sync.py --backlog 1000000 --calls 6   # memory at 1M

Run it with a Python that has Odoo's requirements (e.g. the venv ``./scripts/test`` creates in
``~/.cache/l10n_tr_iys``). The database (``--db``, default ``iys_bench_sync``) is created with the
addon installed when missing (see ``bench_gate.ensure_db``); every other cron of it is deactivated
(it is the bench's own database).

Each run:

* records ``--movements`` new ONAY movements (new e-mail addresses) through the ledger's bulk path
  (``_iys_record_movements_bulk``, as an import does), so each run adds its rows to the history of
  the earlier runs (handled rows stay in the outbox forever: the cost per batch must not grow);
* starts the simulator (``iyslib.simulator``) on a free port of 127.0.0.1, batch delay 0, and points
  the bench's account at it (batch size 1000, poll wait 0);
* starts ``--workers`` worker processes that run the crons exactly as Odoo's cron runner does
  (``ir.cron._process_jobs`` on their own registry and cursors: one job per worker at a time,
  ten calls per job run, the job re-run at once while it reports work remaining), until no
  movement of the run is pending or sent;
* prints send/s and poll/s (movements per second of time spent in the send and poll crons),
  end-to-end/s (movements per second from the start to the last confirmation), the longest cron
  call, the time to claim a batch, the peak RSS of each worker, the ERROR lines the workers
  logged, and the duplicates and unmatched transaction ids between the outbox and the simulator,
  each against its target.

The client's throttle (10 requests per second per process, İYS's limit) is lifted in the workers
unless ``--iys-rate`` is given: the bench measures what the addon costs, which must never be the
bottleneck (with İYS's limit, 10,000 movements per second is the ceiling of the submissions alone).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_gate import addons_path, db_options, ensure_db, fmt_seconds, log, peak_rss_mb

IYS_CODE = 990077
SIM_USER, SIM_PASSWORD = "iys-bench", "iys-bench-secret"
CHUNK = 5000
TARGET_RATE = 10_000      # movements per second, end to end
TARGET_CALL = 60.0        # seconds, longest single cron call
TARGET_RSS = 300.0        # MB per worker


def met(ok):
    return "target met" if ok else "target NOT met"


def load():
    return "load average %.2f %.2f %.2f" % os.getloadavg()


# ---------------------------------------------------------------------------------------------
# Odoo set-up (main process and workers)
# ---------------------------------------------------------------------------------------------
def odoo_env(odoo_path, db, paths, log_level="warn"):
    sys.path.insert(0, str(odoo_path))
    # the consent mixin's precompute notice (a warning, not an error) would flood the output
    warnings.filterwarnings("ignore", message=".*cannot be precomputed.*")
    from odoo.modules.registry import Registry  # noqa: PLC0415 - from ODOO_PATH
    from odoo.tools import config  # noqa: PLC0415

    config.parse_config([f"--addons-path={paths}", f"--database={db}", *db_options(), f"--log-level={log_level}",
                         "--max-cron-threads=0"])
    return Registry(db)


def ensure_account(env, url):
    """The bench's account and brand, pointed at the simulator; the other crons switched off."""
    company = env.ref("base.main_company")
    Account = env["iys.account"].sudo().with_context(active_test=False)
    account = Account.search([("iys_code", "=", str(IYS_CODE))])
    values = {"environment": "simulator", "simulator_url": url, "username": SIM_USER, "password": SIM_PASSWORD,
              "poll_delay": 0, "batch_size": 1000, "active": True}
    if not account:
        account = Account.create({"name": "Bench sync", "iys_code": str(IYS_CODE), "company_id": company.id,
                                  **values})
        env["iys.brand"].sudo().create({"name": "Bench sync", "code": str(IYS_CODE), "account_id": account.id,
                                        "is_default": True})
    else:
        account.write(values)
    # only this account synchronises
    Account.search([("id", "!=", account.id)]).write({"active": False})
    send, poll = env.ref("l10n_tr_iys.ir_cron_iys_send"), env.ref("l10n_tr_iys.ir_cron_iys_poll")
    env.cr.execute("UPDATE ir_cron SET active = (id IN %s)", ((send.id, poll.id),))
    env.cr.execute("DELETE FROM ir_cron_trigger")
    return account.brand_ids[:1], (send.id, poll.id)


def fill(env, brand, run, count):
    """*count* new ONAY movements through the ledger's bulk path; returns the first event id."""
    from datetime import timedelta  # noqa: PLC0415

    from odoo import fields  # noqa: PLC0415

    Consent = env["iys.consent"].sudo().with_context(iys_skip_chatter=True, tracking_disable=True)
    date = fields.Datetime.now().replace(microsecond=0) - timedelta(minutes=30)
    env.cr.execute("SELECT COALESCE(max(id), 0) FROM iys_outbox")
    first = env.cr.fetchone()[0] + 1
    for start in range(0, count, CHUNK):
        movements = [
            {"brand_id": brand.id, "channel": "EPOSTA", "address": f"r{run}-{i}@bench.example.com", "status": "ONAY",
             "source": "HS_WEB", "consent_date": date, "recipient_type": "BIREYSEL"}
            for i in range(start, min(start + CHUNK, count))
        ]
        results = Consent._iys_record_movements_bulk(movements, "api", mode="local", normalized=True)
        errors = [r.error for r in results if r.error]
        if errors:
            raise SystemExit(f"bench data refused: {errors[:3]}")
        env.cr.commit()  # pylint: disable=invalid-commit  # the bench's own database
        env.invalidate_all()
    env.cr.execute("ANALYZE iys_outbox")
    env.cr.execute("ANALYZE iys_consent")
    env.cr.execute("ANALYZE iys_consent_event")
    env.cr.commit()  # pylint: disable=invalid-commit
    return first


def fill_sql(env, brand, run, count):
    """*count* new pending movements copied by SQL from one recorded through the bulk path (for a
    backlog of a million, which the bulk path would take many minutes to record): each copy has an
    address of its own, in the consent, the event, the outbox row and its payload. Returns the
    first outbox id."""
    env.cr.execute("SELECT COALESCE(max(id), 0) FROM iys_outbox")
    first = env.cr.fetchone()[0] + 1
    fill(env, brand, f"{run}t", 1)
    env.cr.execute("SELECT id, event_id, consent_id FROM iys_outbox WHERE id >= %s", (first,))
    outbox_id, event_id, consent_id = env.cr.fetchone()

    def columns(table, replaced):
        env.cr.execute("SELECT column_name FROM information_schema.columns "
                       "WHERE table_name = %s AND column_name != 'id' ORDER BY ordinal_position", (table,))
        names = [row[0] for row in env.cr.fetchall()]
        return ", ".join(names), ", ".join(replaced.get(name, f"t.{name}") for name in names)

    started = time.monotonic()
    names, values = columns("iys_consent", {"address": "%(prefix)s || i || '@bench.example.com'"})
    env.cr.execute(f"INSERT INTO iys_consent ({names}) SELECT {values} FROM iys_consent t, generate_series(1, %(n)s) i "
                   "WHERE t.id = %(id)s", {"prefix": f"b{run}-", "n": count, "id": consent_id})
    names, values = columns("iys_consent_event", {"consent_id": "c.id", "address": "c.address"})
    env.cr.execute(f"INSERT INTO iys_consent_event ({names}) SELECT {values} FROM iys_consent_event t, iys_consent c "
                   "WHERE t.id = %(id)s AND c.brand_id = t.brand_id AND c.address LIKE %(like)s ORDER BY c.id",
                   {"id": event_id, "like": f"b{run}-%"})
    names, values = columns("iys_outbox", {
        "event_id": "e.id", "consent_id": "e.consent_id", "address": "e.address",
        "payload": "jsonb_set(t.payload, '{recipient}', to_jsonb(e.address))"})
    env.cr.execute(f"INSERT INTO iys_outbox ({names}) SELECT {values} FROM iys_outbox t, iys_consent_event e "
                   "WHERE t.id = %(id)s AND e.brand_id = t.brand_id AND e.address LIKE %(like)s ORDER BY e.id",
                   {"id": outbox_id, "like": f"b{run}-%"})
    env.cr.execute("ANALYZE iys_outbox")
    env.cr.execute("ANALYZE iys_consent")
    env.cr.execute("ANALYZE iys_consent_event")
    env.cr.commit()  # pylint: disable=invalid-commit  # the bench's own database
    log(f"  {count} movements copied by SQL in {time.monotonic() - started:.0f} s")
    return first


# ---------------------------------------------------------------------------------------------
# Worker process: Odoo's cron runner
# ---------------------------------------------------------------------------------------------
def worker(args):
    odoo_path = Path(os.environ["ODOO_PATH"]).expanduser()
    registry = odoo_env(odoo_path, args.db, args.worker_paths, log_level="info")
    from odoo.addons.base.models.ir_cron import ir_cron  # noqa: PLC0415
    from odoo.addons.l10n_tr_iys.iyslib.throttle import Throttle  # noqa: PLC0415
    from odoo.addons.l10n_tr_iys.models.iys_account import IysAccount  # noqa: PLC0415
    from odoo.addons.l10n_tr_iys.models.iys_outbox import IysOutbox  # noqa: PLC0415

    if not args.iys_rate:
        IysAccount._iys_client_options = lambda self: {"throttle": Throttle(per_second=10**6, hourly={})}
    calls = {"send": [], "poll": []}
    claims = []

    span = []  # wall-clock time of the first call's start and of the last call's end
    profiler = None
    if args.profile:
        import cProfile  # noqa: PLC0415

        profiler = cProfile.Profile()

    def timed(kind, method):
        def wrapper(self, *a, **kw):
            started = time.monotonic()
            if not span:
                span.append(time.time())
            if profiler:
                profiler.enable()
            try:
                return method(self, *a, **kw)
            finally:
                if profiler:
                    profiler.disable()
                calls[kind].append(time.monotonic() - started)
                span[1:] = [time.time()]
        return wrapper

    def timed_claim(method):
        def wrapper(self, *a, **kw):
            started = time.monotonic()
            try:
                return method(self, *a, **kw)
            finally:
                claims.append(time.monotonic() - started)
        return wrapper

    IysOutbox._cron_iys_send = timed("send", IysOutbox._cron_iys_send)
    IysOutbox._cron_iys_poll = timed("poll", IysOutbox._cron_iys_poll)
    IysOutbox._iys_claim_pending = timed_claim(IysOutbox._iys_claim_pending)
    cron_ids = tuple(int(i) for i in args.cron_ids.split(","))
    started = time.monotonic()
    while True:
        with registry.cursor() as cr:
            cr.execute("SELECT count(*) FROM iys_outbox WHERE id >= %s AND state IN ('pending', 'sent')",
                       (args.first,))
            if not cr.fetchone()[0]:
                break
            if args.calls and sum(map(len, calls.values())) >= args.calls:
                break
            # a job not running and not due is due again (the ledger and the send would trigger it)
            cr.execute("""INSERT INTO ir_cron_trigger (cron_id, call_at)
                          SELECT c.id, now() at time zone 'utc' FROM ir_cron c
                           WHERE c.id IN %s AND NOT EXISTS (SELECT 1 FROM ir_cron_trigger t WHERE t.cron_id = c.id)""",
                       (cron_ids,))
        ir_cron._process_jobs(args.db)
        if time.monotonic() - started > args.timeout:
            break
    if profiler:
        profiler.dump_stats(f"{args.profile}.{os.getpid()}")
    result = {"calls": calls, "claims": claims, "rss_mb": peak_rss_mb(), "span": span}
    print("RESULT " + json.dumps(result), flush=True)  # pylint: disable=print-used


# ---------------------------------------------------------------------------------------------
# One measured run
# ---------------------------------------------------------------------------------------------
def run_workers(args, paths, first, cron_ids, workers):
    cmd = [sys.executable, __file__, "--worker", "--db", args.db, "--worker-paths", paths, "--first", str(first),
           "--cron-ids", ",".join(map(str, cron_ids)), "--calls", str(args.calls or 0),
           "--timeout", str(args.timeout)]
    if args.iys_rate:
        cmd.append("--iys-rate")
    if args.profile:
        cmd += ["--profile", args.profile]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _i in range(workers)]
    outputs = [proc.communicate() for proc in procs]
    results, errors = [], []
    for proc, (out, err) in zip(procs, outputs, strict=True):
        lines = [line for line in out.splitlines() if line.startswith("RESULT ")]
        if proc.returncode or not lines:
            sys.exit(f"worker failed (rc {proc.returncode}):\n{err[-3000:]}")
        results.append(json.loads(lines[-1][7:]))
        errors += [line for line in err.splitlines() if " ERROR " in line or " CRITICAL " in line]
    # from the first cron call to the end of the last (the workers' start-up, loading the registry,
    # is not the synchronisation's)
    spans = [r["span"] for r in results if r["span"]]
    wall = max(s[-1] for s in spans) - min(s[0] for s in spans) if spans else 0.0
    return wall, results, errors


def check_exactly_once(env, sim, brand, first):
    """(rows, confirmed, duplicates, unmatched) of the run's rows against the simulator.

    Duplicates: movements the simulator recorded more than once for an address. Unmatched: for the
    addresses whose row is confirmed, transaction ids the outbox and the simulator do not share
    (rows still sent when a bounded run stops, ``--calls``, are not confirmed yet: not counted)."""
    env.cr.execute("SELECT address, transaction_id, state FROM iys_outbox WHERE id >= %s AND brand_id = %s",
                   (first, brand.id))
    rows = env.cr.fetchall()
    addresses = {address for address, _tx, _state in rows}
    confirmed = {address: tx for address, tx, state in rows if state == "done"}
    with sim.lock:
        movements = [(m["recipient"], m["transactionId"]) for m in sim.movements
                     if m["brandCode"] == IYS_CODE and m["recipient"] in addresses]
    per_address = {}
    for address, _tx in movements:
        per_address[address] = per_address.get(address, 0) + 1
    duplicates = sum(count - 1 for count in per_address.values() if count > 1)
    sim_tx = {tx for address, tx in movements if address in confirmed}
    ours = list(confirmed.values())
    unmatched = sum(1 for tx in ours if tx not in sim_tx) + len(sim_tx - set(ours))
    unmatched += len(ours) - len(set(ours))
    return len(rows), len(ours), duplicates, unmatched


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--movements", type=int, default=100_000, help="pending movements per run (default 100k)")
    parser.add_argument("--backlog", type=int, default=None,
                        help="a backlog of this many pending movements instead (e.g. 1000000, for memory)")
    parser.add_argument("--workers", default="1,2", help="worker counts to measure, comma-separated (default 1,2)")
    parser.add_argument("--runs", type=int, default=3, help="runs per worker count (default 3)")
    parser.add_argument("--calls", type=int, default=0,
                        help="stop each worker after this many cron calls (0: when nothing remains)")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds after which the workers stop")
    parser.add_argument("--iys-rate", action="store_true", help="keep the client's 10 requests/s throttle")
    parser.add_argument("--profile", default=None,
                        help="write a cProfile of the workers' cron calls to PROFILE.<pid> (pstats format)")
    parser.add_argument("--db", default=os.environ.get("IYS_BENCH_DB", "iys_bench_sync"))
    # worker mode (internal)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--worker-paths", help=argparse.SUPPRESS)
    parser.add_argument("--first", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--cron-ids", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)

    odoo_path = Path(os.environ.get("ODOO_PATH", "")).expanduser()
    if not (odoo_path / "odoo-bin").is_file():
        sys.exit("Set ODOO_PATH to an Odoo 18.0 source tree (with odoo-bin).")
    paths = addons_path(odoo_path)
    ensure_db(odoo_path, args.db, paths)
    registry = odoo_env(odoo_path, args.db, paths)
    import odoo  # noqa: PLC0415
    from odoo import SUPERUSER_ID, api  # noqa: PLC0415

    from odoo.addons.l10n_tr_iys.iyslib.simulator import IysSimulator, SimulatorServer  # noqa: PLC0415

    sim = IysSimulator(username=SIM_USER, password=SIM_PASSWORD, iys_code=IYS_CODE, brands={IYS_CODE: "Bench sync"},
                       batch_delay=0, pull_lag=0, token_limit=None)
    server = SimulatorServer(sim).start()
    count = args.backlog or args.movements
    worker_counts = [int(w) for w in args.workers.split(",")]
    log(f"bench_sync: Odoo {odoo.release.version} ({odoo_path}), db {args.db}, {count} movements per run, "
        f"workers {worker_counts}, {args.runs} runs, simulator {server.url} (batch delay 0), batch size 1000, "
        f"poll wait 0, throttle {'10 requests/s' if args.iys_rate else 'lifted'}; {load()}")
    summary = {}
    run_no = 0
    try:
        for workers in worker_counts:
            for _run in range(args.runs):
                run_no += 1
                with registry.cursor() as cr:
                    env = api.Environment(cr, SUPERUSER_ID, {})
                    brand, cron_ids = ensure_account(env, server.url)
                    cr.commit()  # pylint: disable=invalid-commit
                    env.cr.execute("SELECT count(*) FROM iys_outbox")
                    history = env.cr.fetchone()[0]
                    tag = f"{int(time.time())}{run_no}"
                    filled = time.monotonic()
                    first = (fill_sql if args.backlog else fill)(env, brand, tag, count)
                    log(f"run {run_no}: {workers} worker(s), {count} movements recorded in "
                        f"{time.monotonic() - filled:.0f} s, outbox history {history} rows; {load()}")
                wall, results, errors = run_workers(args, paths, first, cron_ids, workers)
                load_after = load()
                with registry.cursor() as cr:
                    env = api.Environment(cr, SUPERUSER_ID, {})
                    rows, confirmed, duplicates, unmatched = check_exactly_once(env, sim, brand, first)
                send_time = sum(sum(r["calls"]["send"]) for r in results)
                poll_time = sum(sum(r["calls"]["poll"]) for r in results)
                longest = max([c for r in results for kind in ("send", "poll") for c in r["calls"][kind]] or [0])
                claims = [c for r in results for c in r["claims"]]
                rss = [r["rss_mb"] for r in results]
                figures = {
                    "send": confirmed / send_time if send_time else 0,
                    "poll": confirmed / poll_time if poll_time else 0,
                    "e2e": confirmed / wall if wall else 0, "longest": longest, "rss": max(rss), "errors": len(errors),
                    "duplicates": duplicates, "unmatched": unmatched, "claim": statistics.median(claims or [0]),
                    "confirmed": confirmed, "rows": rows,
                }
                summary.setdefault(workers, []).append(figures)
                log(f"  {confirmed}/{rows} confirmed in {wall:.1f} s: end to end {figures['e2e']:,.0f}/s, send "
                    f"{figures['send']:,.0f}/s ({send_time:.1f} s in send calls), poll {figures['poll']:,.0f}/s "
                    f"({poll_time:.1f} s in poll calls), longest call {longest:.1f} s, claim of a batch "
                    f"{figures['claim'] * 1000:.1f} ms median, peak RSS {', '.join(f'{m:.0f}' for m in rss)} MB, "
                    f"{len(errors)} ERROR log lines, {duplicates} duplicates, {unmatched} unmatched; {load_after}")
                for line in errors[:5]:
                    log(f"    {line[:300]}")
    finally:
        server.stop()

    log("")
    log(f"Summary (median (min–max) of {args.runs} runs; {load()}):")
    for workers, runs in summary.items():
        def fig(key, runs=runs):
            values = [r[key] for r in runs]
            return statistics.median(values), min(values), max(values)

        e2e, send, poll = fig("e2e"), fig("send"), fig("poll")
        longest, rss = fig("longest"), fig("rss")
        complete = all(r["confirmed"] == r["rows"] for r in runs)
        log(f"- {workers} worker(s), {count} movements:")
        log(f"    end to end    {e2e[0]:>9,.0f}/s ({e2e[1]:,.0f}–{e2e[2]:,.0f})   target ≥ {TARGET_RATE:,}/s: "
            f"{met(e2e[0] >= TARGET_RATE)}")
        log(f"    send          {send[0]:>9,.0f}/s ({send[1]:,.0f}–{send[2]:,.0f})   target ≥ {TARGET_RATE:,}/s: "
            f"{met(send[0] >= TARGET_RATE)}")
        log(f"    poll          {poll[0]:>9,.0f}/s ({poll[1]:,.0f}–{poll[2]:,.0f})   target ≥ {TARGET_RATE:,}/s: "
            f"{met(poll[0] >= TARGET_RATE)}")
        log(f"    longest call  {fmt_seconds([r['longest'] for r in runs])}   target < {TARGET_CALL:.0f} s: "
            f"{met(max(r['longest'] for r in runs) < TARGET_CALL)}")
        claims = ", ".join(f"{r['claim'] * 1000:.1f}" for r in runs)
        log(f"    claim a batch {fmt_seconds([r['claim'] for r in runs])} (history grows by {count} rows per run: "
            f"{claims} ms)")
        log(f"    peak RSS      {rss[0]:.0f} MB per worker ({rss[1]:.0f}–{rss[2]:.0f})   target < {TARGET_RSS:.0f} MB: "
            f"{met(rss[2] < TARGET_RSS)}")
        log(f"    exactly once  {sum(r['duplicates'] for r in runs)} duplicates, "
            f"{sum(r['unmatched'] for r in runs)} unmatched transaction ids, every row confirmed: {complete}   "
            f"target 0/0: {met(not any(r['duplicates'] or r['unmatched'] for r in runs) and complete)}")
        log(f"    ERROR lines   {sum(r['errors'] for r in runs)} in the workers' logs   target 0: "
            f"{met(not any(r['errors'] for r in runs))}")
    log(f"bench process peak RSS {peak_rss_mb():.0f} MB (simulator included)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
