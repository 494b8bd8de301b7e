# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
from odoo import api, fields, models
from odoo.exceptions import ValidationError


class IysConsentWizardAddress(models.TransientModel):
    """One address of the contact in the consent wizard (a contact may have two numbers)."""

    _name = "iys.consent.wizard.address"
    _description = "Address in the İYS consent wizard"

    wizard_id = fields.Many2one("iys.consent.wizard", required=True, ondelete="cascade")
    selected = fields.Boolean("Record", default=True)
    label = fields.Char("Field")
    raw = fields.Char("Address", required=True)
    address = fields.Char("Sent to İYS as", compute="_compute_address")
    error = fields.Char("Problem", compute="_compute_address")
    current_status = fields.Char("On record", compute="_compute_address")

    @api.depends("raw", "wizard_id.channel", "wizard_id.brand_id", "wizard_id.recipient_type")
    def _compute_address(self):
        Consent = self.env["iys.consent"]
        for line in self:
            wizard = line.wizard_id
            line.address = line.error = line.current_status = False
            if not line.raw or not wizard.channel:
                continue
            try:
                line.address = Consent._iys_normalize(wizard.channel, line.raw)
            except ValidationError as exc:
                line.error = exc.args[0]
                continue
            consent = Consent.search([
                ("brand_id", "=", wizard.brand_id.id), ("channel", "=", wizard.channel),
                ("recipient_type", "=", wizard.recipient_type), ("address", "=", line.address),
            ], limit=1) if wizard.brand_id else Consent
            if consent:
                status = dict(consent._fields["status"]._description_selection(self.env))[consent.status]
                sync = dict(consent._fields["sync_state"]._description_selection(self.env))[consent.sync_state]
                line.current_status = f"{status} · {sync}"
            else:
                line.current_status = self.env._("Nothing on record")
