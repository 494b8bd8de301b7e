# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
import re
from datetime import timedelta
from unittest.mock import patch

from lxml import html as lxml_html

from odoo import fields
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import Form, HttpCase, new_test_user, tagged

from odoo.addons.mail.tests.common import MockEmail
from odoo.addons.sms.tests.common import SMSCase

from ..models.iys_consent import ledger
from ..models.iys_consent_request import LIMIT_PER_IP, MAX_ATTEMPTS
from .common import IysCommon
from .common_gate import IysGateCommon

CODE_RE = re.compile(r"\b(\d{6})\b")
CONFIRM_RE = re.compile(r"/iys/confirm/([A-Za-z0-9_-]+)")


class SelfServiceCommon(SMSCase, MockEmail, IysCommon, HttpCase):
    """A contact with an e-mail address and a mobile number, consent texts in use for both
    channels, and helpers to open the contact's signed page and post its forms. (HttpCase is named:
    Odoo's SMS test helper is an HttpCase in later 18.0 releases only.)"""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # our account first: cls.brand is the company's default brand, not the demo's
        cls.account.sequence = 0
        cls.env.invalidate_all()
        cls.company = cls.env.company
        # the page lists every brand of the company: only the test's two (not the demo's)
        cls.env["iys.brand"].search([
            ("company_id", "=", cls.company.id), ("id", "not in", (cls.brand | cls.brand_b).ids),
        ]).write({"active": False})
        cls.Request = cls.env["iys.consent.request"]
        cls.partner = cls.env["res.partner"].create({
            "name": "Selin Self", "email": "selin@example.com", "mobile": "+90 532 765 43 21", "lang": "en_US",
        })
        cls.number = "+905327654321"
        cls.texts = cls.env["iys.consent.text"].create([
            {"name": "ETK e-posta", "brand_id": cls.brand.id, "channel": "EPOSTA", "lang": "en_US",
             "version": "ETK-E-1", "body": "<p>I agree to receive e-mails.</p>", "state": "active"},
            {"name": "ETK SMS", "brand_id": cls.brand.id, "channel": "MESAJ", "lang": "en_US",
             "version": "ETK-S-1", "body": "<p>I agree to receive SMS.</p>", "state": "active"},
        ])
        cls.text_email, cls.text_sms = cls.texts

    def page_url(self, partner=None, channel=None, address=None, company=None):
        token = self.Request._iys_preferences_token(company or self.company, partner=partner, channel=channel,
                                                    address=address)
        return f"/iys/preferences/{token}", token

    def url_open(self, *args, **kwargs):
        response = super().url_open(*args, **kwargs)
        # the request ran in its own environment: what the test reads must come from the database
        self.env.invalidate_all()
        return response

    def post(self, token, action, **data):
        return self.url_open(f"/iys/preferences/{token}/{action}", data=data)

    def notice(self, response):
        found = re.search(r"notice=(\w+)", response.url)
        return found and found.group(1)

    def consent(self, address, channel, brand=None):
        return self.env["iys.consent"].search([
            ("address", "=", address), ("channel", "=", channel), ("brand_id", "=", (brand or self.brand).id),
        ])

    def last_code(self):
        bodies = [sms["body"] for sms in self._sms if sms["number"] == self.number]
        self.assertTrue(bodies, "a code was sent by SMS")
        return CODE_RE.search(bodies[-1]).group(1)

    def last_link_token(self, email="selin@example.com"):
        bodies = [mail["body"] for mail in self._mails if email in " ".join(mail["email_to"])]
        self.assertTrue(bodies, "a link was sent by e-mail")
        return CONFIRM_RE.search(bodies[-1]).group(1)

    @staticmethod
    def by_class(element, css_class):
        """The elements under *element* (lxml) that carry the class *css_class*."""
        return element.xpath(f".//*[contains(concat(' ', normalize-space(@class), ' '), ' {css_class} ')]")

    def page_row(self, response, channel, brand=None):
        """The row (lxml element) of *brand* and *channel* on a rendered page."""
        doc = lxml_html.fromstring(response.content)
        rows = self.by_class(doc, f"o_iys_row_{channel}")
        rows = [row for row in rows if f"o_iys_brand_{(brand or self.brand).id}" in row.get("class").split()]
        self.assertEqual(len(rows), 1, f"one row for {channel}")
        return rows[0]

    def row_text(self, row):
        return " ".join(row.text_content().split())


