# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
import base64
import hashlib
import logging
import re
import secrets
from datetime import timedelta

from odoo import api, fields, models, tools
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tools import SQL

from ..iyslib.errors import explain
from ..iyslib.masking import mask_recipient, mask_text
from .iys_selections import CHANNEL_SELECTION, HS_SOURCE_SELECTION, ORIGIN_SELECTION, RECIPIENT_TYPE_SELECTION

_logger = logging.getLogger(__name__)

#: how long an SMS code and an e-mail link stay valid
CODE_TTL = timedelta(minutes=15)
LINK_TTL = timedelta(hours=48)
#: wrong codes a request survives; the next wrong one kills it
MAX_ATTEMPTS = 5
#: requests sent per hour, per address and per visitor (IP address): counted from this table
LIMIT_PER_ADDRESS = 3
LIMIT_PER_IP = 10
LIMIT_WINDOW = timedelta(hours=1)
#: the requests that count against the limits: those that sent something
COUNTED_STATES = ("sent", "confirmed", "expired", "cancelled")
#: length of the signature of a self-service link (hex characters of an HMAC-SHA256: 128 bits)
SIGNATURE_LENGTH = 32
#: scope of the self-service links' HMAC (``tools.hmac``, keyed with the database secret)
SIGNATURE_SCOPE = "iys-selfservice"
#: the channels a self-service link's kind of address covers
PHONE_CHANNELS = ("MESAJ", "ARAMA")
EMAIL_CHANNELS = ("EPOSTA",)

#: what happened to a request that was not sent, not confirmed, or confirmed with a remark: stored as a
#: code (the label is read in the reader's language), with the raw reason in ``error`` when there is one
ERROR_CODE_SELECTION = [
    ("invalid_address", "The address is not valid."),
    ("rate_address", "Too many requests for this address: try again in an hour."),
    ("rate_visitor", "Too many requests from this visitor: try again in an hour."),
    ("not_sent", "The message could not be sent."),
    ("replaced", "Replaced by a newer request."),
    ("too_many_codes", "Too many wrong codes."),
    ("already_recorded", "The consent was already recorded."),
    ("not_recorded", "The consent could not be recorded."),
    ("other_confirmed", "Another request was confirmed."),
    ("cancelled", "Cancelled by a manager."),
    ("refused", "Refused on the self-service page."),
]
_IYS_CODE_RE = re.compile(r"^H\d{3}$")

_TOKEN_RE = re.compile(r"^(\d{1,10})-([pte])([A-Za-z0-9_=-]{1,400})-([0-9a-f]{%d})$" % SIGNATURE_LENGTH)


def _b64(text):
    return base64.urlsafe_b64encode(text.encode("utf-8")).decode("ascii").rstrip("=")


def _unb64(text):
    return base64.urlsafe_b64decode((text + "=" * (-len(text) % 4)).encode("ascii")).decode("utf-8")


