#!/usr/bin/env python3
# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
"""Benchmark of the İYS send gate with real Odoo 18.0, against a throw-away database.

    ODOO_PATH=/path/to/odoo python bench/bench_gate.py --partners 100000

Run it with a Python that has Odoo's requirements (e.g. the venv ``./scripts/test`` creates in
``~/.cache/l10n_tr_iys``). The database (``--db``, default ``iys_bench``) is created with the addon
installed when missing (``odoo-bin -i l10n_tr_iys --stop-after-init``, no demo data); the bench's
partners and consents are then written in bulk by SQL, once per size, and kept for later runs.
Every measured send runs in a transaction that is rolled back, so the database stays as it was.

What it prints, each as median (min–max) of ``--runs`` runs, in the same process:

* the gate's own queries over the whole population, against a ledger of ``--consents`` rows: the
  ledger lookup for every address at once, one composer batch (50 addresses), and the mailing
  form's forecast (one SQL query over the recipient domain);
* a whole mass mailing to ``--send`` partners (recipients, then ``mail.mail`` creation with a
  realistic HTML body; no SMTP: the mails stay queued) with the gate (``on``), with the gate
  patched out for the bench only (``off``), and with the gate deciding but its verdict dropped
  (``dry``: its own cost without the saving of blocked mails), in rotating order, and the ratios;
* the last check the queue makes before sending, on the queued mails of one run;
* the process's peak RSS.

Issue 16 (ten million consents): ``--consents 10000000`` builds the ledger once by SQL (secondary
indexes dropped and rebuilt around the load, then ``VACUUM ANALYZE``; about 25 minutes on a busy
2-core machine); every figure with a target is printed with it ("target met" / "target NOT met"),
the load average, and the CPU the call used (this process and its PostgreSQL backend), since the
wall clock of a shared machine depends on the other processes. ``--channel sms`` measures mass SMS
instead of e-mail; ``--memory off,on`` runs each send in a fresh process and compares their peak
RSS (target: with the gate at most 1.20 times without; the gate's run includes the last check on
the whole queue); ``--explain`` prints the plans of the lookup and the forecast;
``--modes none --skip-queries`` skips the in-process parts. A memory run at 100,000 recipients::

    python bench/bench_gate.py --db iys_bench_gate --partners 100000 --consents 10000000 \
        --send 100000 --channel sms --skip-queries --modes none --memory off,on

Population mix: 40 % individuals with a confirmed ONAY, 10 % RET, 10 % ONAY waiting for İYS,
25 % individuals without record, 15 % merchants (TACIR) without record; e-mail and SMS rows, and
filler rows for other addresses up to ``--consents``.
"""

import argparse
import contextlib
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MODULE = "l10n_tr_iys"
REF = "iysb"  # res.partner.ref of the bench's partners
BRAND_CODE = "990001"

BODY = """<div class="o_layout o_default_theme">
<table role="presentation" style="width:100%%;max-width:600px;margin:0 auto;font-family:Arial,sans-serif">
<tr><td style="padding:24px;background:#714B67;color:#fff"><h1 style="margin:0">Kış kampanyası</h1></td></tr>
<tr><td style="padding:24px">
<p>Merhaba {{ object.name }},</p>
<p>Tüm ürünlerde <strong>%%20 indirim</strong> sizi bekliyor. Kampanya 31 Aralık'a kadar geçerlidir.</p>
%s
<p style="text-align:center"><a href="https://www.example.com.tr/kampanya?utm=kis" style="padding:12px 24px;
background:#017e84;color:#fff;text-decoration:none;border-radius:4px">Alışverişe başla</a></p>
<p style="font-size:11px;color:#888">Bu ileti ticari elektronik iletidir. İleti almak istemiyorsanız
<a href="/unsubscribe_from_list">listeden çıkabilirsiniz</a>. MERSİS: 0123456789012345</p>
</td></tr></table></div>""" % "\n".join(
    f'<p><a href="https://www.example.com.tr/urun/{i}"><img src="https://cdn.example.com.tr/u/{i}.jpg" '
    f'alt="Ürün {i}" width="120"/></a> Ürün {i}: yeni sezon, sınırlı stok, ücretsiz kargo.</p>'
    for i in range(12)
)


