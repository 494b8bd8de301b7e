# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
from odoo import api, fields, models
from odoo.exceptions import UserError

from ..models import iys_policy


class IysGateComposerMixin(models.AbstractModel):
    """What the mass e-mail and SMS composers share for the send gate: the brand whose consents
    are checked when no mailing is given, and the manager-only "transactional" declaration."""

    _name = "iys.gate.composer.mixin"
    _description = "İYS send gate on a mass composer"

    iys_transactional = fields.Boolean(
        string="Transactional (İYS)",
        help="Only İYS managers: send without checking İYS consent, because these messages are tied "
        "to an existing service (delivery, billing, account notice) and carry no advertising.",
    )
    iys_brand_id = fields.Many2one(
        "iys.brand",
        string="İYS brand",
        default=lambda self: self.env["iys.send.gate"]._iys_default_brand(),
        help="The brand whose İYS consents are checked when no mailing is given.",
    )
    iys_retailer_id = fields.Many2one(
        "iys.retailer",
        string="On behalf of dealer",
        default=lambda self: self.env["iys.send.gate"]._iys_default_sending_dealer(),
        domain=lambda self: iys_policy.DEALER_MAY_SEND_DOMAIN,
        help="Sent on behalf of this dealer (when no mailing is given): individuals are reached only "
        "through consents the dealer may use.",
    )
    iys_gate_applies = fields.Boolean(compute="_compute_iys_gate_applies")

    def _compute_iys_gate_applies(self):
        raise NotImplementedError()

    @api.model_create_multi
    def create(self, vals_list):
        if any(vals.get("iys_transactional") for vals in vals_list):
            self.env["iys.send.gate"]._iys_check_transactional_right()
        self.env["iys.send.gate"]._iys_check_brand_choice(vals_list)
        self.env["iys.send.gate"]._iys_check_dealer_choice(vals_list)
        return super().create(vals_list)

    def write(self, vals):
        if vals.get("iys_transactional"):
            self.env["iys.send.gate"]._iys_check_transactional_right()
        self.env["iys.send.gate"]._iys_check_brand_choice([vals])
        self.env["iys.send.gate"]._iys_check_dealer_choice([vals])
        return super().write(vals)

    def _iys_composer_dealer(self, mailing):
        """The dealer the gate checks for: the mailing's, else this composer's. A dealer user sends
        only on behalf of a dealer (theirs: they can read no other)."""
        self.ensure_one()
        dealer = mailing.sudo().iys_retailer_id if mailing else self.iys_retailer_id.sudo()
        if not dealer and not self.env.su and self.env["iys.send.gate"]._iys_is_dealer_only():
            raise UserError(self.env._(
                'As a dealer user you send on behalf of your dealer: choose it in "On behalf of dealer".'
            ))
        return dealer
