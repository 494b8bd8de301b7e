#!/usr/bin/env python3
# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
"""Benchmark of a dealer access change with real Odoo 18.0, against a throw-away database.

    ODOO_PATH=/path/to/odoo python bench/bench_retailer_access.py --consents 10000

Run it with a Python that has Odoo's requirements (e.g. the venv ``./scripts/test`` creates in
``~/.cache/l10n_tr_iys``). The database (``--db``, default ``iys_bench_access``) is created with
the addon installed when missing; the bench's consents (confirmed by İYS) and dealer are written
by SQL once and kept. The library's simulator runs in this process on a free port of 127.0.0.1,
answering at once, and holds the same consents and dealer.

One run, in a transaction rolled back at the end (the crons' commits are no-ops, as under tests):

1. an İYS manager gives a dealer access to every consent of the brand with the dealer access
   wizard (above 1000 consents: a request recorded in the background);
2. the background recording, chunk by chunk, as its scheduled action does it (one ``dealer``
   event and one access queue row per consent);
3. the sending, as its scheduled action does it: İYS's access calls of at most 100 consents;
4. done: every queue row confirmed, and the simulator holds the access.

Each figure is the median (min–max) of ``--runs`` runs, plus the process's peak RSS.
"""

import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_gate import (  # the shared bench helpers, next to this file
    db_options,
    fmt_seconds,
    log,
    peak_rss_mb,
    prepare_odoo,
)

BRAND_CODE = "990002"
DEALER_CODE = 20990001
SIM_USER, SIM_PASSWORD = "iys-bench", "iys-bench-secret"


def ensure_data(env, consents):
    """The bench account, brand, dealer, manager and *consents* confirmed consents (by SQL)."""
    cr = env.cr
    company = env.ref("base.main_company")
    account = env["iys.account"].sudo().search([("iys_code", "=", BRAND_CODE)])
    if not account:
        account = env["iys.account"].sudo().create({
            "name": "Bench access İYS", "iys_code": BRAND_CODE, "environment": "simulator",
            "company_id": company.id, "username": SIM_USER, "password": SIM_PASSWORD, "poll_delay": 0,
        })
        env["iys.brand"].sudo().create({"name": "Bench access", "code": BRAND_CODE, "account_id": account.id})
    brand = account.brand_ids[:1]
    dealer = env["iys.retailer"].sudo().search([("brand_id", "=", brand.id), ("code", "=", str(DEALER_CODE))])
    if not dealer:
        dealer = env["iys.retailer"].sudo().create({"name": "Bench bayi", "brand_id": brand.id,
                                                    "code": str(DEALER_CODE), "sync_state": "registered"})
    manager = env["res.users"].sudo().search([("login", "=", "iys_bench_manager")])
    if not manager:
        manager = env["res.users"].sudo().create({
            "name": "Bench İYS manager", "login": "iys_bench_manager", "company_id": company.id,
            "company_ids": [(6, 0, company.ids)],
            "groups_id": [(6, 0, [env.ref("base.group_user").id, env.ref("l10n_tr_iys.group_iys_manager").id])],
        })
    # the addon's own indexes, also on a database installed with an earlier version of it
    env["iys.retailer.access.queue"].init()
    cr.execute("SELECT COUNT(*) FROM iys_consent WHERE brand_id = %s", (brand.id,))
    if cr.fetchone()[0] != consents:
        log(f"Writing {consents} confirmed consents by SQL …")
        cr.execute("DELETE FROM iys_consent_retailer_access_rel r USING iys_consent c "
                   "WHERE r.consent_id = c.id AND c.brand_id = %s", (brand.id,))
        cr.execute("DELETE FROM iys_consent WHERE brand_id = %s", (brand.id,))
        cr.execute(
            """INSERT INTO iys_consent (brand_id, account_id, company_id, channel, recipient_type, address, status,
                                        consent_date, source, sync_state, create_date, write_date, create_uid,
                                        write_uid)
               SELECT %(brand)s, %(account)s, %(company)s, 'MESAJ', 'BIREYSEL', '+90533' || lpad(i::text, 7, '0'),
                      'ONAY', now() - interval '30 days', 'HS_WEB', 'confirmed', now(), now(), 1, 1
                 FROM generate_series(1, %(n)s) AS i""",
            {"brand": brand.id, "account": account.id, "company": company.id, "n": consents})
        cr.execute("ANALYZE iys_consent")
    cr.commit()  # pylint: disable=invalid-commit  # the bench data is kept for later runs
    return brand, dealer, manager


