# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
from odoo import fields, models

from .iys_selections import CHANNEL_SELECTION, RECIPIENT_TYPE_SELECTION, ORIGIN_SELECTION, HS_SOURCE_SELECTION


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
    origin = fields.Selection(ORIGIN_SELECTION, required=True, default="selfservice")
    method = fields.Selection([("sms_code", "Code by SMS"), ("email_link", "Link by e-mail")], required=True)
    state = fields.Selection(
        [("draft", "Not sent"), ("sent", "Waiting for confirmation"), ("confirmed", "Confirmed"),
         ("expired", "Expired"), ("cancelled", "Cancelled"), ("failed", "Could not be sent")],
        default="draft", required=True, index=True,
    )
    error = fields.Char(readonly=True)
    code_hash = fields.Char(readonly=True, groups="base.group_system", copy=False)
    token_hash = fields.Char(readonly=True, groups="base.group_system", copy=False, index="btree_not_null")
    sent_at = fields.Datetime(readonly=True)
    expires_at = fields.Datetime(readonly=True)
    attempts = fields.Integer(readonly=True)
    confirmed_at = fields.Datetime(readonly=True)
    request_ip = fields.Char("Requested from IP", readonly=True)
    request_user_agent = fields.Char("Requested from browser", readonly=True)
    confirm_ip = fields.Char("Confirmed from IP", readonly=True)
    confirm_user_agent = fields.Char("Confirmed from browser", readonly=True)
    lang = fields.Char(readonly=True)
    event_id = fields.Many2one("iys.consent.event", string="Consent recorded", readonly=True, ondelete="restrict")
    requested_by_id = fields.Many2one("res.users", string="Requested by", default=lambda self: self.env.uid,
                                      readonly=True)
