# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
from odoo import fields, models

from .iys_send_gate import MAIL_FAILURE_SELECTION, SMS_FAILURE_SELECTION


class MailingTrace(models.Model):
    _inherit = "mailing.trace"

    # A trace records mail and SMS alike, so it carries the İYS reasons of both channels.
    failure_type = fields.Selection(
        selection_add=MAIL_FAILURE_SELECTION + SMS_FAILURE_SELECTION,
        ondelete={code: "set null" for code, _label in MAIL_FAILURE_SELECTION + SMS_FAILURE_SELECTION},
    )
