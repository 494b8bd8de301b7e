from . import iys_push
# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
from . import mass_mailing
from . import mass_mailing_sms
from . import iys_capture_api
from . import iys_selfservice
