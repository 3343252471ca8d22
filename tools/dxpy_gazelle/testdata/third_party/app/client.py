import requests
import yaml.constructor
from google.protobuf import json_format
import numpy
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas

try:
    import ujson
except ImportError:
    ujson = None
