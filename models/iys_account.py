# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
import os

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError

from ..iyslib import const

SIMULATOR_DEFAULT_URL = "http://127.0.0.1:8099"


def _default_simulator_url():
    # docker-compose.yml runs the simulator as another service and says where through this variable.
    return os.environ.get("IYS_SIMULATOR_URL") or SIMULATOR_DEFAULT_URL


class IysAccount(models.Model):
    """An İYS service-provider (HS) account of one company: where to talk to İYS and as whom.

    The password is stored in a field only İYS managers may read, and the form only ever
    shows a write-only input, so the secret never travels to a browser in clear.
    """

    _name = "iys.account"
    _description = "İYS Account"
    _order = "company_id, sequence, id"

    name = fields.Char(required=True)
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True)
    company_id = fields.Many2one(
        "res.company",
        required=True,
        default=lambda self: self.env.company,
        ondelete="cascade",
    )
    environment = fields.Selection(
        [
            ("simulator", "Local simulator"),
            ("sandbox", "İYS sandbox"),
            ("production", "İYS production"),
        ],
        required=True,
        default="simulator",
        help="Local simulator: the İYS simulator shipped with this module (no credentials needed).\n"
        "Sandbox: İYS's test environment.\nProduction: the live İYS.",
    )
    simulator_url = fields.Char(
        default=lambda self: _default_simulator_url(),
        help="Base URL of the local İYS simulator (python -m iyslib.simulator).",
    )
    base_url = fields.Char(compute="_compute_base_url")
    username = fields.Char(string="API user", groups="l10n_tr_iys.group_iys_manager")
    password = fields.Char(
        string="API password (stored)",
        groups="l10n_tr_iys.group_iys_manager",
        copy=False,
    )
    password_input = fields.Char(
        string="API password",
        compute="_compute_password_input",
        inverse="_inverse_password_input",
        groups="l10n_tr_iys.group_iys_manager",
        help="Write-only: type a new password to replace the stored one.",
    )
    password_set = fields.Boolean(compute="_compute_password_set", string="Password set")
    iys_code = fields.Char(
        string="İYS code",
        required=True,
        help="The İYS number of the service provider (HS), an integer.",
    )
    brand_ids = fields.One2many("iys.brand", "account_id", string="Brands")
    default_brand_id = fields.Many2one(
        "iys.brand",
        compute="_compute_default_brand_id",
        string="Default brand",
    )

    _sql_constraints = [
        (
            "iys_code_company_uniq",
            "unique(company_id, iys_code)",
            "An İYS code may be configured only once per company.",
        ),
    ]

    @api.model_create_multi
    def create(self, vals_list):
        before = self.env["res.company"]._iys_default_brands()
        accounts = super().create(vals_list)
        self.env["res.company"]._iys_recompute_if_default_brand_changed(before)
        return accounts

    def write(self, vals):
        if not {"active", "company_id", "sequence"}.intersection(vals):
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

    @api.depends("environment", "simulator_url")
    def _compute_base_url(self):
        for account in self:
            if account.environment == "simulator":
                account.base_url = (account.simulator_url or _default_simulator_url()).rstrip("/")
            else:
                account.base_url = const.ENVIRONMENTS.get(account.environment)

    def _compute_password_input(self):
        self.password_input = False

    def _inverse_password_input(self):
        for account in self:
            if account.password_input:
                account.sudo().password = account.password_input

    def _compute_password_set(self):
        for account in self:
            account.password_set = bool(account.sudo().password)

    @api.depends("brand_ids.is_default", "brand_ids.active")
    def _compute_default_brand_id(self):
        for account in self:
            brands = account.brand_ids.filtered("active")
            account.default_brand_id = brands.filtered("is_default")[:1] or brands[:1]

    @api.constrains("iys_code")
    def _check_iys_code(self):
        for account in self:
            if not (account.iys_code or "").isdigit():
                raise ValidationError(
                    self.env._("The İYS code must be a whole number, not “%(code)s”.", code=account.iys_code)
                )

    def _get_client_config(self, brand=None):
        """Plain configuration for the İYS library client (no Odoo objects inside)."""
        self.ensure_one()
        from ..iyslib.client import IysConfig  # noqa: PLC0415 - the HTTP client is loaded only to talk to İYS

        account = self.sudo()
        if account.environment != "simulator" and not (account.username and account.password):
            raise UserError(
                self.env._("The İYS account “%(name)s” has no API user or password.", name=account.name)
            )
        brand = brand or account.default_brand_id
        return IysConfig(
            base_url=account.base_url,
            username=account.username or "",
            password=account.password or "",
            iys_code=int(account.iys_code),
            brand_code=int(brand.code) if brand else int(account.iys_code),
        )
