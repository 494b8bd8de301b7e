# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
from odoo import fields, models


class IysMailingTransactional(models.TransientModel):
    """Asks an İYS manager why a mailing is transactional before it skips the consent check."""

    _name = "iys.mailing.transactional"
    _description = "Mark a mailing as transactional (İYS)"

    mailing_id = fields.Many2one("mailing.mailing", required=True, ondelete="cascade")
    reason = fields.Text(
        required=True,
        help="Which existing service these messages are about (delivery, billing, account or "
        "subscription notice …) and why they carry no advertising.",
    )

    def action_confirm(self):
        self.ensure_one()
        self.env["iys.send.gate"]._iys_check_transactional_right()
        self.mailing_id.with_context(iys_transactional_reason=self.reason).write(
            {"iys_message_class": "transactional"}
        )
        return {"type": "ir.actions.act_window_close"}
