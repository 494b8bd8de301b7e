# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError


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

    @api.depends("raw", "wizard_id.channel", "wizard_id.brand_id", "wizard_id.recipient_type", "wizard_id.mode",
                 "wizard_id.source", "wizard_id.consent_date")
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
            line.error = line._iys_problem(consent)

    def _iys_problem(self, consent):
        """What the ledger would refuse in this movement (same İYS rules, nothing written), shown
        on the row before the user confirms; False when it would be recorded."""
        wizard = self.wizard_id
        if not (wizard.brand_id and wizard.mode and wizard.source and wizard.consent_date):
            return False
        movement = {
            "brand_id": wizard.brand_id.id, "channel": wizard.channel, "recipient_type": wizard.recipient_type,
            "address": self.address, "status": "ONAY" if wizard.mode == "consent" else "RET",
            "source": wizard.source, "consent_date": wizard.consent_date,
        }
        try:
            self.env["iys.consent"]._iys_prepare_local(consent, movement, fields.Datetime.now(), "wizard")
        except (ValidationError, UserError) as exc:
            message = exc.args[0]
            # the ledger names the address and channel; the row already does
            prefix = f"{self.address} ("
            if message.startswith(prefix) and "): " in message:
                message = message.split("): ", 1)[1]
            return message
        return False
