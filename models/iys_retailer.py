# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
"""Dealers (bayi) of a brand, as İYS knows them (retailers).

Legal basis (Regulation on Commercial Communication and Commercial Electronic Messages, art. 7
and İYS's retailer services): a consent given to one party of an agency, authorised-dealer or
dealership contract also counts for the other party, within the goods, services or brand covered
by that contract. İYS registers a brand's dealers (8-digit ``retailerCode``); a consent can carry
the dealer that collected it (``retailerCode``) and the dealers that may use it
(``retailerAccess``).
"""
import logging

from markupsafe import Markup

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError

from ..iyslib import identity
from ..iyslib.errors import IysError
from .iys_sync_common import error_code_and_text

_logger = logging.getLogger(__name__)

#: Fields İYS holds for a dealer. İYS has no update call for dealers: once registered they can only
#: change on İYS (and come back with "Refresh from İYS" or "Fetch dealers from İYS").
IYS_FIELDS = (
    "name", "brand_id", "authorized_person", "tckn", "tin", "mersis", "alias", "city_id", "town_id",
    "city_code", "city_name", "town_code", "town_name", "mobile", "status",
)
#: Codes by which İYS says it does not know the dealer (delete: 404 H058; get: 403 H180).
NOT_FOUND_CODES = ("H058", "H180")
#: Retailers per page when fetching (İYS's maximum, H186 above it).
FETCH_PAGE = 100
#: Safety bound on the pages of one fetch (1,000,000 dealers).
FETCH_MAX_PAGES = 10000

DEALER_STATUS_SELECTION = [
    ("active", "Active"),
    ("passive", "Passive"),
    ("suspended", "Suspended"),
]
DEALER_SYNC_SELECTION = [
    ("draft", "Not on İYS yet"),
    ("registered", "Registered on İYS"),
    ("deleted", "Deleted on İYS"),
    ("error", "Refused by İYS"),
]


