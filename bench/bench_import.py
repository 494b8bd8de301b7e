#!/usr/bin/env python3
# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
"""Benchmark of the consent import: the wizard's engine against Odoo's standard import.

Runs against a throw-away database with real Odoo 18.0 (created with the addon installed when
missing)::

    ODOO_PATH=/path/to/odoo python bench/bench_import.py --rows 150000,1000000

Python: the project's virtual environment (scripts/test creates it), or any Python with Odoo's
requirements. For each size it generates a realistic İYS-format CSV file (valid Turkish mobile
numbers in several spellings, e-mail addresses, mixed types, statuses, sources and recipient
types, about 2 % bad rows) and imports it with the wizard's engine, the way the background job
does it (dry run, then import, one commit per chunk). In the same run it imports the rows a
plain ORM import accepts with Odoo's standard import (``base_import.import.execute_import`` into
``iys.consent``). Each case runs in its own process, so the peak RSS printed is that case's.

The engine runs with 1 and with 2 background workers (``--workers``): processes calling the
import cron's method at once, as Odoo's cron threads do (2 by default); the addon ships two
import crons, which walk different address ranges of one file at once.

Figures are printed as median (min–max) of the runs. With ``IYS_BENCH_PROFILE=<folder>``, each
worker's dry run and import are profiled with cProfile (``import-check-worker0.prof`` …, in that
folder; the profiler slows them down, so their figures are not the benchmark's).
"""
import argparse
import gc
import json
import os
import random
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

from bench_gate import cpu_backend, cpu_self, peak_rss_mb  # the shared bench helpers (peak: VmHWM)

REPO = Path(__file__).resolve().parent.parent
MODULE = "l10n_tr_iys"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / MODULE / "bench"

HEADER = ["recipient", "type", "source", "status", "consentDate", "recipientType", "retailerCode"]
SOURCES = ["HS_WEB", "HS_MOBIL", "HS_FIZIKSEL_ORTAM", "HS_ISLAK_IMZA", "HS_CAGRI_MERKEZI", "HS_EPOSTA", "HS_MESAJ",
           "HS_ETKINLIK", "HS_EORTAM", "HS_SOSYAL_MEDYA", "HS_ATM"]
MOBILE_PREFIXES = [501, 505, 506, 507, 530, 531, 532, 533, 534, 535, 536, 537, 538, 539, 541, 542, 543, 544, 545,
                   546, 547, 548, 549, 551, 552, 553, 554, 555, 559]
NAMES = ["ayse", "mehmet", "fatma", "mustafa", "emine", "ahmet", "hatice", "ali", "zeynep", "huseyin", "elif",
         "hasan", "merve", "ibrahim", "esra", "murat", "ozge", "emre", "seda", "burak"]
SURNAMES = ["yilmaz", "kaya", "demir", "sahin", "celik", "yildiz", "yildirim", "ozturk", "aydin", "ozdemir",
            "arslan", "dogan", "kilic", "aslan", "cetin", "kara", "koc", "kurt", "ozkan", "simsek"]
DOMAINS = ["gmail.com", "hotmail.com", "yahoo.com", "outlook.com", "firma.com.tr", "ornek.com.tr", "yandex.com"]


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------
def _phone(i, rng):
    prefix = MOBILE_PREFIXES[i % len(MOBILE_PREFIXES)]
    subscriber = f"{(i * 7919 + 1234567) % 10_000_000:07d}"  # 7919 is prime to 10**7: unique per i
    spelling = rng.random()
    if spelling < 0.4:
        return f"0{prefix}{subscriber}"
    if spelling < 0.6:
        return f"+90 {prefix} {subscriber[:3]} {subscriber[3:5]} {subscriber[5:]}"
    if spelling < 0.8:
        return f"{prefix} {subscriber[:3]} {subscriber[3:5]} {subscriber[5:]}"
    if spelling < 0.9:
        return f"(0{prefix}) {subscriber[:3]}-{subscriber[3:5]}-{subscriber[5:]}"
    return f"90{prefix}{subscriber}"


