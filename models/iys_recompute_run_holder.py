# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
from odoo import fields, models


class IysRecomputeRunHolder(models.Model):
    """The records a background recompute of the pending policy goes through, listed once when it
    starts (``iys.recompute.run._iys_list_holders``): a chunk reads the next ids of its list by the
    primary key instead of finding the contacts waiting for İYS among all of them again. Removed
    when the run ends."""

    _name = "iys.recompute.run.holder"
    _description = "Record listed for a background recompute of İYS contact states"
    _log_access = False
    _order = "run_id, res_model, res_id"

    run_id = fields.Many2one("iys.recompute.run", required=True, ondelete="cascade", readonly=True)
    res_model = fields.Char("Model", required=True, readonly=True)
    res_id = fields.Many2oneReference("Record", model_field="res_model", required=True, readonly=True)

    _sql_constraints = [
        # the chunks read the list in this order, from the run's resume point
        ("run_model_record_uniq", "unique(run_id, res_model, res_id)", "A record is listed once per run."),
    ]
