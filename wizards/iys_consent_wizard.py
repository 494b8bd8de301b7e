# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
from odoo import Command, api, fields, models
from odoo.exceptions import AccessError, UserError

from ..iyslib import dates
from ..iyslib.errors import explain
from ..models.iys_selections import CHANNEL_SELECTION, HS_SOURCE_SELECTION, RECIPIENT_TYPE_SELECTION

#: the source proposed by default: the channel through which the consent or refusal came
DEFAULT_SOURCES = {
    "MESAJ": "HS_MESAJ",
    "ARAMA": "HS_CAGRI_MERKEZI",
    "EPOSTA": "HS_EPOSTA",
}
#: sources İYS accepts for a refusal only (HS_KARAR: our own decision)
REFUSAL_ONLY_SOURCES = ("HS_KARAR",)
MODE_SELECTION = [
    ("consent", "Consent (ONAY)"),
    ("refusal", "Refusal (RET)"),
]


class IysConsentWizard(models.TransientModel):
    """Record a consent (ONAY) or a refusal (RET) of a contact's address(es) for one channel,
    with its source, date and evidence, through the consent ledger: what the toggles of the
    contact form's İYS tab open. Either every chosen address is recorded, or nothing is."""

    _name = "iys.consent.wizard"
    _description = "Record an İYS consent or refusal"

    res_model = fields.Char("Record model", required=True, readonly=True)
    res_id = fields.Many2oneReference("Record", model_field="res_model", required=True, readonly=True)
    record_name = fields.Char("Contact", compute="_compute_record_name")
    mode = fields.Selection(MODE_SELECTION, required=True, default="consent", readonly=True)
    channel = fields.Selection(CHANNEL_SELECTION, required=True, readonly=True)
    company_id = fields.Many2one("res.company", required=True, readonly=True)
    brand_id = fields.Many2one(
        "iys.brand", required=True,
        domain="[('company_id', '=', company_id)]",
    )
    recipient_type = fields.Selection(RECIPIENT_TYPE_SELECTION, required=True)
    source = fields.Selection(
        HS_SOURCE_SELECTION, required=True,
        help="Where the recipient gave the consent, or the refusal came through. HS_KARAR (our own "
        "decision) is for refusals only.",
    )
    source_consent = fields.Selection(
        [(code, label) for code, label in HS_SOURCE_SELECTION if code not in REFUSAL_ONLY_SOURCES],
        string="Consent source", compute="_compute_source_consent", inverse="_inverse_source_consent", readonly=False,
        help="Where the recipient gave the consent.",
    )
    consent_date = fields.Datetime(
        "Date", required=True, default=fields.Datetime.now,
        help="When the consent or refusal was obtained, in your time zone. İYS must receive it within 3 "
        "business days and never dated in the future.",
    )
    consent_date_iys = fields.Char("Sent to İYS as", compute="_compute_consent_date_iys")
    address_ids = fields.One2many("iys.consent.wizard.address", "wizard_id", string="Addresses")
    attachment_ids = fields.Many2many(
        "ir.attachment", string="Evidence files",
        help="E.g. the scan of a form signed by hand, a screenshot, a recording.",
    )
    note = fields.Text("Evidence note")
    notice_version = fields.Char(
        "Notice text version",
        help="Version of a consent text not kept in Odoo. When a consent text is chosen, its version is recorded.")
    consent_text_id = fields.Many2one(
        "iys.consent.text", string="Consent text shown",
        domain="[('brand_id', '=', brand_id), ('channel', '=', channel), ('state', 'in', ('active', 'superseded'))]",
        help="The version of the consent text the recipient was shown (İYS → Configuration → Consent Texts); by "
        "default the version in use for the brand, channel and the contact's language.",
    )

    @api.model
    def default_get(self, fields_list):
        values = super().default_get(fields_list)
        context = self.env.context
        model, res_id = context.get("active_model"), context.get("active_id")
        if not model or not res_id or model not in self.env["iys.consent.mixin"]._iys_models():
            return values
        record = self.env[model].browse(res_id)
        record.check_access("read")
        channel = context.get("iys_channel") or values.get("channel") or "MESAJ"
        mode = context.get("iys_mode") or values.get("mode") or "consent"
        company = record._iys_company()
        brand = company.sudo().iys_default_brand_id
        if not brand:
            raise UserError(self.env._(
                "The company %(company)s has no İYS brand yet: configure its İYS account and brands first "
                "(İYS → Configuration → Accounts & Brands).", company=company.name,
            ))
        defaults = {
            "res_model": model,
            "res_id": record.id,
            "channel": channel,
            "mode": mode,
            "company_id": company.id,
            "brand_id": brand.id,
            "recipient_type": record.iys_recipient_type or "BIREYSEL",
            "source": DEFAULT_SOURCES[channel],
            "consent_text_id": self._iys_default_text(brand, channel, record).id if mode == "consent" else False,
            "address_ids": [
                Command.create({"label": label, "raw": raw, "selected": True})
                for label, raw, _address in record._iys_raw_addresses(channel)
            ],
        }
        values.update({name: value for name, value in defaults.items() if name in fields_list})
        return values

    @api.model
    def _iys_default_text(self, brand, channel, record):
        """The consent text version in use for *brand* and *channel*, in the language of *record*
        (a contact's, a lead's), or an empty recordset."""
        lang = record["lang"] if "lang" in record._fields else False
        if not lang and "lang_id" in record._fields:
            lang = record.lang_id.code
        text = self.env["iys.consent.text"]._iys_current_text(brand, channel, lang or None)
        return text if text and text.has_access("read") else self.env["iys.consent.text"]

    @api.onchange("brand_id")
    def _onchange_brand_id_consent_text(self):
        # another brand: its own text in use (the one chosen belonged to the former brand)
        if self.mode == "consent" and self.brand_id and self.consent_text_id.brand_id != self.brand_id:
            record = self._iys_record()
            self.consent_text_id = self._iys_default_text(self.brand_id, self.channel, record) if record else False

    @api.model_create_multi
    def create(self, vals_list):
        # A source that is not one of the HS_* codes (typed in an import, passed by another module)
        # gets İYS's explanation instead of the ORM's "wrong value".
        known = {code for code, _label in HS_SOURCE_SELECTION}
        lang = "tr" if (self.env.lang or "").startswith("tr") else "en"
        for vals in vals_list:
            if vals.get("source") and vals["source"] not in known:
                raise UserError(self.env._(
                    "Nothing was recorded.\nH119: %(reason)s (“%(code)s”)",
                    reason=explain("H119", lang), code=vals["source"],
                ))
        return super().create(vals_list)

    @api.depends("source", "mode")
    def _compute_source_consent(self):
        # A consent is offered only the sources valid for a consent (HS_KARAR is for refusals).
        for wizard in self:
            wizard.source_consent = wizard.source if wizard.source not in REFUSAL_ONLY_SOURCES else False

    def _inverse_source_consent(self):
        for wizard in self:
            if wizard.mode == "consent" and wizard.source_consent:
                wizard.source = wizard.source_consent

    @api.onchange("source_consent")
    def _onchange_source_consent(self):
        # so that the addresses' problems are checked against the chosen source at once
        if self.mode == "consent" and self.source_consent:
            self.source = self.source_consent

    @api.depends("res_model", "res_id")
    def _compute_record_name(self):
        for wizard in self:
            record = wizard._iys_record()
            wizard.record_name = record.display_name if record else False

    @api.depends("consent_date")
    def _compute_consent_date_iys(self):
        for wizard in self:
            wizard.consent_date_iys = (
                self.env._("%(date)s, Turkish time", date=dates.to_iys_date(wizard.consent_date))
                if wizard.consent_date else False
            )

    def _iys_record(self):
        self.ensure_one()
        if not self.res_model or not self.res_id or self.res_model not in self.env:
            return None
        return self.env[self.res_model].browse(self.res_id).exists()

    def _iys_movements(self):
        self.ensure_one()
        record = self._iys_record()
        if not record:
            raise UserError(self.env._("The contact no longer exists."))
        self._iys_check_record(record)
        if not self.address_ids:
            channel = dict(self._fields["channel"]._description_selection(self.env))[self.channel]
            raise UserError(self.env._(
                "%(record)s has no address for %(channel)s: add one on the contact first.",
                record=record.display_name, channel=channel,
            ))
        lines = self.address_ids.filtered("selected")
        if not lines:
            raise UserError(self.env._("Choose at least one address to record."))
        problems = lines.filtered("error")
        if problems:
            raise UserError(self.env._(
                "Nothing was recorded: fix the problems shown on the addresses first.\n%(problems)s",
                problems="\n".join(f"{line.raw}: {line.error}" for line in problems),
            ))
        partner = record if record._name == "res.partner" else record["partner_id"] if "partner_id" in record else None
        self._iys_check_evidence_files()
        text = self._iys_check_consent_text()
        evidence = {
            "attachment_ids": self.attachment_ids.ids,
            "note": self.note or False,
            # a text kept in Odoo: its version label wins over the one typed
            "notice_version": text.version if text else (self.notice_version or False),
            "consent_text_id": text.id or False,
            "partner_id": partner.id if partner else False,
        }
        return [
            {
                "brand_id": self.brand_id.id,
                "channel": self.channel,
                "recipient_type": self.recipient_type,
                "address": line.raw,
                "status": "ONAY" if self.mode == "consent" else "RET",
                "source": self.source,
                "consent_date": self.consent_date,
                "evidence": evidence,
            }
            for line in lines
        ]

    def _iys_check_consent_text(self):
        """The consent text chosen, once checked: one the user may read, shown to people (in use
        or superseded, not a draft), of the wizard's brand and channel."""
        text = self.consent_text_id
        if not text:
            return text
        text.check_access("read")  # (another company's text is not readable)
        if text.brand_id != self.brand_id or text.channel != self.channel or text.state not in ("active", "superseded"):
            raise UserError(self.env._(
                "Nothing was recorded: the consent text “%(text)s” (%(version)s) is not a version in use or "
                "superseded of %(brand)s for this channel. Choose one of its versions, or none.",
                text=text.name, version=text.version, brand=self.brand_id.name))
        return text

    def _iys_check_record(self, record):
        """The wizard's record names the movement's contact in its evidence and gets the chatter note:
        a client creates the wizard with any model and id, so the record must be one that carries
        İYS consents (as ``default_get`` asks) and one the user may read (e.g. not another company's)."""
        if record._name not in self.env["iys.consent.mixin"]._iys_models():
            raise AccessError(self.env._(
                "Nothing was recorded: consents are recorded for contacts, leads and mailing contacts only."
            ))
        record.check_access("read")

    def _iys_check_evidence_files(self):
        """Evidence may only be files the current user uploads into this wizard now, as Odoo's mail
        composer accepts only the attachments its user just uploaded (``mail.thread``
        ``_process_attachments_for_post``): attached to this model, to no record yet or to this
        wizard, created by the user, and readable by the user. The ledger relinks them to the
        event with its own rights, so any other id would move someone else's file."""
        self.ensure_one()
        attachments = self.sudo().attachment_ids
        foreign = attachments.filtered(
            lambda a: a.res_model != self._name or a.res_id not in (0, self.id) or a.res_field
            or a.create_uid != self.env.user
        )
        if foreign:
            raise AccessError(self.env._(
                "Nothing was recorded: evidence files must be uploaded in this window, and %(count)s of "
                "the files given were not. Attach them again from your computer.",
                count=len(foreign),
            ))
        attachments.with_env(self.env).check("read")  # the attachment's own check: its record's read access

    def action_confirm(self):
        """Record the movements through the ledger; on any refusal nothing is recorded and the
        ledger's explanation is shown."""
        self.ensure_one()
        movements = self._iys_movements()
        try:
            with self.env.cr.savepoint():
                results = self.env["iys.consent"]._iys_record_movements(movements, "wizard")
        except UserError as exc:  # ValidationError included: the İYS rules refused a movement
            raise UserError(self.env._("Nothing was recorded.\n%(reason)s", reason=exc.args[0])) from exc
        lines, warning = [], False
        for result in results:
            consent = result.consent
            status = dict(consent._fields["status"]._description_selection(self.env))[consent.status]
            if consent.sync_state == "none":
                warning = True
                lines.append(self.env._(
                    "%(address)s: %(status)s recorded in Odoo only, İYS will not receive it (%(reason)s)",
                    address=consent.address, status=status, reason=consent.iys_error_message or "",
                ))
            else:
                lines.append(self.env._("%(address)s: %(status)s recorded, queued for İYS",
                                        address=consent.address, status=status))
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "warning" if warning else "success",
                "title": self.env._("İYS"),
                "message": "\n".join(lines),
                "sticky": warning,
                "next": {"type": "ir.actions.act_window_close"},
            },
        }