def _email(i, rng):
    address = f"{rng.choice(NAMES)}.{rng.choice(SURNAMES)}{i}@{rng.choice(DOMAINS)}"
    return address.capitalize() if rng.random() < 0.1 else address


def generate(path, rows, seed=6563):
    """An İYS-format CSV of *rows* rows; about 2 % bad rows. Returns the number of bad rows."""
    rng = random.Random(seed + rows)
    now_local = datetime.utcnow() + timedelta(hours=3)
    bad = 0
    with open(path, "w", encoding="utf-8", newline="") as out:
        out.write(",".join(HEADER) + "\n")
        for i in range(rows):
            kind = rng.random()
            channel = "EPOSTA" if kind < 0.25 else ("ARAMA" if kind < 0.4 else "MESAJ")
            address = _email(i, rng) if channel == "EPOSTA" else _phone(i, rng)
            status = "RET" if rng.random() < 0.1 else "ONAY"
            source = rng.choice(SOURCES)
            rtype = "TACIR" if rng.random() < 0.1 else "BIREYSEL"
            date = (now_local - timedelta(minutes=rng.randint(10, 20 * 60))).strftime("%Y-%m-%d %H:%M:%S")
            if rng.random() < 0.005:
                source, date = "HS_2015", "2015-05-01 00:00:00"
            cells = [address, channel, source, status, date, rtype, ""]
            if rng.random() < 0.02:  # a bad row, of one of six kinds
                bad += 1
                flaw = rng.randrange(6)
                if flaw == 0:
                    cells[0] = "0532 12" if channel != "EPOSTA" else f"çiğdem{i}@örnek.com"
                elif flaw == 1:
                    cells[4] = (now_local + timedelta(days=3)).strftime("%Y-%m-%d %H:%M:%S")
                elif flaw == 2:
                    cells[2] = "HS_TELEPATI"
                elif flaw == 3:
                    cells = cells[:4]
                elif flaw == 4:
                    cells[5] = "KURUMSAL"
                else:
                    cells[4] = cells[4].replace(" ", "T") + "Z"
            out.write(",".join(cells) + "\n")
    return bad


def valid_subset(source, target, limit):
    """The valid rows among the first *limit* of *source*: what Odoo's standard import is given,
    since it refuses a whole file for one bad row. Returns the number of rows kept."""
    future = (datetime.utcnow() + timedelta(hours=3)).strftime("%Y-%m-%d %H:%M:%S")
    kept = 0
    with open(source, encoding="utf-8") as src, open(target, "w", encoding="utf-8", newline="") as out:
        out.write(src.readline())
        for number, line in enumerate(src):
            if number >= limit:
                break
            cells = line.rstrip("\n").split(",")
            if (len(cells) != 7 or cells[2] == "HS_TELEPATI" or cells[5] == "KURUMSAL" or "T" in cells[4]
                    or "ç" in cells[0] or cells[0] == "0532 12" or cells[4] > future):
                continue
            out.write(line)
            kept += 1
    return kept


# ---------------------------------------------------------------------------------------------
# Odoo
# ---------------------------------------------------------------------------------------------
def odoo_tree():
    path = os.environ.get("ODOO_PATH")
    if not path or not (Path(path) / "odoo-bin").is_file():
        sys.exit("Set ODOO_PATH to an Odoo 18.0 source tree (the folder holding odoo-bin).")
    return Path(path).resolve()


def addons_path(tree):
    link_dir = CACHE / "addons"
    link_dir.mkdir(parents=True, exist_ok=True)
    link = link_dir / MODULE
    # the link is kept between runs: point it at this checkout (a run from another worktree or clone
    # would otherwise import the code of the first checkout that made it)
    if link.is_symlink() and link.resolve() != REPO:
        link.unlink()
    if not link.exists():
        link.symlink_to(REPO, target_is_directory=True)
    return ",".join([str(tree / "addons"), str(tree / "odoo" / "addons"), str(link_dir)])


