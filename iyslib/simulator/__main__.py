"""Command line: ``python -m iyslib.simulator --port 8765 [--db demo.sqlite] …``.

Defaults: user ``iys-demo`` / ``iys-demo-secret``, iysCode 700001, brands 700001 (master, "Demo
Marka") and 700002 ("Demo Marka 2").  The pull lag defaults to 0 here so demos see citizen changes
at once; pass ``--pull-lag 3600`` for İYS's real 60-minute lag.  Push URLs may be plain
``http://127.0.0.1`` unless ``--https-push-only`` is given (real İYS demands https).
"""
from __future__ import annotations

import argparse
import sys

from .core import IysSimulator
from .server import SimulatorServer


def build_parser() -> argparse.ArgumentParser:
    """Argument parser of the simulator command."""
    p = argparse.ArgumentParser(prog='python -m iyslib.simulator', description='Local İYS API simulator.')
    p.add_argument('--host', default='127.0.0.1')
    p.add_argument('--port', type=int, default=8765)
    p.add_argument('--db', default=None, help='SQLite file so the state survives restarts')
    p.add_argument('--batch-delay', type=float, default=10.0, help='seconds before a batch is processed')
    p.add_argument('--pull-lag', type=float, default=0.0, help='pull window lag in seconds (İYS: 3600)')
    p.add_argument('--username', default='iys-demo')
    p.add_argument('--password', default='iys-demo-secret')
    p.add_argument('--iys-code', type=int, default=700001)
    p.add_argument('--brand-codes', default=None,
                   help='comma-separated brand codes; the first is the master (default: iysCode, iysCode+1)')
    p.add_argument('--token-limit', type=int, default=10, help='token calls per hour before H084 (0: unlimited)')
    p.add_argument('--access-ttl', type=int, default=7200)
    p.add_argument('--refresh-ttl', type=int, default=14400)
    p.add_argument('--rate-limit', type=int, default=0, help='requests per second before 429 H124 (0: off)')
    p.add_argument('--fault-delay', type=float, default=35.0,
                   help='seconds the "timeout" fault waits before answering (beyond the client read timeout)')
    p.add_argument('--https-push-only', action='store_true', help='refuse http:// push URLs, as İYS does')
    p.add_argument('--verbose', action='store_true', help='log every request to stderr')
    return p


def main(argv=None) -> int:
    """Run the simulator until interrupted."""
    args = build_parser().parse_args(argv)
    brands = None
    if args.brand_codes:
        codes = [int(c) for c in args.brand_codes.split(',') if c.strip()]
        brands = {c: ('Demo Marka' if i == 0 else f'Demo Marka {i + 1}') for i, c in enumerate(codes)}
    sim = IysSimulator(username=args.username, password=args.password, iys_code=args.iys_code, brands=brands,
                       db_path=args.db, batch_delay=args.batch_delay, pull_lag=args.pull_lag,
                       access_ttl=args.access_ttl, refresh_ttl=args.refresh_ttl,
                       token_limit=args.token_limit or None, rate_limit_per_second=args.rate_limit or None,
                       allow_http_push=not args.https_push_only, fault_delay=args.fault_delay)
    server = SimulatorServer(sim, host=args.host, port=args.port, verbose=args.verbose)
    print(f'İYS simulator on http://{args.host}:{args.port}  iysCode={sim.iys_code} brands={list(sim.brands)} '
          f'user={sim.username}  (control API: /_sim/state)', flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == '__main__':
    sys.exit(main())