@tagged("post_install", "-at_install", "l10n_tr_iys")
class TestSelfServicePage(SelfServiceCommon):
    """The signed page as a person uses it: one-click refusal, double opt-in by SMS code and by
    e-mail link, limits, no enumeration, tampering."""

    def test_page_shows_policy_wording_per_brand_and_channel(self):
        self.record("selin@example.com", channel="EPOSTA", source="IYS_WEB", origin="iys_pull",
                    transaction_id="t" * 40)
        url, _token = self.page_url(self.partner)
        response = self.url_open(url)
        self.assertEqual(response.status_code, 200)
        html = response.text
        self.assertIn("Your communication preferences", html)
        # every brand of the company, every channel of the contact
        for brand in (self.brand, self.brand_b):
            for channel in ("MESAJ", "ARAMA", "EPOSTA"):
                self.assertIn(f"o_iys_row_{channel} o_iys_brand_{brand.id}", html)
        self.assertEqual(html.count("You receive commercial messages"), 1, "only Brand A e-mail is allowed")
        self.assertEqual(html.count("You do not receive commercial messages"), 5)
        self.assertIn("I agree to receive SMS.", html, "the text in use is shown next to Allow")

    def test_stop_records_refusal_at_once_with_evidence(self):
        self.record("selin@example.com", channel="EPOSTA")
        _url, token = self.page_url(self.partner)
        response = self.post(token, "stop", brand_id=self.brand.id, channel="EPOSTA")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(self.notice(response), "stopped")
        self.assertIn("you no longer receive these commercial messages", response.text)
        consent = self.consent("selin@example.com", "EPOSTA")
        self.assertEqual(consent.status, "RET")
        event = consent.event_ids.sorted("id")[-1]
        self.assertEqual((event.new_status, event.origin, event.source), ("RET", "selfservice", "HS_WEB"))
        self.assertEqual(event.ip_address, "127.0.0.1")
        self.assertTrue(event.user_agent)
        self.assertIn("/iys/preferences", event.evidence_note)
        self.assertEqual(event.consent_text_id, self.text_email)
        self.assertEqual(event.partner_id, self.partner)
        self.assertEqual(self.partner.iys_email_state, "refused")
        # a second click (another tab) changes nothing and says it is done
        response = self.post(token, "stop", brand_id=self.brand.id, channel="EPOSTA")
        self.assertEqual(self.notice(response), "stopped")
        self.assertEqual(len(consent.event_ids), 2)

    def test_stop_without_record_still_blocks(self):
        """A refusal of an address İYS has no record of stays in Odoo (H175) and blocks at once."""
        _url, token = self.page_url(self.partner)
        response = self.post(token, "stop", brand_id=self.brand_b.id, channel="MESAJ")
        self.assertEqual(self.notice(response), "stopped")
        consent = self.consent(self.number, "MESAJ", brand=self.brand_b)
        self.assertEqual((consent.status, consent.event_ids.origin), ("RET", "selfservice"))

    def test_sms_double_opt_in(self):
        _url, token = self.page_url(self.partner)
        with self.mockSMSGateway():
            response = self.post(token, "allow", brand_id=self.brand.id, channel="MESAJ")
        self.assertEqual(self.notice(response), "sms_sent")
        self.assertIn("o_iys_code_form", response.text, "the page asks for the code")
        request = self.Request.search([("address", "=", self.number)])
        self.assertEqual((request.state, request.method, request.origin, request.source),
                         ("sent", "sms_code", "selfservice", "HS_WEB"))
        self.assertEqual(request.consent_text_id, self.text_sms)
        self.assertFalse(self.consent(self.number, "MESAJ"), "nothing is recorded before the confirmation")
        code = self.last_code()
        self.assertNotIn(code, request.sudo().code_hash, "the code is stored hashed")
        self.assertIn(f"/iys/preferences/{token}", self._sms[-1]["body"], "the SMS links the page")
        wrong = "000000" if code != "000000" else "111111"
        response = self.post(token, "code", request_id=request.id, code=wrong)
        self.assertEqual(self.notice(response), "wrong_code")
        self.assertEqual(request.attempts, 1)
        self.assertFalse(self.consent(self.number, "MESAJ"))
        response = self.post(token, "code", request_id=request.id, code=code)
        self.assertEqual(self.notice(response), "confirmed")
        request.invalidate_recordset()
        self.assertEqual(request.state, "confirmed")
        consent = self.consent(self.number, "MESAJ")
        event = consent.event_ids
        self.assertEqual((consent.status, event.origin, event.source), ("ONAY", "selfservice", "HS_WEB"))
        self.assertEqual(request.event_id, event)
        self.assertEqual(event.consent_text_id, self.text_sms)
        self.assertEqual(event.notice_version, "ETK-S-1")
        self.assertEqual(event.ip_address, "127.0.0.1")
        self.assertEqual(event.consent_date, request.confirmed_at)
        self.assertIn("requested on", event.evidence_note)
        self.assertIn("confirmed on", event.evidence_note)
        self.assertEqual(consent.sync_state, "pending", "queued for İYS")
        # the code works once
        self.assertFalse(request._iys_confirm_code(code))
        self.assertEqual(len(consent.event_ids), 1)

    def test_sms_code_expired(self):
        with self.mockSMSGateway():
            request = self.Request.sudo()._iys_request([{
                "brand_id": self.brand.id, "channel": "MESAJ", "address": "0532 765 43 21", "source": "HS_WEB",
            }])
        code = self.last_code()
        request.expires_at = fields.Datetime.now() - timedelta(seconds=1)
        self.assertFalse(request._iys_confirm_code(code))
        self.assertEqual(request.state, "expired")
        self.assertFalse(self.consent(self.number, "MESAJ"))

    def test_sms_too_many_attempts_kill_the_request(self):
        with self.mockSMSGateway():
            request = self.Request.sudo()._iys_request([{
                "brand_id": self.brand.id, "channel": "MESAJ", "address": self.number,
            }])
        code = self.last_code()
        wrong = "000000" if code != "000000" else "111111"
        for _attempt in range(MAX_ATTEMPTS):
            self.assertFalse(request._iys_confirm_code(wrong))
        self.assertEqual((request.state, request.attempts), ("cancelled", MAX_ATTEMPTS))
        self.assertFalse(request._iys_confirm_code(code), "the right code no longer works")
        self.assertFalse(self.consent(self.number, "MESAJ"))

    def test_code_of_another_link_is_refused(self):
        with self.mockSMSGateway():
            request = self.Request.sudo()._iys_request([{
                "brand_id": self.brand.id, "channel": "MESAJ", "address": "+905320000001",
            }])
        _url, token = self.page_url(self.partner)
        response = self.post(token, "code", request_id=request.id, code="123456")
        self.assertEqual(self.notice(response), "not_allowed")
        self.assertEqual(request.attempts, 0)

    def test_email_double_opt_in(self):
        _url, token = self.page_url(self.partner)
        with self.mock_mail_gateway():
            response = self.post(token, "allow", brand_id=self.brand.id, channel="EPOSTA")
        self.assertEqual(self.notice(response), "email_sent")
        link = self.last_link_token()
        request = self.Request.search([("address", "=", "selin@example.com")])
        self.assertEqual((request.state, request.method), ("sent", "email_link"))
        self.assertNotEqual(request.sudo().token_hash, link, "the token is stored hashed")
        # opening the link (as a mail scanner would) records nothing
        response = self.url_open(f"/iys/confirm/{link}")
        self.assertEqual(response.status_code, 200)
        self.assertIn("I agree to receive e-mails.", response.text)
        self.assertFalse(self.consent("selin@example.com", "EPOSTA"))
        # the person's click does
        response = self.url_open(f"/iys/confirm/{link}", data={"confirm": "1"})
        self.assertEqual(response.status_code, 200)
        self.assertIn("o_iys_confirmed", response.text)
        consent = self.consent("selin@example.com", "EPOSTA")
        self.assertEqual((consent.status, consent.event_ids.origin), ("ONAY", "selfservice"))
        self.assertEqual(consent.event_ids.consent_text_id, self.text_email)
        self.assertEqual(request.event_id, consent.event_ids)
        # reused: refused, nothing recorded twice
        response = self.url_open(f"/iys/confirm/{link}", data={"confirm": "1"})
        self.assertEqual(response.status_code, 404)
        self.assertIn("o_iys_link_invalid", response.text)
        self.assertEqual(len(consent.event_ids), 1)
        self.assertFalse(self.Request._iys_confirm_token(link))

    def test_email_link_expired(self):
        with self.mock_mail_gateway():
            request = self.Request.sudo()._iys_request([{
                "brand_id": self.brand.id, "channel": "EPOSTA", "address": "Selin@Example.com",
            }])
        link = self.last_link_token()
        request.expires_at = fields.Datetime.now() - timedelta(seconds=1)
        response = self.url_open(f"/iys/confirm/{link}", data={"confirm": "1"})
        self.assertEqual(response.status_code, 404)
        self.assertEqual(request.state, "expired")
        self.assertFalse(self.consent("selin@example.com", "EPOSTA"))
        self.assertEqual(self.url_open("/iys/confirm/not-a-token").status_code, 404)

    def test_rate_limit_per_address(self):
        _url, token = self.page_url(self.partner)
        with self.mockSMSGateway():
            notices = [self.notice(self.post(token, "allow", brand_id=brand.id, channel="MESAJ"))
                       for brand in (self.brand, self.brand_b, self.brand, self.brand_b)]
        self.assertEqual(notices, ["sms_sent", "sms_sent", "sms_sent", "limited"])
        self.assertEqual(len([sms for sms in self._sms if sms["number"] == self.number]), 3)
        # a request refused by the limit says why and raises nothing
        request = self.Request.sudo()._iys_request([{"brand_id": self.brand.id, "channel": "MESAJ",
                                                     "address": self.number}])
        self.assertEqual((request.state, request.error_code), ("failed", "rate_address"))
        self.assertIn("Too many requests for this address", request.error_message)

    def test_rate_limit_per_visitor(self):
        with self.mockSMSGateway():
            requests = self.Request.sudo()._iys_request([
                {"brand_id": self.brand.id, "channel": "MESAJ", "address": f"+9053200000{index:02d}",
                 "request_ip": "10.1.2.3"}
                for index in range(LIMIT_PER_IP + 1)
            ])
        self.assertEqual(requests.mapped("state"), ["sent"] * LIMIT_PER_IP + ["failed"])
        self.assertEqual(requests[-1].error_code, "rate_visitor")
        self.assertIn("Too many requests from this visitor", requests[-1].error_message)
        self.assertEqual(len(self._sms), LIMIT_PER_IP)
        # another visitor is not concerned
        with self.mockSMSGateway():
            other = self.Request.sudo()._iys_request([
                {"brand_id": self.brand.id, "channel": "MESAJ", "address": "+905320009999", "request_ip": "10.9.9.9"}
            ])
        self.assertEqual(other.state, "sent")

    def test_no_enumeration(self):
        """Known and unknown addresses get the same answers: the page for a signed address link, the
        request, and the 403 of a tampered link."""
        known, unknown = "known@example.com", "nobody@example.com"
        self.record(known, channel="EPOSTA", status="RET")
        bodies = []
        for address in (known, unknown):
            _url, token = self.page_url(channel="EPOSTA", address=address)
            with self.mock_mail_gateway():
                response = self.post(token, "allow", brand_id=self.brand.id, channel="EPOSTA")
            self.assertEqual(self.notice(response), "email_sent")
            tampered = token[:-1] + ("0" if token[-1] != "0" else "1")
            forged = self.url_open(f"/iys/preferences/{tampered}")
            self.assertEqual(forged.status_code, 403)
            # the page may link its own URL (e.g. a language switch): the visitor's own token, not an answer
            bodies.append(re.sub(r'csrf_token: "[^"]*"', "", forged.text).replace(tampered, "<token>"))
        self.assertEqual(bodies[0], bodies[1])
        # (in the site's language: a forged link names nobody whose language could be used)
        self.assertIn("o_iys_invalid", bodies[0])
        self.assertNotIn("@example.com", bodies[0])
        requests = self.Request.search([("address", "in", (known, unknown))])
        self.assertEqual(requests.mapped("state"), ["sent", "sent"])

    def test_signature_tampering(self):
        url, token = self.page_url(self.partner)
        self.assertEqual(self.url_open(url).status_code, 200)
        other = self.env["res.partner"].create({"name": "Other", "email": "other@example.com"})
        company_id, rest = token.split("-", 1)
        signature = rest.rsplit("-", 1)[1]
        forged_tokens = [
            f"{company_id}-p{other.id}-{signature}",  # another contact, same signature
            f"{company_id}-e{rest[1:].rsplit('-', 1)[0]}-{signature}",  # another kind
            f"{int(company_id) + 1}-{rest}",  # another company
            token.upper(),
            "garbage",
        ]
        for forged in forged_tokens:
            response = self.url_open(f"/iys/preferences/{forged}")
            self.assertEqual(response.status_code, 403, forged)
            self.assertNotIn("Selin", response.text)
        # the forms refuse a forged link too, and record nothing
        response = self.url_open(f"/iys/preferences/{forged_tokens[0]}/stop",
                                 data={"brand_id": self.brand.id, "channel": "EPOSTA"})
        self.assertEqual(response.status_code, 403)
        self.assertFalse(self.consent("other@example.com", "EPOSTA"))
        # a brand of another company is not on the link
        response = self.post(token, "stop", brand_id=999999, channel="EPOSTA")
        self.assertEqual(self.notice(response), "not_allowed")

    def test_language_switch(self):
        url, _token = self.page_url(self.partner)
        response = self.url_open(url)
        self.assertIn('lang="en-US"', response.text)
        if "tr_TR" in dict(self.env["res.lang"].get_installed()):
            response = self.url_open(url + "?lang=tr_TR")
            self.assertIn('lang="tr-TR"', response.text)
            self.assertIn("o_iys_lang_en_US", response.text)

    def test_page_has_no_site_chrome(self):
        """The page is not dressed in the site's header and footer (menus, "Sign in", the site's
        language selector, which follow the site's language): its own header names the company and
        offers the page's one language switch; the invalid page too."""
        url, token = self.page_url(self.partner)
        tampered = token[:-1] + ("0" if token[-1] != "0" else "1")
        for path, status in ((url, 200), (f"/iys/preferences/{tampered}", 403)):
            response = self.url_open(path)
            self.assertEqual(response.status_code, status)
            doc = lxml_html.fromstring(response.content)
            self.assertFalse(doc.xpath("//header[@id='top'] | //footer[@id='bottom']"), path)
            self.assertFalse(self.by_class(doc, "js_language_selector"), "no site language selector")
            self.assertNotIn("/web/login", response.text, "no sign-in link")
            self.assertEqual(doc.findtext(".//title"), "Communication preferences")
            if "tr_TR" in dict(self.env["res.lang"].get_installed()):
                self.assertEqual(len(self.by_class(doc, "o_iys_lang_switch")), 1, "the page's own switch")
        response = self.url_open(url)
        doc = lxml_html.fromstring(response.content)
        self.assertEqual([e.text for e in self.by_class(doc, "o_iys_company")], [self.company.name])

    def test_cron_expires_old_requests(self):
        with self.mockSMSGateway():
            old, fresh = self.Request.sudo()._iys_request([
                {"brand_id": self.brand.id, "channel": "MESAJ", "address": "+905320000001"},
                {"brand_id": self.brand.id, "channel": "MESAJ", "address": "+905320000002"},
            ])
        old.expires_at = fields.Datetime.now() - timedelta(minutes=1)
        self.assertEqual(self.Request._cron_iys_expire_requests(), 1)
        self.assertEqual((old.state, fresh.state), ("expired", "sent"))

    def test_new_request_replaces_waiting_one(self):
        with self.mockSMSGateway():
            first = self.Request.sudo()._iys_request([{"brand_id": self.brand.id, "channel": "MESAJ",
                                                        "address": self.number}])
            first_code = self.last_code()
            second = self.Request.sudo()._iys_request([{"brand_id": self.brand.id, "channel": "MESAJ",
                                                         "address": self.number}])
        self.assertEqual((first.state, second.state), ("cancelled", "sent"))
        self.assertFalse(first._iys_confirm_code(first_code))

    def test_unknown_brand_is_refused_clearly(self):
        with self.assertRaises(ValidationError):
            self.Request.sudo()._iys_request([{"brand_id": 999999, "channel": "MESAJ", "address": self.number}])

    def test_invalid_address_is_refused_clearly(self):
        request = self.Request.sudo()._iys_request([{"brand_id": self.brand.id, "channel": "MESAJ",
                                                     "address": "12"}])
        self.assertEqual((request.state, request.error_code), ("failed", "invalid_address"))
        # the İYS rule's code is stored; its meaning is read in the reader's language
        self.assertRegex(request.error, r"^H\d{3}$")
        self.assertTrue(request.error_message.startswith("The address is not valid. %s: " % request.error))


