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
* the "Waiting for İYS" filter (SQL subquery, not stored);
* the three changes that recompute every contact's stored states (the pending policy, the default
  brand, an İYS account archived): the time of the request, which above 10,000 contacts only
  queues a background run, and the background job's throughput (contacts/s) as the cron runs it,
  chunk by chunk, each figure with its target (``--only recompute`` for this part alone; it
  commits, the data is then kept).

Each figure is printed as median (min–max) of ``--runs`` runs with the load average, then the peak
RSS of this process.
PostgreSQL is reached through PGHOST/PGPORT/PGUSER/PGPASSWORD. Use ``--keep`` to keep the data
between runs (the fill is skipped when the partners are already there).
"""

import argparse
import contextlib
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_gate import (  # the shared bench helpers, next to this file
    cpu_seconds,
    db_options,
    fmt_seconds,
    log,
    peak_rss_mb,
    prepare_odoo,
)

BENCH_TAG = "iys-bench"
#: a change of the default brand, of an account or of the pending policy may hold a request this long
REQUEST_TARGET = 3.0
#: the background recompute goes through at least this many contacts per second (10M in 17 minutes)
THROUGHPUT_TARGET = 10000


def out(text=""):
    log(text)


def load():
    """The load average, printed next to every figure (the machine is shared)."""
    return "load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def verdict(met):
    return "target met" if met else "target NOT met"


def timed(func, runs):
    samples = []
    result = None
    for _ in range(runs):
        started = time.perf_counter()
        result = func()
        samples.append(time.perf_counter() - started)
    return samples, result


def fmt(samples):
    return fmt_seconds(samples)


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


def run_background(env, Run):
    """Work through the queued recomputes as the cron does (one commit per chunk); returns
    (seconds, records recomputed, calls, CPU seconds of this process and its PostgreSQL backend)."""
    cpu = cpu_seconds(env.cr)
    started = time.perf_counter()
    done = calls = 0
    while Run.search_count([("state", "in", ["queued", "running"])]):
        done += Run._cron_recompute()
        env.cr.commit()  # pylint: disable=invalid-commit  # what the cron runner does after each call
        calls += 1
    return time.perf_counter() - started, done, calls, cpu_seconds(env.cr) - cpu


def bench_recompute(env, args):
    """The three changes that recompute every contact's stored states: the time the request takes
    (it queues a background run above the threshold) and the background job's throughput."""
    cr = env.cr
    company = env.company
    Run = env["iys.recompute.run"]
    brands = env["iys.brand"].search([("company_id", "=", company.id)], order="id")
    account = brands[0].account_id
    # a second brand of the same account (the default brand moves to it) and a second account
    # (archiving the first one moves the default brand to it)
    other = env["iys.brand"].search([("code", "=", "990002")], limit=1) or env["iys.brand"].create(
        {"name": "Bench 2", "code": "990002", "account_id": account.id, "sequence": 1000})
    spare_account = env["iys.account"].with_context(active_test=False).search([("iys_code", "=", "990003")], limit=1) \
        or env["iys.account"].create({"name": "Bench spare", "iys_code": "990003", "company_id": company.id,
                                      "sequence": 1000})
    if not spare_account.brand_ids:
        env["iys.brand"].create({"name": "Bench spare", "code": "990003", "account_id": spare_account.id})
    (brands | other).write({"is_default": False})  # the first brand by sequence is the default
    account.write({"active": True, "sequence": 1})
    other.sequence = 1000
    env.flush_all()
    cr.commit()  # pylint: disable=invalid-commit
    # the set-up may have moved the default brand back: its recompute runs to the end first, so
    # that the stored states match the settings before anything is measured
    run_background(env, Run)  # pylint: disable=invalid-commit
    if args.explain and "policy" in args.actions.split(","):
        explain_policy_chunk(env, company)

    def policy():
        company.iys_pending_policy = "allow" if company.iys_pending_policy == "block" else "block"

    def brand():
        other.sequence = -1 if company.iys_default_brand_id != other else 1000

    def archive():
        account.active = not account.active

    actions = [(label, action) for key, label, action in (
        ("policy", "Pending policy changed", policy),
        ("brand", "Default brand changed", brand),
        ("archive", "İYS account archived / unarchived", archive),
    ) if key in args.actions.split(",")]
    rows = []
    for label, action in actions:
        # the request, several times: each run it queues is set aside at once (as if done), so that
        # every request finds no run under way and makes the whole decision (the threshold count)
        requests = []
        for index in range(args.runs):
            started = time.perf_counter()
            action()
            env.flush_all()
            cr.commit()  # pylint: disable=invalid-commit  # the end of the web request
            requests.append(time.perf_counter() - started)
            if index < args.runs - 1:
                cr.execute("UPDATE iys_recompute_run SET state = 'superseded' WHERE state IN ('queued', 'running')")
                cr.commit()  # pylint: disable=invalid-commit
        out(f"  {label:<36} request {fmt(requests)}  < {REQUEST_TARGET:.0f} s: "
            f"{verdict(statistics.median(requests) < REQUEST_TARGET)}  ({load()})")
        # then the background job of the last one, as the cron runner calls it, until it is done
        queued = Run.search([("state", "=", "queued")])
        seconds, done, calls, cpu = run_background(env, Run)
        queued.invalidate_recordset()
        total = sum(queued.mapped("total_count"))
        if queued:
            tp = total / seconds if seconds else 0
            out(f"  {'':<36} background {seconds:.1f} s for {total:,} records ({calls} cron calls, "
                f"{sum(queued.mapped('changed_count')):,} changed): {tp:,.0f} contacts/s ≥ {THROUGHPUT_TARGET:,}/s: "
                f"{verdict(tp >= THROUGHPUT_TARGET)}; CPU {cpu:.1f} s (this process and its PostgreSQL backend), "
                f"{total / cpu if cpu else 0:,.0f} contacts per CPU-second ({load()})")
        else:
            out(f"  {'':<36} recomputed in the request (under the threshold)")
        rows.append((label, requests, seconds, total))
    if args.explain:
        explain_chunk(env, company, other)
    # today's way, for comparison: one UPDATE per model in the request
    samples, _result = timed(lambda: env["iys.consent.mixin"]._iys_bulk_recompute_states(company), 1)
    out(f"  {'For comparison: everything in one UPDATE':<36} {fmt(samples)} ({load()})")
    cr.rollback()
    return rows


