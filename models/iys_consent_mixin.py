# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
from odoo import api, fields, models

from ..iyslib.errors import IysValidationError
from ..iyslib.normalize import normalize_phone
from .iys_selections import RECIPIENT_TYPE_SELECTION


class IysConsentMixin(models.AbstractModel):
    """Records whose addresses need İYS consent (partners, leads, mailing contacts).

    In the spirit of ``mail.thread.phone``: a model inherits it and, if needed, says which
    recipient type its records are; the mixin gives the recipient type field, the addresses per
    channel, and the lookups the send gate and the filters use. The inheriting model must also
    inherit ``mail.thread.blacklist`` (``email_normalized``) and ``mail.thread.phone``
    (``phone_sanitized``, ``_phone_get_number_fields``).
    """

    _name = "iys.consent.mixin"
    _description = "Records whose addresses need İYS consent"

    iys_recipient_type = fields.Selection(
        RECIPIENT_TYPE_SELECTION,
        string="İYS recipient type",
        compute="_compute_iys_recipient_type",
        store=True,
        readonly=False,
        precompute=True,
        help="Individual (BIREYSEL): commercial messages need prior consent (ONAY) on İYS.\n"
        "Merchant (TACIR): commercial messages are allowed at business addresses until a refusal (RET).",
    )

    def _compute_iys_recipient_type(self):
        for record in self:
            record.iys_recipient_type = record._iys_default_recipient_type()

    def _iys_default_recipient_type(self):
        """The recipient type a record gets by default; models refine it (strict default: individual)."""
        self.ensure_one()
        return "BIREYSEL"

    def _iys_recipient_types(self):
        """{record id: 'BIREYSEL' | 'TACIR'} for the gate."""
        return {record.id: record.iys_recipient_type or "BIREYSEL" for record in self}

    def _iys_addresses(self, channel):
        """{record id: [normalised addresses]} of each record for a channel.

        E-mail: ``email_normalized``. Phones: every number field (mobile, phone …) in E.164, so a
        contact with two numbers has two consents.
        """
        result = {}
        number_fields = self._phone_get_number_fields() if channel != "EPOSTA" else ()
        for record in self:
            if channel == "EPOSTA":
                result[record.id] = [record.email_normalized] if record.email_normalized else []
                continue
            numbers = []
            for fname in number_fields:
                raw = record[fname]
                if not raw:
                    continue
                try:
                    number = normalize_phone(raw)
                except IysValidationError:
                    number = record._phone_format(fname=fname)
                if number and number not in numbers:
                    numbers.append(number)
            result[record.id] = numbers
        return result

    @api.model
    def _iys_address_column(self, channel):
        """The stored column that holds the address Odoo sends to on a channel."""
        return "email_normalized" if channel == "EPOSTA" else "phone_sanitized"
