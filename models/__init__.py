from . import iys_account
from . import iys_brand
from . import res_company
from . import res_config_settings
