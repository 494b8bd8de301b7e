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
        # A mailing contact has no partner: it takes the type of the contacts with the same address.
        todo = self.filtered(lambda c: not (c.iys_recipient_type_manual and c.iys_recipient_type))
        types = self._iys_partner_types(todo.mapped("email_normalized"))
        for contact in todo:
            contact.iys_recipient_type = types.get(contact.email_normalized) or "BIREYSEL"

    @api.model
    def _iys_partner_types(self, emails):
        """{e-mail: type} of the contacts holding these addresses, shared ones or the current
        company's (another company's contacts say nothing here): a merchant only when every such
        contact is one (the strict choice when they disagree)."""
        emails = [e for e in emails if e]
        types = {}
        if emails:
            partners = self.env["res.partner"].sudo().search([
                ("email_normalized", "in", emails), ("company_id", "in", [False, self.env.company.id]),
            ])
            for partner in partners:
                previous = types.get(partner.email_normalized)
                rtype = partner.iys_recipient_type or "BIREYSEL"
                types[partner.email_normalized] = rtype if previous in (None, rtype) else "BIREYSEL"
        return types

    def _iys_default_recipient_type(self):
        self.ensure_one()
        return self._iys_partner_types([self.email_normalized]).get(self.email_normalized) or "BIREYSEL"

    def _iys_default_recipient_type_reason(self):
        self.ensure_one()
        if self.email_normalized in self._iys_partner_types([self.email_normalized]):
            return self.env._("Same as the contact with this e-mail address.")
        return super()._iys_default_recipient_type_reason()
