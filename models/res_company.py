# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
import contextlib

from odoo import api, fields, models


class ResCompany(models.Model):
    _inherit = "res.company"

    iys_account_id = fields.Many2one(
        "iys.account",
        string="İYS account",
        compute="_compute_iys_account_id",
        help="The first active İYS account of the company.",
    )
    iys_default_brand_id = fields.Many2one(
        "iys.brand",
        string="Default İYS brand",
        compute="_compute_iys_account_id",
    )
    iys_pending_policy = fields.Selection(
        [
            ("block", "Block until İYS confirms"),
            ("allow", "Allow once recorded locally"),
        ],
        string="Unconfirmed consents",
        default="block",
        required=True,
        help="What the send gate does with an individual's ONAY that is recorded in Odoo but not yet "
        "confirmed by İYS. İYS is the legal reference: until İYS has the consent, intermediaries "
        "(SMS and e-mail operators) may refuse the message and the sender carries the risk.",
    )
    iys_recompute_status = fields.Char(
        "İYS states recompute", compute="_compute_iys_recompute_status",
        help="Set while the stored İYS states of the company's contacts are recomputed in the background "
        "(after a change of the default brand, of an İYS account or of the policy for unconfirmed consents).",
    )

    def write(self, vals):
        changed = self.env["res.company"]
        if "iys_pending_policy" in vals:
            changed = self.filtered(lambda c: c.iys_pending_policy != vals["iys_pending_policy"])
        result = super().write(vals)
        if changed:
            # Only an individual's ONAY waiting for İYS reads the pending policy.
            self.env["iys.recompute.run"]._iys_recompute(changed, only_unconfirmed=True)
        return result

    @api.model
    def _iys_default_brands(self):
        """{company id: default brand id} of every company with an İYS account (archived ones too),
        read fresh: brands or accounts may just have changed in this transaction."""
        accounts = self.env["iys.account"].sudo().with_context(active_test=False).search([("company_id", "!=", False)])
        # A brand's sequence decides the default when none is marked: re-read the brands in order.
        accounts.invalidate_recordset(["brand_ids", "default_brand_id"])
        # the default brand is an ACTIVE account's: read it without the archived accounts' context
        companies = accounts.company_id.with_context(active_test=True)
        companies.invalidate_recordset(["iys_account_id", "iys_default_brand_id"])
        return {company.id: company.iys_default_brand_id.id for company in companies}

    @api.model
    @contextlib.contextmanager
    def _iys_watch_default_brands(self):
        """Around a change of brands or accounts: recompute the states of the companies whose
        default brand the change moved (nothing when the change fails)."""
        before = self._iys_default_brands()
        yield
        self._iys_recompute_if_default_brand_changed(before)

    @api.model
    def _iys_recompute_if_default_brand_changed(self, before):
        """After brands or accounts changed: recompute (in bulk) the states of the companies whose
        default brand is not the one of ``before`` any more."""
        after = self._iys_default_brands()
        changed = [cid for cid, brand in after.items() if before.get(cid) != brand]
        if changed:
            self.env["iys.recompute.run"]._iys_recompute(self.browse(changed))
        return changed

    def _compute_iys_recompute_status(self):
        runs = self.env["iys.recompute.run"]._iys_active_runs(self)
        for company in self:
            run = runs.get(company.id)
            company.iys_recompute_status = run._iys_progress_text() if run else False

    @api.depends_context("uid")
    def _compute_iys_account_id(self):
        accounts = self.env["iys.account"].sudo().search([("company_id", "in", self.ids)], order="sequence, id")
        for company in self:
            account = accounts.filtered(lambda a, company=company: a.company_id == company)[:1]
            company.iys_account_id = account
            company.iys_default_brand_id = account.default_brand_id
