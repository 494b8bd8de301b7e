# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
"""18.0.1.1.0: an import's walk is split into address ranges (iys.consent.import.part), which now
keep its counts (the import's count fields are their sums).

Imports whose walk is over (dry run done, or imported) get one walked range carrying the counts
they had. A walk still in progress, or stopped during the walk, gets its ranges from the start:
its old resume point (channel first) means nothing in the new address order. Nothing is recorded
twice: a dry run is only walked again; an import's rows already recorded come out unchanged, or,
for an address with several rows in the file, as refused against the newer movement the ledger
now holds (H178 and the like, in the error report).
"""
from odoo import SUPERUSER_ID, api
from odoo.tools import SQL
from odoo.tools.sql import column_exists

COUNTS = ("walked", "valid", "invalid", "unchanged", "duplicate", "multi", "local_only", "partner_matched",
          "partner_created")


def migrate(cr, version):
    if not version or not all(column_exists(cr, "iys_consent_import", f"count_{name}") for name in COUNTS):
        return
    # the import's count_invalid adds the rows the file reading refused (count_parse_invalid)
    values = [
        SQL("GREATEST(COALESCE(i.count_invalid, 0) - COALESCE(i.count_parse_invalid, 0), 0)") if name == "invalid"
        else SQL("COALESCE(%s, 0)", SQL.identifier("i", f"count_{name}"))
        for name in COUNTS
    ]
    cr.execute(SQL(
        """INSERT INTO iys_consent_import_part (import_id, sequence, done, %s)
           SELECT i.id, 0, TRUE, %s
             FROM iys_consent_import i
            WHERE i.state IN ('checked', 'done')
              AND NOT EXISTS (SELECT 1 FROM iys_consent_import_part p WHERE p.import_id = i.id)""",
        SQL(", ").join(SQL.identifier(f"count_{name}") for name in COUNTS),
        SQL(", ").join(values),
    ))
    env = api.Environment(cr, SUPERUSER_ID, {})
    walks = env["iys.consent.import"].search([
        ("state", "in", ("checking", "importing", "failed")), ("phase", "in", ("check", "import")),
        ("part_ids", "=", False),
    ])
    for walk in walks:
        walk._iys_start_walk(walk.phase)
