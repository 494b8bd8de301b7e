# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
"""18.0.1.2.0: an ONAY İYS rejected (or kept in Odoo only) is "No consent" now, not "Waiting for
İYS": the stored states of the contacts, leads and mailing contacts holding such an address are
computed again.

The push password is no longer stored (it is derived from the database secret when it
is sent to İYS or checked by the endpoint). The clear passwords of earlier versions are removed with
their column; accounts that had one lose their push user too, so their form says that the endpoint
must be registered with İYS again (İYS still holds the old password)."""
import logging

from odoo import SUPERUSER_ID, api
from odoo.tools import SQL
from odoo.tools.sql import column_exists

_logger = logging.getLogger(__name__)


def migrate(cr, version):
    if not version:
        return
    cr.execute(SQL("SELECT DISTINCT channel, address FROM iys_consent "
                   "WHERE status = 'ONAY' AND sync_state IN ('rejected', 'none')"))
    stale = set(cr.fetchall())
    if stale:
        env = api.Environment(cr, SUPERUSER_ID, {})
        env["iys.consent.mixin"]._iys_refresh_states(stale)
        env.flush_all()
    if not column_exists(cr, "iys_account", "push_password"):
        return
    cr.execute(SQL(
        "UPDATE iys_account SET push_username = NULL, push_info = %s WHERE push_password IS NOT NULL",
        "Push credentials were reset by an upgrade (the push password is no longer stored): "
        "register the endpoint with İYS again.",
    ))
    legacy = cr.rowcount
    cr.execute(SQL("ALTER TABLE iys_account DROP COLUMN push_password"))
    if legacy:
        _logger.warning("İYS: the clear push passwords of %s account(s) were removed; generate new push "
                        "credentials and register the endpoint with İYS again", legacy)
