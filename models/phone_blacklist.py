# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
from odoo import api, models


class PhoneBlacklist(models.Model):
    """A number put on the phone blacklist, by any path (create, ``add``/``_add``, ``action_add``,
    the SMS unsubscribe page, a reactivated archived entry), is an İYS refusal (RET) for SMS
    (MESAJ). Odoo's phone blacklist only governs SMS, so calls (ARAMA) are left alone: a refusal
    of calls is recorded explicitly. Removing a number records nothing: a consent must be given
    explicitly."""

    _inherit = "phone.blacklist"

    @api.model_create_multi
    def create(self, vals_list):
        # phone.blacklist.create reactivates archived entries itself (through write) and returns
        # the existing entries with the new ones: every active one it returns is blacklisted.
        records = super(PhoneBlacklist, self.with_context(iys_blacklist_create=True)).create(vals_list)
        records = records.with_env(self.env)
        records.filtered("active")._iys_record_refusals()
        return records

    def write(self, vals):
        reactivated = self.browse()
        if vals.get("active") and not self.env.context.get("iys_blacklist_create"):
            reactivated = self.filtered(lambda r: not r.active)
        result = super().write(vals)
        reactivated.filtered("active")._iys_record_refusals()
        return result

    def _iys_record_refusals(self):
        if not self:
            return []
        return self.env["iys.consent"]._iys_record_optout("MESAJ", self.mapped("number"))
