# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
"""The self-service page: a person sees and changes their consents for the company's brands.

``/iys/preferences/<token>``: the token is signed (``iys.consent.request._iys_preferences_token``,
an HMAC keyed with the database secret) over the company and the contact or the address, so the
link is the key: a tampered or unknown token gets the same 403 page, which never says whether an
address is known. "Stop" records the refusal (RET) at once; "Allow" starts the double opt-in (a
code by SMS, entered on this page, or a link by e-mail, confirmed on ``/iys/confirm/<token>``).

The forms post without Odoo's CSRF token (``csrf=False``): no session grants anything here, the
signed token in the URL is the only credential, and a third party cannot forge a post without it
(as mass_mailing's one-click unsubscribe).

Each page speaks one language, chosen by :meth:`IysSelfServiceController._iys_set_lang` for the
valid, the invalid and the confirmation pages alike. The pages are drawn without the website's or
the portal's header and footer (as web's login page): their menus, "Sign in" and language selector
belong to the site, not to this page, whose own switch is the only one.
"""
import pytz
from werkzeug.exceptions import NotFound
from werkzeug.urls import url_encode

from odoo import fields, http
from odoo.http import request
from odoo.tools import format_datetime

from ..models import iys_policy
from ..models.iys_consent_request import EMAIL_CHANNELS

#: the languages the page speaks (the installed ones among them are offered)
PAGE_LANGS = ("tr_TR", "en_US")
#: the notices a redirect may show (a fixed set: nothing a visitor sends is echoed)
NOTICES = ("stopped", "sms_sent", "email_sent", "confirmed", "wrong_code", "expired", "limited", "failed",
           "not_allowed")
CHANNEL_ORDER = ("MESAJ", "ARAMA", "EPOSTA")


def _visitor():
    httprequest = request.httprequest
    return httprequest.remote_addr, (httprequest.user_agent.string or "")[:500] or None


