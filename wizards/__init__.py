# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
from . import iys_sync_wizard
from . import iys_consent_wizard
from . import iys_consent_wizard_address
from . import iys_gate_composer_mixin
from . import iys_mailing_transactional
from . import mail_compose_message
from . import sms_composer
from . import iys_consent_import
from . import iys_consent_import_line
from . import iys_reconciliation_wizard
from . import iys_reconciliation_accept
from . import iys_retailer_fetch
from . import iys_consent_wizard_dealer
from . import iys_retailer_access_wizard
from . import iys_consent_request_wizard