def start_simulator(brand, addresses):
    from odoo.addons.l10n_tr_iys.iyslib.simulator import IysSimulator, SimulatorServer  # noqa: PLC0415
    from odoo.addons.l10n_tr_iys.iyslib.simulator.core import _ckey  # noqa: PLC0415

    sim = IysSimulator(username=SIM_USER, password=SIM_PASSWORD, iys_code=int(BRAND_CODE),
                       brands={int(BRAND_CODE): brand.name}, batch_delay=0, pull_lag=0, token_limit=None)
    server = SimulatorServer(sim).start()

    def reset():
        sim.reset()
        sim.retailers[DEALER_CODE] = {
            "retailerCode": DEALER_CODE, "title": "Bench bayi", "name": "Yetkili", "tckn": "10000000146",
            "tin": "1234567890", "city": {"code": "34", "name": "İSTANBUL"}, "town": {"code": "1", "name": "KADIKÖY"},
            "status": "active", "brandCode": int(BRAND_CODE)}
        for address in addresses:
            sim.consents[_ckey(int(BRAND_CODE), "BIREYSEL", "MESAJ", address)] = {
                "status": "ONAY", "consentDate": "2026-01-01 10:00:00", "source": "HS_WEB", "recipient": address,
                "recipientType": "BIREYSEL", "type": "MESAJ", "brandCode": int(BRAND_CODE)}
        sim.requests_log.clear()
    return server, sim, reset


def one_run(registry, brand_id, dealer_id, manager_id, sim):
    from odoo import SUPERUSER_ID, api  # noqa: PLC0415

    thread = threading.current_thread()
    thread.testing = True  # the crons' commits are no-ops: the run is rolled back
    try:
        with registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            manager_env = env(user=manager_id)
            times = {}
            started = time.perf_counter()
            wizard = manager_env["iys.retailer.access.wizard"].create({
                "brand_id": brand_id, "scope": "all", "channel": "MESAJ", "retailer_ids": [(6, 0, [dealer_id])],
                "note": "Bench"})
            wizard.action_apply()
            env.flush_all()
            times["wizard"] = time.perf_counter() - started
            t0 = time.perf_counter()
            Change = env["iys.retailer.access.change"]
            while Change.search_count([("state", "=", "to_record")]):
                Change._cron_iys_access_record()
            env.flush_all()
            times["record"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            Queue = env["iys.retailer.access.queue"].sudo()
            while Queue._iys_count_sendable():
                Queue._cron_iys_access_send()
            env.flush_all()
            times["send"] = time.perf_counter() - t0
            times["total"] = time.perf_counter() - started
            cr.execute("SELECT state, count(*) FROM iys_retailer_access_queue q JOIN iys_consent c "
                       "ON c.id = q.consent_id WHERE c.brand_id = %s GROUP BY state", (brand_id,))
            states = dict(cr.fetchall())
            calls = sum(1 for e in sim.requests_log if "/retailers/access" in e["path"])
            with_access = sum(1 for v in sim.access.values() if DEALER_CODE in v)
            cr.rollback()
    finally:
        thread.testing = False
    return times, states, calls, with_access


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--consents", type=int, default=10000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--db", default=os.environ.get("IYS_BENCH_ACCESS_DB", "iys_bench_access"))
    args = parser.parse_args()
    odoo_path, paths = prepare_odoo(args.db)
    import odoo  # noqa: PLC0415
    from odoo import SUPERUSER_ID, api  # noqa: PLC0415
    from odoo.modules.registry import Registry  # noqa: PLC0415
    from odoo.tools import config  # noqa: PLC0415

    config.parse_config([f"--addons-path={paths}", f"--database={args.db}", *db_options(), "--log-level=warn",
                         "--max-cron-threads=0"])
    registry = Registry(args.db)
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        brand, dealer, manager = ensure_data(env, args.consents)
        cr.execute("SELECT address FROM iys_consent WHERE brand_id = %s", (brand.id,))
        addresses = [row[0] for row in cr.fetchall()]
        server, sim, reset = start_simulator(brand, addresses)
        brand.account_id.sudo().write({"simulator_url": server.url, "username": SIM_USER, "password": SIM_PASSWORD,
                                       "poll_delay": 0})
        cr.commit()  # pylint: disable=invalid-commit  # the account points at this run's simulator
        ids = (brand.id, dealer.id, manager.id)
    log(f"bench_retailer_access: Odoo {odoo.release.version} ({odoo_path}), db {args.db}, {args.consents} "
        f"consents, {args.runs} runs")
    results = []
    try:
        for run in range(args.runs):
            reset()
            times, states, calls, with_access = one_run(registry, *ids, sim)
            results.append(times)
            log(f"  run {run + 1}: wizard {times['wizard']:.2f} s, recording {times['record']:.2f} s, sending "
                f"{times['send']:.2f} s, total {times['total']:.2f} s; queue {states}, {calls} İYS calls, "
                f"{with_access} consents with access on İYS; peak RSS {peak_rss_mb():.0f} MB")
    finally:
        server.stop()
    for key, label in (("wizard", "wizard (request)"), ("record", "recording (events + queue)"),
                       ("send", "sending (access calls)"), ("total", "total")):
        values = [r[key] for r in results]
        rate = args.consents / statistics.median(values)
        log(f"{label}, {args.consents} consents: {fmt_seconds(values)}, {rate:.0f} consents/s")
    log(f"peak RSS: {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
