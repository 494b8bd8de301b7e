# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
from odoo import models


class IrAttachment(models.Model):
    _inherit = "ir.attachment"

    def _index(self, bin_data, file_type, checksum=None):
        # A consent file (a CSV of a million rows) would otherwise be copied, as text, into
        # index_content, through a regular expression that holds every word in memory at once.
        if self.env.context.get("iys_no_index"):
            return False
        return super()._index(bin_data, file_type, checksum=checksum)
