# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
from odoo import fields, models


class IysRecomputeRunChunk(models.Model):
    """The chunks a background recompute of the pending policy goes through, listed once when it
    starts (``iys.recompute.run._iys_list_chunks``): each chunk reads its ids here instead of
    finding the contacts waiting for İYS among all the contacts again. One row per chunk (not per
    record: writing the list costs a few rows, not one per contact). Removed when the run ends."""

    _name = "iys.recompute.run.chunk"
    _description = "Chunk of a background recompute of İYS contact states"
    _log_access = False
    _order = "run_id, res_model, last_id"

    run_id = fields.Many2one("iys.recompute.run", required=True, ondelete="cascade", readonly=True)
    res_model = fields.Char("Model", required=True, readonly=True)
    last_id = fields.Integer("Last record id", required=True, readonly=True,
                             help="The run's resume point once this chunk is done.")
    res_ids = fields.Json("Record ids", required=True, readonly=True, help="In id order.")

    _sql_constraints = [
        # a chunk is found by the run's resume point: the next one after it
        ("run_model_last_uniq", "unique(run_id, res_model, last_id)", "A run lists a chunk once."),
    ]
