# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
"""The SMS unsubscribe page of mass_mailing_sms (the STOP link of SMS mailings) as an İYS refusal
(RET) of SMS (MESAJ), source HS_MESAJ: the refusal came through our SMS. Odoo either opts the
number out of the mailing's lists (a mailing.subscription write) or blacklists it (phone.blacklist);
both hooks read the context set here."""

from odoo import http
from odoo.http import request

from odoo.addons.mass_mailing_sms.controllers.main import MailingSMSController

from .mass_mailing import iys_optout_context


class IysMailingSMSController(MailingSMSController):
    @http.route()
    def blacklist_number(self, *args, **kwargs):
        iys_optout_context("HS_MESAJ", channel="MESAJ", note=request.env._("SMS unsubscribe page"))
        return super().blacklist_number(*args, **kwargs)