class IysConsentRequest(models.Model):
    """A consent waiting for the person's confirmation (double opt-in).

    A code is sent by SMS to a number (channels MESAJ and ARAMA), a link by e-mail to an address
    (EPOSTA). Only the confirmation records the ONAY in the ledger, with the proof: when the
    request was sent, when and from where it was confirmed, and the consent text shown.

    Interface used by the API, the self-service page and the back end (implemented in this file):

    * ``_iys_request(vals_list)`` (model method): create the requests (keys: brand_id, channel,
      recipient_type, address, partner_id, consent_text_id, source, origin, request_ip,
      request_user_agent, lang) and send each its code or link; returns the requests. Rate limits
      per address apply; a refused request says why in ``state``/``error`` and raises nothing.
    * ``_iys_confirm_code(code, ip_address=None, user_agent=None)`` (on one request): check the
      code (expiry, attempts); on success record the ONAY through the ledger and return True,
      else return False and count the attempt.
    * ``_iys_confirm_token(token, ip_address=None, user_agent=None)`` (model method): the e-mail
      link's token; returns the confirmed request or an empty recordset.

    The messages sent here are transactional (the person asked for them, or the company asks the
    person to confirm): they are plain ``sms.sms`` / ``mail.mail`` without mailing, which the send
    gate does not hold (it only checks the messages of mailings and of mass composers).
    """

    _name = "iys.consent.request"
    _description = "İYS Consent Confirmation Request"
    _order = "id desc"
    _rec_name = "address"

    brand_id = fields.Many2one("iys.brand", required=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(related="brand_id.company_id", store=True, index=True)
    channel = fields.Selection(CHANNEL_SELECTION, required=True)
    recipient_type = fields.Selection(RECIPIENT_TYPE_SELECTION, required=True, default="BIREYSEL")
    address = fields.Char(required=True, index=True, help="Normalised recipient (E.164 number or e-mail address).")
    partner_id = fields.Many2one("res.partner", string="Contact", index="btree_not_null", ondelete="set null")
    consent_text_id = fields.Many2one("iys.consent.text", string="Consent text shown", ondelete="restrict")
    source = fields.Selection(HS_SOURCE_SELECTION, required=True, default="HS_WEB")
    origin = fields.Selection(ORIGIN_SELECTION, required=True, default="selfservice",
                              help="Where the request came from; the consent recorded on confirmation carries it.")
    method = fields.Selection([("sms_code", "Code by SMS"), ("email_link", "Link by e-mail")], required=True)
    state = fields.Selection(
        [("draft", "Not sent"), ("sent", "Waiting for confirmation"), ("confirmed", "Confirmed"),
         ("expired", "Expired"), ("cancelled", "Cancelled"), ("failed", "Could not be sent")],
        default="draft", required=True, index=True,
    )
    error_code = fields.Selection(ERROR_CODE_SELECTION, string="Reason code", readonly=True)
    error = fields.Char(
        "Reason given", readonly=True,
        help="Kept as it was given, never translated: the mail or SMS server's answer, or the İYS rule code.",
    )
    error_message = fields.Char("Reason", compute="_compute_error_message",
                                help="Why the request was not sent or not confirmed, in your language.")
    cancelled_by_id = fields.Many2one("res.users", string="Cancelled by", readonly=True, ondelete="set null")
    code_hash = fields.Char(readonly=True, groups="base.group_system", copy=False)
    token_hash = fields.Char(readonly=True, groups="base.group_system", copy=False, index="btree_not_null")
    sent_at = fields.Datetime("Sent on", readonly=True)
    expires_at = fields.Datetime("Expires on", readonly=True, help="The code or link no longer works after this.")
    attempts = fields.Integer("Codes entered", readonly=True)
    confirmed_at = fields.Datetime("Confirmed on", readonly=True)
    request_ip = fields.Char("Requested from IP", readonly=True)
    request_user_agent = fields.Char("Requested from browser", readonly=True)
    confirm_ip = fields.Char("Confirmed from IP", readonly=True)
    confirm_user_agent = fields.Char("Confirmed from browser", readonly=True)
    lang = fields.Selection(selection="_lang_get", string="Language", readonly=True,
                            help="The language of the message sent and of the confirmation page.")
    event_id = fields.Many2one("iys.consent.event", string="Consent recorded", readonly=True, ondelete="restrict")
    requested_by_id = fields.Many2one("res.users", string="Requested by", default=lambda self: self.env.uid,
                                      readonly=True)

    @api.model
    def _lang_get(self):
        return self.env["res.lang"].get_installed()

    @api.depends_context("lang")
    @api.depends("error_code", "error", "cancelled_by_id")
    def _compute_error_message(self):
        labels = dict(self._fields["error_code"]._description_selection(self.env))
        lang = "tr" if (self.env.lang or "").startswith("tr") else "en"
        for request in self:
            if request.error_code == "cancelled" and request.cancelled_by_id:
                text = self.env._("Cancelled by %(user)s.", user=request.cancelled_by_id.sudo().name)
            else:
                text = labels.get(request.error_code) or ""
            detail = request.error or ""
            if _IYS_CODE_RE.match(detail):
                detail = "%s: %s" % (detail, explain(detail, lang))
            request.error_message = " ".join(part for part in (text, detail) if part) or False

    @api.model
    def _iys_installed_lang(self, code):
        """The installed language *code* stands for ("tr", "tr-TR" or "tr_TR": Turkish), or False."""
        if not code:
            return False
        installed = [lang for lang, _name in self._lang_get()]
        code = str(code).replace("-", "_")
        if code in installed:
            return code
        prefix = code.split("_")[0].lower()
        return next((lang for lang in installed if lang.split("_")[0].lower() == prefix), False)

    # ------------------------------------------------------------------------------------------
    # Asking
    # ------------------------------------------------------------------------------------------
    @api.model
    def _iys_request(self, vals_list):
        """Create the requests and send each its code (SMS) or link (e-mail); see the class doc.

        Runs as superuser once the caller was checked: the self-service page (public) and the
        back end (İYS users, brands of their companies) both ask through here."""
        self._iys_check_may_request(vals_list)
        Request = self.sudo()
        Consent = self.env["iys.consent"]
        now = fields.Datetime.now().replace(microsecond=0)
        requests = Request.browse()
        for vals in vals_list:
            vals = dict(vals)
            channel = vals.get("channel")
            error = None
            if "lang" in vals:
                vals["lang"] = self._iys_installed_lang(vals["lang"])
            try:
                vals["address"] = Consent._iys_normalize(channel, vals.get("address"))
            except ValidationError as exc:
                # the İYS rule's code (explained in the reader's language), else the text as it came
                code = getattr(exc.__cause__, "code", None) or ""
                error = ("invalid_address", code if _IYS_CODE_RE.match(code) else exc.args[0])
                vals["address"] = mask_recipient((vals.get("address") or "").strip()) or "-"
            brand = self.env["iys.brand"].sudo().browse(vals.get("brand_id")).exists()
            if not brand:
                raise ValidationError(self.env._("Unknown İYS brand."))
            vals.setdefault("method", "email_link" if channel == "EPOSTA" else "sms_code")
            if vals.get("request_user_agent"):
                vals["request_user_agent"] = vals["request_user_agent"][:500]
            if not vals.get("consent_text_id") and brand and channel:
                vals["consent_text_id"] = self.env["iys.consent.text"]._iys_current_text(
                    brand, channel, vals.get("lang")
                ).id or False
            if not error:
                limited = Request._iys_rate_limited(vals["address"], vals.get("request_ip"), now)
                error = (limited, None) if limited else None
            if error:
                request = Request.create({**vals, "state": "failed", "error_code": error[0], "error": error[1]})
                _logger.info("İYS confirmation request for %s refused: %s %s", mask_recipient(request.address),
                             error[0], mask_text(error[1] or ""))
                requests |= request
                continue
            # a new request replaces the one still waiting for the same consent: one code at a time
            Request.search([
                ("brand_id", "=", brand.id), ("channel", "=", channel), ("address", "=", vals["address"]),
                ("recipient_type", "=", vals.get("recipient_type") or "BIREYSEL"), ("state", "=", "sent"),
            ]).write({"state": "cancelled", "error_code": "replaced", "error": False})
            request = Request.create(vals)
            request._iys_send(now)
            requests |= request
        return requests.with_env(self.env)

    @api.model
    def _iys_check_may_request(self, vals_list):
        """Public visitors ask through the self-service page, which runs this as superuser; users
        ask for brands of their companies only, and must be İYS users (or capture users)."""
        if self.env.su:
            return
        user = self.env.user
        if not (user.has_group("l10n_tr_iys.group_iys_user") or user.has_group("l10n_tr_iys.group_iys_capture")):
            raise AccessError(self.env._("Only İYS users may ask people to confirm their consent."))
        brand_ids = {vals.get("brand_id") for vals in vals_list if vals.get("brand_id")}
        self.env["iys.brand"].browse(sorted(brand_ids)).check_access("read")

    def _iys_rate_limited(self, address, ip_address, now):
        """Why a new request may not be sent now, as an ``error_code`` (too many for the address or
        the visitor), or None."""
        since = now - LIMIT_WINDOW
        base = [("create_date", ">=", since), ("state", "in", COUNTED_STATES)]
        if self.search_count(base + [("address", "=", address)], limit=LIMIT_PER_ADDRESS) >= LIMIT_PER_ADDRESS:
            return "rate_address"
        if ip_address and self.search_count(
            base + [("request_ip", "=", ip_address)], limit=LIMIT_PER_IP
        ) >= LIMIT_PER_IP:
            return "rate_visitor"
        return None

    @api.model
    def _iys_generate_code(self):
        """A random 6-digit code (tests patch this to know it)."""
        return f"{secrets.randbelow(10 ** 6):06d}"

    def _iys_hash_code(self, code):
        """The stored form of a code: an HMAC keyed with the database secret and bound to the
        request (6 digits alone would be found from a plain hash at once)."""
        self.ensure_one()
        return tools.hmac(self.env(su=True), "iys-consent-code", (self.id, (code or "").strip()))

    @api.model
    def _iys_hash_token(self, token):
        return hashlib.sha256((token or "").encode("utf-8")).hexdigest()

    def _iys_send(self, now):
        """Send the code or the link of one new request, and set its state accordingly."""
        self.ensure_one()
        Request = self.sudo()
        lang = self.lang or self.partner_id.lang or self.company_id.partner_id.lang or "tr_TR"
        record = Request.with_context(lang=lang).browse(self.id)
        try:
            with self.env.cr.savepoint():
                if self.method == "sms_code":
                    code = self._iys_generate_code()
                    record.write({"code_hash": record._iys_hash_code(code), "expires_at": now + CODE_TTL})
                    ok = record._iys_send_sms(code)
                else:
                    token = secrets.token_urlsafe(32)
                    record.write({"token_hash": self._iys_hash_token(token), "expires_at": now + LINK_TTL})
                    ok = record._iys_send_mail(token)
        except Exception:  # the request says it failed; the caller goes on
            _logger.exception("İYS confirmation request %s to %s could not be sent", self.id,
                              mask_recipient(self.address))
            ok = False
        if ok is True:
            record.write({"state": "sent", "sent_at": now})
        else:
            # what the mail server said, as it said it (masked: it may quote the address)
            reason = mask_text(ok.strip())[:500] if isinstance(ok, str) and ok.strip() else False
            record.write({"state": "failed", "error_code": "not_sent", "error": reason})

    def _iys_send_sms(self, code):
        """Send the code by SMS (a transactional SMS: no mailing, so the send gate lets it go)."""
        self.ensure_one()
        # the contact's own page when the number is the contact's, else the number's page
        partner = self.partner_id if self.address in (
            self.partner_id._iys_addresses(self.channel).get(self.partner_id.id) or ()) else None
        url = self._iys_preferences_url(self.company_id, partner=partner, channel=self.channel,
                                        address=self.address)
        body = self.env._(
            "%(brand)s: your code to confirm commercial messages is %(code)s (valid %(minutes)s minutes). "
            "Enter it on %(url)s. If you did not ask for it, ignore this message.",
            brand=self.brand_id.name, code=code, minutes=int(CODE_TTL.total_seconds() // 60), url=url,
        )
        sms = self.env["sms.sms"].sudo().create({
            "number": self.address, "body": body, "partner_id": self.partner_id.id or False,
        })
        sms.send(unlink_sent=True, raise_exception=False)
        return not sms.exists() or sms.state in ("pending", "sent", "process", "outgoing")

    def _iys_send_mail(self, token):
        """Send the confirmation link by e-mail (transactional: no mailing, the send gate lets it go)."""
        self.ensure_one()
        company = self.company_id
        url = "%s/iys/confirm/%s" % (company.get_base_url(), token)
        body = self.env["ir.qweb"]._render("l10n_tr_iys.iys_consent_request_mail", {
            "req": self,
            "company": company,
            "confirm_url": url,
            "intro": self.env._(
                "You asked to receive commercial e-mails from %(brand)s (%(company)s), or we asked whether you "
                "would like to. Please confirm with the button below.",
                brand=self.brand_id.name, company=company.name,
            ),
            "validity": self.env._(
                "The link is valid for %(hours)s hours. If you did not ask for this, ignore this e-mail: nothing "
                "changes.", hours=int(LINK_TTL.total_seconds() // 3600),
            ),
        }, lang=self.env.lang)
        mail = self.env["mail.mail"].sudo().create({
            "subject": self.env._("%(brand)s: please confirm that you want to receive our e-mails",
                                  brand=self.brand_id.name),
            "body_html": body,
            "email_from": company.email_formatted or self.env["ir.mail_server"]._get_default_from_address(),
            "email_to": self.address,
            "auto_delete": True,
        })
        mail.send(raise_exception=False)
        if not mail.exists() or mail.state in ("sent", "outgoing"):
            return True
        # not sent: the request says why (the mail server's answer), and the mail is not kept
        reason = mail.failure_reason or ""
        mail.unlink()
        return reason or False

    # ------------------------------------------------------------------------------------------
    # Confirming
    # ------------------------------------------------------------------------------------------
    def _iys_lock(self):
        """Lock this request's row, so that two confirmations of one request never both record."""
        self.ensure_one()
        self.env.cr.execute(SQL("SELECT id FROM iys_consent_request WHERE id = %s FOR UPDATE", self.id))
        self.invalidate_recordset()

    def _iys_confirm_code(self, code, ip_address=None, user_agent=None):
        """Check *code* against this request (see the class doc); True when the ONAY is recorded."""
        self.ensure_one()
        request = self.sudo()
        request._iys_lock()
        now = fields.Datetime.now()
        if request.method != "sms_code" or request.state != "sent":
            return False
        if request.expires_at and request.expires_at < now:
            request.write({"state": "expired"})
            return False
        attempts = request.attempts + 1
        if not tools.consteq(request._iys_hash_code(str(code or "")), request.code_hash or ""):
            values = {"attempts": attempts}
            if attempts >= MAX_ATTEMPTS:
                values.update(state="cancelled", error_code="too_many_codes")
            request.write(values)
            return False
        request.write({"attempts": attempts})
        return request._iys_confirm(now, ip_address, user_agent)

    @api.model
    def _iys_confirm_token(self, token, ip_address=None, user_agent=None):
        """The request of the e-mail link *token*, confirmed; or an empty recordset when the token is
        unknown, used already, or expired."""
        if not token or len(token) > 200:
            return self.browse()
        request = self.sudo().search([("token_hash", "=", self._iys_hash_token(token))], limit=1)
        if not request:
            return self.browse()
        request._iys_lock()
        now = fields.Datetime.now()
        if request.method != "email_link" or request.state != "sent":
            return self.browse()
        if request.expires_at and request.expires_at < now:
            request.write({"state": "expired"})
            return self.browse()
        if not request._iys_confirm(now, ip_address, user_agent):
            return self.browse()
        return request.with_env(self.env)

    @api.model
    def _iys_find_by_token(self, token):
        """The request of an e-mail link, whatever its state (for the confirmation page)."""
        if not token or len(token) > 200:
            return self.browse()
        return self.sudo().search([("token_hash", "=", self._iys_hash_token(token))], limit=1)

    def _iys_confirm(self, now, ip_address, user_agent):
        """Record the ONAY of a request whose code or link was just checked (as superuser: the
        person confirms, not a user); True when the ledger holds the consent."""
        self.ensure_one()
        now = now.replace(microsecond=0)
        user_agent = (user_agent or "")[:500] or False
        sent = fields.Datetime.to_string(self.sent_at) if self.sent_at else "-"
        method = dict(self._fields["method"]._description_selection(self.env)).get(self.method)
        # a user asked ("Ask to confirm"; requests of earlier versions say "wizard"): the person
        # confirmed what that user sent, which the consent's origin and its evidence both say
        origin = "request" if self.origin in ("request", "wizard") else self.origin
        if origin == "request":
            note = self.env._(
                "Double opt-in (%(method)s) asked by %(user)s: sent on %(sent)s UTC, confirmed by the person on "
                "%(confirmed)s UTC from %(ip)s.",
                method=method, user=self.requested_by_id.sudo().name or "-", sent=sent,
                confirmed=fields.Datetime.to_string(now), ip=ip_address or "-",
            )
        else:
            note = self.env._(
                "Double opt-in (%(method)s): requested on %(sent)s UTC from %(request_ip)s, confirmed on "
                "%(confirmed)s UTC from %(ip)s.",
                method=method, sent=sent, request_ip=self.request_ip or self.requested_by_id.name or "-",
                confirmed=fields.Datetime.to_string(now), ip=ip_address or "-",
            )
        movement = {
            "brand_id": self.brand_id.id, "channel": self.channel, "recipient_type": self.recipient_type,
            "address": self.address, "status": "ONAY", "source": self.source, "consent_date": now,
            "evidence": {
                "note": note, "ip_address": ip_address or False, "user_agent": user_agent,
                "consent_text_id": self.consent_text_id.id or False, "partner_id": self.partner_id.id or False,
            },
        }
        values = {"confirmed_at": now, "confirm_ip": ip_address or False, "confirm_user_agent": user_agent}
        with self.env.cr.savepoint():
            result = self.env["iys.consent"].sudo()._iys_record_movements([movement], origin,
                                                                          raise_on_error=False, now=now)[0]
        if result.error:
            current = self.env["iys.consent"].sudo().search([
                ("brand_id", "=", self.brand_id.id), ("channel", "=", self.channel),
                ("recipient_type", "=", self.recipient_type), ("address", "=", self.address),
            ], limit=1)
            if current.status == "ONAY":  # consented meanwhile (another way): nothing more to record
                self.write({**values, "state": "confirmed", "error_code": "already_recorded", "error": False})
                return True
            # the İYS rule's code when there is one (explained in the reader's language), else the text
            self.write({**values, "state": "failed", "error_code": "not_recorded",
                        "error": result.error_code if _IYS_CODE_RE.match(result.error_code or "") else
                        mask_text(result.error)[:250]})
            _logger.info("İYS confirmation request %s: the ledger refused the consent of %s: %s", self.id,
                         mask_recipient(self.address), mask_text(result.error))
            return False
        self.write({**values, "state": "confirmed", "event_id": result.event.id})
        # the other requests still waiting for the same consent are done with
        self.search([
            ("id", "!=", self.id), ("brand_id", "=", self.brand_id.id), ("channel", "=", self.channel),
            ("recipient_type", "=", self.recipient_type), ("address", "=", self.address), ("state", "=", "sent"),
        ]).write({"state": "cancelled", "error_code": "other_confirmed", "error": False})
        return True

    # ------------------------------------------------------------------------------------------
    # Back end
    # ------------------------------------------------------------------------------------------
    def action_iys_cancel(self):
        """Managers cancel requests still waiting: their code or link no longer works."""
        if not self.env.user.has_group("l10n_tr_iys.group_iys_manager"):
            raise AccessError(self.env._("Only İYS managers may cancel confirmation requests."))
        self.check_access("read")
        waiting = self.sudo().filtered(lambda r: r.state in ("draft", "sent"))
        if not waiting:
            raise UserError(self.env._("Only requests waiting for confirmation can be cancelled."))
        waiting.write({"state": "cancelled", "error_code": "cancelled", "error": False,
                       "cancelled_by_id": self.env.uid})
        return True

    @api.model
    def _cron_iys_expire_requests(self, batch_size=1000):
        """Mark the requests whose code or link ran out as expired, in bounded batches."""
        now = fields.Datetime.now()
        self.flush_model(["state", "expires_at"])
        done = 0
        while True:
            self.env.cr.execute(SQL(
                """SELECT id FROM iys_consent_request WHERE state = 'sent' AND expires_at < %s
                   ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED""", now, batch_size,
            ))
            ids = [row[0] for row in self.env.cr.fetchall()]
            if not ids:
                break
            self.sudo().browse(ids).write({"state": "expired"})
            done += len(ids)
            self.env["ir.cron"]._notify_progress(done=done, remaining=0 if len(ids) < batch_size else 1)
            if len(ids) < batch_size:
                break
            self.env.cr.commit()  # pylint: disable=invalid-commit
        return done

    # ------------------------------------------------------------------------------------------
    # Signed self-service links
    # ------------------------------------------------------------------------------------------
    @api.model
    def _iys_sign(self, payload):
        return tools.hmac(self.env(su=True), SIGNATURE_SCOPE, payload)[:SIGNATURE_LENGTH]

    @api.model
    def _iys_preferences_token(self, company, partner=None, channel=None, address=None):
        """The token of a person's self-service link: an HMAC (database secret) over the company and
        either the contact or the address (with its kind: phone or e-mail)."""
        if partner:
            payload = "%d-p%d" % (company.id, partner.id)
        elif channel in EMAIL_CHANNELS:
            payload = "%d-e%s" % (company.id, _b64(address))
        else:
            payload = "%d-t%s" % (company.id, (address or "").lstrip("+"))
        return "%s-%s" % (payload, self._iys_sign(payload))

    @api.model
    def _iys_preferences_url(self, company, partner=None, channel=None, address=None):
        token = self._iys_preferences_token(company, partner=partner, channel=channel, address=address)
        return "%s/iys/preferences/%s" % (company.get_base_url(), token)

    @api.model
    def _iys_read_preferences_token(self, token):
        """{company, partner, addresses: {channel: address}} of a valid token, or None (tampered,
        unknown company or contact, unusable address: all alike)."""
        match = _TOKEN_RE.match(token or "")
        if not match:
            return None
        company_id, kind, value, signature = match.groups()
        payload = "%s-%s%s" % (company_id, kind, value)
        if not tools.consteq(self._iys_sign(payload), signature):
            return None
        env = self.env(su=True)
        company = env["res.company"].browse(int(company_id)).exists()
        if not company:
            return None
        partner = env["res.partner"]
        addresses = {}
        try:
            if kind == "p":
                partner = partner.browse(int(value)).exists()
                if not partner:
                    return None
                for channel in (*PHONE_CHANNELS, *EMAIL_CHANNELS):
                    found = partner._iys_addresses(channel).get(partner.id)
                    if found:
                        addresses[channel] = found[0]
            elif kind == "e":
                addresses["EPOSTA"] = env["iys.consent"]._iys_normalize("EPOSTA", _unb64(value))
            else:
                number = env["iys.consent"]._iys_normalize("MESAJ", "+" + value)
                addresses.update(dict.fromkeys(PHONE_CHANNELS, number))
        except (ValidationError, ValueError, UnicodeDecodeError):
            return None
        return {"company": company, "partner": partner, "addresses": addresses}

    @api.model
    def _iys_portal_preferences_url(self):
        """The self-service link of the signed-in person (portal "My account"), or False."""
        user = self.env.user
        if user._is_public() or not user.partner_id:
            return False
        return self._iys_preferences_url(user.company_id, partner=user.partner_id)
