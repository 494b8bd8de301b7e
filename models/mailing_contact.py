# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
from odoo import api, fields, models


class MailingContact(models.Model):
    _name = "mailing.contact"
    _inherit = ["mailing.contact", "iys.consent.mixin"]

    # email_normalized is not precomputed on mailing contacts, so neither can this be.
    iys_recipient_type = fields.Selection(precompute=False)

    @api.depends("email_normalized")
    def _compute_iys_recipient_type(self):
        # A mailing contact has no partner: it takes the type of a contact with the same address.
        emails = [e for e in self.mapped("email_normalized") if e]
        partner_types = {}
        if emails:
            for partner in self.env["res.partner"].sudo().search([("email_normalized", "in", emails)]):
                partner_types.setdefault(partner.email_normalized, partner.iys_recipient_type)
        for contact in self:
            contact.iys_recipient_type = partner_types.get(contact.email_normalized) or "BIREYSEL"
