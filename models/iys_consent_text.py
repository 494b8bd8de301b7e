# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
from odoo import api, fields, models
from odoo.exceptions import UserError

from .iys_selections import CHANNEL_SELECTION

#: what a used or superseded text may still change: its state (superseded) and bookkeeping
_MUTABLE_ONCE_USED = {"state", "superseded_by_id", "date_superseded", "active"}


class IysConsentText(models.Model):
    """A version of the consent text shown to a person when a consent is captured (ETK / KVKK
    notice), per brand, channel and language.

    Every capture (wizard, import, API, self-service page) links the version that was shown
    (``iys.consent.event.consent_text_id``). Once a version has been used or published it is
    never edited: it is superseded by a new version. This is what the company hands over when a
    complaint arrives.
    """

    _name = "iys.consent.text"
    _description = "İYS Consent Text Version"
    _inherit = ["mail.thread"]
    _order = "brand_id, channel, lang, id desc"
    _rec_names_search = ["name", "version"]

    name = fields.Char("Title", required=True, tracking=True)
    brand_id = fields.Many2one("iys.brand", required=True, ondelete="restrict", index=True, tracking=True)
    company_id = fields.Many2one(related="brand_id.company_id", store=True, index=True)
    channel = fields.Selection(CHANNEL_SELECTION, required=True, tracking=True)
    lang = fields.Selection(selection="_lang_get", string="Language", required=True,
                            default=lambda self: self.env.lang or "tr_TR", tracking=True)
    version = fields.Char(required=True, tracking=True, help="The version label, e.g. ETK-2026-01.")
    body = fields.Html("Text", required=True, sanitize=True, help="The exact text shown to the person.")
    state = fields.Selection(
        [("draft", "Draft"), ("active", "In use"), ("superseded", "Superseded")],
        default="draft", required=True, tracking=True, index=True, copy=False,
    )
    date_active = fields.Datetime("In use since", readonly=True, copy=False)
    date_superseded = fields.Datetime("Superseded on", readonly=True, copy=False)
    superseded_by_id = fields.Many2one("iys.consent.text", string="Superseded by", readonly=True, copy=False)
    event_ids = fields.One2many("iys.consent.event", "consent_text_id", string="Captures")
    active = fields.Boolean(default=True)

    _sql_constraints = [
        ("brand_channel_lang_version_uniq", "unique(brand_id, channel, lang, version)",
         "This version label is already used for this brand, channel and language."),
    ]

    @api.model
    def _lang_get(self):
        return self.env["res.lang"].get_installed()

    def _iys_is_frozen(self):
        """A text shown to anybody (in use, superseded, or linked from an event) is frozen."""
        self.ensure_one()
        if self.state != "draft":
            return True
        return bool(self.env["iys.consent.event"].sudo().search_count([("consent_text_id", "=", self.id)], limit=1))

    def write(self, vals):
        if set(vals) - _MUTABLE_ONCE_USED:
            for text in self:
                if text._iys_is_frozen():
                    raise UserError(self.env._(
                        "The consent text “%(name)s” (%(version)s) has been shown to people and cannot be "
                        "changed. Create a new version instead.", name=text.name, version=text.version))
        return super().write(vals)

    @api.ondelete(at_uninstall=False)
    def _unlink_except_frozen(self):
        for text in self:
            if text._iys_is_frozen():
                raise UserError(self.env._(
                    "The consent text “%(name)s” (%(version)s) has been shown to people: it is kept as "
                    "evidence. Archive it instead.", name=text.name, version=text.version))

    @api.model
    def _iys_current_text(self, brand, channel, lang=None):
        """The version in use for *brand*, *channel* and *lang* (falling back to Turkish, then any
        language), or an empty recordset."""
        Text = self.sudo()
        domain = [("brand_id", "=", brand.id), ("channel", "=", channel), ("state", "=", "active")]
        for lang_domain in ([("lang", "=", lang or self.env.lang)], [("lang", "=", "tr_TR")], []):
            text = Text.search(domain + lang_domain, order="date_active desc, id desc", limit=1)
            if text:
                return text.with_env(self.env)
        return self.browse()
