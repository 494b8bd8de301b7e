#!/usr/bin/env python3
# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
"""Benchmark: the contact list's İYS filters and the bulk state recompute on many partners.

Usage::

    ODOO_PATH=/path/to/odoo python bench/bench_partner_filters.py --db iys_bench --partners 1000000

The database is a throw-away one: when it does not exist the script creates it (``odoo-bin -i
l10n_tr_iys --without-demo=all``), then it fills it by SQL with ``--partners`` individuals and
merchants (phones and e-mails) and İYS consents for part of them (confirmed, waiting and refused
consents, confirmed refusals), recomputes every stored state once in bulk, and times:

* the "SMS allowed" filter as the list view runs it (``search`` of the first 80 in the default
  order, and ``search_count``), next to Odoo's own "valid SMS recipients" domain on the same rows
  (the with/without ratio);
* the bulk recompute of the stored states when the company's pending policy changes (one SQL
  UPDATE per model, through the policy's SQL twin);
* the "Waiting for İYS" filter (SQL subquery, not stored).

Each figure is printed as median (min–max) of ``--runs`` runs, then the peak RSS of this process.
PostgreSQL is reached through PGHOST/PGPORT/PGUSER/PGPASSWORD. Use ``--keep`` to keep the data
between runs (the fill is skipped when the partners are already there).
"""

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MODULE = "l10n_tr_iys"
BENCH_TAG = "iys-bench"


def out(text=""):
    """A line of the report (a script, not addon code: it writes to stdout)."""
    sys.stdout.write(f"{text}\n")
    sys.stdout.flush()


def odoo_tree():
    path = os.environ.get("ODOO_PATH")
    if not path or not (Path(path) / "odoo-bin").is_file():
        sys.exit("Set ODOO_PATH to an Odoo 18.0 source tree (the folder that holds odoo-bin).")
    return Path(path).resolve()


def addons_dir():
    """A temporary addons directory in which this repository is linked under its technical name."""
    tmp = Path(tempfile.mkdtemp(prefix="iys_bench_addons_"))
    (tmp / MODULE).symlink_to(REPO, target_is_directory=True)
    return tmp


def db_args():
    args = []
    for env_name, option in (("PGHOST", "db_host"), ("PGPORT", "db_port"), ("PGUSER", "db_user"),
                             ("PGPASSWORD", "db_password")):
        if os.environ.get(env_name):
            args.append(f"--{option}={os.environ[env_name]}")
    return args


def database_exists(db):
    result = subprocess.run(["psql", "-Atc", f"SELECT 1 FROM pg_database WHERE datname = '{db}'", "postgres"],
                            capture_output=True, text=True, check=False)
    return result.stdout.strip() == "1"


def create_database(tree, addons_path, db):
    out(f"Creating {db} with {MODULE} (no demo data) ...")
    cmd = [sys.executable, str(tree / "odoo-bin"), f"--addons-path={addons_path}", f"--database={db}",
           f"--init={MODULE}", "--without-demo=all", "--stop-after-init", "--workers=0", "--max-cron-threads=0",
           "--log-level=warn", *db_args()]
    subprocess.run(cmd, check=True)


def timed(func, runs):
    samples = []
    result = None
    for _ in range(runs):
        started = time.perf_counter()
        result = func()
        samples.append(time.perf_counter() - started)
    return samples, result


def fmt(samples):
    ms = [s * 1000 for s in samples]
    return f"{statistics.median(ms):9.1f} ms  ({min(ms):.1f}–{max(ms):.1f})"


