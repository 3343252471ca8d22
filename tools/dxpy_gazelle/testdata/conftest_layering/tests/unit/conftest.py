from . import shared
