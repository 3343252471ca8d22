def compute():
    # Imported lazily, as many packages do to break cycles or defer cost.
    from .helpers import double

    return double(3)
