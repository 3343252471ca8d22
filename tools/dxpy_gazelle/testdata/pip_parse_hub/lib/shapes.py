import attrs


@attrs.define
class Point:
    x: int
    y: int
