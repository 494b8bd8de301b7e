# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
from odoo import api, fields, models


class MailingContact(models.Model):
    _name = "mailing.contact"
    _inherit = ["mailing.contact", "iys.consent.mixin"]
    # its type follows a contact whose own type is guarded
    _iys_guard_derived_recipient_type = False

    # email_normalized is not precomputed on mailing contacts, so neither can this be.
    iys_recipient_type = fields.Selection(precompute=False)

    @api.depends("email_normalized", "iys_recipient_type_manual")
    def _compute_iys_recipient_type(self):
        # A mailing contact has no partner: it takes the type of a contact with the same address.
        todo = self.filtered(lambda c: not (c.iys_recipient_type_manual and c.iys_recipient_type))
        emails = [e for e in todo.mapped("email_normalized") if e]
        partner_types = {}
        if emails:
            for partner in self.env["res.partner"].sudo().search([("email_normalized", "in", emails)]):
                partner_types.setdefault(partner.email_normalized, partner.iys_recipient_type)
        for contact in todo:
            contact.iys_recipient_type = partner_types.get(contact.email_normalized) or "BIREYSEL"

    def _iys_default_recipient_type(self):
        self.ensure_one()
        partner = self.env["res.partner"].sudo().search([("email_normalized", "=", self.email_normalized)], limit=1) \
            if self.email_normalized else None
        return (partner and partner.iys_recipient_type) or "BIREYSEL"

    def _iys_default_recipient_type_reason(self):
        self.ensure_one()
        if self.email_normalized and self.env["res.partner"].sudo().search_count(
            [("email_normalized", "=", self.email_normalized)], limit=1
        ):
            return self.env._("Same as the contact with this e-mail address.")
        return super()._iys_default_recipient_type_reason()
