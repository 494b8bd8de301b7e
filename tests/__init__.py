from . import test_install
from . import test_consent_ledger
from . import test_consent_wizard
from . import test_partner_states
from . import test_optout_bridge
from . import test_tour
