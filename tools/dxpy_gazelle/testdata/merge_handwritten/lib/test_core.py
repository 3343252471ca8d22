from lib import core
