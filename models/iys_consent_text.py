# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
import re
from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError

from .iys_selections import CHANNEL_SELECTION

#: what a used or superseded text may still change: its state (superseded) and bookkeeping
_MUTABLE_ONCE_USED = {"state", "superseded_by_id", "date_superseded", "date_active", "active"}
#: the states of a version that was shown to people (a draft never was)
SHOWN_STATES = ("active", "superseded")
#: the last number of a version label ("ETK-2026-01" -> "01"), counted up by "New version"
_LAST_NUMBER = re.compile(r"(\d+)(\D*)$")


def next_version_label(label):
    """The label that follows *label*: its last number counted up, keeping its zeros
    ("ETK-2026-01" -> "ETK-2026-02", "v9" -> "v10"), or "-2" appended when it has none."""
    label = (label or "").strip()
    match = _LAST_NUMBER.search(label)
    if not match:
        return f"{label}-2" if label else "1"
    number = match.group(1)
    following = str(int(number) + 1).zfill(len(number))
    return f"{label[:match.start(1)]}{following}{match.group(2)}"


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
    capture_count = fields.Integer("Number of captures", compute="_compute_capture_count",
                                   help="Consent movements recorded with this version as the text shown.")
    is_frozen = fields.Boolean("Frozen", compute="_compute_is_frozen",
                               help="Shown to people: it can no longer be changed, only superseded.")
    active = fields.Boolean(default=True)

    _sql_constraints = [
        ("brand_channel_lang_version_uniq", "unique(brand_id, channel, lang, version)",
         "This version label is already used for this brand, channel and language."),
    ]

    @api.model
    def _lang_get(self):
        return self.env["res.lang"].get_installed()

    def _compute_capture_count(self):
        # (counted as the ledger, for the texts the user may read: the events follow their company)
        counts = dict(self.env["iys.consent.event"].sudo()._read_group(
            [("consent_text_id", "in", self.ids)], ["consent_text_id"], ["__count"]))
        for text in self:
            text.capture_count = counts.get(text._origin, 0)

    @api.depends("name", "version")
    def _compute_display_name(self):
        # the version label with the title: what an event, a wizard or an import shows
        for text in self:
            text.display_name = f"{text.name} ({text.version})" if text.version else (text.name or "")

    @api.depends("state")
    def _compute_is_frozen(self):
        for text in self:
            text.is_frozen = bool(text._origin) and text._origin._iys_is_frozen()

    @api.constrains("state", "brand_id", "channel", "lang")
    def _check_one_in_use(self):
        for text in self.filtered(lambda t: t.state == "active"):
            if self.sudo().search_count([
                ("id", "!=", text.id), ("state", "=", "active"), ("brand_id", "=", text.brand_id.id),
                ("channel", "=", text.channel), ("lang", "=", text.lang),
            ], limit=1):
                raise ValidationError(self.env._(
                    "Another version of this consent text is already in use for %(brand)s, this channel and "
                    "language: put this one in use with its button, which supersedes the other.",
                    brand=text.brand_id.name))

    def copy_data(self, default=None):
        # A copy is the next version (a version label is unique per brand, channel and language).
        vals_list = super().copy_data(default=default)
        if not (default or {}).get("version"):
            for text, vals in zip(self, vals_list, strict=True):
                vals["version"] = text._iys_next_version()
        return vals_list

    def _iys_next_version(self):
        """The first free label after this version's, for its brand, channel and language."""
        self.ensure_one()
        taken = set(self.with_context(active_test=False).sudo().search([
            ("brand_id", "=", self.brand_id.id), ("channel", "=", self.channel), ("lang", "=", self.lang),
        ]).mapped("version"))
        label = next_version_label(self.version)
        while label in taken:
            label = next_version_label(label)
        return label

    # ------------------------------------------------------------------------------------------
    # Actions
    # ------------------------------------------------------------------------------------------
    def action_put_in_use(self):
        """Put this draft in use: the version in use of the same brand, channel and language (if
        any) is superseded by it, now."""
        now = fields.Datetime.now()
        for text in self:
            if text.state != "draft":
                raise UserError(self.env._(
                    "Only a draft can be put in use; “%(name)s” (%(version)s) is already %(state)s.",
                    name=text.name, version=text.version,
                    state=dict(text._fields["state"]._description_selection(self.env))[text.state]))
            previous = self.search([
                ("id", "!=", text.id), ("state", "=", "active"), ("brand_id", "=", text.brand_id.id),
                ("channel", "=", text.channel), ("lang", "=", text.lang),
            ])
            previous.write({"state": "superseded", "superseded_by_id": text.id, "date_superseded": now})
            text.write({"state": "active", "date_active": now})
        return True

    def action_new_version(self):
        """A new draft copying this text, with the next version label, to edit and put in use."""
        self.ensure_one()
        new = self.copy()
        return {
            "type": "ir.actions.act_window",
            "res_model": self._name,
            "res_id": new.id,
            "view_mode": "form",
            "views": [(False, "form")],
            "target": "current",
        }

    def action_view_captures(self):
        """The consent movements recorded with this version as the text shown."""
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("l10n_tr_iys.action_iys_consent_event")
        action.update({
            "domain": [("consent_text_id", "=", self.id)],
            "context": {"create": False},
            "name": self.env._("Captures of %(version)s", version=self.version),
        })
        return action

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
    def _iys_demo_install_language(self, code):
        """Install the language *code* for the demo texts, as Settings › Languages does (the
        translations of every installed module loaded), unless it is installed already."""
        lang = self.env["res.lang"].with_context(active_test=False).search([("code", "=", code)], limit=1)
        if lang and not lang.active:
            self.env["base.language.install"].create({"lang_ids": [(6, 0, lang.ids)]}).lang_install()

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

    @api.model
    def _iys_resolve(self, brand, channel, version=None, lang=None):
        """The consent text version to link to a capture (API, self-service page, import).

        :param brand: an ``iys.brand`` record (or its id)
        :param channel: MESAJ, ARAMA or EPOSTA
        :param version: the version label shown (e.g. "ETK-2026-01"); None or empty: the version
            in use now (see :meth:`_iys_current_text`)
        :param lang: preferred language (e.g. "tr_TR"); a label found in several languages is taken
            in this language, else the user's, else Turkish
        :returns: one ``iys.consent.text`` (in use or superseded: a draft was never shown), or an
            empty recordset when no *version* is given and none is in use
        :raises ValidationError: the label is unknown for the brand and channel, or is a draft.

        The texts are searched with the caller's rights: another company's text is never found.
        Pass the result's id as ``evidence["consent_text_id"]`` of the ledger's movements.
        """
        if isinstance(brand, int):
            brand = self.env["iys.brand"].browse(brand)
        version = (version or "").strip()
        if not version:
            return self._iys_current_text(brand, channel, lang)
        texts = self.with_context(active_test=False).search([
            ("brand_id", "=", brand.id), ("channel", "=", channel), ("version", "=", version),
        ])
        shown = texts.filtered(lambda t: t.state in SHOWN_STATES)
        if not shown:
            channel_label = dict(self._fields["channel"]._description_selection(self.env)).get(channel, channel)
            if texts:
                raise ValidationError(self.env._(
                    "The consent text version “%(version)s” of %(brand)s for %(channel)s is still a draft: it "
                    "has never been shown to anyone. Put it in use first.",
                    version=version, brand=brand.name, channel=channel_label))
            raise ValidationError(self.env._(
                "Unknown consent text version “%(version)s” for %(brand)s and %(channel)s: use the label of a "
                "version in use or superseded (İYS → Configuration → Consent Texts).",
                version=version, brand=brand.name, channel=channel_label))
        for preferred in (lang, self.env.lang, "tr_TR"):
            match = shown.filtered(lambda t, preferred=preferred: t.lang == preferred)
            if preferred and match:
                return match[0]
        return shown[0]

    @api.model
    def _iys_load_demo_captures(self):
        """Demo data: Elif Şahin gave her e-mail consent on the web shop, which was showing the
        demo brand's e-mail text; the movement links the version shown (demo/iys_consent_text_demo.xml)."""
        text = self.env.ref("l10n_tr_iys.demo_iys_consent_text_email", raise_if_not_found=False)
        partner = self.env.ref("l10n_tr_iys.demo_partner_two_numbers", raise_if_not_found=False)
        if not text or not partner or not partner.email:
            return
        self.env["iys.consent"]._iys_record_movements([{
            "brand_id": text.brand_id.id, "channel": "EPOSTA", "recipient_type": "BIREYSEL",
            "address": partner.email, "status": "ONAY", "source": "HS_WEB",
            "consent_date": fields.Datetime.now().replace(microsecond=0) - timedelta(minutes=35),
            "evidence": {"note": "Demo data", "consent_text_id": text.id, "partner_id": partner.id,
                         "ip_address": "203.0.113.24"},
        }], "api")