@tagged("post_install", "-at_install", "l10n_tr_iys")
class TestSelfServiceLanguage(SelfServiceCommon):
    """One language per page, the same for the texts, the layout and the page's switch: the switch
    (?lang=), then the URL's prefix, then the contact's language; the invalid page follows the same
    rule without a contact."""

    TITLES = {"tr_TR": "İletişim tercihleriniz", "en_US": "Your communication preferences"}
    INVALID = {"tr_TR": "Bu bağlantı geçerli değil", "en_US": "This link is not valid"}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["res.lang"]._activate_lang("tr_TR")
        cls.env["ir.module.module"]._load_module_terms(["l10n_tr_iys"], ["tr_TR"], overwrite=True)
        # the site's default language (Odoo redirects its prefix away) and the other one, whose
        # prefix Odoo's routing keeps (as http_routing's _get_default_lang without website)
        default = cls.env["ir.default"]._get("res.partner", "lang") or next(
            iter(cls.env["res.lang"]._get_active_by("code")))
        cls.default_lang = default
        cls.other_lang = "tr_TR" if default != "tr_TR" else "en_US"
        cls.other_prefix = cls.env["res.lang"]._get_data(code=cls.other_lang).url_code
        cls.partner.lang = default

    def assertPageLang(self, response, lang, texts):
        doc = lxml_html.fromstring(response.content)
        self.assertEqual(doc.get("lang"), lang.replace("_", "-"), "the layout's language")
        self.assertIn(texts[lang], response.text, "the texts' language")
        other = "en_US" if lang == "tr_TR" else "tr_TR"
        self.assertNotIn(texts[other], response.text)
        current = self.by_class(doc, "o_iys_lang_current")
        self.assertEqual([e.get("class").split()[1] for e in current], [f"o_iys_lang_{lang}"], "the switch's language")
        switch_links = [a.get("href") for a in self.by_class(doc, "o_iys_lang_switch")[0].iter("a")]
        self.assertEqual([href.rsplit("lang=", 1)[1] for href in switch_links], [other])
        # the forms carry the page's language to the next page
        self.assertEqual({i.get("value") for i in doc.xpath("//form//input[@name='lang']")} - {lang}, set())
        return doc

    def test_contact_language_without_prefix(self):
        url, _token = self.page_url(self.partner)
        self.assertPageLang(self.url_open(url), self.default_lang, self.TITLES)
        self.partner.lang = self.other_lang
        self.assertPageLang(self.url_open(url), self.other_lang, self.TITLES)

    def test_url_prefix_sets_the_page_language(self):
        url, _token = self.page_url(self.partner)
        response = self.url_open(f"/{self.other_prefix}{url}")
        self.assertEqual(response.status_code, 200)
        self.assertFalse(response.history, "served under its prefix, not redirected")
        doc = self.assertPageLang(response, self.other_lang, self.TITLES)
        self.assertTrue(doc.xpath("//form//input[@name='lang']"), "the forms say the language")
        # the page's own switch comes first
        response = self.url_open(f"/{self.other_prefix}{url}?lang={self.default_lang}")
        self.assertPageLang(response, self.default_lang, self.TITLES)
        # the site's default language too: its prefix is not lost in a redirect to the bare address
        self.partner.lang = self.other_lang
        default_prefix = self.env["res.lang"]._get_data(code=self.default_lang).url_code
        response = self.url_open(f"/{default_prefix}{url}")
        self.assertFalse(response.history)
        self.assertPageLang(response, self.default_lang, self.TITLES)
        # a prefix that names no language is no page
        self.assertEqual(self.url_open(f"/xx{url}").status_code, 404)

    def test_forms_and_notices_keep_the_language(self):
        _url, token = self.page_url(self.partner)
        response = self.post(token, "stop", brand_id=self.brand.id, channel="MESAJ", lang=self.other_lang)
        self.assertEqual(self.notice(response), "stopped")
        self.assertPageLang(response, self.other_lang, self.TITLES)

    def test_invalid_page_follows_the_same_rule(self):
        _url, token = self.page_url(self.partner)
        tampered = token[:-1] + ("0" if token[-1] != "0" else "1")
        for lang in ("tr_TR", "en_US"):
            response = self.url_open(f"/iys/preferences/{tampered}?lang={lang}")
            self.assertEqual(response.status_code, 403)
            self.assertPageLang(response, lang, self.INVALID)
            response = self.post(tampered, "stop", brand_id=self.brand.id, channel="EPOSTA", lang=lang)
            self.assertEqual(response.status_code, 403)
            self.assertPageLang(response, lang, self.INVALID)
        response = self.url_open(f"/{self.other_prefix}/iys/preferences/{tampered}")
        self.assertEqual(response.status_code, 403)
        self.assertPageLang(response, self.other_lang, self.INVALID)
        self.assertNotIn("Selin", response.text)

    def test_confirmation_page_follows_the_same_rule(self):
        with self.mock_mail_gateway():
            self.Request.sudo()._iys_request([{"brand_id": self.brand.id, "channel": "EPOSTA",
                                               "address": "selin@example.com", "lang": self.default_lang}])
        link = self.last_link_token()
        texts = {"tr_TR": "E-postalarımızı almak istediğinizi onaylayın",
                 "en_US": "Confirm that you want to receive our e-mails"}
        for path, lang in ((f"/iys/confirm/{link}", self.default_lang),
                           (f"/{self.other_prefix}/iys/confirm/{link}", self.other_lang),
                           (f"/iys/confirm/{link}?lang={self.other_lang}", self.other_lang)):
            response = self.url_open(path)
            self.assertEqual(response.status_code, 200)
            doc = lxml_html.fromstring(response.content)
            self.assertEqual(doc.get("lang"), lang.replace("_", "-"), path)
            self.assertIn(texts[lang], response.text, path)
            self.assertEqual(doc.xpath("//form//input[@name='lang']/@value"), [lang], path)