def odoo_args(tree, db):
    args = [f"--addons-path={addons_path(tree)}", f"--database={db}", f"--data-dir={CACHE / 'data'}",
            "--log-level=warn", "--max-cron-threads=0"]
    for env_name, option in (("PGHOST", "db_host"), ("PGPORT", "db_port"), ("PGUSER", "db_user"),
                             ("PGPASSWORD", "db_password")):
        if os.environ.get(env_name):
            args.append(f"--{option}={os.environ[env_name]}")
    return args


def ensure_database(tree, db, fresh=False):
    if fresh:
        print(f"Dropping the database {db} (--fresh)…", flush=True)
        subprocess.run(["dropdb", "--if-exists", db], check=True)
    check = subprocess.run(["psql", "-Atc", f"SELECT 1 FROM pg_database WHERE datname = '{db}'", "postgres"],
                           capture_output=True, text=True, check=False)
    if check.stdout.strip() == "1":
        return
    print(f"Creating the database {db} with {MODULE} installed (once)…", flush=True)
    subprocess.run([sys.executable, str(tree / "odoo-bin"), *odoo_args(tree, db), f"--init={MODULE}",
                    "--without-demo=all", "--stop-after-init", "--http-port=0"], check=True)


def open_env(tree, db):
    sys.path.insert(0, str(tree))
    import odoo  # noqa: PLC0415 - found through ODOO_PATH

    odoo.tools.config.parse_config(odoo_args(tree, db))
    return odoo, odoo.modules.registry.Registry(db)


def _bench_brand(env, label):
    account = env["iys.account"].search([("name", "=", "Bench İYS")], limit=1) or env["iys.account"].create(
        {"name": "Bench İYS", "iys_code": "990001"})
    code = str(990000 + env["iys.brand"].with_context(active_test=False).search_count([]) + 1)
    return env["iys.brand"].create({"name": f"Bench {label} {code}", "code": code, "account_id": account.id})


class GcClock:
    """Time spent in Python's garbage collector from now on (gc.callbacks)."""

    def __init__(self):
        self.seconds, self.count, self._started = 0.0, 0, 0.0
        gc.callbacks.append(self)

    def __call__(self, phase, _info):
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started
            self.count += 1


def _bench_contacts(env, path, count):
    """*count* contacts, each holding an e-mail address and a phone number of the file (so that the
    import refreshes two channel states of each, from two address ranges)."""
    from odoo.addons.l10n_tr_iys.iyslib.errors import IysValidationError  # noqa: PLC0415
    from odoo.addons.l10n_tr_iys.iyslib.normalize import normalize_recipient  # noqa: PLC0415

    emails, phones = [], []
    with open(path, encoding="utf-8") as src:
        src.readline()
        for line in src:
            cells = line.rstrip("\n").split(",")
            if len(cells) != 7:
                continue
            target = emails if cells[1] == "EPOSTA" else phones
            if len(target) >= count:
                if len(emails) >= count and len(phones) >= count:
                    break
                continue
            try:
                target.append(normalize_recipient(cells[1], cells[0]))
            except IysValidationError:
                continue
    Partner = env["res.partner"].with_context(tracking_disable=True, mail_create_nolog=True)
    pairs = list(zip(emails, phones, strict=False))  # as many as the shorter list
    for start in range(0, len(pairs), 2000):
        Partner.create([{"name": f"Bench {email}", "email": email, "mobile": phone}
                        for email, phone in pairs[start:start + 2000]])
    return len(pairs)


def child_upload(tree, db, argument):
    """What the web client's upload does: the file, base64-encoded, written to the wizard's field.
    With contacts (``<path>|<count>``), the brand is the company's default (whose consents the
    contacts' channel states show) and the contacts are created first."""
    import base64  # noqa: PLC0415

    path, _sep, contacts = argument.partition("|")
    odoo, registry = open_env(tree, db)
    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {"lang": "en_US"})
        env["ir.config_parameter"].set_param("l10n_tr_iys.import_sync_max_bytes", "0")
        brand = _bench_brand(env, "engine")
        created = 0
        if int(contacts or 0):
            env.company.iys_default_brand_id = brand
            created = _bench_contacts(env, path, int(contacts))
        wizard = env["iys.consent.import"].create({
            "file": base64.b64encode(Path(path).read_bytes()), "file_name": Path(path).name, "brand_id": brand.id,
            "mode": "send",
        })
        cr.commit()
        return {"wizard": wizard.id, "contacts": created,
                "maxrss_mb": peak_rss_mb()}


