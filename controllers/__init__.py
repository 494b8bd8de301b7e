from . import iys_push
