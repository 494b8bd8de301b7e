# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError

from ..models.iys_selections import CHANNEL_SELECTION

#: the source of a consent confirmed after the company asked: the channel that carried the request
REQUEST_SOURCES = {"MESAJ": "HS_MESAJ", "ARAMA": "HS_MESAJ", "EPOSTA": "HS_EPOSTA"}


class IysConsentRequestWizard(models.TransientModel):
    """"Ask to confirm": send a contact a code by SMS or a link by e-mail; only the person's
    confirmation records the consent (double opt-in)."""

    _name = "iys.consent.request.wizard"
    _description = "Ask a contact to confirm a consent"

    partner_id = fields.Many2one("res.partner", string="Contact", required=True, readonly=True)
    company_id = fields.Many2one("res.company", required=True, readonly=True)
    brand_id = fields.Many2one("iys.brand", required=True, domain="[('company_id', '=', company_id)]")
    channel = fields.Selection(CHANNEL_SELECTION, required=True, default="EPOSTA")
    address = fields.Char(compute="_compute_address", string="Sent to",
                          help="The code goes by SMS to the contact's number, the link by e-mail to its address.")
    consent_text_id = fields.Many2one(
        "iys.consent.text", string="Consent text", compute="_compute_consent_text_id", store=True, readonly=False,
        domain="[('brand_id', '=', brand_id), ('channel', '=', channel), ('state', '=', 'active')]",
        help="The text the person agrees to; the version in use for the brand, channel and the contact's language.",
    )
    consent_id = fields.Many2one("iys.consent", string="Consent on record", compute="_compute_consent_id")
    already_allowed = fields.Boolean(
        "Already allowed", compute="_compute_consent_id",
        help="The ledger already holds a consent (ONAY) for this brand, channel and address.",
    )
    already_allowed_note = fields.Char("Consent already on record", compute="_compute_consent_id")

    @api.model
    def default_get(self, fields_list):
        values = super().default_get(fields_list)
        partner_id = self.env.context.get("default_partner_id") or (
            self.env.context.get("active_id") if self.env.context.get("active_model") == "res.partner" else None
        )
        if partner_id:
            partner = self.env["res.partner"].browse(partner_id)
            partner.check_access("read")
            company = partner._iys_company()
            values.update(partner_id=partner.id, company_id=company.id)
            brand = company.sudo().iys_default_brand_id
            if brand:
                values["brand_id"] = brand.id
            if self.env.context.get("iys_channel"):
                values["channel"] = self.env.context["iys_channel"]
            else:
                values["channel"] = self._iys_default_channel(partner, brand)
        return values

    @api.model
    def _iys_default_channel(self, partner, brand):
        """E-mail, else SMS: the first the contact has an address for and has not consented to yet
        (asking for a consent already on record is offered only when chosen, with a warning)."""
        candidates = [channel for channel in ("EPOSTA", "MESAJ")
                      if partner._iys_addresses(channel).get(partner.id)]
        for channel in candidates:
            if not brand or not self._iys_consent_on_record(partner, brand, channel).status == "ONAY":
                return channel
        return candidates[0] if candidates else "EPOSTA"

    @api.model
    def _iys_consent_on_record(self, partner, brand, channel, address=None):
        """The ledger's record of *partner*'s address for *brand* and *channel* (or an empty one)."""
        if address is None:
            found = partner._iys_addresses(channel).get(partner.id)
            address = found[0] if found else None
        if not (address and brand):
            return self.env["iys.consent"]
        return self.env["iys.consent"].search([
            ("brand_id", "=", brand.id), ("channel", "=", channel),
            ("recipient_type", "=", partner.iys_recipient_type or "BIREYSEL"), ("address", "=", address),
        ], limit=1)

    @api.depends("partner_id", "channel")
    def _compute_address(self):
        for wizard in self:
            found = wizard.partner_id._iys_addresses(wizard.channel).get(wizard.partner_id.id) if (
                wizard.partner_id and wizard.channel) else None
            wizard.address = found[0] if found else False

    @api.depends("brand_id", "channel", "address")
    def _compute_consent_id(self):
        channels = dict(self._fields["channel"]._description_selection(self.env))
        for wizard in self:
            consent = self._iys_consent_on_record(wizard.partner_id, wizard.brand_id, wizard.channel,
                                                  address=wizard.address or False)
            wizard.consent_id = consent
            wizard.already_allowed = consent.status == "ONAY"
            wizard.already_allowed_note = self.env._(
                "%(contact)s has already consented to %(channel)s from %(brand)s (ONAY on record for %(address)s): "
                "there is no need to ask. If you send anyway, they are asked to confirm once more.",
                contact=wizard.partner_id.display_name, channel=channels.get(wizard.channel),
                brand=wizard.brand_id.name, address=wizard.address,
            ) if wizard.already_allowed else False

    @api.depends("brand_id", "channel", "partner_id")
    def _compute_consent_text_id(self):
        for wizard in self:
            wizard.consent_text_id = self.env["iys.consent.text"]._iys_current_text(
                wizard.brand_id, wizard.channel, wizard.partner_id.lang
            ) if wizard.brand_id and wizard.channel else False

    def action_send(self):
        self.ensure_one()
        if not self.env.user.has_group("l10n_tr_iys.group_iys_user"):
            raise AccessError(self.env._("Only İYS users may ask people to confirm their consent."))
        if not self.address:
            if self.channel == "EPOSTA":
                raise UserError(self.env._("%(contact)s has no valid e-mail address: add one on the contact first.",
                                           contact=self.partner_id.display_name))
            raise UserError(self.env._("%(contact)s has no valid mobile number: add one on the contact first.",
                                       contact=self.partner_id.display_name))
        request = self.env["iys.consent.request"]._iys_request([{
            "brand_id": self.brand_id.id, "channel": self.channel,
            "recipient_type": self.partner_id.iys_recipient_type or "BIREYSEL",
            "address": self.address, "partner_id": self.partner_id.id,
            "consent_text_id": self.consent_text_id.id or False,
            "source": REQUEST_SOURCES[self.channel], "origin": "request",
            "lang": self.partner_id.lang or False,
        }])
        if request.state != "sent":
            raise UserError(self.env._("The request could not be sent: %(error)s",
                                       error=request.error_message or self.env._("unknown error")))
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "success",
                "title": self.env._("Confirmation requested"),
                "message": (
                    self.env._("%(contact)s received a link by e-mail. The consent is recorded when they confirm.",
                               contact=self.partner_id.display_name)
                    if self.channel == "EPOSTA" else
                    self.env._("%(contact)s received a code by SMS. The consent is recorded when they confirm.",
                               contact=self.partner_id.display_name)
                ),
                "next": {"type": "ir.actions.act_window_close"},
            },
        }