@tagged("post_install", "-at_install", "l10n_tr_iys")
class TestSelfServiceRows(SelfServiceCommon):
    """Each row says what the one policy decides and offers what the person can do about it."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company.iys_pending_policy = "block"
        cls.company.partner_id.tz = "Europe/Istanbul"

    def buttons(self, row):
        return {name for name in ("o_iys_stop", "o_iys_allow", "o_iys_resend", "o_iys_confirm_code")
                if self.by_class(row, name)}

    def status(self, row):
        return [e.get("class").split()[1] for e in self.by_class(row, "o_iys_status")]

    def test_rows_follow_the_policy(self):
        # Brand A e-mail: an ONAY İYS rejected is no consent: no Stop, Allow again, and why
        rejected = self.record("selin@example.com", channel="EPOSTA").consent
        ledger(rejected).write({"sync_state": "rejected", "iys_error_code": "H121"})
        # Brand A SMS: refused
        self.record(self.number, channel="MESAJ", status="RET")
        # Brand B SMS: confirmed by İYS; Brand B e-mail: recorded, waiting for İYS
        self.record(self.number, channel="MESAJ", brand=self.brand_b, source="IYS_WEB", origin="iys_pull",
                    transaction_id="r" * 40)
        self.record("selin@example.com", channel="EPOSTA", brand=self.brand_b)
        url, _token = self.page_url(self.partner)
        response = self.url_open(url)
        expected = {
            # (brand, channel): (status, buttons, reason)
            (self.brand, "EPOSTA"): ("o_iys_not_receives", {"o_iys_allow"},
                                     "Your earlier consent was not registered with İYS"),
            (self.brand, "MESAJ"): ("o_iys_not_receives", {"o_iys_allow"}, "You have refused them."),
            (self.brand, "ARAMA"): ("o_iys_not_receives", {"o_iys_allow"}, "You have not allowed them."),
            (self.brand_b, "MESAJ"): ("o_iys_receives", {"o_iys_stop"}, None),
            (self.brand_b, "EPOSTA"): ("o_iys_waiting_iys", {"o_iys_stop"},
                                       "Your consent is being registered with İYS."),
        }
        for (brand, channel), (status, buttons, reason) in expected.items():
            row = self.page_row(response, channel, brand)
            key = (brand.name, channel)
            self.assertEqual(self.status(row), [status], key)
            self.assertEqual(self.buttons(row), buttons, key)
            if reason:
                self.assertIn(reason, self.row_text(row), key)
            if status != "o_iys_not_receives":
                self.assertNotIn("You do not receive", self.row_text(row), key)
        # Allow works on the rejected consent: a new ONAY replaces it and waits for İYS
        _url, token = self.page_url(self.partner)
        with self.mock_mail_gateway():
            self.post(token, "allow", brand_id=self.brand.id, channel="EPOSTA")
        self.assertTrue(self.Request._iys_confirm_token(self.last_link_token()))
        self.assertEqual((rejected.status, rejected.sync_state), ("ONAY", "pending"))
        row = self.page_row(self.url_open(url), "EPOSTA")
        self.assertEqual((self.status(row), self.buttons(row)), (["o_iys_waiting_iys"], {"o_iys_stop"}))

    def test_email_allow_says_the_link_waits(self):
        url, token = self.page_url(self.partner)
        with self.mock_mail_gateway():
            response = self.post(token, "allow", brand_id=self.brand.id, channel="EPOSTA")
        self.assertEqual(self.notice(response), "email_sent")
        request = self.Request.search([("address", "=", "selin@example.com")])
        row = self.page_row(response, "EPOSTA")
        self.assertEqual(self.status(row), ["o_iys_not_receives"], "nothing changes before the click")
        self.assertEqual(self.buttons(row), {"o_iys_resend"}, "no Allow as if nothing happened")
        waiting = self.by_class(row, "o_iys_link_waiting")
        self.assertEqual(len(waiting), 1)
        text = self.row_text(waiting[0])
        self.assertIn("A confirmation link was sent to selin@example.com", text)
        until = request.expires_at + timedelta(hours=3)  # the company's time zone, Istanbul (UTC+3)
        self.assertIn(f"until {until.day} {until.strftime('%B %Y %H:%M')}", text)
        self.assertIn("Send a new link", text)
        # the other brand's e-mail row has no request: Allow
        self.assertEqual(self.buttons(self.page_row(response, "EPOSTA", self.brand_b)), {"o_iys_allow"})
        # a new link replaces the first one, and the row still waits
        with self.mock_mail_gateway():
            response = self.post(token, "allow", brand_id=self.brand.id, channel="EPOSTA")
        self.assertEqual(self.notice(response), "email_sent")
        self.assertEqual(request.state, "cancelled")
        self.assertEqual(self.buttons(self.page_row(response, "EPOSTA")), {"o_iys_resend"})
        # once the link has run out, Allow is offered again
        self.Request.search([("address", "=", "selin@example.com"), ("state", "=", "sent")]).expires_at = (
            fields.Datetime.now() - timedelta(seconds=1))
        row = self.page_row(self.url_open(url), "EPOSTA")
        self.assertEqual(self.buttons(row), {"o_iys_allow"})
        self.assertFalse(self.by_class(row, "o_iys_link_waiting"))


@tagged("post_install", "-at_install", "l10n_tr_iys")
class TestSelfServiceBackend(SelfServiceCommon):
    """"Ask to confirm" from the contact, the requests' list, and who may do what."""

    def test_email_that_cannot_be_sent_says_why(self):
        """A confirmation e-mail the mail server refuses: the request fails with the server's reason
        (masked), and no half-sent mail stays in the queue."""
        def refuse(mails, *args, **kwargs):
            mails.write({"state": "exception", "failure_reason": "Connection refused by smtp.example.com"})

        with patch.object(type(self.env["mail.mail"]), "send", refuse):
            request = self.Request._iys_request([
                {"brand_id": self.brand.id, "channel": "EPOSTA", "address": "refused@example.com"},
            ])
        self.assertEqual(request.state, "failed")
        self.assertIn("The message could not be sent.", request.error_message)
        self.assertIn("Connection refused", request.error_message)
        self.assertFalse(self.env["mail.mail"].search([("email_to", "=", "refused@example.com")]))

    def test_reason_is_stored_as_a_code_and_read_in_the_readers_language(self):
        """A request sent in Turkish (the person's language) that the mail server refuses stores a code
        and the server's own words: an English reader reads the reason in English, the server's words
        unchanged; a manager's cancellation names the manager in the reader's language too."""
        self.env["res.lang"]._activate_lang("tr_TR")

        def refuse(mails, *args, **kwargs):
            mails.write({"state": "exception", "failure_reason": "550 Mailbox unavailable"})

        with patch.object(type(self.env["mail.mail"]), "send", refuse):
            request = self.Request.with_context(lang="tr_TR")._iys_request([
                {"brand_id": self.brand.id, "channel": "EPOSTA", "address": "refused@example.com", "lang": "tr"},
            ])
        self.assertEqual((request.state, request.error_code, request.error, request.lang),
                         ("failed", "not_sent", "550 Mailbox unavailable", "tr_TR"))
        request.invalidate_recordset(["error_message"])
        self.assertEqual(request.with_context(lang="en_US").error_message,
                         "The message could not be sent. 550 Mailbox unavailable")
        with self.mock_mail_gateway():
            waiting = self.Request.with_context(lang="tr_TR")._iys_request([
                {"brand_id": self.brand.id, "channel": "EPOSTA", "address": "selin@example.com"},
            ])
        waiting.with_user(self.iys_manager).with_context(lang="tr_TR").action_iys_cancel()
        self.assertEqual((waiting.error_code, waiting.error, waiting.cancelled_by_id),
                         ("cancelled", False, self.iys_manager))
        self.assertEqual(waiting.with_context(lang="en_US").error_message, f"Cancelled by {self.iys_manager.name}.")
        # the language is a language, shown by its name
        self.assertEqual(dict(self.Request._fields["lang"]._description_selection(self.env))["tr_TR"],
                         dict(self.env["res.lang"].get_installed())["tr_TR"])

    def test_ask_to_confirm_by_email(self):
        action = self.partner.with_user(self.iys_user).action_iys_ask_confirmation()
        wizard_form = Form(self.env["iys.consent.request.wizard"].with_user(self.iys_user)
                           .with_context(**action["context"]))
        self.assertEqual(wizard_form.brand_id, self.brand)
        self.assertEqual(wizard_form.channel, "EPOSTA")
        self.assertEqual(wizard_form.address, "selin@example.com")
        self.assertEqual(wizard_form.consent_text_id, self.text_email)
        wizard = wizard_form.save()
        with self.mock_mail_gateway():
            result = wizard.action_send()
        self.assertEqual(result["params"]["type"], "success")
        request = self.Request.search([("partner_id", "=", self.partner.id)])
        self.assertEqual((request.state, request.origin, request.source, request.requested_by_id),
                         ("sent", "request", "HS_EPOSTA", self.iys_user))
        self.assertEqual(self.partner.with_user(self.iys_user).iys_request_count, 1)
        link = self.last_link_token()
        self.assertTrue(self.Request._iys_confirm_token(link, "10.0.0.7", "Firefox"))
        event = self.consent("selin@example.com", "EPOSTA").event_ids
        # the consent says the truth: the person confirmed what a user asked, and names that user
        self.assertEqual((event.origin, event.source, event.ip_address, event.user_agent),
                         ("request", "HS_EPOSTA", "10.0.0.7", "Firefox"))
        self.assertEqual(event.partner_id, self.partner)
        self.assertIn(f"asked by {self.iys_user.name}", event.evidence_note)
        self.assertIn("confirmed by the person", event.evidence_note)

    def test_requests_of_earlier_versions_confirm_with_the_truthful_origin(self):
        """A request an earlier version stored with origin "wizard" (a user's wizard) is confirmed as
        asked by that user, not as recorded in the consent wizard."""
        with self.mock_mail_gateway():
            request = self.Request.with_user(self.iys_user)._iys_request([{
                "brand_id": self.brand.id, "channel": "EPOSTA", "address": "selin@example.com",
                "partner_id": self.partner.id, "origin": "wizard", "source": "HS_EPOSTA",
            }])
        self.assertTrue(self.Request._iys_confirm_token(self.last_link_token(), "10.0.0.8", "Firefox"))
        self.assertEqual(request.event_id.origin, "request")
        self.assertIn(f"asked by {self.iys_user.name}", request.event_id.evidence_note)

    def test_ask_to_confirm_warns_about_a_consent_on_record(self):
        """A channel the contact already consented to is not offered first, and when chosen the
        wizard says so plainly."""
        self.record("selin@example.com", channel="EPOSTA")
        wizard_form = Form(self.env["iys.consent.request.wizard"].with_user(self.iys_user)
                           .with_context(default_partner_id=self.partner.id))
        self.assertEqual(wizard_form.channel, "MESAJ")  # e-mail is allowed already: SMS comes first
        self.assertFalse(wizard_form.already_allowed)
        self.assertFalse(wizard_form.already_allowed_note)
        wizard_form.channel = "EPOSTA"
        self.assertTrue(wizard_form.already_allowed)
        self.assertEqual(wizard_form.consent_id, self.consent("selin@example.com", "EPOSTA"))
        self.assertIn("has already consented", wizard_form.already_allowed_note)
        self.assertIn("no need to ask", wizard_form.already_allowed_note)

    def test_ask_to_confirm_by_sms_passes_the_send_gate(self):
        """The SMS carrying the code is transactional: it goes to a number with no consent."""
        self.assertEqual(self.partner.iys_sms_state, "no_consent")
        wizard = self.env["iys.consent.request.wizard"].with_user(self.iys_user).with_context(
            default_partner_id=self.partner.id, iys_channel="MESAJ").create({})
        with self.mockSMSGateway():
            wizard.action_send()
        self.assertTrue(self.last_code())
        request = self.Request.search([("partner_id", "=", self.partner.id)])
        self.assertEqual((request.state, request.source), ("sent", "HS_MESAJ"))

    def test_plain_user_may_not_ask(self):
        with self.assertRaises(AccessError):
            self.Request.with_user(self.plain_user)._iys_request([{"brand_id": self.brand.id, "channel": "EPOSTA",
                                                                   "address": "x@example.com"}])

    def test_only_managers_cancel(self):
        with self.mock_mail_gateway():
            request = self.Request.sudo()._iys_request([{"brand_id": self.brand.id, "channel": "EPOSTA",
                                                         "address": "selin@example.com"}])
        with self.assertRaises(AccessError):
            request.with_user(self.iys_user).action_iys_cancel()
        request.with_user(self.iys_manager).action_iys_cancel()
        self.assertEqual(request.state, "cancelled")
        with self.assertRaises(UserError):
            request.with_user(self.iys_manager).action_iys_cancel()
        # the users see the requests, never the hashes
        with self.assertRaises(AccessError):
            request.with_user(self.iys_user).read(["token_hash"])

    def test_portal_my_home_links_the_page(self):
        portal_user = new_test_user(self.env, login="iys_t_portal", groups="base.group_portal",
                                    email="portal.person@example.com")
        self.authenticate("iys_t_portal", "iys_t_portal")
        response = self.url_open("/my")
        self.assertEqual(response.status_code, 200)
        token = self.Request._iys_preferences_token(portal_user.company_id, partner=portal_user.partner_id)
        self.assertIn(f"/iys/preferences/{token}", response.text)
        self.assertIn("Communication preferences", response.text)