def explain_chunk(env, company, other):
    """EXPLAIN (ANALYZE, BUFFERS) of one chunk of a default-brand recompute (rolled back): where
    the background job's time goes."""
    from odoo.tools import SQL  # noqa: PLC0415 - importable once Odoo is on the path

    from odoo.addons.l10n_tr_iys.models import iys_recompute_run  # noqa: PLC0415

    cr = env.cr
    Partner = env["res.partner"]
    cr.execute("SELECT id FROM res_partner ORDER BY id OFFSET %s LIMIT 1", (Partner.search_count([]) // 2,))
    after = cr.fetchone()[0]
    plan = []
    real_execute = type(cr).execute

    def explain(self, query, params=None, log_exceptions=True):
        if isinstance(query, SQL) and "WITH fresh AS" in query.code:
            real_execute(self, SQL("EXPLAIN (ANALYZE, BUFFERS) %s", query), params, log_exceptions)
            plan.extend(row[0] for row in self.fetchall())
            return None
        return real_execute(self, query, params, log_exceptions)

    with contextlib.suppress(RuntimeError), cr.savepoint():
        other.sequence = -1 if company.iys_default_brand_id != other else 1000
        env.flush_all()
        type(cr).execute = explain
        try:
            Partner._iys_bulk_recompute_model(company, company.iys_default_brand_id,
                                              company.iys_pending_policy or "block", shared=True,
                                              id_range=(after, after + iys_recompute_run.CHUNK_SIZE))
        finally:
            type(cr).execute = real_execute
        raise RuntimeError("roll the chunk back")
    env.invalidate_all()
    out(f"\n  One chunk ({iys_recompute_run.CHUNK_SIZE} contacts) of a default-brand recompute ({load()}):\n    "
        + "\n    ".join(plan))


class Undone(Exception):
    """Rolls a savepoint back."""


def explain_policy_chunk(env, company):
    """EXPLAIN (ANALYZE, BUFFERS) of the queries of the first two calls of a pending-policy run (its
    start and first chunk, then its second chunk), rolled back: how the run finds its holders."""
    from odoo.tools import SQL  # noqa: PLC0415 - importable once Odoo is on the path

    cr = env.cr
    plans = []
    real_execute = type(cr).execute

    def explain(self, query, params=None, log_exceptions=True):
        code = query.code if isinstance(query, SQL) else str(query)
        if "iys_consent" in code and code.lstrip().upper().startswith(("SELECT", "WITH", "INSERT")):
            with contextlib.suppress(Undone), self.savepoint(flush=False):
                real_execute(self, SQL("EXPLAIN (ANALYZE, BUFFERS) %s", query), params, log_exceptions)
                plans.append((" ".join(code.split())[:140], [row[0] for row in self.fetchall()]))
                raise Undone  # EXPLAIN ANALYZE ran the statement: rolled back, then run for real
        return real_execute(self, query, params, log_exceptions)

    with contextlib.suppress(RuntimeError), cr.savepoint():
        run = env["iys.recompute.run"].create({"company_id": company.id, "reason": "policy",
                                                "only_unconfirmed": True, "shared": True})
        type(cr).execute = explain
        try:
            for call in (1, 2):
                started = time.perf_counter()
                count = len(plans)
                done = run._iys_step()
                plans.append((f"call {call}: {done:,} holders in {time.perf_counter() - started:.2f} s "
                               f"(with the EXPLAIN runs, {len(plans) - count} queries explained)", []))
        finally:
            type(cr).execute = real_execute
        raise RuntimeError("roll the run back")
    env.invalidate_all()
    out(f"\n  The first two calls of a pending-policy run, every query on the ledger ({load()}):")
    for title, plan in plans:
        out("    " + title)
        if plan:
            out("      " + "\n      ".join(plan))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", required=True, help="throw-away database (created when missing)")
    parser.add_argument("--partners", type=int, default=100000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="commit the generated data (default: roll back)")
    parser.add_argument("--only", choices=("filters", "recompute"), help="one part of the benchmark only")
    parser.add_argument("--actions", default="policy,brand,archive",
                        help="the changes whose recompute is measured, comma-separated (default: all three)")
    parser.add_argument("--explain", action="store_true",
                        help="print the plan (EXPLAIN ANALYZE) of one chunk of the background recompute")
    args = parser.parse_args()

    odoo_path, paths = prepare_odoo(args.db)
    import odoo  # noqa: PLC0415 - found through ODOO_PATH
    from odoo.modules.registry import Registry  # noqa: PLC0415

    odoo.tools.config.parse_config([f"--addons-path={paths}", f"--database={args.db}", "--log-level=warn",
                                    *db_options()])
    registry = Registry(args.db)
    out(f"bench_partner_filters: Odoo {odoo.release.version} ({odoo_path}), db {args.db}, {args.partners} "
        f"partners, {args.runs} runs ({load()})")
    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        fill(env, args.partners)
        company = env.company
        Partner = env["res.partner"]
        Mixin = env["iys.consent.mixin"]
        cr.execute("SELECT 1 FROM res_partner WHERE phone_sanitized IS NOT NULL AND iys_sms_state IS NULL LIMIT 1")
        if cr.fetchone():  # new partners: their stored states are filled once
            started = time.perf_counter()
            counts = Mixin._iys_bulk_recompute_states(company)
            out(f"Initial bulk fill of the stored states: {time.perf_counter() - started:.1f}s, rows {counts} "
                f"({load()})")
        env.flush_all()
        cr.execute("ANALYZE res_partner")
        if args.only != "recompute":
            bench_filters(env, args, Partner)
        if args.only != "filters":
            # the background job commits chunk by chunk: the generated data is kept
            cr.commit()  # pylint: disable=invalid-commit
            out(f"\nRecomputes of the stored states ({args.runs} requests each; request = the change and its "
                f"commit; background = the cron until done, once)")
            bench_recompute(env, args)
        elif args.keep:
            # keep the generated data of this throw-away database for the next run
            cr.commit()  # pylint: disable=invalid-commit
        else:
            cr.rollback()
    out(f"\nPeak RSS of this process: {peak_rss_mb():.0f} MB ({load()})")


def bench_filters(env, args, Partner):
    cr = env.cr
    total = Partner.search_count([])
    allowed = Partner.search_count([("iys_sms_state", "=", "allowed")])
    out(f"\n{total} partners, {allowed} with SMS allowed; {args.runs} runs each ({load()})\n")

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
    out(f"  with/without ratio: first 80 ×{ratio_page:.2f}, count ×{ratio_count:.2f} ({load()})")
    samples, _result = timed(lambda: env["iys.consent.mixin"]._iys_bulk_recompute_states(env.company), args.runs)
    out(f"  {'Bulk recompute, all records (no change)':<40} {fmt(samples)}")
    cr.execute("EXPLAIN (ANALYZE, BUFFERS OFF, TIMING OFF) SELECT id FROM res_partner "
               "WHERE iys_sms_state = 'allowed' AND active ORDER BY complete_name, id DESC LIMIT 80")
    out("\n  Plan of the list page:\n    " + "\n    ".join(row[0] for row in cr.fetchall()))


if __name__ == "__main__":
    main()