def child_worker(tree, db, argument):
    """One background worker of the wizard's engine, as a cron thread runs it (one commit per chunk).

    *argument* is ``<wizard id>:<worker index>``. The worker loads Odoo, says ``ready``, then for
    each step (dry run, import) waits for ``go`` on its standard input: worker 0 clicks the step's
    button, and every worker calls ``_cron_run_imports`` (what the scheduled actions run) until
    the step is over, sleeping 50 ms when there is nothing it may do (as an idle cron thread
    waits for its next trigger). It prints one JSON line per step.
    """
    wizard_id, index = (int(x) for x in argument.split(":"))
    odoo, registry = open_env(tree, db)
    gc_clock = GcClock()
    print("ready", flush=True)
    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {"lang": "en_US"})
        Import = env["iys.consent.import"]
        wizard = Import.browse(wizard_id)
        profile_dir = os.environ.get("IYS_BENCH_PROFILE")
        for step, action in (("check", "action_check"), ("import", "action_import")):
            if sys.stdin.readline().strip() != "go":
                return None
            profiler = None
            if profile_dir:  # cProfile of each step, for finding where the time goes
                import cProfile  # noqa: PLC0415

                profiler = cProfile.Profile()
                profiler.enable()
            started, cpu_odoo, cpu_pg = time.time(), cpu_self(), cpu_backend(cr)
            gc_before = (gc_clock.seconds, gc_clock.count)
            running = "checking" if step == "check" else "importing"
            if index == 0:
                getattr(wizard, action)()
                cr.commit()
            seen, rows = False, 0
            while True:
                wizard.invalidate_recordset()
                if wizard.state == running:
                    seen = True
                elif seen or index == 0:
                    break
                done = Import._cron_run_imports() or 0
                cr.commit()
                rows += done
                if not done:
                    time.sleep(0.05)
            ended = time.time()
            if profiler:
                profiler.disable()
                profiler.dump_stats(str(Path(profile_dir) / f"import-{step}-worker{index}.prof"))
            result = {"step": step, "started": started, "ended": ended, "rows": rows,
                      "cpu": {"odoo": cpu_self() - cpu_odoo, "pg": cpu_backend(cr) - cpu_pg},
                      "gc": [gc_clock.seconds - gc_before[0], gc_clock.count - gc_before[1]],
                      "maxrss_mb": peak_rss_mb()}
            if index == 0 and step == "import":
                counts = {name: wizard[name] for name in ("count_rows", "count_valid", "count_invalid",
                                                          "count_local_only")}
                for table in ("iys_consent", "iys_outbox"):
                    cr.execute(f"SELECT count(*) FROM {table} WHERE brand_id = %s", [wizard.brand_id.id])
                    counts[table.removeprefix("iys_")] = cr.fetchone()[0]
                cr.execute("SELECT count(*) FROM iys_consent_event e JOIN iys_consent c ON c.id = e.consent_id "
                           "WHERE c.brand_id = %s", [wizard.brand_id.id])
                counts["events"] = cr.fetchone()[0]
                contacts = env["res.partner"].search([("name", "=like", "Bench %")])
                if contacts:
                    # the contacts' stored channel states against a fresh decision from the ledger
                    counts["contacts"], counts["contacts_stale"] = len(contacts), 0
                    brand = env.company.iys_default_brand_id
                    for channel, fname in (("EPOSTA", "iys_email_state"), ("MESAJ", "iys_sms_state")):
                        column = contacts._iys_address_column(channel)
                        decisions = env["iys.consent"]._iys_gate_decisions(
                            brand, channel, {(c[column], c.iys_recipient_type or "BIREYSEL") for c in contacts})
                        counts["contacts_stale"] += sum(
                            1 for c in contacts
                            if c[fname] != decisions.get((c[column], c.iys_recipient_type or "BIREYSEL")))
                result.update(counts=counts, state=wizard.state)
            print(json.dumps(result), flush=True)
    return None


