# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
import ipaddress
import logging
import os
import secrets
import threading
import time
from datetime import timedelta
from urllib.parse import urlsplit

from markupsafe import Markup

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tools import SQL
from odoo.tools.misc import hmac as odoo_hmac

from ..iyslib import const
from ..iyslib.errors import IysError
from .iys_sync_common import commit, error_code_and_text, lang_of

_logger = logging.getLogger(__name__)

SIMULATOR_DEFAULT_URL = "http://127.0.0.1:8099"
#: path of the push endpoint (controllers/iys_push.py), completed with the account id
PUSH_PATH = "/l10n_tr_iys/push/%s"
#: İYS's fixed test payload sent when a push connection is registered
PUSH_TEST_BRAND = 121212
PUSH_TEST_RECIPIENT = "pushtest@iys.org.tr"
#: a push notification is answered within İYS's 5 seconds: apply at most this long, leave the rest to the pull
PUSH_APPLY_BUDGET = 3.0
PUSH_APPLY_CHUNK = 100
#: below this success ratio of the last 24 h the health summary warns (İYS itself acts below 70 %)
HEALTH_WARNING_RATIO = 0.8
IYS_WHITELIST_RATIO = 0.7
#: group nobody belongs to: fields restricted to it are read by the server code (sudo) only
SECRET_GROUP = "l10n_tr_iys.group_iys_secret"
#: HMAC scope of the push password (derived from the database secret, never stored)
PUSH_HMAC_SCOPE = "l10n_tr_iys.push"
#: system parameter: extra host names the simulator URL may use (comma-separated), besides loopback
SIMULATOR_HOSTS_PARAM = "l10n_tr_iys.simulator_hosts"

#: one throttle per İYS base URL and process: İYS counts requests per IP, and the library's throttle is
#: thread-safe, so every client of this process shares it (the token itself is shared through the DB)
_THROTTLES = {}
_THROTTLES_LOCK = threading.Lock()


def _default_simulator_url():
    # docker-compose.yml runs the simulator as another service and says where through this variable.
    return os.environ.get("IYS_SIMULATOR_URL") or SIMULATOR_DEFAULT_URL


