# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
from odoo import fields, models


class IysOutbox(models.Model):
    """Movements waiting for İYS. One row per local movement that İYS must know, created in the
    same transaction as its event, so a movement is never lost; the synchronisation sends rows in
    id order (several movements of one address keep their order) and records the outcome."""

    _name = "iys.outbox"
    _description = "İYS Outbox"
    _order = "id"

    event_id = fields.Many2one("iys.consent.event", required=True, ondelete="restrict", index=True, readonly=True)
    consent_id = fields.Many2one("iys.consent", required=True, ondelete="restrict", index=True, readonly=True)
    brand_id = fields.Many2one("iys.brand", required=True, ondelete="restrict", index=True, readonly=True)
    company_id = fields.Many2one(related="brand_id.company_id", store=True, index=True)
    address = fields.Char(related="consent_id.address", store=True)
    channel = fields.Selection(related="consent_id.channel", store=True)
    state = fields.Selection(
        [
            ("pending", "Waiting to be sent"),
            ("sent", "Sent, waiting for İYS"),
            ("done", "Confirmed by İYS"),
            ("failed", "Refused by İYS"),
            ("cancel", "Cancelled"),
        ],
        required=True,
        default="pending",
        index=True,
    )
    payload = fields.Json(readonly=True, help="The İYS Consent body, as validated when the movement was recorded.")
    deadline = fields.Datetime(index=True)
    attempts = fields.Integer(readonly=True)
    next_attempt_at = fields.Datetime("Next attempt", index=True)
    request_id = fields.Char("İYS request", index="btree_not_null", readonly=True)
    sub_request_id = fields.Char("İYS sub-request", readonly=True)
    sent_at = fields.Datetime(readonly=True)
    error_code = fields.Char("İYS error", readonly=True)
    error_message = fields.Text("İYS error explanation", readonly=True)
