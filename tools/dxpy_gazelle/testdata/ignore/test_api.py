import proto.api
from vendor import six


def test_api():
    pass