def _is_loopback(host):
    if (host or "").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class IysAccount(models.Model):
    """An İYS service-provider (HS) account of one company: where to talk to İYS and as whom.

    The API password is stored in a field restricted to a group nobody belongs to: only the server
    code (sudo) reads it; nobody can read, search, group or export it, and the form only shows a
    write-only input, so the secret never travels to a browser. The push password is not stored
    at all: it is derived from the database secret when it is sent to İYS or checked.
    """

    _name = "iys.account"
    _description = "İYS Account"
    _inherit = ["mail.thread"]
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
        "Simulator URL",
        default=lambda self: _default_simulator_url(),
        help="Base URL of the local İYS simulator (python -m iyslib.simulator).",
    )
    base_url = fields.Char(compute="_compute_base_url")
    username = fields.Char(string="API user", groups="l10n_tr_iys.group_iys_manager")
    password = fields.Char(
        string="API password (stored)",
        groups=SECRET_GROUP,
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

    # Synchronisation ---------------------------------------------------------------------------
    poll_delay = fields.Integer(
        string="Wait before fetching results (s)",
        default=const.BATCH_POLL_DELAY,
        help="Seconds between sending a batch and asking İYS for its results. İYS asks for at least "
        "300 seconds; the local simulator processes batches at once, so 0 is allowed there.",
    )
    batch_size = fields.Integer(
        default=const.BATCH_MAX,
        help="Movements per batch sent to İYS (at most 1000).",
    )
    responsible_user_id = fields.Many2one(
        "res.users",
        string="Responsible",
        domain=[("share", "=", False)],
        help="Receives the İYS alerts (an activity and an e-mail each), and whose language the alerts and the "
        "stored İYS explanations use. Without one, the İYS managers of the account's company get the alerts.",
    )
    outbox_pending_count = fields.Integer(compute="_compute_sync_counts", string="Waiting to be sent")
    outbox_sent_count = fields.Integer(compute="_compute_sync_counts", string="Waiting for İYS")
    outbox_failed_count = fields.Integer(compute="_compute_sync_counts", string="Refused or expired")
    token_locked_until = fields.Datetime(
        compute="_compute_token_locked_until",
        string="Token requests locked until",
        help="İYS answered H084 (hourly token limit): no token is requested before this time.",
    )
    last_pull_date = fields.Datetime(compute="_compute_last_pull_date", string="Last successful pull")
    # Push notifications (İYS -> Odoo) ---------------------------------------------------------
    push_url = fields.Char(compute="_compute_push_url", string="Push endpoint")
    push_username = fields.Char(
        string="Push user", copy=False, readonly=True, groups="l10n_tr_iys.group_iys_manager",
        help="Basic-auth user İYS uses to call the push endpoint (generated). Its password is derived "
        "from the database secret when it is sent to İYS, and never stored.",
    )
    push_info = fields.Text(string="Push connections on İYS", copy=False, readonly=True)

    _sql_constraints = [
        (
            "iys_code_company_uniq",
            "unique(company_id, iys_code)",
            "An İYS code may be configured only once per company.",
        ),
    ]

    @api.model_create_multi
    def create(self, vals_list):
        with self.env["res.company"]._iys_watch_default_brands():
            return super().create(vals_list)

    def write(self, vals):
        if not {"active", "company_id", "sequence"}.intersection(vals):
            return super().write(vals)
        with self.env["res.company"]._iys_watch_default_brands():
            return super().write(vals)

    def unlink(self):
        with self.env["res.company"]._iys_watch_default_brands():
            return super().unlink()

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

    @api.constrains("poll_delay", "batch_size", "environment")
    def _check_sync_settings(self):
        for account in self:
            if account.poll_delay < 0 or (
                account.environment != "simulator" and account.poll_delay < const.BATCH_POLL_DELAY
            ):
                raise ValidationError(
                    self.env._(
                        "İYS asks to wait at least %(seconds)s seconds before fetching batch results "
                        "(0 is allowed only with the local simulator).",
                        seconds=const.BATCH_POLL_DELAY,
                    )
                )
            if not 1 <= account.batch_size <= const.BATCH_MAX:
                raise ValidationError(
                    self.env._("A batch holds between 1 and %(max)s movements.", max=const.BATCH_MAX)
                )

    def _compute_sync_counts(self):
        counts = {}
        if self.ids:
            Outbox = self.env["iys.outbox"].sudo()
            groups = Outbox._read_group(
                [("account_id", "in", self.ids), *Outbox._iys_states_domain(("pending", "sent", "failed", "expired"))],
                ["account_id", "state"], ["__count"],
            )
            counts = {(account.id, state): count for account, state, count in groups}
        for account in self:
            account.outbox_pending_count = counts.get((account.id, "pending"), 0)
            account.outbox_sent_count = counts.get((account.id, "sent"), 0)
            account.outbox_failed_count = counts.get((account.id, "failed"), 0) + counts.get(
                (account.id, "expired"), 0
            )

    def _compute_token_locked_until(self):
        now = fields.Datetime.now().timestamp()
        for account in self:
            locks = self.env["iys.token"].sudo().search_read(
                [("account_id", "=", account.id), ("lock_until", ">", now)], ["lock_until"]
            ) if account.id else []
            until = max((rec["lock_until"] for rec in locks), default=0)
            account.token_locked_until = (
                fields.Datetime.now() + timedelta(seconds=until - now) if until else False
            )

    @api.depends("brand_ids.iys_last_pull_date")
    def _compute_last_pull_date(self):
        for account in self:
            dates = account.brand_ids.filtered("active").mapped("iys_last_pull_date")
            account.last_pull_date = min(dates) if dates and all(dates) else False

    def _compute_push_url(self):
        base = self.env["ir.config_parameter"].sudo().get_param("web.base.url") or ""
        for account in self:
            account.push_url = base.rstrip("/") + PUSH_PATH % account.id if account.id else False

    @api.constrains("iys_code")
    def _check_iys_code(self):
        for account in self:
            if not (account.iys_code or "").isdigit():
                raise ValidationError(
                    self.env._("The İYS code must be a whole number, not “%(code)s”.", code=account.iys_code)
                )

    @api.model
    def _iys_allowed_simulator_hosts(self):
        """Host names (besides loopback) a simulator URL may use: the one the server's environment names
        (``IYS_SIMULATOR_URL``, e.g. docker-compose's service) and the system parameter's list."""
        hosts = set()
        env_url = os.environ.get("IYS_SIMULATOR_URL")
        if env_url and urlsplit(env_url).hostname:
            hosts.add(urlsplit(env_url).hostname.lower())
        param = self.env["ir.config_parameter"].sudo().get_param(SIMULATOR_HOSTS_PARAM) or ""
        hosts.update(host.strip().lower() for host in param.split(",") if host.strip())
        return hosts

    def _iys_check_url(self):
        """Odoo posts the API credentials to the account's URL: the simulator must run on this machine
        (or on a host an administrator allowed), sandbox and production are İYS's own hosts."""
        for account in self:
            if account.environment == "simulator":
                url = account.simulator_url or _default_simulator_url()
                parts = urlsplit(url)
                host = (parts.hostname or "").lower()
                if parts.scheme not in ("http", "https") or not host or parts.username or parts.password:
                    raise ValidationError(self.env._(
                        "The simulator URL “%(url)s” is not a valid http(s) address.", url=url))
                if not (_is_loopback(host) or host in self._iys_allowed_simulator_hosts()):
                    raise ValidationError(self.env._(
                        "The simulator URL may only point to this machine (127.0.0.1, localhost or ::1), not "
                        "to “%(host)s”: Odoo sends the API credentials there. An administrator can allow another "
                        "simulator host in the system parameter “%(param)s” (comma-separated host names).",
                        host=host, param=SIMULATOR_HOSTS_PARAM))
            else:
                expected = urlsplit(const.ENVIRONMENTS[account.environment])
                actual = urlsplit(account.base_url or "")
                if (actual.scheme, actual.hostname) != (expected.scheme, expected.hostname):
                    raise ValidationError(self.env._(
                        "The İYS %(environment)s address must be %(url)s.",
                        environment=account.environment, url=const.ENVIRONMENTS[account.environment]))

    @api.constrains("environment", "simulator_url")
    def _check_url(self):
        self._iys_check_url()

    def _get_client_config(self, brand=None):
        """Plain configuration for the İYS library client (no Odoo objects inside)."""
        self.ensure_one()
        # Imported here so that the ledger loads even where requests is missing; only syncing needs it.
        from ..iyslib.client import IysConfig  # noqa: PLC0415

        account = self.sudo()
        try:
            account._iys_check_url()  # also here: the system parameter may have changed since
        except ValidationError as exc:
            raise UserError(exc.args[0]) from None
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

    # ------------------------------------------------------------------------------------------
    # The İYS client
    # ------------------------------------------------------------------------------------------
    def _iys_client_options(self):
        """Extra keyword arguments for :class:`IysClient` (tests shorten sleeps and timeouts here)."""
        return {}

    def _iys_client(self, brand=None):
        """An İYS client for this account (and brand), sharing the token through the database and
        the request rate with every other client of this process."""
        self.ensure_one()
        from ..iyslib.client import IysClient  # noqa: PLC0415 (requests is only needed to sync)
        from ..iyslib.throttle import Throttle  # noqa: PLC0415
        from .iys_token import DbTokenStore  # noqa: PLC0415

        config = self._get_client_config(brand)
        options = dict(self._iys_client_options())
        timeout = options.pop("timeout", None)
        if timeout:
            config.timeout = timeout
        if "throttle" not in options:
            with _THROTTLES_LOCK:
                options["throttle"] = _THROTTLES.setdefault(config.base_url, Throttle())
        store = DbTokenStore(self.env, account_id=self.id)
        return IysClient(config, token_store=store, **options)

    def _iys_lang(self):
        """'tr' or 'en': the language the stored İYS explanations use (the user's when run by a
        user, else the responsible's or the company's)."""
        self.ensure_one()
        lang = self.env.context.get("iys_lang") or self.responsible_user_id.lang or self.company_id.partner_id.lang
        return lang_of(self.env, lang)

    def _iys_check_manager(self):
        if not (self.env.su or self.env.user.has_group("l10n_tr_iys.group_iys_manager")):
            raise AccessError(self.env._("Only İYS managers may synchronise with İYS."))

    # ------------------------------------------------------------------------------------------
    # Push notifications from İYS
    # ------------------------------------------------------------------------------------------
    def _iys_push_credentials(self, regenerate=False):
        """(user, password) İYS must present on the push endpoint; the user is generated once.

        The password is never stored: it is the HMAC of the user name keyed by the database secret
        (as Odoo signs its own tokens), computed here when it is sent to İYS (register, unregister)
        and by the endpoint to check what İYS presents. New credentials are a new random user name.
        """
        self.ensure_one()
        account = self.sudo()
        if regenerate or not account.push_username:
            account.push_username = f"iys-push-{account.id}-{secrets.token_hex(16)}"
        return account.push_username, account._iys_push_password(account.push_username)

    def _iys_push_password(self, username):
        """The push password of *username* (see :meth:`_iys_push_credentials`)."""
        return odoo_hmac(self.env(su=True), PUSH_HMAC_SCOPE, username or "")

    def _iys_push_targets(self):
        return [(brand, type_) for brand in self.brand_ids.filtered("active") for type_ in const.TYPES]

    def action_iys_push_register(self):
        """Ask İYS to send this account's citizen movements to the push endpoint, per brand and type."""
        self.ensure_one()
        self._iys_check_manager()
        username, password = self._iys_push_credentials()
        # İYS calls the endpoint at once, from another transaction: the credentials must be committed.
        self.env.flush_all()
        commit(self.env)
        lines, failed = [], 0
        for brand, type_ in self._iys_push_targets():
            client = self._iys_client(brand)
            try:
                client.register_push(self.push_url, type_, username, password, brand_code=int(brand.code))
                lines.append(self.env._("%(brand)s / %(type)s: registered", brand=brand.display_name, type=type_))
            except IysError as exc:
                failed += 1
                lines.append(f"{brand.display_name} / {type_}: {error_code_and_text(exc, self._iys_lang())[1]}")
            finally:
                client.token_store.release()
        self._iys_push_post(self.env._("Push registration with İYS"), lines)
        self.action_iys_push_refresh()
        return self._iys_notify(
            self.env._("Push registration"),
            self.env._("%(ok)s of %(total)s connections registered.", ok=len(lines) - failed, total=len(lines)),
            "warning" if failed else "success",
        )

    def action_iys_push_unregister(self):
        """Remove this endpoint's push connections from İYS (one call per brand and type)."""
        self.ensure_one()
        self._iys_check_manager()
        username, password = self._iys_push_credentials()
        lines = []
        for brand, type_ in self._iys_push_targets():
            client = self._iys_client(brand)
            try:
                client.unregister_push(self.push_url, type_, username, password, brand_code=int(brand.code))
                lines.append(self.env._("%(brand)s / %(type)s: removed", brand=brand.display_name, type=type_))
            except IysError as exc:
                lines.append(f"{brand.display_name} / {type_}: {error_code_and_text(exc, self._iys_lang())[1]}")
            finally:
                client.token_store.release()
        self._iys_push_post(self.env._("Push connections removed from İYS"), lines)
        self.action_iys_push_refresh()
        return True

    def action_iys_push_refresh(self):
        """Show the push connections İYS has for each brand."""
        self.ensure_one()
        self._iys_check_manager()
        lines = []
        for brand in self.brand_ids.filtered("active"):
            client = self._iys_client(brand)
            try:
                for conn in client.list_push(brand_code=int(brand.code)):
                    lines.append(
                        f"{brand.display_name} / {conn.get('type')}: {conn.get('url')} – {conn.get('status')} "
                        f"({conn.get('registerTime')})"
                    )
            except IysError as exc:
                lines.append(f"{brand.display_name}: {error_code_and_text(exc, self._iys_lang())[1]}")
            finally:
                client.token_store.release()
        self.sudo().push_info = "\n".join(lines) or self.env._("No push connection is registered.")
        return True

    def action_iys_push_regenerate(self):
        """New push credentials (the connections on İYS must then be registered again)."""
        self.ensure_one()
        self._iys_check_manager()
        self._iys_push_credentials(regenerate=True)
        self.message_post(body=self.env._("New push credentials were generated; register the endpoint with İYS again."))
        return True

    def _iys_push_post(self, title, lines):
        body = Markup("<p><b>%s</b></p><ul>%s</ul>") % (
            title, Markup().join(Markup("<li>%s</li>") % line for line in lines)
        )
        self.message_post(body=body)

    def _iys_notify(self, title, message, kind="info", sticky=False, links=None, next_action=None):
        """A ``display_notification`` action (Odoo 18): *message* may hold one ``%s`` per link of
        *links* (``[{"label": …, "url": …}]``); *next_action* runs after it (default: reload the view
        behind, so it shows what changed)."""
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {"title": title, "message": message, "type": kind, "sticky": sticky,
                       "links": links or [],
                       "next": next_action or {"type": "ir.actions.client", "tag": "soft_reload"}},
        }

    @api.model
    def _iys_is_push_test(self, item):
        return item.get("brandCode") == PUSH_TEST_BRAND or item.get("recipient") == PUSH_TEST_RECIPIENT

    def _iys_receive_push(self, items, budget=PUSH_APPLY_BUDGET):
        """Apply the movements of one push notification (already authenticated).

        İYS expects an answer within 5 seconds: movements are applied in chunks for at most
        *budget* seconds; anything left is fetched by the pull, which is triggered at once (pull
        is the source of truth, both de-duplicate by transaction id).
        """
        self.ensure_one()
        from ..iyslib.client import ConsentRecord  # noqa: PLC0415 (requests is only needed to sync)

        started = time.monotonic()
        brands = {brand.code: brand for brand in self.sudo().brand_ids.filtered("active")}
        by_brand = {}
        result = {"received": len(items), "applied": 0, "ignored": 0, "invalid": 0, "deferred": 0}
        for item in items:
            if self._iys_is_push_test(item):
                result["ignored"] += 1
                continue
            iys_code = item.get("iysCode")
            brand = brands.get(str(item.get("brandCode") or self.iys_code))
            if (iys_code and str(iys_code) != self.iys_code) or not brand:
                result["ignored"] += 1
                continue
            try:
                record = ConsentRecord.from_iys(item)
            except (TypeError, ValueError, KeyError, AttributeError):
                result["invalid"] += 1
                continue
            by_brand.setdefault(brand, []).append(record)
        for brand, records in by_brand.items():
            for start in range(0, len(records), PUSH_APPLY_CHUNK):
                chunk = records[start:start + PUSH_APPLY_CHUNK]
                if time.monotonic() - started > budget:
                    result["deferred"] += len(chunk)
                    continue
                stats = brand._iys_apply_incoming(chunk, "iys_push")
                result["applied"] += stats.applied
                result["ignored"] += stats.unchanged
                result["invalid"] += len(stats.errors)
        if result["deferred"]:
            self.env.ref("l10n_tr_iys.ir_cron_iys_pull").sudo()._trigger()
        _logger.info(
            "İYS push for account %s: %s received, %s applied, %s ignored, %s invalid, %s left to the pull",
            self.id, result["received"], result["applied"], result["ignored"], result["invalid"], result["deferred"],
        )
        return result

    # ------------------------------------------------------------------------------------------
    # Daily health summary
    # ------------------------------------------------------------------------------------------
    def _iys_health(self, now=None):
        """Figures of the synchronisation of this account (see :meth:`_cron_iys_health_summary`)."""
        self.ensure_one()
        now = now or fields.Datetime.now()
        Outbox = self.env["iys.outbox"].sudo()
        counts = dict(Outbox._read_group(
            [("account_id", "=", self.id), *Outbox._iys_states_domain(("pending", "sent", "failed", "expired"))],
            ["state"], ["__count"],
        ))
        since = now - timedelta(hours=24)
        self.env.cr.execute(
            SQL(
                """SELECT count(*) FILTER (WHERE state = 'done'),
                          count(*) FILTER (WHERE state IN ('failed', 'expired') AND refused_locally IS NOT TRUE),
                          count(*) FILTER (WHERE state IN ('failed', 'expired') AND refused_locally IS TRUE)
                     FROM iys_outbox
                    WHERE account_id = %s AND result_at >= %s""",
                self.id, since,
            )
        )
        done, refused, caught = self.env.cr.fetchone()
        # (brand by brand, through the partial index on pending rows (brand, id): in id order over the
        # whole outbox, PostgreSQL would walk the handled rows before the first pending one)
        oldest = min((
            Outbox.search([("brand_id", "=", brand.id), ("state", "=", "pending")], order="id", limit=1)
            for brand in self.with_context(active_test=False).brand_ids
        ), key=lambda row: row.id or float("inf"), default=Outbox)
        answered = done + refused
        return {
            "pending": counts.get("pending", 0),
            "sent": counts.get("sent", 0),
            "failed": counts.get("failed", 0) + counts.get("expired", 0),
            "oldest_pending_hours": round((now - oldest.create_date).total_seconds() / 3600, 1) if oldest else 0,
            "done_24h": done,
            "refused_24h": refused,
            "caught_24h": caught,
            "success_ratio": (done / answered) if answered else None,
            "token_locked_until": self.token_locked_until,
            "last_pull": self.last_pull_date,
        }

    @api.model
    def _cron_iys_health_summary(self, now=None):
        """Log each active account's synchronisation health once a day, and make sure a low success
        ratio is reported.

        The summary is no longer posted in the account's chatter, where nobody reads it: the panel
        shows these figures live, and the conditions that need a person (success ratio under 80 %,
        deadlines, pulls, failing scheduled actions) are alerts (iys.alert) with an activity and an
        e-mail. The success-ratio condition is evaluated here too, so its warning is never lost even
        when the hourly "İYS: check alerts" is switched off. Returns {account id: health}."""
        now = now or fields.Datetime.now()
        accounts = self.sudo().search([("active", "=", True)])
        result = {}
        for account in accounts:
            health = result[account.id] = account._iys_health(now=now)
            ratio = health["success_ratio"]
            ratio_text = f"{ratio:.0%}" if ratio is not None else "-"
            if ratio is not None and ratio < HEALTH_WARNING_RATIO:
                _logger.warning(
                    "İYS account %s: success ratio of the last 24 h is %s (İYS acts under %s for 96 hours)",
                    account.id, ratio_text, f"{IYS_WHITELIST_RATIO:.0%}",
                )
            _logger.info(
                "İYS account %s: %s pending, %s sent, %s failed, success ratio %s, oldest waiting %s h, last pull %s",
                account.id, health["pending"], health["sent"], health["failed"], ratio_text,
                health["oldest_pending_hours"], health["last_pull"] or "never",
            )
            self.env["iys.alert"].sudo()._iys_check_account(account, now, kinds=["success_ratio"])
            commit(self.env)
        self.env["ir.cron"]._notify_progress(done=len(accounts), remaining=0)
        return result

    # ------------------------------------------------------------------------------------------
    # Buttons
    # ------------------------------------------------------------------------------------------
    def action_iys_test_connection(self):
        """Log in to İYS and list the account's brands: says whether the URL, the credentials and the
        brand codes are right, without sending anything."""
        self.ensure_one()
        self._iys_check_manager()
        title = self.env._("Test connection")
        try:
            client = self._iys_client()
        except UserError as exc:
            return self._iys_notify(title, exc.args[0], "danger", sticky=True)
        try:
            brands = client.list_brands()
        except IysError as exc:
            code, text = error_code_and_text(exc, self._iys_lang())
            return self._iys_notify(title, f"{code}: {text}" if code else text, "danger", sticky=True)
        finally:
            client.token_store.release()
        known = {str(brand.get("brandCode")) for brand in brands if isinstance(brand, dict)}
        missing = self.brand_ids.filtered(lambda b: b.active and b.code not in known)
        if missing:
            message = self.env._(
                "Connected to İYS, but it does not know these brand codes of the account: %(brands)s.",
                brands=", ".join(missing.mapped("display_name")),
            )
            return self._iys_notify(title, message, "warning", sticky=True)
        message = self.env._(
            "Connected to İYS (%(url)s): the credentials are accepted and İYS knows every brand of this "
            "account (%(count)s).",
            url=self.base_url, count=len(self.brand_ids.filtered("active")),
        )
        return self._iys_notify(title, message, "success")

    def action_view_outbox(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("l10n_tr_iys.action_iys_outbox")
        action["domain"] = [("account_id", "=", self.id)]
        state = self.env.context.get("iys_outbox_state")
        action["context"] = {"search_default_filter_" + state: 1} if state else {}
        return action

    def action_iys_fetch_places(self):
        """Fetch (or refresh) İYS's city and town codes, used in the dealers' addresses."""
        self.ensure_one()
        self._iys_check_manager()
        cities, towns = self.env["iys.city"]._iys_fetch_places(self)
        return self._iys_notify(
            self.env._("City and town codes"),
            self.env._("İYS sent %(cities)s cities and %(towns)s towns.", cities=cities, towns=towns),
            "success",
        )
