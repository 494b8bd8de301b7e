from . import test_install
from . import test_consent_ledger
from . import test_send_gate_mail
from . import test_send_gate_sms