def _ledger_load_records_create(self, vals_list):
    """base_import's create, sent through the ledger's ORM path (bench only, patched in the child)."""
    brand_id = self.env.context["default_brand_id"]
    movements = [{
        "brand_id": brand_id, "channel": vals.get("channel"), "recipient_type": vals.get("recipient_type"),
        "address": vals.get("address"), "status": vals.get("status"), "source": vals.get("source"),
        "consent_date": vals.get("consent_date"),
    } for vals in vals_list]
    # as the wizard: no chatter note per consent on the contacts
    results = self.env["iys.consent"].with_context(iys_skip_chatter=True)._iys_record_movements(
        movements, "import", raise_on_error=True)
    return self.browse([result.consent.id for result in results])


def child_standard(tree, db, path, ledger=False):
    """Odoo's standard import (base_import) of the same rows into iys.consent, through the ORM.

    Without *ledger*: bare consents (the ledger's key in the context lets base_import create them directly; no
    validation, no event, no outbox). With *ledger*: every batch base_import creates goes through the
    ledger's ORM path ``_iys_record_movements`` instead (validation, consent, event, outbox): the
    same work as the wizard's engine, one movement at a time.
    """
    odoo, registry = open_env(tree, db)
    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {"lang": "en_US", "tz": "Europe/Istanbul"})
        if ledger:
            type(env["iys.consent"])._load_records_create = _ledger_load_records_create
        brand = _bench_brand(env, "standard")
        cr.commit()
        importer = env["base_import.import"].create({
            "res_model": "iys.consent", "file": Path(path).read_bytes(), "file_name": Path(path).name,
            "file_type": "text/csv",
        })
        options = {
            "has_headers": True, "separator": ",", "quoting": '"', "encoding": "utf-8", "date_format": "%Y-%m-%d",
            "datetime_format": "%Y-%m-%d %H:%M:%S", "float_thousand_separator": ",",
            "float_decimal_separator": ".", "fallback_values": {}, "name_create_enabled_fields": {},
            "import_set_empty_fields": [], "import_skip_records": [], "advanced": False,
        }
        fields = ["address", "channel", "source", "status", "consent_date", "recipient_type", False]
        # the ledger's key (the object itself, which only server code holds), as superuser: the bench-only
        # permission to create consents directly (no event, no outbox); tracking_disable: no chatter, as
        # the ledger itself creates consents.
        from odoo.addons.l10n_tr_iys.models.iys_consent import _LEDGER  # noqa: PLC0415 (loaded by open_env)

        importer = importer.with_context(iys_ledger_write=_LEDGER, tracking_disable=True, default_brand_id=brand.id)
        started, cpu_odoo, cpu_pg = time.perf_counter(), cpu_self(), cpu_backend(cr)
        result = importer.execute_import(fields, HEADER, options)
        cr.commit()
        elapsed = time.perf_counter() - started
        cpu = {"odoo": cpu_self() - cpu_odoo, "pg": cpu_backend(cr) - cpu_pg}
        errors = [m for m in result.get("messages", []) if m.get("type") == "error"]
        env.cr.execute("SELECT count(*) FROM iys_consent WHERE brand_id = %s", [brand.id])
        created = env.cr.fetchone()[0]
        env.cr.execute("SELECT count(*) FROM iys_consent_event WHERE brand_id = %s", [brand.id])
        events = env.cr.fetchone()[0]
    return {"timings": {"import": elapsed}, "cpu": {"import": cpu},
            "counts": {"consents": created, "events": events, "errors": len(errors)},
            "first_errors": [m.get("message") for m in errors[:3]],
            "maxrss_mb": peak_rss_mb()}


def run_child(kind, db, argument):
    cmd = [sys.executable, __file__, "--child", kind, "--db", db, "--file", str(argument)]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode or not lines:
        sys.stderr.write(result.stdout[-3000:] + result.stderr[-3000:])
        sys.exit(f"the {kind} run failed (exit {result.returncode})")
    return json.loads(lines[-1])


