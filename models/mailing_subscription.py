# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
from odoo import api, models

from .iys_consent import optout_from_context


class MailingSubscription(models.Model):
    """A mailing-list opt-out made by the recipient through an unsubscribe page (the controllers
    put ``iys_optout`` with its channel in the context) is an İYS refusal (RET) of that channel.
    Opt-outs edited in the back end are list housekeeping and record nothing."""

    _inherit = "mailing.subscription"

    @api.model_create_multi
    def create(self, vals_list):
        subscriptions = super().create(vals_list)
        subscriptions.filtered("opt_out")._iys_record_refusals()
        return subscriptions

    def write(self, vals):
        opted_out = self.filtered(lambda s: not s.opt_out) if vals.get("opt_out") else self.browse()
        result = super().write(vals)
        opted_out.filtered("opt_out")._iys_record_refusals()
        return result

    def _iys_record_refusals(self):
        channel = optout_from_context(self.env).get("channel")
        if not self or not channel:
            return []
        contacts = self.contact_id
        column = contacts._iys_address_column(channel)
        addresses = [address for address in contacts.mapped(column) if address]
        return self.env["iys.consent"]._iys_record_optout(channel, addresses)
