# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
from datetime import timedelta

from odoo import api, fields, models
from odoo.tools import SQL

#: how long a key is kept: a client retries within minutes or hours, never after a month
KEEP_DAYS = 30
#: rows deleted per batch by the cleanup cron (each batch is committed)
CLEANUP_BATCH = 10000


class IysApiIdempotency(models.Model):
    """The idempotency key of one item of a capture API call, with the answer it got.

    A client that retries a call (a timeout, a crash) sends each item with the same key: the items
    already recorded are not recorded again and get their first answer back. A key is unique per
    API user; the same key with a different item is refused (``idempotency_conflict``). Only items
    the ledger recorded (or found unchanged) keep their key: an item refused for its content may be
    corrected and sent again with the same key.

    Written only by the capture API (as superuser, after checking the user); the unique index makes
    two identical calls at the same moment record once: the second waits for the first and then
    reads its answer.
    """

    _name = "iys.api.idempotency"
    _description = "İYS Capture API Idempotency Key"
    _order = "id desc"
    _rec_name = "key"

    user_id = fields.Many2one("res.users", string="API user", required=True, ondelete="cascade", readonly=True)
    key = fields.Char(required=True, readonly=True)
    fingerprint = fields.Char(required=True, readonly=True, help="SHA-256 of the item as received.")
    brand_id = fields.Many2one("iys.brand", ondelete="cascade", readonly=True)
    company_id = fields.Many2one(related="brand_id.company_id", store=True)
    result = fields.Text("Answer", readonly=True, help="The item's answer (JSON), returned again on a retry.")
    event_id = fields.Many2one("iys.consent.event", string="Movement", ondelete="set null", readonly=True)

    _sql_constraints = [
        ("user_key_uniq", "unique(user_id, key)", "An idempotency key is used once per API user."),
    ]

    @api.model
    def _cron_iys_cleanup(self, keep_days=KEEP_DAYS):
        """Delete the keys older than *keep_days*, in committed batches."""
        limit = fields.Datetime.now() - timedelta(days=keep_days)
        cron = self.env["ir.cron"]
        deleted = 0
        while True:
            self.env.cr.execute(SQL(
                """DELETE FROM iys_api_idempotency WHERE id IN (
                       SELECT id FROM iys_api_idempotency WHERE create_date < %s
                        LIMIT %s FOR UPDATE SKIP LOCKED)""",
                limit, CLEANUP_BATCH,
            ))
            count = self.env.cr.rowcount
            deleted += count
            if count < CLEANUP_BATCH:
                cron._notify_progress(done=deleted, remaining=0)
                break
            cron._notify_progress(done=deleted, remaining=1)
            if not self.env.registry.in_test_mode():
                self.env.cr.commit()  # pylint: disable=invalid-commit  # a cron's batches
        self.invalidate_model()
        return deleted