def log(msg=""):
    print(msg, flush=True)  # pylint: disable=print-used  # a command-line tool reports on stdout


def fmt_seconds(values):
    """``median (min–max)`` in seconds, or in milliseconds below one second."""
    med = statistics.median(values)
    unit, scale, digits = ("ms", 1000.0, 1) if med < 1 else ("s", 1.0, 2)
    return (f"{med * scale:.{digits}f} {unit} median "
            f"({min(values) * scale:.{digits}f}–{max(values) * scale:.{digits}f})")


def peak_rss_mb():
    """This process's peak resident memory in MB: ``VmHWM`` on Linux. Not ``ru_maxrss``: a process
    started by fork and exec keeps in it the peak of the forked copy of its parent (a worker
    started by a bench holding a filled simulator would report the bench's memory)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def free_port():
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def db_options():
    opts = []
    for env_name, opt_name in (("PGHOST", "db_host"), ("PGPORT", "db_port"), ("PGUSER", "db_user"),
                               ("PGPASSWORD", "db_password")):
        if os.environ.get(env_name):
            opts.append(f"--{opt_name}={os.environ[env_name]}")
    return opts


def addons_path(odoo_path):
    tmp = Path(tempfile.mkdtemp(prefix="iys_bench_addons_"))
    (tmp / MODULE).symlink_to(REPO, target_is_directory=True)
    return ",".join([str(odoo_path / "addons"), str(odoo_path / "odoo" / "addons"), str(tmp)])


def db_exists(db):
    import psycopg2  # noqa: PLC0415 - from Odoo's requirements

    kwargs = {"dbname": "postgres"}
    for env_name, key in (("PGHOST", "host"), ("PGPORT", "port"), ("PGUSER", "user"), ("PGPASSWORD", "password")):
        if os.environ.get(env_name):
            kwargs[key] = os.environ[env_name]
    conn = psycopg2.connect(**kwargs)
    try:
        with conn.cursor() as cr:
            cr.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db,))
            return bool(cr.fetchone())
    finally:
        conn.close()


def vacuum(db, *tables):
    import psycopg2  # noqa: PLC0415 - from Odoo's requirements

    kwargs = {"dbname": db}
    for env_name, key in (("PGHOST", "host"), ("PGPORT", "port"), ("PGUSER", "user"), ("PGPASSWORD", "password")):
        if os.environ.get(env_name):
            kwargs[key] = os.environ[env_name]
    conn = psycopg2.connect(**kwargs)
    conn.autocommit = True
    try:
        with conn.cursor() as cr:
            for table in tables:
                cr.execute(f"VACUUM (ANALYZE) {table}")
    finally:
        conn.close()


def ensure_db(odoo_path, db, paths):
    if db_exists(db):
        return
    log(f"Creating database {db} with {MODULE} installed (a few minutes) …")
    cmd = [sys.executable, str(odoo_path / "odoo-bin"), f"--addons-path={paths}", f"--database={db}",
           *db_options(), f"--init={MODULE}", "--without-demo=all", "--stop-after-init", "--log-level=warn",
           "--max-cron-threads=0", f"--http-port={free_port()}"]
    subprocess.run(cmd, check=True)


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------
def odoo_tree():
    """The Odoo 18.0 source tree ``ODOO_PATH`` names (the bench stops with a message when it does not)."""
    odoo_path = Path(os.environ.get("ODOO_PATH", "")).expanduser()
    if not (odoo_path / "odoo-bin").is_file():
        sys.exit("Set ODOO_PATH to an Odoo 18.0 source tree (with odoo-bin).")
    return odoo_path


def prepare_odoo(db):
    """Make Odoo importable from ``ODOO_PATH`` and the bench database *db* ready (created with the
    addon when missing); returns ``(odoo_path, addons_path)``."""
    odoo_path = odoo_tree()
    sys.path.insert(0, str(odoo_path))
    paths = addons_path(odoo_path)
    ensure_db(odoo_path, db, paths)
    # the consent mixin's precompute notice (a warning, not an error) would flood the output
    warnings.filterwarnings("ignore", message=".*cannot be precomputed.*")
    return odoo_path, paths


def ensure_data(env, partners, consents):
    """The bench account, brand, partners and ledger rows; rebuilt when the sizes changed."""
    cr = env.cr
    company = env.ref("base.main_company")
    account = env["iys.account"].sudo().search([("iys_code", "=", BRAND_CODE), ("company_id", "=", company.id)])
    if not account:
        account = env["iys.account"].sudo().create({
            "name": "Bench İYS", "iys_code": BRAND_CODE, "environment": "simulator", "sequence": 0,
            "company_id": company.id,
        })
        env["iys.brand"].sudo().create({"name": "Bench", "code": BRAND_CODE, "account_id": account.id,
                                        "is_default": True})
    brand = account.brand_ids[:1]
    cr.execute("SELECT COUNT(*) FROM res_partner WHERE ref = %s", (REF,))
    have_partners = cr.fetchone()[0]
    cr.execute("SELECT COUNT(*) FROM iys_consent WHERE brand_id = %s", (brand.id,))
    have_consents = cr.fetchone()[0]
    if have_partners == partners and have_consents == consents:
        return brand
    log(f"Writing {partners} partners and {consents} consents by SQL …")
    started = time.monotonic()
    cr.execute("DELETE FROM iys_consent WHERE brand_id = %s", (brand.id,))
    cr.execute("DELETE FROM res_partner WHERE ref = %s", (REF,))
    # kind of each bench partner, from its number: 0-39 ONAY confirmed, 40-49 RET, 50-59 ONAY
    # pending, 60-84 no record, 85-99 merchant
    cr.execute(
        """INSERT INTO res_partner (name, complete_name, ref, email, email_normalized, mobile, phone_sanitized,
                                   is_company, iys_recipient_type, active, type, lang, create_date, write_date,
                                   create_uid, write_uid, company_id)
           SELECT 'Bench ' || i, 'Bench ' || i, %(ref)s, 'bench' || i || '@example.com',
                  'bench' || i || '@example.com', '+90532' || lpad(i::text, 7, '0'), '+90532' || lpad(i::text, 7, '0'),
                  (i * 7919) %% 100 >= 85, CASE WHEN (i * 7919) %% 100 >= 85 THEN 'TACIR' ELSE 'BIREYSEL' END,
                  TRUE, 'contact', 'en_US', now(), now(), 1, 1, NULL
             FROM generate_series(1, %(n)s) AS i""",
        {"ref": REF, "n": partners},
    )
    cr.execute("UPDATE res_partner SET commercial_partner_id = id WHERE ref = %s", (REF,))
    ledger = {"brand": brand.id, "account": account.id, "company": company.id, "ref": REF}
    for channel, column in (("EPOSTA", "email_normalized"), ("MESAJ", "phone_sanitized")):
        cr.execute(
            f"""INSERT INTO iys_consent (brand_id, account_id, company_id, channel, recipient_type, address,
                                        status, consent_date, source, sync_state, create_date, write_date,
                                        create_uid, write_uid)
                SELECT %(brand)s, %(account)s, %(company)s, %(channel)s, 'BIREYSEL', p.{column},
                       CASE WHEN k < 40 OR k >= 50 THEN 'ONAY' ELSE 'RET' END, now() - interval '30 days',
                       'HS_WEB', CASE WHEN k >= 50 THEN 'pending' ELSE 'confirmed' END, now(), now(), 1, 1
                  FROM (SELECT {column}, (substring(name from 7)::int * 7919) %% 100 AS k
                          FROM res_partner WHERE ref = %(ref)s) AS p
                 WHERE p.k < 60""",
            dict(ledger, channel=channel),
        )
    cr.execute("SELECT COUNT(*) FROM iys_consent WHERE brand_id = %s", (brand.id,))
    filler = max(consents - cr.fetchone()[0], 0)
    # Past a million rows, the secondary indexes are dropped and rebuilt after the load (one sort
    # each instead of millions of random inserts); the rows come in the unique index's order, so
    # that index, kept for correctness, only grows at its right edge.
    rebuild = []
    if filler > 1_000_000:
        cr.execute(
            """SELECT i.indexname, i.indexdef FROM pg_indexes i
                WHERE i.tablename = 'iys_consent' AND NOT EXISTS (
                      SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)"""
        )
        rebuild = cr.fetchall()
        for name, _definition in rebuild:
            cr.execute(f'DROP INDEX "{name}"')
    # filler: other addresses, two thirds e-mail, one third mobile numbers
    cr.execute(
        """INSERT INTO iys_consent (brand_id, account_id, company_id, channel, recipient_type, address, status,
                                    consent_date, source, sync_state, create_date, write_date, create_uid, write_uid)
           SELECT %(brand)s, %(account)s, %(company)s, f.channel, 'BIREYSEL', f.address,
                  CASE WHEN f.i %% 5 = 0 THEN 'RET' ELSE 'ONAY' END, now() - interval '60 days', 'HS_WEB',
                  'confirmed', now(), now(), 1, 1
             FROM (SELECT i, CASE WHEN i %% 3 = 0 THEN 'MESAJ' ELSE 'EPOSTA' END AS channel,
                          CASE WHEN i %% 3 = 0 THEN '+905' || lpad(i::text, 9, '0')
                               ELSE 'other' || i || '@example.net' END AS address
                     FROM generate_series(1, %(n)s) AS i) AS f
         ORDER BY f.channel, f.address""",
        dict(ledger, n=filler),
    )
    for name, definition in rebuild:
        log(f"  rebuilding index {name} …")
        cr.execute("SET LOCAL maintenance_work_mem = '512MB'")
        cr.execute(definition)
    cr.execute("ANALYZE res_partner")
    cr.execute("ANALYZE iys_consent")
    cr.commit()  # pylint: disable=invalid-commit  # the bench data is kept for later runs
    env.invalidate_all()
    # as autovacuum leaves a table that has settled: the visibility map lets the gate's lookups
    # read the index alone
    vacuum(cr.dbname, "iys_consent", "res_partner")
    log(f"  done in {time.monotonic() - started:.0f} s")
    return brand


# ---------------------------------------------------------------------------------------------
# Measures
# ---------------------------------------------------------------------------------------------
def timed(func):
    started = time.perf_counter()
    result = func()
    return time.perf_counter() - started, result


def cpu_self():
    """CPU seconds used so far by this process."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def cpu_backend(cr):
    """CPU seconds used so far by the PostgreSQL backend serving ``cr`` (Linux /proc; 0 elsewhere)."""
    cr.execute("SELECT pg_backend_pid()")
    try:
        stat = Path(f"/proc/{cr.fetchone()[0]}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(cr):
    """CPU seconds used so far by this process and by the PostgreSQL backend serving ``cr`` (Linux):
    on a shared machine, what a call costs apart from the time it waits for a core."""
    return cpu_self() + cpu_backend(cr)


def timed_cpu(cr, func):
    """(wall seconds, CPU seconds of this process and its backend, result)."""
    cpu = cpu_seconds(cr)
    seconds, result = timed(func)
    return seconds, cpu_seconds(cr) - cpu, result


SMS_BODY = "Kış kampanyası: tüm ürünlerde %20 indirim, 31 Aralık'a kadar. www.example.com.tr/kampanya"


def new_mailing(env, send, channel="mail"):
    cr = env.cr
    cr.execute("SELECT id FROM res_partner WHERE ref = %s ORDER BY id OFFSET %s LIMIT 1", (REF, max(send - 1, 0)))
    last_id = cr.fetchone()[0]
    values = {
        # a name of its own: mailings of the same name share a UTM source, whose creation would make
        # the sends of parallel bench processes wait for one another
        "name": f"İYS bench {os.getpid()}", "subject": "Kış kampanyası", "body_html": BODY, "body_arch": BODY,
        "mailing_type": "mail", "mailing_model_id": env["ir.model"]._get("res.partner").id,
        "mailing_domain": repr([("ref", "=", REF), ("id", "<=", last_id)]),
        "keep_archives": False,
    }
    if channel == "sms":
        values.update(mailing_type="sms", body_plaintext=SMS_BODY, sms_force_send=False)
    return env["mailing.mailing"].create(values)


@contextlib.contextmanager
def gate_mode(registry, mode):
    """Bench only. ``on``: the gate as shipped. ``off``: the composer's gate taken out. ``dry``: the
    gate resolves every address and asks the ledger, but its verdict is dropped (nothing is
    cancelled), which isolates its own cost from the saving of not creating blocked mails."""
    if mode == "on":
        yield
        return
    if mode == "off":
        def not_commercial(self, *args, **kwargs):
            return False

        patches = [(registry[composer], "_iys_is_commercial", not_commercial)
                   for composer in ("mail.compose.message", "sms.composer")]
    else:
        original = registry["iys.send.gate"]._iys_decide

        def dry(self, *args, **kwargs):
            original(self, *args, **kwargs)
            return {}

        patches = [(registry["iys.send.gate"], "_iys_decide", dry)]
    saved = [(klass, name, name in vars(klass), vars(klass).get(name)) for klass, name, _r in patches]
    for klass, name, replacement in patches:
        setattr(klass, name, replacement)
    try:
        yield
    finally:
        for klass, name, had_own, old in saved:
            if had_own:
                setattr(klass, name, old)
            else:
                delattr(klass, name)


def run_send(registry, send, mode, measure_last_check=False, channel="mail"):
    """One mass mailing to ``send`` partners, rolled back. Returns (seconds, messages, cancelled, last_check)."""
    from odoo import SUPERUSER_ID, api  # noqa: PLC0415 - after the path is set

    thread = threading.current_thread()
    table, model, cancel = ("sms_sms", "sms.sms", "canceled") if channel == "sms" else ("mail_mail", "mail.mail",
                                                                                        "cancel")
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        mailing = new_mailing(env, send, channel)
        cr.flush()
        # as in tests: keep the composer from committing, so that the run can be rolled back
        thread.testing = True
        try:
            with gate_mode(registry, mode):
                seconds, _res = timed(mailing.action_send_mail)
        finally:
            thread.testing = False
        env.flush_all()
        cr.execute(f"SELECT state, COUNT(*) FROM {table} WHERE mailing_id = %s GROUP BY state", (mailing.id,))
        states = dict(cr.fetchall())
        last_check = None
        if measure_last_check:
            queued = env[model].search([("mailing_id", "=", mailing.id), ("state", "=", "outgoing")])
            env.invalidate_all()
            last_check, _res = timed(queued._iys_gate_before_send)
        cr.rollback()
    return seconds, sum(states.values()), states.get(cancel, 0), last_check


def rss_mb():
    """The process's resident memory now (Linux), in MB."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 1024 / 1024


class _SeenList(list):
    """A list that answers ``in`` from a set: what Odoo's e-mail composer needs of its list of
    addresses already sent to, without scanning it for every recipient."""

    def __init__(self, items=()):
        super().__init__(items)
        self._seen = set(self)

    def __contains__(self, item):
        return item in self._seen

    def __iadd__(self, other):
        other = list(other)
        super().__iadd__(other)
        self._seen.update(other)
        return self

    def append(self, item):
        super().append(item)
        self._seen.add(item)


def patch_seen_list():
    """``--seen-set``: Odoo 18's mass-mail composer keeps the addresses already sent to in a list and
    looks each recipient up in it (``mail_compose_message._process_mail_values_state``), which is
    quadratic: at 100,000 recipients it is hours of CPU, gate or not. For a memory comparison at
    that size, both sends (gate off and on) get the same list answering from a set; nothing of the
    gate is changed."""
    from odoo.addons.mail.wizard.mail_compose_message import MailComposer  # noqa: PLC0415

    original = MailComposer._get_done_emails

    def _get_done_emails(self, mail_values_dict):
        return _SeenList(original(self, mail_values_dict))

    MailComposer._get_done_emails = _get_done_emails


def child_send(registry, args):
    """``--child-send MODE``: one send in this fresh process, its memory printed as one JSON line."""
    import json  # noqa: PLC0415

    tracing = None
    if args.tracemalloc:
        import tracemalloc  # noqa: PLC0415

        tracemalloc.start(12)
        tracing = tracemalloc
    if args.seen_set:
        patch_seen_list()
    # warm up what every send needs (registry, caches, templates) on a tiny send, rolled back
    run_send(registry, 10, args.child_send, channel=args.channel)
    before = rss_mb()
    samples = []
    stop = threading.Event()

    def sample():
        while not stop.wait(0.2):
            samples.append(rss_mb())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    # with the gate, the last check the queue makes is part of the mailing: here on the whole queue
    # at once (the queue itself hands it 1000 messages at a time)
    seconds, messages, cancelled, last = run_send(registry, args.send, args.child_send, channel=args.channel,
                                                  measure_last_check=args.child_send == "on")
    stop.set()
    sampler.join()
    result = {"mode": args.child_send, "seconds": seconds, "last_check": last, "messages": messages,
              "cancelled": cancelled,
              "rss_before": before, "rss_peak_send": max(samples or [rss_mb()]), "peak_rss": peak_rss_mb()}
    if tracing:
        snapshot = tracing.take_snapshot()
        result["traced_peak_mb"] = tracing.get_traced_memory()[1] / 1024 / 1024
        result["top"] = [str(stat) for stat in snapshot.statistics("traceback")[:args.tracemalloc]]
    log("CHILD " + json.dumps(result))


def memory_sends(args):
    """Each send mode in its own fresh process: peak RSS with and without the gate."""
    import json  # noqa: PLC0415

    results = {mode: [] for mode in args.memory_modes}
    for run in range(args.memory_runs):
        for mode in args.memory_modes:
            cmd = [sys.executable, __file__, "--db", args.db, "--partners", str(args.partners), "--consents",
                   str(args.consents), "--send", str(args.send), "--channel", args.channel,
                   "--child-send", mode, *(["--seen-set"] if args.seen_set else [])]
            done = subprocess.run(cmd, check=False, capture_output=True, text=True)
            line = next((line for line in done.stdout.splitlines() if line.startswith("CHILD ")), None)
            if done.returncode or not line:
                sys.exit(f"the {mode} send failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
            result = json.loads(line[len("CHILD "):])
            results[mode].append(result)
            log(f"  memory run {run + 1}, {args.channel} gate {mode}: {result['seconds']:.1f} s, "
                f"{result['messages']} messages, {result['cancelled']} cancelled, RSS before the send "
                f"{result['rss_before']:.0f} MB, peak {result['peak_rss']:.0f} MB")
    return results


#: the targets of issue 16 (seconds, or the with/without ratio of peak memory)
TARGET_LOOKUP = 2.0
TARGET_FORECAST = 1.0
TARGET_MEMORY = 1.20


def verdict(ok):
    return "target met" if ok else "target NOT met"


def load_average():
    return "load average " + " ".join(f"{value:.2f}" for value in os.getloadavg())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--partners", type=int, default=10000, help="population with consents (default 10000)")
    parser.add_argument("--consents", type=int, default=1_000_000, help="ledger rows for the brand (default 1M)")
    parser.add_argument("--send", type=int, default=None,
                        help="recipients of the measured mass mailing (default: min(partners, 10000))")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--modes", default="off,on,dry",
                        help="sends to measure, comma-separated: off, on, dry (default: all three); none: no send")
    parser.add_argument("--channel", choices=("mail", "sms"), default="mail",
                        help="what the measured mailing sends (default: mail)")
    parser.add_argument("--memory", default="",
                        help="modes whose send runs each in its own fresh process to compare peak memory, "
                        "comma-separated (e.g. off,on); with --memory-runs runs each")
    parser.add_argument("--memory-runs", type=int, default=1)
    parser.add_argument("--seen-set", action="store_true",
                        help="with --memory: Odoo's list of addresses already sent to answers from a set in both "
                        "sends (Odoo's own duplicate check is quadratic; needed at 100,000 recipients)")
    parser.add_argument("--skip-queries", action="store_true", help="do not time the gate's own queries")
    parser.add_argument("--explain", action="store_true", help="print the plans of the lookup and the forecast")
    parser.add_argument("--child-send", choices=("off", "on", "dry"), help=argparse.SUPPRESS)
    parser.add_argument("--tracemalloc", type=int, default=0,
                        help="with --child-send: print the N biggest allocation sites after the send")
    parser.add_argument("--db", default=os.environ.get("IYS_BENCH_DB", "iys_bench"))
    args = parser.parse_args()
    send = args.send = args.send or min(args.partners, 10000)
    if send > args.partners:
        parser.error("--send cannot exceed --partners")
    args.memory_modes = [mode for mode in args.memory.split(",") if mode in ("off", "on", "dry")]
    if args.channel == "sms":
        # Odoo hands the SMS composer the recipients' ids as a text it parses with literal_eval,
        # limited to 100 KiB unless ODOO_LIMIT_LITEVAL_BUFFER says more: past about 11,000
        # recipients an SMS mailing fails without it (Odoo's own limit, gate or not)
        os.environ.setdefault("ODOO_LIMIT_LITEVAL_BUFFER", str(max(102400, 16 * send)))

    odoo_path, paths = prepare_odoo(args.db)
    import odoo  # noqa: PLC0415 - from ODOO_PATH
    from odoo import SUPERUSER_ID, api  # noqa: PLC0415
    from odoo.modules.registry import Registry  # noqa: PLC0415
    from odoo.tools import config  # noqa: PLC0415

    config.parse_config([f"--addons-path={paths}", f"--database={args.db}", *db_options(), "--log-level=warn",
                         "--max-cron-threads=0"])
    registry = Registry(args.db)  # odoo.registry(db), without its deprecation warning
    if args.child_send:
        child_send(registry, args)
        return
    log(f"bench_gate: Odoo {odoo.release.version} ({odoo_path}), db {args.db}, population {args.partners} "
        f"partners, ledger {args.consents} consents, mailing {send} recipients ({args.channel}), {args.runs} runs; "
        f"{load_average()}")

    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        brand = ensure_data(env, args.partners, args.consents)
        if env.company.iys_pending_policy != "block":
            env.company.iys_pending_policy = "block"
            cr.commit()  # pylint: disable=invalid-commit  # the child processes read the same policy
        if not args.skip_queries:
            measure_queries(env, brand, args)
        cr.rollback()

    # 2. whole sends, gate off / on / dry, in rotating order; each rolled back
    modes = tuple(mode for mode in ("off", "on", "dry") if mode in args.modes.split(","))
    labels = {"off": "gate off", "on": "gate on ", "dry": "gate dry"}
    timings = {mode: [] for mode in modes}
    last_checks = []
    outcome = {}
    what = "SMS" if args.channel == "sms" else "e-mails"
    for run in range(args.runs if modes else 0):
        for mode in modes[run % len(modes):] + modes[:run % len(modes)]:
            seconds, mails, cancelled, last_check = run_send(registry, send, mode, measure_last_check=mode == "on",
                                                             channel=args.channel)
            timings[mode].append(seconds)
            outcome[mode] = (mails, cancelled)
            if last_check is not None:
                last_checks.append(last_check)
            log(f"  run {run + 1} {labels[mode]}: {seconds:.2f} s, {mails} {what}, {cancelled} cancelled, "
                f"peak RSS {peak_rss_mb():.0f} MB")
    for mode in modes:
        mails, cancelled = outcome[mode]
        rate = send / statistics.median(timings[mode])
        log(f"send {send} {what} (recipients + message creation), {labels[mode]}: {fmt_seconds(timings[mode])}, "
            f"{rate:.0f} {what}/s, {cancelled} of {mails} cancelled")
    for mode, label in (("on", "gate on / off"), ("dry", "gate dry / off (its own cost, nothing cancelled)")):
        if mode not in modes or "off" not in modes:
            continue
        ratio = statistics.median(timings[mode]) / statistics.median(timings["off"])
        ratios = [a / b for a, b in zip(timings[mode], timings["off"], strict=True)]
        log(f"ratio {label}: {ratio:.3f} (per run {min(ratios):.3f}–{max(ratios):.3f}; target ≤ 1.15)")
    if last_checks:
        log(f"last check before sending, {outcome['on'][0] - outcome['on'][1]} queued {what}: "
            f"{fmt_seconds(last_checks)}")
    if modes:
        log(f"peak RSS: {peak_rss_mb():.0f} MB; {load_average()}")

    # 3. memory: each send in a fresh process
    if args.memory_modes:
        results = memory_sends(args)
        peaks = {mode: statistics.median(r["peak_rss"] for r in runs) for mode, runs in results.items()}
        for mode, runs in results.items():
            values = [r["peak_rss"] for r in runs]
            log(f"memory, mass {what} to {send} recipients, gate {mode}: peak RSS {peaks[mode]:.0f} MB median "
                f"({min(values):.0f}–{max(values):.0f}), {statistics.median(r['seconds'] for r in runs):.1f} s")
        if "on" in peaks and "off" in peaks:
            ratio = peaks["on"] / peaks["off"]
            log(f"memory ratio gate on / off, {what}: {ratio:.2f} (target ≤ {TARGET_MEMORY:.2f}: "
                f"{verdict(ratio <= TARGET_MEMORY)}); {load_average()}")


def explained(env, func, marker):
    """Run ``func``; the plan (EXPLAIN ANALYZE, BUFFERS) of its first query containing ``marker``."""
    from unittest.mock import patch  # noqa: PLC0415

    from odoo.tools import SQL  # noqa: PLC0415

    klass = type(env.cr)
    original = klass.execute
    plans = []

    def execute(cr, query, params=None, log_exceptions=True):
        if not plans and marker in str(query.code if isinstance(query, SQL) else query):
            if isinstance(query, SQL):
                original(cr, SQL("EXPLAIN (ANALYZE, BUFFERS) %s", query))
            else:
                original(cr, "EXPLAIN (ANALYZE, BUFFERS) " + query, params)
            plans.append("\n".join(row[0] for row in cr.fetchall()))
        return original(cr, query, params, log_exceptions)

    with patch.object(klass, "execute", execute):
        func()
    return plans[0] if plans else "(no query)"


def measure_queries(env, brand, args):
    """1. the gate's own queries over the whole population: lookup, composer batch, forecast."""
    cr = env.cr
    Consent = env["iys.consent"]
    cr.execute("SELECT COUNT(*) FROM iys_consent")
    ledger_rows = cr.fetchone()[0]
    for channel, column, mailing_type in (("EPOSTA", "email_normalized", "mail"), ("MESAJ", "phone_sanitized", "sms")):
        cr.execute(f"SELECT {column}, iys_recipient_type FROM res_partner WHERE ref = %s", (REF,))
        pairs = cr.fetchall()
        lookups, batches, forecasts, lookup_cpu, forecast_cpu = [], [], [], [], []
        decisions = counts = None
        for _run in range(args.runs):
            env.invalidate_all()
            seconds, cpu, decisions = timed_cpu(
                cr, lambda: Consent._iys_gate_decisions(brand, channel, pairs)  # noqa: B023
            )
            lookups.append(seconds)
            lookup_cpu.append(cpu)
            batch_times = [
                timed(lambda chunk=chunk: Consent._iys_gate_decisions(brand, channel, chunk))[0]  # noqa: B023
                for chunk in (pairs[i:i + 50] for i in range(0, min(len(pairs), 50 * 200), 50))
            ]
            batches.append(statistics.median(batch_times))
        mailing = new_mailing(env, args.partners, mailing_type)
        for _run in range(args.runs):
            mailing.invalidate_recordset()
            seconds, cpu, counts = timed_cpu(cr, mailing._iys_forecast)
            forecasts.append(seconds)
            forecast_cpu.append(cpu)
        blocked = sum(1 for state in decisions.values() if state != "allowed")
        lookup, forecast = statistics.median(lookups), statistics.median(forecasts)
        log(f"gate lookup {channel}, {len(pairs)} addresses in one query, ledger of {ledger_rows} rows: "
            f"{fmt_seconds(lookups)} ({blocked} blocked); target < {TARGET_LOOKUP:.0f} s: "
            f"{verdict(lookup < TARGET_LOOKUP)}; CPU (client + database) {fmt_seconds(lookup_cpu)}")
        log(f"gate lookup {channel}, one composer batch of 50 addresses: {fmt_seconds(batches)}")
        log(f"mailing form forecast {channel}, {args.partners} recipients (one SQL query): {fmt_seconds(forecasts)} "
            f"({', '.join(f'{k}: {v}' for k, v in sorted(counts.items()))}); target < {TARGET_FORECAST:.0f} s: "
            f"{verdict(forecast < TARGET_FORECAST)}; CPU (client + database, parallel workers not counted) "
            f"{fmt_seconds(forecast_cpu)}")
        if args.explain:
            log(f"plan of the lookup ({channel}):")
            log(explained(env, lambda: Consent._iys_gate_decisions(brand, channel, pairs), "unnest"))  # noqa: B023
            mailing.invalidate_recordset()
            log(f"plan of the forecast ({channel}):")
            log(explained(env, mailing._iys_forecast, "iys_gate_consent"))
    log(f"  ({load_average()})")


if __name__ == "__main__":
    main()
