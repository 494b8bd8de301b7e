# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
from . import models
from . import wizards
from . import controllers
