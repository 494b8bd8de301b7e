# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
"""The self-service page: a person sees and changes their consents for the company's brands.

``/iys/preferences/<token>``: the token is signed (``iys.consent.request._iys_preferences_token``,
an HMAC keyed with the database secret) over the company and the contact or the address, so the
link is the key: a tampered or unknown token gets the same 403 page, which never says whether an
address is known. "Stop" records the refusal (RET) at once; "Allow" starts the double opt-in (a
code by SMS, entered on this page, or a link by e-mail, confirmed on ``/iys/confirm/<token>``).

The forms post without Odoo's CSRF token (``csrf=False``): no session grants anything here, the
signed token in the URL is the only credential, and a third party cannot forge a post without it
(as mass_mailing's one-click unsubscribe). Pages follow the contact's language, with a switch.
"""
from werkzeug.exceptions import NotFound
from werkzeug.urls import url_encode

from odoo import fields, http
from odoo.http import request

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

    def _iys_set_lang(self, link=None, lang=None):
        """The page's language: the one asked (switch), else the contact's, else the company's."""
        installed = {code for code, _name in request.env["res.lang"].sudo().get_installed()}
        candidates = [lang]
        if link:
            candidates += [link["partner"].lang, link["company"].partner_id.lang]
        candidates += ["tr_TR", "en_US"]
        chosen = next((code for code in candidates if code in installed and code in PAGE_LANGS), None)
        chosen = chosen or next((code for code in candidates if code in installed), "en_US")
        request.update_context(lang=chosen)
        langs = [(code, name) for code, name in request.env["res.lang"].sudo().get_installed() if code in PAGE_LANGS]
        return chosen, langs

    def _iys_invalid(self):
        self._iys_set_lang()
        return request.render("l10n_tr_iys.iys_selfservice_invalid", {}, status=403)

    def _iys_redirect(self, token, notice=None, lang=None):
        params = {key: value for key, value in (("notice", notice), ("lang", lang)) if value}
        query = ("?" + url_encode(params)) if params else ""
        return request.redirect("/iys/preferences/%s%s" % (token, query), local=True)

    def _iys_rows(self, link):
        """The page's rows: per brand and channel, the address, the policy's answer and the
        requests waiting for a code."""
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
                waiting = env["iys.consent.request"].search([
                    ("brand_id", "=", brand.id), ("channel", "=", channel), ("address", "=", address),
                    ("method", "=", "sms_code"), ("state", "=", "sent"), ("expires_at", ">", now),
                ], limit=1)
                rows.append({
                    "brand": brand, "channel": channel,
                    "title": request.env._("%(channel)s from %(brand)s", channel=channel_labels[channel],
                                           brand=brand.name),
                    "address": address, "state": state,
                    "receives": state == iys_policy.ALLOWED,
                    "waiting_iys": state == iys_policy.UNCONFIRMED,
                    "may_stop": consent.status == "ONAY" or state == iys_policy.ALLOWED,
                    "may_allow": consent.status != "ONAY" and state != iys_policy.ALLOWED,
                    "code_request": waiting,
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
    @http.route("/iys/preferences/<string:token>", type="http", auth="public", methods=["GET"],
                sitemap=False, website=True, multilang=False)
    def iys_preferences(self, token, notice=None, lang=None, **kwargs):
        link = self._iys_link(token)
        if not link:
            return self._iys_invalid()
        lang, langs = self._iys_set_lang(link, lang)
        return request.render("l10n_tr_iys.iys_selfservice_page", {
            "token": token,
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
            return self._iys_invalid()
        self._iys_set_lang(link, lang)
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
            return self._iys_invalid()
        lang_code, _langs = self._iys_set_lang(link, lang)
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
            return self._iys_invalid()
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

    @http.route("/iys/confirm/<string:token>", type="http", auth="public", methods=["GET", "POST"],
                csrf=False, sitemap=False, website=True, multilang=False)
    def iys_confirm(self, token, lang=None, **kwargs):
        """The e-mail link. GET shows the text and a button (mail scanners follow links: only the
        person's click, a POST, confirms); POST confirms."""
        Request = request.env["iys.consent.request"].sudo()
        req = Request._iys_find_by_token(token)
        self._iys_set_lang(None, lang or req.lang or (req.partner_id.lang if req else None))
        values = {"token": token, "req": req, "confirmed": False, "invalid": False, "question": req and request.env._(
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