@tagged("post_install", "-at_install", "l10n_tr_iys")
class TestSelfServiceMailingLinks(IysGateCommon):
    """The link in every commercial e-mail and SMS of a mailing."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.partners = cls.create_partners("Links ")
        cls.Request = cls.env["iys.consent.request"]

    def test_link_in_mailing_emails(self):
        onay, tacir = self.partners[1], self.partners[4]
        mailing = self.env["mailing.mailing"].create({
            "name": "Links", "subject": "Kampanya", "mailing_type": "mail",
            "body_html": '<p>İndirim!</p><p><a href="/iys/preferences">Tercihleriniz</a></p>',
            "mailing_model_id": self.env["ir.model"]._get("res.partner").id,
            "mailing_domain": repr([("id", "in", (onay | tacir).ids)]),
        })
        with self.mock_mail_gateway(mail_unlink_sent=False):
            mailing.action_send_mail()
        self.assertEqual(len(self._mails), 2)
        for partner in (onay, tacir):
            mail = next(m for m in self._mails if partner.email in " ".join(m["email_to"]))
            token = self.Request._iys_preferences_token(self.env.company, partner=partner)
            self.assertIn(f"/iys/preferences/{token}", mail["body"])
            self.assertNotIn('/iys/preferences"', mail["body"], "the placeholder is replaced")
            self.assertTrue(self.Request._iys_read_preferences_token(token))

    def test_footer_link_without_placeholder(self):
        contact = self.env["mailing.contact"].create({"name": "Listed", "email": self.email["onay"]})
        mlist = self.env["mailing.list"].create({"name": "Bülten", "contact_ids": [(4, contact.id)]})
        mailing = self.env["mailing.mailing"].create({
            "name": "Footer", "subject": "Kampanya", "mailing_type": "mail", "body_html": "<p>İndirim!</p>",
            "mailing_model_id": self.env["ir.model"]._get("mailing.list").id,
            "contact_list_ids": [(4, mlist.id)],
        })
        with self.mock_mail_gateway(mail_unlink_sent=False):
            mailing.action_send_mail()
        self.assertEqual(len(self._mails), 1)
        body = self._mails[0]["body"]
        self.assertIn("o_iys_preferences_link", body)
        token = self.Request._iys_preferences_token(self.env.company, channel="EPOSTA", address=self.email["onay"])
        self.assertIn(f"/iys/preferences/{token}", body)
        link = self.Request._iys_read_preferences_token(token)
        self.assertEqual(link["addresses"], {"EPOSTA": self.email["onay"]})

    def test_link_in_mailing_sms(self):
        onay = self.partners[1]
        mailing = self.env["mailing.mailing"].create({
            "name": "SMS links", "subject": "Kampanya", "mailing_type": "sms", "body_plaintext": "İndirim!",
            "mailing_model_id": self.env["ir.model"]._get("res.partner").id,
            "mailing_domain": repr([("id", "in", self.partners.ids)]), "sms_allow_unsubscribe": True,
        })
        with self.mockSMSGateway():
            mailing.action_send_sms()
        sms = self.env["sms.sms"].sudo().search([("mailing_id", "=", mailing.id), ("state", "=", "outgoing")])
        self.assertEqual(set(sms.mapped("number")), {self.number["onay"], self.number["tacir"]})
        token = self.Request._iys_preferences_token(self.env.company, partner=onay)
        body = sms.filtered(lambda s: s.number == self.number["onay"]).body
        self.assertIn(f"Preferences: {self.env.company.get_base_url()}/iys/preferences/{token}", body)
        self.assertIn("STOP SMS", body)
        link = self.Request._iys_read_preferences_token(token)
        self.assertEqual(link["addresses"]["MESAJ"], self.number["onay"])
        # the SMS the gate blocked do not go, link or not
        blocked = self.env["sms.sms"].sudo().search([("mailing_id", "=", mailing.id), ("state", "=", "canceled")])
        self.assertEqual(len(blocked), 4)


@tagged("post_install", "-at_install", "l10n_tr_iys")
class TestSelfServiceTour(SelfServiceCommon):
    def test_selfservice_tour(self):
        self.record("selin@example.com", channel="EPOSTA", source="IYS_WEB", origin="iys_pull",
                    transaction_id="u" * 40)
        # only the default brand, to keep the tour's page short
        self.brand_b.active = False
        url, _token = self.page_url(self.partner)
        with self.mockSMSGateway(), patch.object(type(self.Request), "_iys_generate_code", return_value="246810"):
            self.start_tour(url, "l10n_tr_iys_selfservice", login=None)
        self.assertEqual(self.consent("selin@example.com", "EPOSTA").status, "RET")
        self.assertEqual(self.consent("selin@example.com", "EPOSTA").event_ids.sorted("id")[-1].origin,
                         "selfservice")
        sms_consent = self.consent(self.number, "MESAJ")
        self.assertEqual((sms_consent.status, sms_consent.event_ids.origin), ("ONAY", "selfservice"))
        self.assertIn("246810", self._sms[-1]["body"])
