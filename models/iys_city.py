# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
"""Cities as İYS codes them (``GET /info/city``), cached for the dealers' addresses."""
import logging

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError

from ..iyslib.errors import IysError
from .iys_sync_common import error_code_and_text

_logger = logging.getLogger(__name__)


class IysCity(models.Model):
    """A city (il) with İYS's code; filled from İYS's info services, read-only for everyone."""

    _name = "iys.city"
    _description = "İYS City"
    _order = "name, id"

    name = fields.Char(required=True, readonly=True)
    code = fields.Char(required=True, readonly=True, index=True, help="İYS's city code.")
    town_ids = fields.One2many("iys.town", "city_id", string="Towns")

    _sql_constraints = [("code_uniq", "unique(code)", "A city code may appear only once.")]

    @api.model
    def _iys_fetch_places(self, account):
        """Fill the city and town cache from İYS's info services (``/info/city``, ``/info/town``).

        Creates the cities and towns İYS lists and renames those whose name changed; returns
        ``(cities, towns)``, the number of each İYS listed. Raises UserError with İYS's reason when it
        cannot answer. Only İYS managers (or the server) may fill it.
        """
        if not (self.env.su or self.env.user.has_group("l10n_tr_iys.group_iys_manager")):
            raise AccessError(self.env._("Only İYS managers may fetch the city and town codes from İYS."))
        account.ensure_one()
        client = account._iys_client()
        try:
            cities = client.list_cities()
            towns = client.list_towns()
        except IysError as exc:
            code, text = error_code_and_text(exc, account._iys_lang())
            reason = f"{code}: {text}" if code else text
            raise UserError(self.env._("İYS did not send its city and town codes: %(reason)s", reason=reason)) from exc
        finally:
            client.token_store.release()
        City, Town = self.sudo(), self.env["iys.town"].sudo()
        city_by_code = {c.code: c for c in City.search([])}
        new_cities = []
        for item in cities:
            if not isinstance(item, dict) or item.get("code") in (None, "") or not item.get("name"):
                continue
            code, name = str(item["code"]), str(item["name"])
            city = city_by_code.get(code)
            if city is None:
                new_cities.append({"code": code, "name": name})
                city_by_code[code] = True
            elif city.name != name:
                city.name = name
        if new_cities:
            for city in City.create(new_cities):
                city_by_code[city.code] = city
        town_by_code = {t.code: t for t in Town.search([])}
        new_towns = []
        for item in towns:
            if not isinstance(item, dict) or item.get("code") in (None, "") or not item.get("name"):
                continue
            code, name = str(item["code"]), str(item["name"])
            city = city_by_code.get(str(item.get("city_code") or ""))
            vals = {"name": name, "city_id": city.id if city else False}
            town = town_by_code.get(code)
            if town is None:
                new_towns.append({"code": code, **vals})
                town_by_code[code] = True
            elif town.name != name or town.city_id.id != vals["city_id"]:
                town.write(vals)
        if new_towns:
            Town.create(new_towns)
        _logger.info("İYS info services: %s cities, %s towns (%s and %s new)",
                     len(cities), len(towns), len(new_cities), len(new_towns))
        return len(cities), len(towns)

    @api.model
    def _iys_ensure_places(self, account):
        """Fetch the city and town codes once, when the cache is still empty; True when filled."""
        if self.sudo().search_count([], limit=1):
            return True
        self._iys_fetch_places(account)
        return bool(self.sudo().search_count([], limit=1))
