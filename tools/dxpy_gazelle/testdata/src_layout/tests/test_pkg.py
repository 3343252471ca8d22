import mypkg
from mypkg.sub import deep


def test_thing():
    assert mypkg.thing == deep.impl.thing