class IysRetailer(models.Model):
    """A dealer (bayi) of a brand, registered on İYS."""

    _name = "iys.retailer"
    _description = "İYS Dealer"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "brand_id, name, id"

    name = fields.Char("Trade name", required=True, tracking=True, help="The dealer's trade name (title on İYS).")
    brand_id = fields.Many2one(
        "iys.brand", required=True, ondelete="restrict", index=True, tracking=True,
        default=lambda self: self.env.company.iys_default_brand_id,
    )
    account_id = fields.Many2one(related="brand_id.account_id", store=True, index=True)
    company_id = fields.Many2one(related="brand_id.company_id", store=True, index=True)
    code = fields.Char(
        "Dealer code", copy=False, readonly=True, index="btree_not_null", tracking=True,
        help="The 8-digit code İYS gave the dealer (retailerCode).",
    )
    authorized_person = fields.Char("Authorised person", tracking=True,
                                    help="Name of the dealer's authorised person (name on İYS).")
    tckn = fields.Char("TCKN", help="Turkish identity number of the authorised person (11 digits).")
    tin = fields.Char("Tax number", help="VKN (10 digits) or, for a sole trader, TCKN (11 digits).")
    mersis = fields.Char("MERSİS number", help="Central registry number (16 characters), optional.")
    alias = fields.Char("Short name")
    city_id = fields.Many2one("iys.city", string="City (İYS)", ondelete="restrict",
                              help="The city from İYS's list (its code is sent to İYS).")
    town_id = fields.Many2one("iys.town", string="Town (İYS)", ondelete="restrict",
                              domain="[('city_id', '=', city_id)]",
                              help="The town from İYS's list (its code is sent to İYS).")
    city_code = fields.Char("City code", help="İYS's city code.", compute="_compute_city", store=True,
                            readonly=False)
    city_name = fields.Char("City", compute="_compute_city", store=True, readonly=False)
    town_code = fields.Char("Town code", help="İYS's town code.", compute="_compute_town", store=True,
                            readonly=False)
    town_name = fields.Char("Town", compute="_compute_town", store=True, readonly=False)
    mobile = fields.Char(help="Mobile number in international format (+905…).")
    status = fields.Selection(DEALER_STATUS_SELECTION, required=True, default="active", tracking=True)
    sync_state = fields.Selection(DEALER_SYNC_SELECTION, string="İYS state", required=True, default="draft",
                                  readonly=True, copy=False, tracking=True)
    iys_error = fields.Text("İYS error", readonly=True, copy=False)
    partner_id = fields.Many2one("res.partner", string="Dealer contact", ondelete="set null",
                                 help="The dealer's contact in Odoo.")
    dealer_company_id = fields.Many2one(
        "res.company", string="Dealer company", ondelete="set null",
        help="In a multi-company database, the company the dealer works in.",
    )
    user_ids = fields.Many2many(
        "res.users", "iys_retailer_res_users_rel", "retailer_id", "user_id", string="Dealer users",
        help="Users of this dealer: with the group İYS / Dealer they see only the consents this dealer "
        "may use, and send only on its behalf.",
    )
    active = fields.Boolean(default=True)
    collected_consent_count = fields.Integer(compute="_compute_consent_counts", string="Consents collected")
    access_consent_count = fields.Integer(compute="_compute_consent_counts", string="Consents with access")

    _sql_constraints = [
        ("brand_code_uniq", "unique(brand_id, code)", "A dealer code may appear only once per brand."),
    ]

    # ------------------------------------------------------------------------------------------
    # Computes, onchanges, guards
    # ------------------------------------------------------------------------------------------
    @api.depends("city_id")
    def _compute_city(self):
        for dealer in self:
            if dealer.city_id:
                dealer.city_code, dealer.city_name = dealer.city_id.code, dealer.city_id.name
            else:
                dealer.city_code, dealer.city_name = dealer.city_code, dealer.city_name

    @api.depends("town_id")
    def _compute_town(self):
        for dealer in self:
            if dealer.town_id:
                dealer.town_code, dealer.town_name = dealer.town_id.code, dealer.town_id.name
            else:
                dealer.town_code, dealer.town_name = dealer.town_code, dealer.town_name

    def _compute_consent_counts(self):
        Consent = self.env["iys.consent"]
        collected = dict(Consent._read_group([("retailer_id", "in", self.ids)], ["retailer_id"], ["__count"]))
        for dealer in self:
            dealer.collected_consent_count = collected.get(dealer, 0)
            dealer.access_consent_count = Consent.search_count([("retailer_access_ids", "in", dealer.ids)])

    @api.onchange("city_id")
    def _onchange_city_id(self):
        if self.town_id and self.town_id.city_id != self.city_id:
            self.town_id = False

    @api.onchange("brand_id")
    def _onchange_brand_id_places(self):
        """The first time a dealer form needs them, fetch İYS's city and town codes."""
        account = self.brand_id.account_id
        if not account or self.env["iys.city"].sudo().search_count([], limit=1):
            return None
        if not self.env.user.has_group("l10n_tr_iys.group_iys_manager"):
            return None
        try:
            self.env["iys.city"]._iys_fetch_places(account)
        except UserError as exc:
            return {"warning": {"title": self.env._("City and town codes"), "message": exc.args[0]}}
        return None

    def write(self, vals):
        if not self.env.context.get("iys_retailer_sync"):
            # who may not write dealers at all hears that first, not about İYS's lock
            self.check_access("write")
            self._iys_check_unlocked(vals)
        return super().write(vals)

    def _iys_check_unlocked(self, vals):
        """İYS has no call to change a dealer: refuse to change, in Odoo only, what İYS holds."""
        fields_changed = [name for name in IYS_FIELDS if name in vals]
        if not fields_changed:
            return
        for dealer in self.filtered(lambda d: d.sync_state in ("registered", "deleted")):
            changed = list(dealer._iys_changed({name: vals[name] for name in fields_changed}))
            if changed:
                labels = ", ".join(dealer._fields[name].get_description(self.env)["string"] for name in changed)
                raise UserError(self.env._(
                    "Dealer %(dealer)s is registered on İYS, which has no way to change a dealer: %(fields)s "
                    "cannot be changed here. Change them on İYS's portal and use \"Refresh from İYS\", or "
                    "delete the dealer on İYS and register it again.",
                    dealer=dealer.display_name, fields=labels,
                ))

    def _iys_changed(self, vals):
        """The part of *vals* (simple values, ids for Many2one) that differs from this dealer."""
        self.ensure_one()
        changed = {}
        for name, value in vals.items():
            current = self[name]
            if self._fields[name].type == "many2one":
                current = current.id
            if (current or False) != (value or False):
                changed[name] = value
        return changed

    def _iys_check_dealer_manager(self):
        if not (self.env.su or self.env.user.has_group("l10n_tr_iys.group_iys_manager")):
            raise AccessError(self.env._("Only İYS managers may register, fetch or delete dealers on İYS."))

    # ------------------------------------------------------------------------------------------
    # İYS payloads
    # ------------------------------------------------------------------------------------------
    def _iys_payload(self):
        """The retailer creation body (before the library's checks and cleaning)."""
        self.ensure_one()
        return {
            "title": self.name, "name": self.authorized_person, "tckn": self.tckn, "tin": self.tin,
            "city": {"code": self.city_code, "name": self.city_name} if (self.city_code or self.city_name) else None,
            "town": {"code": self.town_code, "name": self.town_name} if (self.town_code or self.town_name) else None,
            "mersis": self.mersis, "alias": self.alias, "mobile": self.mobile, "status": self.status,
        }

    def _iys_validation_problems(self):
        """[(H-code, explanation)] of what İYS would refuse in this dealer, in the user's language."""
        self.ensure_one()
        lang = self.brand_id.account_id._iys_lang() if self.brand_id.account_id else "en"
        _body, errors = identity.retailer_errors(self._iys_payload())
        return [(err.code, err.explain(lang)) for err in errors]

    @api.model
    def _iys_values_from(self, data, brand):
        """Odoo values of a retailer as İYS returns it (get or list)."""
        vals = {"brand_id": brand.id}
        if data.get("retailerCode") not in (None, ""):
            vals["code"] = str(data["retailerCode"])
        for key, field in (("title", "name"), ("name", "authorized_person"), ("tckn", "tckn"), ("tin", "tin"),
                           ("mersis", "mersis"), ("alias", "alias"), ("mobile", "mobile")):
            if key in data:
                vals[field] = str(data[key]) if data[key] not in (None, "") else False
        if data.get("status") in ("active", "passive", "suspended"):
            vals["status"] = data["status"]
        for key, Model in (("city", self.env["iys.city"]), ("town", self.env["iys.town"])):
            place = data.get(key)
            if isinstance(place, dict):
                code = str(place.get("code") or "") or False
                cached = Model.sudo().search([("code", "=", code)], limit=1) if code else Model
                vals[f"{key}_id"] = cached.id or False
                vals[f"{key}_code"] = code
                vals[f"{key}_name"] = place.get("name") or (cached.name if cached else False)
        return vals

    def _iys_post(self, body):
        self.message_post(body=body)

    def _iys_notify(self, title, message, kind="info", sticky=False):
        return {
            "type": "ir.actions.client", "tag": "display_notification",
            "params": {"title": title, "message": message, "type": kind, "sticky": sticky,
                       "next": {"type": "ir.actions.client", "tag": "soft_reload"}},
        }

    def _iys_error_text(self, exc):
        code, text = error_code_and_text(exc, self.brand_id.account_id._iys_lang())
        return f"{code}: {text}" if code else text

    # ------------------------------------------------------------------------------------------
    # Buttons
    # ------------------------------------------------------------------------------------------
    def action_iys_register(self):
        """Create the dealers on İYS and store the 8-digit code it returns.

        What İYS would refuse is refused before anything is sent (UserError listing every problem
        with its H-code). İYS's own refusal is kept on the dealer (İYS error, state "Refused by İYS").
        """
        self._iys_check_dealer_manager()
        done, refused = self.browse(), []
        for dealer in self:
            if dealer.sync_state not in ("draft", "error"):
                raise UserError(self.env._("Dealer %(dealer)s is already registered on İYS (code %(code)s).",
                                           dealer=dealer.display_name, code=dealer.code or "-"))
            problems = dealer._iys_validation_problems()
            if problems:
                raise UserError(self.env._(
                    "Dealer %(dealer)s cannot be registered on İYS yet; nothing was sent. Correct:\n%(problems)s",
                    dealer=dealer.display_name,
                    problems="\n".join(f"• {code}: {text}" for code, text in problems),
                ))
        for dealer in self:
            brand = dealer.brand_id
            client = brand.account_id._iys_client(brand)
            try:
                code = client.create_retailer(dealer._iys_payload(), brand_code=int(brand.code))
            except IysError as exc:
                text = dealer._iys_error_text(exc)
                if exc.outcome_unknown:
                    text = self.env._(
                        "%(error)s İYS may have registered the dealer although no answer came back: use \"Fetch "
                        "dealers from İYS\" before registering it again.", error=text,
                    )
                dealer.with_context(iys_retailer_sync=True).write({"sync_state": "error", "iys_error": text})
                dealer._iys_post(Markup("<p>%s</p><p>%s</p>") % (self.env._("İYS refused the dealer."), text))
                refused.append(f"{dealer.display_name}: {text}")
                continue
            finally:
                client.token_store.release()
            vals = {"code": str(code), "sync_state": "registered", "iys_error": False}
            if dealer.mobile:
                vals["mobile"] = identity.check_mobile(dealer.mobile)
            dealer.with_context(iys_retailer_sync=True).write(vals)
            dealer._iys_post(self.env._("Registered on İYS with dealer code %(code)s.", code=code))
            done |= dealer
        title = self.env._("Register on İYS")
        if refused:
            return self._iys_notify(title, "\n".join(refused), "danger", sticky=True)
        return self._iys_notify(
            title, self.env._("Registered on İYS: %(dealers)s.", dealers=", ".join(
                f"{d.display_name} ({d.code})" for d in done)), "success",
        )

    def action_iys_refresh(self):
        """Read the dealers again from İYS (İYS is the reference once they are registered)."""
        self._iys_check_dealer_manager()
        messages, kind = [], "success"
        for dealer in self:
            if not dealer.code:
                raise UserError(self.env._("Dealer %(dealer)s has no İYS code yet: register it on İYS first.",
                                           dealer=dealer.display_name))
            brand = dealer.brand_id
            client = brand.account_id._iys_client(brand)
            try:
                data = client.get_retailer(int(dealer.code), brand_code=int(brand.code))
            except IysError as exc:
                text = dealer._iys_error_text(exc)
                kind = "warning"
                if exc.code in NOT_FOUND_CODES:
                    dealer.with_context(iys_retailer_sync=True).write({"sync_state": "deleted", "iys_error": text})
                    dealer._iys_post(self.env._("İYS no longer knows this dealer (%(error)s).", error=text))
                    messages.append(self.env._("%(dealer)s: İYS no longer knows it.", dealer=dealer.display_name))
                else:
                    dealer.with_context(iys_retailer_sync=True).write({"iys_error": text})
                    messages.append(f"{dealer.display_name}: {text}")
                continue
            finally:
                client.token_store.release()
            vals = self._iys_values_from(data if isinstance(data, dict) else {}, brand)
            vals.update(sync_state="registered", iys_error=False)
            dealer.with_context(iys_retailer_sync=True).write(vals)
            messages.append(self.env._("%(dealer)s: up to date with İYS.", dealer=dealer.display_name))
        return self._iys_notify(self.env._("Refresh from İYS"), "\n".join(messages), kind, sticky=kind != "success")

    def _iys_linked_consent_count(self):
        """Consents that name this dealer (collected by it, or giving it access), in every company."""
        self.ensure_one()
        return self.env["iys.consent"].sudo().with_context(active_test=False).search_count(
            ["|", ("retailer_id", "=", self.id), ("retailer_access_ids", "in", self.ids)]
        )

    def action_iys_delete(self):
        """Delete the dealers on İYS; İYS allows it only while no consent is linked to them."""
        self._iys_check_dealer_manager()
        for dealer in self:
            if not dealer.code or dealer.sync_state not in ("registered", "error"):
                raise UserError(self.env._("Dealer %(dealer)s is not registered on İYS: there is nothing to delete.",
                                           dealer=dealer.display_name))
            linked = dealer._iys_linked_consent_count()
            if linked:
                raise UserError(self.env._(
                    "Dealer %(dealer)s cannot be deleted on İYS: %(count)s consent(s) were collected by it or give "
                    "it access, and İYS deletes only dealers without linked consents. Remove the dealer from those "
                    "consents first (see the Consents button on the dealer).",
                    dealer=dealer.display_name, count=linked,
                ))
        messages, kind = [], "success"
        for dealer in self:
            brand = dealer.brand_id
            client = brand.account_id._iys_client(brand)
            try:
                client.delete_retailer(int(dealer.code), brand_code=int(brand.code))
            except IysError as exc:
                text = dealer._iys_error_text(exc)
                if exc.code in NOT_FOUND_CODES:
                    dealer.with_context(iys_retailer_sync=True).write({"sync_state": "deleted", "iys_error": text})
                    dealer._iys_post(self.env._("İYS no longer knew this dealer (%(error)s).", error=text))
                    messages.append(self.env._("%(dealer)s: İYS no longer knew it.", dealer=dealer.display_name))
                    kind = "warning"
                else:
                    dealer.with_context(iys_retailer_sync=True).write({"iys_error": text})
                    dealer._iys_post(Markup("<p>%s</p><p>%s</p>") % (
                        self.env._("İYS refused to delete the dealer."), text))
                    messages.append(self.env._("%(dealer)s: İYS refused to delete it: %(error)s",
                                               dealer=dealer.display_name, error=text))
                    kind = "danger"
                continue
            finally:
                client.token_store.release()
            dealer.with_context(iys_retailer_sync=True).write({"sync_state": "deleted", "iys_error": False})
            dealer._iys_post(self.env._("Deleted on İYS (dealer code %(code)s).", code=dealer.code))
            messages.append(self.env._("%(dealer)s: deleted on İYS.", dealer=dealer.display_name))
        return self._iys_notify(self.env._("Delete on İYS"), "\n".join(messages), kind, sticky=kind == "danger")

    @api.model
    def _iys_fetch_brand(self, brand, include_all=True):
        """Fetch the brand's dealers from İYS (paged, 100 a page) and create or update them by code.

        A local dealer not yet registered with the same TCKN takes İYS's code instead of being
        duplicated. With *include_all* (passive and suspended dealers too), registered dealers İYS no
        longer lists are marked deleted on İYS. Returns ``{"created", "updated", "unchanged", "gone"}``.
        Raises IysError when İYS does not answer (nothing is changed then).
        """
        self._iys_check_dealer_manager()
        brand.ensure_one()
        account = brand.account_id
        try:
            self.env["iys.city"]._iys_ensure_places(account)
        except UserError as exc:
            _logger.warning("İYS dealers of brand %s: city and town codes not fetched: %s", brand.code, exc)
        client = account._iys_client(brand)
        items, offset = [], 0
        try:
            for _page in range(FETCH_MAX_PAGES):
                page = client.list_retailers(offset=offset, limit=FETCH_PAGE, all=include_all, short=False,
                                             brand_code=int(brand.code))
                rows = [r for r in (page.get("list") or []) if isinstance(r, dict) and r.get("retailerCode")]
                items.extend(rows)
                offset += len(page.get("list") or [])
                total = (page.get("pagination") or {}).get("totalCount")
                if not rows or (isinstance(total, int) and offset >= total):
                    break
        finally:
            client.token_store.release()
        Dealer = self.with_context(active_test=False, iys_retailer_sync=True)
        existing = {d.code: d for d in Dealer.search([("brand_id", "=", brand.id), ("code", "!=", False)])}
        waiting = {}
        for dealer in Dealer.search([("brand_id", "=", brand.id), ("code", "=", False), ("tckn", "!=", False)]):
            waiting.setdefault(dealer.tckn, dealer)
        stats = {"created": 0, "updated": 0, "unchanged": 0, "gone": 0}
        to_create, seen = [], set()
        for item in items:
            vals = self._iys_values_from(item, brand)
            vals.update(sync_state="registered", iys_error=False)
            code = vals["code"]
            if code in seen:
                continue
            seen.add(code)
            dealer = existing.get(code) or waiting.pop(vals.get("tckn") or "", None)
            if not dealer:
                to_create.append(vals)
                continue
            changed = dealer._iys_changed(vals)
            if changed:
                dealer.write(changed)
                stats["updated"] += 1
            else:
                stats["unchanged"] += 1
        if to_create:
            created = Dealer.create(to_create)
            stats["created"] = len(created)
        if include_all:
            gone = Dealer.browse([d.id for code, d in existing.items() if code not in seen
                                  and d.sync_state == "registered"])
            if gone:
                gone.write({"sync_state": "deleted", "iys_error": self.env._(
                    "İYS no longer lists this dealer (fetch of the brand's dealers).")})
                stats["gone"] = len(gone)
        return stats

    def action_open_consents(self):
        """The consents this dealer collected (context ``iys_consents: collected``) or may use."""
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("l10n_tr_iys.action_iys_consent")
        if self.env.context.get("iys_consents") == "collected":
            action["domain"] = [("retailer_id", "=", self.id)]
            action["name"] = self.env._("Consents collected by %(dealer)s", dealer=self.display_name)
        else:
            action["domain"] = [("retailer_access_ids", "in", self.ids)]
            action["name"] = self.env._("Consents %(dealer)s may use", dealer=self.display_name)
        action["context"] = {"create": False}
        return action
