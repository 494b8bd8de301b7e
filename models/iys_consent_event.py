# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
from odoo import api, fields, models
from odoo.exceptions import AccessError
from odoo.tools import SQL

from .iys_consent import is_ledger
from .iys_selections import (
    ORIGIN_SELECTION,
    SOURCE_SELECTION,
    STATUS_SELECTION,
    SYNC_STATE_SELECTION,
)

#: what the synchronisation may add to an event afterwards (İYS receipts and the send outcome)
RECEIPT_FIELDS = {
    "request_id", "sub_request_id", "transaction_id", "iys_creation_date", "push_state",
    "error_code", "error_message",
}


#: what ``iys_allow_event_unlink`` must be (``is``) for the superuser to delete an event: nothing in
#: the addon does; it exists for a test's clean-up of rows it committed, and no client can send it
_EVENT_UNLINK = object()


class IysConsentEvent(models.Model):
    """Append-only log of every consent movement, with its evidence and İYS receipts.

    Only the ledger creates events, and only the ledger and the synchronisation (through
    :func:`~.iys_consent.ledger`, which no client context can open) add İYS receipts to them;
    nobody deletes them. The access rights grant read only.
    """

    _name = "iys.consent.event"
    _description = "İYS Consent Event"
    _order = "id desc"
    _rec_name = "consent_id"

    # indexed: the panel's movements per day and their lists read a window of recent events
    create_date = fields.Datetime("Recorded on", readonly=True, index=True)
    consent_id = fields.Many2one("iys.consent", required=True, ondelete="restrict", index=True, readonly=True)
    brand_id = fields.Many2one(related="consent_id.brand_id", store=True, index=True)
    company_id = fields.Many2one(related="consent_id.company_id", store=True, index=True)
    channel = fields.Selection(related="consent_id.channel", store=True)
    recipient_type = fields.Selection(related="consent_id.recipient_type", store=True)
    address = fields.Char(related="consent_id.address", store=True, index=True)
    # no index of its own: nothing looks for the rare dealer events by kind, the status movements
    # (nearly all) are read by consent or through the panel's partial index on them
    kind = fields.Selection(
        [("status", "Consent status"), ("dealer", "Dealer access")], required=True, default="status",
        readonly=True,
        help="Consent status: a consent or refusal (ONAY/RET). Dealer access: a change of the dealers that may "
        "use the consent, or of the dealer that collected it.",
    )
    old_status = fields.Selection(STATUS_SELECTION, readonly=True)
    new_status = fields.Selection(STATUS_SELECTION, required=True, readonly=True)
    source = fields.Selection(SOURCE_SELECTION, readonly=True)
    source_raw = fields.Char("Source as received", readonly=True)
    consent_date = fields.Datetime(readonly=True)
    user_id = fields.Many2one("res.users", string="Recorded by", readonly=True, default=lambda self: self.env.uid)
    actor = fields.Selection([("user", "User"), ("iys", "İYS")], required=True, default="user", readonly=True)
    origin = fields.Selection(ORIGIN_SELECTION, required=True, readonly=True)
    # restrict: a contact whose consent evidence is on record is archived, not deleted, so that the
    # log keeps saying who gave the consent (Odoo then tells the user to archive it instead)
    partner_id = fields.Many2one("res.partner", string="Contact", readonly=True, index="btree_not_null",
                                 ondelete="restrict")
    to_send = fields.Boolean("To send to İYS", readonly=True)
    push_state = fields.Selection(SYNC_STATE_SELECTION, string="İYS state", compute="_compute_push_state",
                                  store=True, readonly=True)
    note = fields.Text(readonly=True)
    # Dealers (bayi): the dealer that collected the consent and the access changes
    retailer_id = fields.Many2one("iys.retailer", string="Collected by dealer", readonly=True,
                                  index="btree_not_null", ondelete="restrict")
    retailer_code_raw = fields.Char(
        "Dealer code as received", readonly=True,
        help="The dealer code İYS or a file gave, kept as received when no dealer of the brand has it.",
    )
    access_added_ids = fields.Many2many(
        "iys.retailer", "iys_consent_event_access_added_rel", "event_id", "retailer_id",
        string="Dealers given access", readonly=True,
    )
    access_removed_ids = fields.Many2many(
        "iys.retailer", "iys_consent_event_access_removed_rel", "event_id", "retailer_id",
        string="Dealers whose access was removed", readonly=True,
    )
    # Evidence
    attachment_ids = fields.Many2many("ir.attachment", string="Evidence", readonly=True)
    evidence_note = fields.Text("Evidence note", readonly=True)
    ip_address = fields.Char("IP address", readonly=True)
    user_agent = fields.Char(readonly=True)
    notice_version = fields.Char("Notice text version", readonly=True)
    consent_text_id = fields.Many2one(
        "iys.consent.text", string="Consent text shown", readonly=True, index="btree_not_null", ondelete="restrict",
        help="The version of the consent text the person was shown when this movement was captured.",
    )
    # İYS receipts
    # no index: nothing looks an event up by its request (the poll finds the outbox rows by it), and
    # an index on it took an entry at each of the two receipts the push writes on every event
    request_id = fields.Char("İYS request", readonly=True)
    sub_request_id = fields.Char("İYS sub-request", readonly=True)
    transaction_id = fields.Char("İYS transaction", readonly=True, index="btree_not_null")
    iys_creation_date = fields.Datetime("Recorded by İYS on", readonly=True)
    error_code = fields.Char("İYS error", readonly=True)
    error_message = fields.Text("İYS error explanation", readonly=True)

    def init(self):
        # The panel's movements per day group the status movements of the last 30 days by day,
        # brand, channel, status and origin: with these columns in the index, PostgreSQL reads them
        # by an index-only scan instead of visiting the table's rows (measured on 1M events, 500k
        # in the window: see README, Panel). Events are append-only, so the index is cheap to keep.
        self.env.cr.execute(SQL(
            "CREATE INDEX IF NOT EXISTS iys_consent_event_panel_movements_idx ON iys_consent_event "
            "(create_date) INCLUDE (brand_id, channel, new_status, origin) WHERE kind = 'status'"
        ))
        # Odoo keeps the index of a field that is no longer indexed: drop them (see request_id, kind)
        for column in ("request_id", "kind"):
            self.env.cr.execute(SQL("DROP INDEX IF EXISTS %s", SQL.identifier(f"iys_consent_event__{column}_index")))

    @api.depends("to_send", "actor")
    def _compute_push_state(self):
        for event in self:
            if event.push_state:
                continue
            if event.actor == "iys":
                event.push_state = "confirmed"
            else:
                event.push_state = "pending" if event.to_send else "none"

    @api.model_create_multi
    def create(self, vals_list):
        if not is_ledger(self.env):
            raise AccessError(self.env._("Consent events are recorded by the consent ledger only."))
        return super().create(vals_list)

    def write(self, vals):
        if not is_ledger(self.env) or set(vals) - RECEIPT_FIELDS:
            raise AccessError(
                self.env._("Consent events are append-only: only İYS receipts may be added to them, by the system.")
            )
        return super().write(vals)

    @api.ondelete(at_uninstall=False)
    def _unlink_except_append_only(self):
        if not self.env.su or self.env.context.get("iys_allow_event_unlink") is not _EVENT_UNLINK:
            raise AccessError(self.env._("Consent events are append-only and cannot be deleted."))
