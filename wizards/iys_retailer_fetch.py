# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
"""Fetch a brand's dealers from İYS (paged list) into Odoo."""
from odoo import api, fields, models
from odoo.exceptions import UserError

from ..iyslib.errors import IysError
from ..models.iys_sync_common import error_code_and_text


class IysRetailerFetch(models.TransientModel):
    """Which brands' dealers to fetch from İYS, and whether passive and suspended ones too."""

    _name = "iys.retailer.fetch"
    _description = "Fetch dealers from İYS"

    brand_ids = fields.Many2many(
        "iys.brand", string="Brands", required=True, default=lambda self: self._default_brands(),
        help="The brands whose dealers are fetched from İYS.",
    )
    include_all = fields.Boolean(
        "Also passive and suspended dealers", default=True,
        help="İYS lists only active dealers unless asked for all. Fetching all also marks the registered "
        "dealers İYS no longer knows as deleted on İYS.",
    )

    @api.model
    def _default_brands(self):
        brand = self.env["iys.brand"].browse(self.env.context.get("default_brand_id"))
        if brand.exists():
            return brand
        return self.env["iys.brand"].search([("company_id", "in", self.env.companies.ids)])

    def action_fetch(self):
        self.ensure_one()
        Dealer = self.env["iys.retailer"]
        Dealer._iys_check_dealer_manager()
        lines, failed = [], False
        for brand in self.brand_ids:
            try:
                stats = Dealer._iys_fetch_brand(brand, include_all=self.include_all)
            except IysError as exc:
                code, text = error_code_and_text(exc, brand.account_id._iys_lang())
                failed = True
                error = f"{code}: {text}" if code else text
                lines.append(self.env._("%(brand)s: İYS did not answer: %(error)s", brand=brand.display_name,
                                        error=error))
                continue
            except UserError as exc:
                failed = True
                lines.append(f"{brand.display_name}: {exc.args[0]}")
                continue
            line = self.env._(
                "%(brand)s: %(created)s new, %(updated)s updated, %(unchanged)s unchanged",
                brand=brand.display_name, **stats,
            )
            if stats["gone"]:
                line += self.env._(", %(gone)s no longer on İYS", gone=stats["gone"])
            lines.append(line)
        return {
            "type": "ir.actions.client", "tag": "display_notification",
            "params": {
                "title": self.env._("Fetch dealers from İYS"), "message": "\n".join(lines),
                "type": "warning" if failed else "success", "sticky": failed,
                "next": {"type": "ir.actions.act_window_close"},
            },
        }
