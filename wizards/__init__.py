from . import iys_mailing_transactional
from . import mail_compose_message
from . import sms_composer
