import os
from app import util
from . import models


def run():
    return util.helper(), models.X, os.sep
