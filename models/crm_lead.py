# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
from odoo import api, fields, models


class CrmLead(models.Model):
    _name = "crm.lead"
    _inherit = ["crm.lead", "iys.consent.mixin"]
    # its type follows a contact whose own type is guarded
    _iys_guard_derived_recipient_type = False

    # it compares the lead's addresses with its contact's, and the lead's normalised e-mail and
    # phone are not precomputed: neither can this be
    iys_recipient_type = fields.Selection(precompute=False)

    @api.depends("partner_id.iys_recipient_type", "partner_id.email_normalized", "partner_id.phone_sanitized",
                 "email_normalized", "phone_sanitized", "iys_recipient_type_manual")
    def _compute_iys_recipient_type(self):
        return super()._compute_iys_recipient_type()

    def _iys_default_recipient_type(self):
        self.ensure_one()
        if self.partner_id.iys_recipient_type == "TACIR" and not self._iys_has_partner_addresses():
            # Linking a lead to a merchant must not make the lead's own address a merchant's: whoever
            # may edit a lead could otherwise message any address without consent.
            return "BIREYSEL"
        return self.partner_id.iys_recipient_type or "BIREYSEL"

    def _iys_has_partner_addresses(self):
        """Whether every address of the lead is one of its contact's (the contact's own type then holds)."""
        partner = self.partner_id
        return all(
            not own or own == theirs
            for own, theirs in ((self.email_normalized, partner.email_normalized),
                                (self.phone_sanitized, partner.phone_sanitized))
        )

    def _iys_default_recipient_type_reason(self):
        self.ensure_one()
        if self.partner_id.iys_recipient_type == "TACIR" and not self._iys_has_partner_addresses():
            return self.env._(
                "An individual by default: its e-mail or phone is not its merchant contact's (%(contact)s).",
                contact=self.partner_id.display_name,
            )
        if self.partner_id:
            return self.env._("Same as its contact %(contact)s.", contact=self.partner_id.display_name)
        return super()._iys_default_recipient_type_reason()
