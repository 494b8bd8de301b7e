# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
"""E-mail unsubscribe paths of mass_mailing, as İYS refusals (RET) of e-mail (EPOSTA).

Every unsubscribe route of Odoo 18.0 (``/mailing/<id>/unsubscribe``, its one-click POST
variant, and ``/mailing/confirm_unsubscribe`` in later 18.0 releases) ends in
``_mailing_unsubscribe_from_list`` or ``_mailing_unsubscribe_from_document``; the blocklist
button of the subscription page is ``/mailing/blocklist/add``. The refusal came through our
e-mail (source HS_EPOSTA) for the unsubscribe link, through our website (HS_WEB) for the
blocklist button of the page.
"""

from odoo import http
from odoo.http import request

from odoo.addons.mass_mailing.controllers.main import MassMailController

from ..models.iys_consent import OptOut


def iys_optout_context(source, channel=None, note=None):
    """Tell the blacklist and subscription hooks (through the request's context) that an opt-out
    comes from the recipient, by which channel, with the request's IP and user agent as evidence.
    An :class:`OptOut`, which no client can send: a dict under this key is ignored."""
    httprequest = request.httprequest
    optout = OptOut({
        "origin": "unsubscribe",
        "source": source,
        "note": note,
        "ip_address": httprequest.remote_addr,
        "user_agent": (httprequest.user_agent.string or "")[:500] or None,
    })
    if channel:
        optout["channel"] = channel
    request.update_context(iys_optout=optout)
    return optout


class IysMassMailController(MassMailController):
    def _mailing_unsubscribe_from_list(self, mailing, document_id, email, hash_token, *args, **kwargs):
        note = request.env._("Unsubscribe link of the mailing “%(mailing)s”", mailing=mailing.subject or mailing.id)
        optout = iys_optout_context("HS_EPOSTA", note=note)
        response = super()._mailing_unsubscribe_from_list(mailing, document_id, email, hash_token, *args, **kwargs)
        # Opting out of the mailing's lists is the statutory refusal of e-mails from us, whether or
        # not a subscription was still open.
        request.env["iys.consent"].sudo()._iys_record_refusals("EPOSTA", [email], **optout)
        return response

    def _mailing_unsubscribe_from_document(self, mailing, document_id, email, hash_token, *args, **kwargs):
        note = request.env._("Unsubscribe link of the mailing “%(mailing)s”", mailing=mailing.subject or mailing.id)
        iys_optout_context("HS_EPOSTA", note=note)  # the blacklist entry it adds records the RET
        return super()._mailing_unsubscribe_from_document(mailing, document_id, email, hash_token, *args, **kwargs)

    @http.route()
    def mail_blocklist_add(self, *args, **kwargs):
        iys_optout_context("HS_WEB", note=request.env._("Blocklist button of the subscription page"))
        return super().mail_blocklist_add(*args, **kwargs)
