"""A plain rules_python py_library that dx_py_library targets depend on."""


def shout(text: str) -> str:
    return text.upper() + "!"
