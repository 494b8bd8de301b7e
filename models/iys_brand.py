# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
from odoo import api, fields, models
from odoo.exceptions import ValidationError


class IysBrand(models.Model):
    """A brand registered under an İYS account; consents are kept per brand."""

    _name = "iys.brand"
    _description = "İYS Brand"
    _order = "account_id, sequence, id"

    name = fields.Char(required=True)
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True)
    code = fields.Char(
        string="Brand code",
        required=True,
        help="The İYS brand code (brandCode), an integer. The master brand's code equals the İYS code.",
    )
    account_id = fields.Many2one("iys.account", required=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(related="account_id.company_id", store=True, index=True)
    is_default = fields.Boolean(
        string="Default brand",
        help="The brand whose consents the contact form shows and mailings use unless told otherwise.",
    )

    _sql_constraints = [
        ("code_account_uniq", "unique(account_id, code)", "A brand code may appear only once per İYS account."),
    ]

    @api.model_create_multi
    def create(self, vals_list):
        before = self.env["res.company"]._iys_default_brands()
        brands = super().create(vals_list)
        self.env["res.company"]._iys_recompute_if_default_brand_changed(before)
        return brands

    def write(self, vals):
        if not {"is_default", "active", "account_id", "sequence"}.intersection(vals):
            return super().write(vals)
        before = self.env["res.company"]._iys_default_brands()
        result = super().write(vals)
        self.env["res.company"]._iys_recompute_if_default_brand_changed(before)
        return result

    def unlink(self):
        before = self.env["res.company"]._iys_default_brands()
        result = super().unlink()
        self.env["res.company"]._iys_recompute_if_default_brand_changed(before)
        return result

    @api.constrains("code")
    def _check_code(self):
        for brand in self:
            if not (brand.code or "").isdigit():
                raise ValidationError(
                    self.env._("The brand code must be a whole number, not “%(code)s”.", code=brand.code)
                )

    @api.constrains("is_default", "account_id")
    def _check_single_default(self):
        for brand in self.filtered("is_default"):
            others = brand.account_id.brand_ids.filtered(lambda b, brand=brand: b.is_default and b != brand)
            if others:
                raise ValidationError(
                    self.env._("Only one default brand per İYS account: “%(brand)s” is already the default.",
                      brand=others[0].name)
                )

    @api.depends("name", "code")
    def _compute_display_name(self):
        for brand in self:
            brand.display_name = f"{brand.name} ({brand.code})" if brand.code else brand.name