def fill(env, partners):
    """Partners and consents by SQL (the ORM would take hours at this size)."""
    from odoo.tools import SQL  # noqa: PLC0415 - importable once Odoo is on the path

    cr = env.cr
    company = env.company
    brand = company.iys_default_brand_id
    if not brand:
        account = env["iys.account"].create({"name": "Bench", "iys_code": "990001", "company_id": company.id})
        brand = env["iys.brand"].create({"name": "Bench", "code": "990001", "account_id": account.id,
                                         "is_default": True})
    cr.execute(SQL("SELECT count(*) FROM res_partner WHERE ref = %s", BENCH_TAG))
    existing = cr.fetchone()[0]
    if existing >= partners:
        out(f"{existing} bench partners already there: fill skipped.")
        return brand
    started = time.perf_counter()
    start = existing + 1
    # 1 partner in 10 a company (merchant, TACIR); every one with a mobile, 9 in 10 with an e-mail.
    cr.execute(SQL(
        """INSERT INTO res_partner (name, complete_name, ref, active, type, is_company, lang, company_id,
                                    mobile, phone_sanitized, email, email_normalized, iys_recipient_type,
                                    create_date, write_date, create_uid, write_uid)
           SELECT 'Bench ' || n, 'Bench ' || n, %(tag)s, true, 'contact', mod(n, 10) = 0, 'en_US', NULL,
                  '+90532' || lpad(n::text, 7, '0'), '+90532' || lpad(n::text, 7, '0'),
                  CASE WHEN mod(n, 10) <> 9 THEN 'bench' || n || '@example.com' END,
                  CASE WHEN mod(n, 10) <> 9 THEN 'bench' || n || '@example.com' END,
                  CASE WHEN mod(n, 10) = 0 THEN 'TACIR' ELSE 'BIREYSEL' END,
                  now(), now(), 1, 1
             FROM generate_series(%(start)s, %(stop)s) AS n""",
        tag=BENCH_TAG, start=start, stop=partners,
    ))
    # Consents, per partner number n: SMS: 30 % ONAY confirmed, 10 % ONAY waiting for İYS, 5 % RET;
    # e-mail: 20 % ONAY confirmed, 5 % ONAY waiting, 3 % RET.
    for channel, column, shares in (
        ("MESAJ", "'+90532' || lpad(n::text, 7, '0')", (30, 10, 5)),
        ("EPOSTA", "'bench' || n || '@example.com'", (20, 5, 3)),
    ):
        confirmed, waiting, refused = shares
        cr.execute(SQL(
            """INSERT INTO iys_consent (brand_id, account_id, company_id, channel, recipient_type, address, status,
                                        source, consent_date, sync_state, create_date, write_date, create_uid,
                                        write_uid)
               SELECT %(brand)s, %(account)s, %(company)s, %(channel)s,
                      CASE WHEN mod(n, 10) = 0 THEN 'TACIR' ELSE 'BIREYSEL' END, %(address)s,
                      CASE WHEN mod(n, 100) < %(onay)s THEN 'ONAY' ELSE 'RET' END, 'HS_WEB', now() - interval '1 day',
                      CASE WHEN mod(n, 100) < %(confirmed)s THEN 'confirmed'
                           WHEN mod(n, 100) < %(onay)s THEN 'pending' ELSE 'confirmed' END,
                      now(), now(), 1, 1
                 FROM generate_series(%(start)s, %(stop)s) AS n
                WHERE mod(n, 100) < %(all)s AND (%(channel)s <> 'EPOSTA' OR mod(n, 10) <> 9)""",
            brand=brand.id, account=brand.account_id.id, company=company.id, channel=channel,
            address=SQL(column), onay=confirmed + waiting, confirmed=confirmed, all=confirmed + waiting + refused,
            start=start, stop=partners,
        ))
    cr.execute(SQL("ANALYZE res_partner"))
    cr.execute(SQL("ANALYZE iys_consent"))
    env.invalidate_all()
    out(f"Filled {partners - existing} partners and their consents in {time.perf_counter() - started:.0f}s")
    return brand


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", required=True, help="throw-away database (created when missing)")
    parser.add_argument("--partners", type=int, default=100000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="commit the generated data (default: roll back)")
    args = parser.parse_args()

    tree = odoo_tree()
    sys.path.insert(0, str(tree))
    tmp_addons = addons_dir()
    addons_path = ",".join([str(tree / "addons"), str(tree / "odoo" / "addons"), str(tmp_addons)])
    if not database_exists(args.db):
        create_database(tree, addons_path, args.db)

    import odoo  # noqa: PLC0415 - found through ODOO_PATH
    from odoo.modules.registry import Registry  # noqa: PLC0415

    odoo.tools.config.parse_config([f"--addons-path={addons_path}", f"--database={args.db}", "--log-level=warn",
                                    *db_args()])
    registry = Registry(args.db)
    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        fill(env, args.partners)
        company = env.company
        Partner = env["res.partner"]
        Mixin = env["iys.consent.mixin"]
        started = time.perf_counter()
        counts = Mixin._iys_bulk_recompute_states(company)
        out(f"Initial bulk fill of the stored states: {time.perf_counter() - started:.1f}s, rows {counts}")
        env.flush_all()
        cr.execute("ANALYZE res_partner")
        total = Partner.search_count([])
        allowed = Partner.search_count([("iys_sms_state", "=", "allowed")])
        out(f"\n{total} partners, {allowed} with SMS allowed; {args.runs} runs each\n")

        sms_allowed = [("iys_sms_state", "=", "allowed")]
        odoo_valid = [("phone_sanitized", "!=", False), ("phone_sanitized_blacklisted", "=", False)]
        waiting = [("iys_waiting", "=", True)]

        def list_page(domain):
            def run():
                env.invalidate_all()
                return Partner.search(domain, limit=80).ids
            return run

        def count(domain):
            def run():
                env.invalidate_all()
                return Partner.search_count(domain)
            return run

        rows = []
        for label, func in (
            ("SMS allowed: first 80 (list view)", list_page(sms_allowed)),
            ("Odoo valid SMS numbers: first 80", list_page(odoo_valid)),
            ("SMS allowed: count", count(sms_allowed)),
            ("Odoo valid SMS numbers: count", count(odoo_valid)),
            ("Waiting for İYS: first 80", list_page(waiting)),
            ("Waiting for İYS: count", count(waiting)),
        ):
            samples, _result = timed(func, args.runs)
            rows.append((label, samples))
            out(f"  {label:<40} {fmt(samples)}")
        ratio_page = statistics.median(rows[0][1]) / statistics.median(rows[1][1])
        ratio_count = statistics.median(rows[2][1]) / statistics.median(rows[3][1])
        out(f"  with/without ratio: first 80 ×{ratio_page:.2f}, count ×{ratio_count:.2f}")

        def flip_policy():
            # the write triggers the bulk recompute of the records with an ONAY waiting for İYS
            company.iys_pending_policy = "allow" if company.iys_pending_policy == "block" else "block"
            env.flush_all()

        samples, _result = timed(flip_policy, args.runs)
        out(f"  {'Bulk recompute (pending policy changed)':<40} {fmt(samples)}")
        samples, _result = timed(lambda: Mixin._iys_bulk_recompute_states(company), args.runs)
        out(f"  {'Bulk recompute, all records (no change)':<40} {fmt(samples)}")
        brands = env["iys.brand"].search([("company_id", "=", company.id)], order="id")
        other = env["iys.brand"].create({"name": "Bench 2", "code": "990002", "account_id": brands[0].account_id.id,
                                         "sequence": 1000})
        brands.write({"is_default": False})  # the first brand by sequence is then the default
        env.flush_all()

        def switch_brand():
            # the default brand moves: every record is recomputed (and changes)
            other.sequence = -1 if company.iys_default_brand_id != other else 1000
            env.flush_all()

        samples, _result = timed(switch_brand, min(args.runs, 3))
        out(f"  {'Bulk recompute (default brand changed)':<40} {fmt(samples)}")
        cr.execute("EXPLAIN (ANALYZE, BUFFERS OFF, TIMING OFF) SELECT id FROM res_partner "
                   "WHERE iys_sms_state = 'allowed' AND active ORDER BY complete_name, id DESC LIMIT 80")
        out("\n  Plan of the list page:\n    " + "\n    ".join(row[0] for row in cr.fetchall()))
        if args.keep:
            # keep the generated data of this throw-away database for the next run
            cr.commit()  # pylint: disable=invalid-commit
        else:
            cr.rollback()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out(f"\nPeak RSS of this process: {peak:.0f} MB")


if __name__ == "__main__":
    main()
