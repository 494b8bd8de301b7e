# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
from odoo import api, models


class MailBlacklist(models.Model):
    """An address put on the e-mail blacklist, by any path (create, ``_add``, ``action_add``, the
    unsubscribe pages, a reactivated archived entry), is an İYS refusal (RET) for e-mail
    (EPOSTA). Removing it records nothing: a consent must be given explicitly."""

    _inherit = "mail.blacklist"

    @api.model_create_multi
    def create(self, vals_list):
        # mail.blacklist.create returns existing entries for known addresses (without reactivating
        # them): only the active ones are blacklisted.
        records = super().create(vals_list)
        records.filtered("active")._iys_record_refusals()
        return records

    def write(self, vals):
        reactivated = self.filtered(lambda r: not r.active) if vals.get("active") else self.browse()
        result = super().write(vals)
        reactivated.filtered("active")._iys_record_refusals()
        return result

    def _iys_record_refusals(self):
        if not self:
            return []
        return self.env["iys.consent"]._iys_record_optout("EPOSTA", self.mapped("email"))