class IysSelfServiceController(http.Controller):
    # ------------------------------------------------------------------------------------------
    # Helpers
    # ------------------------------------------------------------------------------------------
    def _iys_link(self, token):
        return request.env["iys.consent.request"].sudo()._iys_read_preferences_token(token)

    def _iys_url_lang(self, url_lang):
        """The language of the address's prefix (``/tr/iys/…``, ``/en/iys/…``: its URL code, as
        Odoo's own prefixes), or None without prefix; an unknown prefix is not a page (404).

        The pages declare the prefixed address themselves (Odoo's routing strips the prefix of
        multilang pages only, and sends the default language's prefix to the bare address, where
        it would be lost)."""
        if not url_lang:
            return None
        Lang = request.env["res.lang"].sudo()
        code = Lang._get_data(url_code=url_lang).code or Lang._get_data(code=url_lang).code
        if not code:
            raise NotFound()
        return code

    def _iys_set_lang(self, lang=None, preferred=(), url_lang=None):
        """Set the page's one language; return it and the languages of the page's switch.

        In order, the first language the page speaks (PAGE_LANGS) and the database has: the one
        asked with ``lang`` (the page's switch; its forms and redirects carry it), the address's
        prefix (*url_lang*),
        *preferred* (a valid link's contact and company: an invalid link knows nobody), the
        visitor's language as Odoo's routing chose it (cookie, browser, the site's default), then
        Turkish, English. The texts (context) and the layout (``request.lang``, which the website's
        and the portal's templates read) get the same language."""
        installed = request.env["res.lang"].sudo().get_installed()
        codes = {code for code, _name in installed}
        routing_lang = getattr(request, "lang", None)  # set by http_routing on frontend routes
        candidates = [lang, self._iys_url_lang(url_lang), *preferred, routing_lang and routing_lang.code,
                      "tr_TR", "en_US"]
        chosen = next((code for code in candidates if code in codes and code in PAGE_LANGS), None)
        chosen = chosen or next(iter(sorted(codes)), "en_US")
        request.update_context(lang=chosen)
        if routing_lang is not None:
            request.lang = request.env["res.lang"]._get_data(code=chosen)
        return chosen, [(code, name) for code, name in installed if code in PAGE_LANGS]

    def _iys_link_langs(self, link):
        """The languages a valid link prefers: its contact's, then its company's."""
        return (link["partner"].lang, link["company"].partner_id.lang)

    def _iys_invalid(self, token, lang=None, url_lang=None):
        """The one page of a link that is not valid (tampered, unknown): the same for every token,
        in the language of the rule without a link (the page's switch, the prefix, the visitor's)."""
        lang, langs = self._iys_set_lang(lang, url_lang=url_lang)
        return request.render("l10n_tr_iys.iys_selfservice_invalid", {
            "lang": lang, "langs": langs, "switch_url": "/iys/preferences/%s" % token,
        }, status=403)

    def _iys_visitor_tz(self, company):
        """The time zone dates are shown in: the visitor's browser (the ``tz`` cookie the frontend
        layout sets), else the company's, else Türkiye's."""
        for tz in (request.httprequest.cookies.get("tz"), company.partner_id.tz):
            if tz and tz in pytz.all_timezones_set:
                return tz
        return "Europe/Istanbul"

    def _iys_redirect(self, token, notice=None, lang=None):
        params = {key: value for key, value in (("notice", notice), ("lang", lang)) if value}
        query = ("?" + url_encode(params)) if params else ""
        return request.redirect("/iys/preferences/%s%s" % (token, query), local=True)

    def _iys_rows(self, link):
        """The page's rows: per brand and channel, the address, what the one policy answers, and
        what the person can do about it: stop what they receive (or will receive once İYS has
        registered their consent), allow what they do not receive, or finish a confirmation that
        waits (a code by SMS, entered here; a link by e-mail, opened from the mailbox)."""
        env = request.env(su=True)
        company = link["company"]
        brands = env["iys.brand"].search([("company_id", "=", company.id)], order="sequence, id")
        partner = link["partner"]
        rtype = (partner.iys_recipient_type if partner else False) or "BIREYSEL"
        Consent = env["iys.consent"]
        channel_labels = {
            "MESAJ": request.env._("SMS"), "ARAMA": request.env._("Phone calls"), "EPOSTA": request.env._("E-mail"),
        }
        rows = []
        now = fields.Datetime.now()
        for brand in brands:
            for channel in CHANNEL_ORDER:
                address = link["addresses"].get(channel)
                if not address:
                    continue
                decision = Consent._iys_gate_decisions(brand, channel, [(address, rtype)], company=company)
                state = decision.get((address, rtype))
                consent = Consent.search([
                    ("brand_id", "=", brand.id), ("channel", "=", channel), ("recipient_type", "=", rtype),
                    ("address", "=", address),
                ], limit=1)
                # the person can stop what the policy lets through or will once İYS confirms, and
                # allow anything else: also an ONAY İYS rejected (or kept in Odoo only), which is
                # no consent and which a new ONAY replaces
                may_stop = state in (iys_policy.ALLOWED, iys_policy.UNCONFIRMED)
                waiting = env["iys.consent.request"].search([
                    ("brand_id", "=", brand.id), ("channel", "=", channel), ("address", "=", address),
                    ("recipient_type", "=", rtype), ("state", "=", "sent"), ("expires_at", ">", now),
                ], limit=1) if not may_stop else env["iys.consent.request"]
                if state == iys_policy.REFUSED:
                    reason = request.env._("You have refused them.")
                elif state == iys_policy.NO_CONSENT and consent.status == "ONAY":
                    reason = request.env._("Your earlier consent was not registered with İYS, so it does not count. "
                                           "You can allow them again.")
                elif state == iys_policy.NO_CONSENT:
                    reason = request.env._("You have not allowed them.")
                else:
                    reason = None
                link_request = waiting if waiting.method == "email_link" else None
                rows.append({
                    "brand": brand, "channel": channel,
                    "title": request.env._("%(channel)s from %(brand)s", channel=channel_labels[channel],
                                           brand=brand.name),
                    "address": address, "state": state,
                    "receives": state == iys_policy.ALLOWED,
                    "waiting_iys": state == iys_policy.UNCONFIRMED,
                    "reason": reason,
                    "may_stop": may_stop,
                    "may_allow": not may_stop,
                    "code_request": waiting if waiting.method == "sms_code" else None,
                    "link_request": link_request,
                    "link_sent": link_request and request.env._(
                        "A confirmation link was sent to %(address)s and waits for you to open it: it is valid "
                        "until %(date)s.", address=address, date=format_datetime(
                            request.env, link_request.expires_at, tz=self._iys_visitor_tz(company),
                            dt_format="d MMMM y HH:mm", lang_code=request.env.lang)),
                    "text": env["iys.consent.text"]._iys_current_text(brand, channel, request.env.lang),
                })
        return rows

    def _iys_row_args(self, link, brand_id, channel):
        """(brand, address) of a posted row, checked against the link; or None."""
        try:
            brand_id = int(brand_id)
        except (TypeError, ValueError):
            return None
        brand = request.env["iys.brand"].sudo().browse(brand_id).exists()
        address = link["addresses"].get(channel)
        if not brand or brand.company_id != link["company"] or not address:
            return None
        return brand, address

    # ------------------------------------------------------------------------------------------
    # Pages
    # ------------------------------------------------------------------------------------------
    @http.route(["/iys/preferences/<string:token>", "/<string:url_lang>/iys/preferences/<string:token>"],
                type="http", auth="public", methods=["GET"], sitemap=False, website=True, multilang=False)
    def iys_preferences(self, token, notice=None, lang=None, url_lang=None, **kwargs):
        link = self._iys_link(token)
        if not link:
            return self._iys_invalid(token, lang, url_lang)
        lang, langs = self._iys_set_lang(lang, self._iys_link_langs(link), url_lang)
        return request.render("l10n_tr_iys.iys_selfservice_page", {
            "token": token,
            "switch_url": "/iys/preferences/%s" % token,
            "company": link["company"],
            "partner": link["partner"],
            "intro": request.env._("Choose which commercial messages you receive from %(company)s.",
                                   company=link["company"].name),
            "rows": self._iys_rows(link),
            "notice": notice if notice in NOTICES else None,
            "lang": lang,
            "langs": langs,
        }, headers={"Cache-Control": "no-store", "X-Robots-Tag": "noindex"})

    @http.route("/iys/preferences/<string:token>/stop", type="http", auth="public", methods=["POST"],
                csrf=False, sitemap=False, website=True, multilang=False)
    def iys_preferences_stop(self, token, brand_id=None, channel=None, lang=None, **kwargs):
        link = self._iys_link(token)
        if not link:
            return self._iys_invalid(token, lang)
        self._iys_set_lang(lang, self._iys_link_langs(link))
        args = self._iys_row_args(link, brand_id, channel)
        if not args:
            return self._iys_redirect(token, "not_allowed", lang)
        brand, address = args
        ip_address, user_agent = _visitor()
        partner = link["partner"]
        text = request.env["iys.consent.text"]._iys_current_text(brand, channel, request.env.lang)
        movement = {
            "brand_id": brand.id, "channel": channel,
            "recipient_type": (partner.iys_recipient_type if partner else False) or "BIREYSEL",
            "address": address, "status": "RET", "source": "HS_WEB",
            "evidence": {
                "note": request.env._("Self-service page (/iys/preferences): “Stop” clicked."),
                "ip_address": ip_address, "user_agent": user_agent,
                "consent_text_id": text.id or False, "partner_id": partner.id or False,
            },
        }
        result = request.env["iys.consent"].sudo()._iys_record_movements([movement], "selfservice",
                                                                         raise_on_error=False)[0]
        # a refusal never waits: pending confirmations of the same consent are void
        request.env["iys.consent.request"].sudo().search([
            ("brand_id", "=", brand.id), ("channel", "=", channel), ("address", "=", address), ("state", "=", "sent"),
        ]).write({"state": "cancelled", "error_code": "refused", "error": False})
        # (a second click finds the refusal recorded already: that is done, too)
        stopped = result.ok or request.env["iys.consent"].sudo().search_count([
            ("brand_id", "=", brand.id), ("channel", "=", channel), ("address", "=", address),
            ("recipient_type", "=", movement["recipient_type"]), ("status", "=", "RET"),
        ], limit=1)
        return self._iys_redirect(token, "stopped" if stopped else "failed", lang)

    @http.route("/iys/preferences/<string:token>/allow", type="http", auth="public", methods=["POST"],
                csrf=False, sitemap=False, website=True, multilang=False)
    def iys_preferences_allow(self, token, brand_id=None, channel=None, lang=None, **kwargs):
        link = self._iys_link(token)
        if not link:
            return self._iys_invalid(token, lang)
        lang_code, _langs = self._iys_set_lang(lang, self._iys_link_langs(link))
        args = self._iys_row_args(link, brand_id, channel)
        if not args:
            return self._iys_redirect(token, "not_allowed", lang)
        brand, address = args
        ip_address, user_agent = _visitor()
        partner = link["partner"]
        Request = request.env["iys.consent.request"].sudo()
        if Request._iys_rate_limited(address, ip_address, fields.Datetime.now()):
            return self._iys_redirect(token, "limited", lang)
        req = Request._iys_request([{
            "brand_id": brand.id, "channel": channel,
            "recipient_type": (partner.iys_recipient_type if partner else False) or "BIREYSEL",
            "address": address, "partner_id": partner.id or False,
            "source": "HS_WEB", "origin": "selfservice",
            "request_ip": ip_address, "request_user_agent": user_agent, "lang": lang_code,
        }])
        if req.state == "sent":
            notice = "email_sent" if channel in EMAIL_CHANNELS else "sms_sent"
        else:
            notice = "failed"
        return self._iys_redirect(token, notice, lang)

    @http.route("/iys/preferences/<string:token>/code", type="http", auth="public", methods=["POST"],
                csrf=False, sitemap=False, website=True, multilang=False)
    def iys_preferences_code(self, token, request_id=None, code=None, lang=None, **kwargs):
        link = self._iys_link(token)
        if not link:
            return self._iys_invalid(token, lang)
        try:
            req = request.env["iys.consent.request"].sudo().browse(int(request_id)).exists()
        except (TypeError, ValueError):
            req = None
        # only a request of this link's own addresses and company
        if not req or req.company_id != link["company"] or req.address != link["addresses"].get(req.channel):
            return self._iys_redirect(token, "not_allowed", lang)
        ip_address, user_agent = _visitor()
        if req._iys_confirm_code((code or "").strip()[:12], ip_address, user_agent):
            notice = "confirmed"
        elif req.state == "sent":
            notice = "wrong_code"
        else:
            notice = "expired"
        return self._iys_redirect(token, notice, lang)

    @http.route(["/iys/confirm/<string:token>", "/<string:url_lang>/iys/confirm/<string:token>"], type="http",
                auth="public", methods=["GET", "POST"], csrf=False, sitemap=False, website=True, multilang=False)
    def iys_confirm(self, token, lang=None, url_lang=None, **kwargs):
        """The e-mail link. GET shows the text and a button (mail scanners follow links: only the
        person's click, a POST, confirms); POST confirms."""
        Request = request.env["iys.consent.request"].sudo()
        req = Request._iys_find_by_token(token)
        # the language the request was made in, then its contact's and its company's
        lang, langs = self._iys_set_lang(lang, (req.lang, req.partner_id.lang, req.company_id.partner_id.lang),
                                         url_lang)
        values = {"token": token, "req": req, "company": req.company_id, "lang": lang, "langs": langs,
                  "switch_url": "/iys/confirm/%s" % token if request.httprequest.method == "GET" else None,
                  "confirmed": False, "invalid": False, "question": req and request.env._(
            "%(brand)s asks whether it may send commercial e-mails to %(address)s.",
            brand=req.brand_id.name, address=req.address,
        )}
        if request.httprequest.method == "POST":
            ip_address, user_agent = _visitor()
            confirmed = Request._iys_confirm_token(token, ip_address, user_agent)
            values.update(confirmed=bool(confirmed), invalid=not confirmed)
        else:
            usable = req and req.state == "sent" and req.method == "email_link" and (
                not req.expires_at or req.expires_at >= fields.Datetime.now()
            )
            values["invalid"] = not usable
        if values["invalid"]:
            return request.render("l10n_tr_iys.iys_selfservice_confirm", values, status=404)
        return request.render("l10n_tr_iys.iys_selfservice_confirm", values,
                              headers={"Cache-Control": "no-store", "X-Robots-Tag": "noindex"})

    @http.route("/iys/preferences", type="http", auth="public", methods=["GET"], sitemap=False, website=True,
                multilang=False)
    def iys_preferences_placeholder(self, **kwargs):
        """The placeholder a mailing's editor may link to; each e-mail gets its own signed link."""
        raise NotFound()
