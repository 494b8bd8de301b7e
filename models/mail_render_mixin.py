# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
from odoo import api, models

#: the self-service page's placeholder in a mailing's body (replaced by each recipient's signed
#: link when the e-mail goes, see mail.mail): never turned into a tracked short link, as
#: mass_mailing keeps its own ``/unsubscribe_from_list`` placeholder
PREFERENCES_PLACEHOLDER = "/iys/preferences"


class MailRenderMixin(models.AbstractModel):
    _inherit = "mail.render.mixin"

    @api.model
    def _shorten_links(self, html, link_tracker_vals, blacklist=None, base_url=None, *args, **kwargs):
        if blacklist is not None and "/unsubscribe_from_list" in blacklist:
            blacklist = [*blacklist, PREFERENCES_PLACEHOLDER]
        return super()._shorten_links(html, link_tracker_vals, blacklist, base_url, *args, **kwargs)
