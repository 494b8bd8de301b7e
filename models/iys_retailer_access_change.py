# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
"""A request to give dealers access to consents, or to remove it (what the dealer access wizard
records): who asked, when, why, for which consents; recorded at once when small, in the
background (a scheduled action with progress) when large, then sent by the access queue."""
import logging

from odoo import api, fields, models
from odoo.exceptions import AccessError
from odoo.tools import SQL

from .iys_selections import CHANNEL_SELECTION
from .iys_sync_common import commit

_logger = logging.getLogger(__name__)

#: changes of more consents than this are recorded in the background
BACKGROUND_THRESHOLD = 1000
#: consents recorded per chunk (one transaction each)
CHUNK_SIZE = 1000

CHANGE_STATES = [
    ("to_record", "Being recorded"),
    ("recorded", "Recorded"),
    ("error", "Failed"),
]


class IysRetailerAccessChange(models.Model):
    _name = "iys.retailer.access.change"
    _description = "İYS Dealer Access Request"
    _order = "id desc"

    name = fields.Char(compute="_compute_name")
    brand_id = fields.Many2one("iys.brand", required=True, ondelete="restrict", index=True, readonly=True)
    company_id = fields.Many2one(related="brand_id.company_id", store=True, index=True)
    channel = fields.Selection(CHANNEL_SELECTION, readonly=True, help="Empty: every channel.")
    operation = fields.Selection([("add", "Give access"), ("remove", "Remove access")], required=True,
                                 readonly=True)
    retailer_ids = fields.Many2many("iys.retailer", string="Dealers", readonly=True)
    scope = fields.Selection([("all", "All consents of the brand"), ("selected", "Selected consents")],
                             required=True, readonly=True)
    consent_id_list = fields.Json(readonly=True)
    user_id = fields.Many2one("res.users", string="Requested by", required=True, readonly=True,
                              default=lambda self: self.env.uid)
    note = fields.Text("Reason", readonly=True)
    state = fields.Selection(CHANGE_STATES, required=True, default="to_record", index=True, readonly=True)
    total = fields.Integer("Consents", readonly=True)
    last_consent_id = fields.Integer(readonly=True)
    processed = fields.Integer("Consents looked at", readonly=True)
    changed_count = fields.Integer("Consents changed", readonly=True)
    unchanged_count = fields.Integer("Already so", readonly=True)
    error_text = fields.Text("Errors", readonly=True)
    queue_ids = fields.One2many("iys.retailer.access.queue", "change_id", string="Changes for İYS")
    progress = fields.Float(compute="_compute_progress")
    pending_count = fields.Integer(compute="_compute_queue_counts", string="Waiting for İYS")
    done_count = fields.Integer(compute="_compute_queue_counts", string="Confirmed by İYS")
    failed_count = fields.Integer(compute="_compute_queue_counts", string="Refused by İYS")

    @api.depends("operation", "retailer_ids", "brand_id")
    def _compute_name(self):
        ops = dict(self._fields["operation"]._description_selection(self.env))
        for change in self:
            change.name = "%s: %s (%s)" % (ops.get(change.operation, ""),
                                           ", ".join(change.retailer_ids.mapped("name")), change.brand_id.name or "")

    @api.depends("processed", "total")
    def _compute_progress(self):
        for change in self:
            change.progress = 100.0 * change.processed / change.total if change.total else 100.0

    def _compute_queue_counts(self):
        counts = {(c.id, s): n for c, s, n in self.env["iys.retailer.access.queue"].sudo()._read_group(
            [("change_id", "in", self.ids)], ["change_id", "state"], ["__count"])}
        for change in self:
            change.pending_count = counts.get((change.id, "pending"), 0)
            change.done_count = counts.get((change.id, "done"), 0)
            change.failed_count = counts.get((change.id, "failed"), 0)

    @api.model_create_multi
    def create(self, vals_list):
        if not self.env.su:
            raise AccessError(self.env._("Dealer access requests are made with the Dealer access wizard."))
        return super().create(vals_list)

    def write(self, vals):
        if not self.env.su:
            raise AccessError(self.env._("Dealer access requests are written by the system only."))
        return super().write(vals)

    # ------------------------------------------------------------------------------------------
    def _iys_domain(self):
        self.ensure_one()
        domain = [("brand_id", "=", self.brand_id.id)]
        if self.channel:
            domain.append(("channel", "=", self.channel))
        if self.scope == "selected":
            domain.append(("id", "in", self.consent_id_list or []))
        return domain

    def _iys_record_chunk(self, size=CHUNK_SIZE):
        """Record the next chunk of consents (as the user who asked); True when consents remain."""
        self.ensure_one()
        change = self.sudo()
        Consent = self.env["iys.consent"].with_user(change.user_id).with_company(change.company_id)
        consents = Consent.sudo().search(change._iys_domain() + [("id", ">", change.last_consent_id)],
                                         order="id", limit=size)
        if not consents:
            change.write({"state": "recorded", "processed": change.total})
            return False
        dealers = change.retailer_ids
        kwargs = {"add": dealers} if change.operation == "add" else {"remove": dealers}
        report = Consent._iys_record_access_changes(consents.with_env(Consent.env), origin="wizard",
                                                    note=change.note, change=change, **kwargs)
        errors = "\n".join(filter(None, [change.error_text, *report["errors"][:20]]))
        change.write({
            "last_consent_id": consents[-1].id, "processed": change.processed + len(consents),
            "changed_count": change.changed_count + len(report["changed"]),
            "unchanged_count": change.unchanged_count + report["unchanged"],
            "error_text": errors or False,
        })
        if len(consents) < size:
            change.write({"state": "recorded", "processed": change.total})
            return False
        return True

    def _iys_run(self):
        """Record every chunk now (a small change, or the tests)."""
        for change in self:
            while change._iys_record_chunk():
                pass

    @api.model
    def _cron_iys_access_record(self):
        """İYS: record large dealer access changes, chunk by chunk (one transaction each)."""
        Cron = self.env["ir.cron"]
        while True:
            ids = self.env["iys.outbox"]._iys_lock_rows(SQL(
                "SELECT id FROM iys_retailer_access_change WHERE state = 'to_record' ORDER BY id LIMIT 1 "
                "FOR UPDATE SKIP LOCKED"))
            if not ids:
                break
            change = self.sudo().browse(ids)
            try:
                more = change._iys_record_chunk()
            except AccessError as exc:
                change.write({"state": "error", "error_text": exc.args[0]})
                more = False
            processed, total = change.processed, change.total
            commit(self.env)
            Cron._notify_progress(done=processed, remaining=max(total - processed, 0))
            if more:
                # leave the rest to the next call of this cron (the framework calls again while
                # work remains), so progress is reported and no transaction grows too long
                break
        self.env.ref("l10n_tr_iys.ir_cron_iys_access_send")._trigger()

    def action_view_queue(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Changes for İYS"),
            "res_model": "iys.retailer.access.queue",
            "view_mode": "list,form",
            "domain": [("change_id", "=", self.id)],
            "context": {"create": False},
        }