def run_engine(db, path, workers, contacts=0):
    """The wizard's engine with *workers* background workers (processes) at once."""
    upload = run_child("upload", db, f"{path}|{contacts}")
    procs = [
        subprocess.Popen([sys.executable, __file__, "--child", "worker", "--db", db, "--file",
                          f"{upload['wizard']}:{index}"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for index in range(workers)
    ]
    try:
        for proc in procs:  # Odoo loaded in every worker before the clock starts
            line = proc.stdout.readline()
            if line.strip() != "ready":
                sys.exit(f"a worker failed to start: {line!r}")
        result = {"timings": {}, "cpu": {}, "gc": [0.0, 0], "maxrss_mb": 0, "upload_maxrss_mb": upload["maxrss_mb"],
                  "workers": workers}
        for step in ("check", "import"):
            started = time.time()
            for proc in procs:
                proc.stdin.write("go\n")
                proc.stdin.flush()
            steps = []
            for proc in procs:
                line = proc.stdout.readline()
                if not line.startswith("{"):
                    sys.exit(f"a worker failed during the {step} step: {line!r}")
                steps.append(json.loads(line))
            result["timings"][step] = max(s["ended"] for s in steps) - started
            result["cpu"][step] = {side: sum(s["cpu"][side] for s in steps) for side in ("odoo", "pg")}
            result["rows_per_worker"] = [s["rows"] for s in steps]
            result["gc"][0] += sum(s["gc"][0] for s in steps)
            result["gc"][1] += sum(s["gc"][1] for s in steps)
            result["maxrss_mb"] = max(result["maxrss_mb"], *(s["maxrss_mb"] for s in steps))
            for s in steps:
                if "counts" in s:
                    result["counts"], result["state"] = s["counts"], s["state"]
    finally:
        for proc in procs:
            proc.stdin.close()
            proc.wait()
    if result.get("state") != "done":
        sys.exit(f"the import did not finish: {result.get('state')}")
    return result


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------
def spread(values, fmt="{:.1f}"):
    if len(values) == 1:
        return fmt.format(values[0]) + " (1 run)"
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}–{fmt.format(max(values))})"


