# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
from odoo import api, fields, models
from odoo.exceptions import UserError

from ..models.iys_retailer_access_change import BACKGROUND_THRESHOLD
from ..models.iys_selections import CHANNEL_SELECTION


class IysRetailerAccessWizard(models.TransientModel):
    """Give dealers access to consents, or remove it: all consents of a brand (and channel), or
    the consents selected in the list. Opened from a dealer's form (Action menu) and from the
    consents list (bulk action). Small changes are recorded at once, large ones in the
    background with progress; either way İYS gets them through the access queue."""

    _name = "iys.retailer.access.wizard"
    _description = "Give or remove dealer access to consents"

    operation = fields.Selection([("add", "Give access"), ("remove", "Remove access")], required=True,
                                 default="add")
    brand_id = fields.Many2one("iys.brand", required=True)
    channel = fields.Selection(CHANNEL_SELECTION, help="Empty: every channel.")
    scope = fields.Selection([("all", "All consents of the brand"), ("selected", "Selected consents")],
                             required=True, default="all")
    consent_ids = fields.Many2many("iys.consent", string="Consents")
    retailer_ids = fields.Many2many(
        "iys.retailer", string="Dealers", required=True,
        domain="[('brand_id', '=', brand_id), ('sync_state', '=', 'registered'), ('status', '=', 'active')]",
    )
    note = fields.Text("Reason", help="Why (e.g. the dealership contract): kept on every movement.")
    consent_count = fields.Integer(compute="_compute_consent_count", string="Consents concerned")

    @api.model
    def default_get(self, fields_list):
        values = super().default_get(fields_list)
        context = self.env.context
        if context.get("active_model") == "iys.retailer" and context.get("active_ids"):
            dealers = self.env["iys.retailer"].browse(context["active_ids"])
            values.update({"retailer_ids": [(6, 0, dealers.ids)], "brand_id": dealers[:1].brand_id.id,
                           "scope": "all"})
        elif context.get("active_model") == "iys.consent" and context.get("active_ids"):
            consents = self.env["iys.consent"].browse(context["active_ids"])
            values.update({"consent_ids": [(6, 0, consents.ids)], "brand_id": consents[:1].brand_id.id,
                           "scope": "selected"})
        return values

    def _domain(self):
        self.ensure_one()
        domain = [("brand_id", "=", self.brand_id.id)]
        if self.channel:
            domain.append(("channel", "=", self.channel))
        if self.scope == "selected":
            domain.append(("id", "in", self.consent_ids.ids))
        return domain

    @api.depends("brand_id", "channel", "scope", "consent_ids")
    def _compute_consent_count(self):
        for wizard in self:
            wizard.consent_count = self.env["iys.consent"].search_count(wizard._domain()) if wizard.brand_id else 0

    def action_apply(self):
        self.ensure_one()
        Consent = self.env["iys.consent"]
        # the same check the ledger makes, before anything is written
        Consent._iys_check_may_change_access(self.brand_id)
        if not self.retailer_ids:
            raise UserError(self.env._("Choose at least one dealer."))
        if self.scope == "selected" and (self.consent_ids.brand_id - self.brand_id):
            raise UserError(self.env._(
                "The selected consents belong to several brands: dealers belong to one brand; select the consents "
                "of one brand."))
        ids = Consent.search(self._domain(), order="id").ids
        if not ids:
            raise UserError(self.env._("No consent matches: nothing to change."))
        change = self.env["iys.retailer.access.change"].sudo().create({
            "brand_id": self.brand_id.id, "channel": self.channel or False, "operation": self.operation,
            "retailer_ids": [(6, 0, self.retailer_ids.ids)], "scope": self.scope,
            "consent_id_list": ids if self.scope == "selected" else False,
            "user_id": self.env.uid, "note": self.note or False, "total": len(ids),
        })
        if len(ids) > BACKGROUND_THRESHOLD:
            self.env.ref("l10n_tr_iys.ir_cron_iys_access_record").sudo()._trigger()
            message = self.env._(
                "%(count)s consents: the change is recorded in the background (Dealer access requests shows its "
                "progress), then sent to İYS.", count=len(ids))
        else:
            change.with_env(self.env)._iys_run()
            self.env.ref("l10n_tr_iys.ir_cron_iys_access_send").sudo()._trigger()
            message = self.env._(
                "%(changed)s consents changed, %(unchanged)s already so; İYS gets the changes with the next run of "
                "the scheduled action.", changed=change.changed_count, unchanged=change.unchanged_count)
            if change.error_text:
                message += "\n" + change.error_text
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": self.env._("Dealer access"),
                "message": message,
                "type": "warning" if change.error_text else "success",
                "sticky": False,
                "next": {"type": "ir.actions.act_window", "res_model": "iys.retailer.access.change",
                         "res_id": change.id, "views": [[False, "form"]]},
            },
        }
