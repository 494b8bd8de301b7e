from . import iys_sync_wizard