def _cpu_text(result, step):
    cpu = result.get("cpu", {}).get(step)
    return f"CPU Odoo {cpu['odoo']:.1f} s + PostgreSQL {cpu['pg']:.1f} s" if cpu else ""


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", default="150000,1000000", help="sizes for the wizard's engine, comma-separated")
    parser.add_argument("--runs", default="3,1", help="runs per size, comma-separated (last value repeats)")
    parser.add_argument("--standard-rows", type=int, default=150000,
                        help="rows for Odoo's standard import of bare consents (taken from the first size's file)")
    parser.add_argument("--standard-runs", type=int, default=1)
    parser.add_argument("--ledger-rows", type=int, default=20000,
                        help="rows for Odoo's standard import through the ledger's ORM path (0: skip)")
    parser.add_argument("--ledger-runs", type=int, default=3)
    parser.add_argument("--workers", default="1,2",
                        help="background workers (cron threads) running the engine at once, comma-separated: each "
                        "size runs with each count (Odoo runs 2 cron threads by default and the addon ships 2 "
                        "import workers)")
    parser.add_argument("--contacts", type=int, default=0,
                        help="before each run, create this many contacts holding an e-mail address and a phone "
                        "number of the file each, under the brand made the company's default (their two channel "
                        "states are refreshed by the import, from two address ranges)")
    parser.add_argument("--db", default=os.environ.get("IYS_BENCH_DB", "iys_bench"))
    parser.add_argument("--fresh", action="store_true",
                        help="drop the database first (each run adds its consents: figures drift as it grows)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    tree = odoo_tree()
    if args.child:
        children = {"upload": child_upload, "worker": child_worker, "standard": child_standard,
                    "ledger": lambda tree_, db, path: child_standard(tree_, db, path, ledger=True)}
        result = children[args.child](tree, args.db, args.file)
        if result is not None:
            print(json.dumps(result), flush=True)
        return
    ensure_database(tree, args.db, fresh=args.fresh)
    files = CACHE / "files"
    files.mkdir(parents=True, exist_ok=True)
    sizes = [int(x) for x in args.rows.split(",") if x]
    runs = [int(x) for x in args.runs.split(",") if x]
    print(f"Odoo: {tree}   database: {args.db}   CPUs: {os.cpu_count()}   Python {sys.version.split()[0]}   "
          f"load average {os.getloadavg()[0]:.1f}")
    results = {}
    for position, size in enumerate(sizes):
        path = files / f"consents-{size}.csv"
        bad = generate(path, size)  # fresh dates each time, so the 3-business-day rule holds
        count = runs[min(position, len(runs) - 1)]
        for workers in [int(x) for x in args.workers.split(",") if x]:
            print(f"\n== Wizard engine, {size:,} rows ({bad:,} bad, {path.stat().st_size / 1e6:.1f} MB), {workers} "
                  f"worker(s), {count} run(s)", flush=True)
            results[(size, workers)] = runs_ = []
            for number in range(1, count + 1):
                result = run_engine(args.db, path, workers, args.contacts)
                runs_.append(result)
                _print_run(number, result)
    _report(args, files, sizes, results)


def _print_run(number, result):
    t = result["timings"]
    print(f"   run {number}: dry run {t['check']:.1f} s ({_cpu_text(result, 'check')}), import "
          f"{t['import']:.1f} s ({_cpu_text(result, 'import')}), peak RSS {result['maxrss_mb']:.0f} MB "
          f"(upload {result['upload_maxrss_mb']:.0f} MB), garbage collector {result['gc'][0]:.1f} s "
          f"({result['gc'][1]} collections), rows per worker {result['rows_per_worker']}, {result['counts']}",
          flush=True)


#: issue 16: the *Import* step of a 1,000,000-row file at 10,000 rows/s or more with one worker (and the
#: same or better with two), each worker and the upload under 300 MB
TARGET_ROWS_PER_SECOND = 10000
TARGET_RSS_MB = 300


def _print_targets(results, rates):
    """The targets of the *Import* step (issue 16): at least 10,000 rows/s with one worker and the
    same or better with two, every worker and the upload under 300 MB; and (an earlier issue) at
    least 10 times Odoo's standard import into the consent model. Odoo's standard import is
    measured two ways: doing the same work ('ledger': validation, consent, event and outbox row, as
    the model requires) and writing bare consent rows ('standard': a third of the rows, none of the
    checks, a ledger İYS never hears of), a lower bound."""
    print("Targets of the Import step (met / NOT met):")
    for (size, workers), runs_ in results.items():
        rate = statistics.median([size / r["timings"]["import"] for r in runs_])
        met = rate >= TARGET_ROWS_PER_SECOND
        parts = [f"{rate:,.0f} rows/s ({'met' if met else 'NOT met'}: >= {TARGET_ROWS_PER_SECOND:,})"]
        for kind, label in (("ledger", "standard import doing the same work"),
                            ("standard", "standard import of bare rows, lower bound")):
            if kind in rates:
                ratio = rate / rates[kind][0]
                parts.append(f"x{ratio:.1f} vs {label} ({'met' if ratio >= 10 else 'NOT met'}: >= x10)")
        rss = max(r["maxrss_mb"] for r in runs_)
        upload = max(r.get("upload_maxrss_mb") or 0 for r in runs_)
        parts.append(f"peak RSS of a worker {rss:.0f} MB ({'met' if rss < TARGET_RSS_MB else 'NOT met'}: "
                     f"< {TARGET_RSS_MB} MB)")
        if upload:
            parts.append(f"upload {upload:.0f} MB ({'met' if upload < TARGET_RSS_MB else 'NOT met'}: "
                         f"< {TARGET_RSS_MB} MB)")
        print(f"   {size:,} rows, {workers} worker(s): " + "; ".join(parts))


def _report(args, files, sizes, results):
    # Odoo's standard import of the valid rows of the same file.
    first = files / f"consents-{sizes[0]}.csv"
    generate(first, sizes[0])
    baselines = {}
    for kind, limit, count, label in (
        ("standard", args.standard_rows, args.standard_runs, "bare consents (no validation, event or outbox)"),
        ("ledger", args.ledger_rows, args.ledger_runs, "through the ledger's ORM path (same work as the wizard)"),
    ):
        if not limit or not count:
            continue
        subset = files / f"{kind}-{limit}.csv"
        kept = valid_subset(first, subset, limit)
        print(f"\n== Odoo standard import (base_import) {label}: the {kept:,} valid rows of the first {limit:,}, "
              f"{count} run(s)", flush=True)
        baselines[kind] = (kept, label, [])
        for number in range(1, count + 1):
            result = run_child(kind, args.db, subset)
            baselines[kind][2].append(result)
            print(f"   run {number}: {result['timings']['import']:.1f} s ({_cpu_text(result, 'import')}), peak RSS "
                  f"{result['maxrss_mb']:.0f} MB, {result['counts']}", flush=True)

    print("\n" + "=" * 100)
    print("Results: median (min–max) of the runs; CPU = seconds of CPU used by the Odoo process and its PostgreSQL "
          "backend")
    print("=" * 100)
    rates = {}
    for kind, (kept, label, runs_) in baselines.items():
        rate = [kept / r["timings"]["import"] for r in runs_]
        cpu_rate = [kept / (r["cpu"]["import"]["odoo"] + r["cpu"]["import"]["pg"]) for r in runs_]
        rates[kind] = (statistics.median(rate), statistics.median(cpu_rate))
        print(f"Odoo standard import, {label}, {kept:,} rows: {spread([r['timings']['import'] for r in runs_])} s, "
              f"{spread(rate, '{:,.0f}')} rows/s, {spread(cpu_rate, '{:,.0f}')} rows per CPU-second, "
              f"peak RSS {spread([r['maxrss_mb'] for r in runs_], '{:.0f}')} MB")
    for (size, workers), runs_ in results.items():
        print(f"Wizard engine, {size:,} rows, {workers} worker(s):")
        for step, label in (("check", "dry run"), ("import", "import"), (None, "dry run + import")):
            seconds = [sum(r["timings"].values()) if step is None else r["timings"][step] for r in runs_]
            cpu = [sum(c["odoo"] + c["pg"] for name, c in r["cpu"].items() if step in (None, name)) for r in runs_]
            rate = [size / t for t in seconds]
            cpu_rate = [size / c for c in cpu]
            line = (f"   {label:<17} {spread(seconds)} s   {spread(rate, '{:,.0f}')} rows/s   "
                    f"{spread(cpu_rate, '{:,.0f}')} rows per CPU-second")
            for kind, (base_rate, base_cpu_rate) in rates.items():
                ratio, cpu_ratio = statistics.median(rate) / base_rate, statistics.median(cpu_rate) / base_cpu_rate
                line += f"   x{ratio:.1f} (CPU x{cpu_ratio:.1f}) vs {kind}"
            print(line)
        print(f"   peak RSS          {spread([r['maxrss_mb'] for r in runs_], '{:.0f}')} MB (largest worker), "
              f"upload {spread([r['upload_maxrss_mb'] for r in runs_], '{:.0f}')} MB")
    _print_targets(results, rates)
    print(f"Load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (other work on this machine "
          "slows every wall-clock figure; the CPU figures are less sensitive to it).")
    print("Notes: 'standard' = base_import into iys.consent creating bare consents (the ledger's key, as "
          "superuser); 'ledger' = "
          "base_import whose creates go through the ledger's ORM path _iys_record_movements (bench-only patch): "
          "validation, consent, event and outbox row per row, as the wizard. Both get only the valid rows, in one "
          "call (the web client sends 2,000-row batches, each re-reading the file). The wizard's figures include "
          "its dry run's re-reading of the file, the error report and the 2 % bad rows. Workers: processes "
          "calling the import cron's method at once, as cron threads do; the CPU figures add up every worker and "
          "its PostgreSQL backend. Peak RSS: the largest worker process; the upload is measured in its own "
          "process.")


if __name__ == "__main__":
    main()
