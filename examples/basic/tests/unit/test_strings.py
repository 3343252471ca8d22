def test_upper():
    assert "dx".upper() == "DX"


async def test_async_is_found():
    assert True
