"""A plain rules_python py_library that dx_py_library targets depend on."""


def shout(text: str) -> str:
    # A branch no test takes: `bazel coverage` must report it as not taken.
    if not text:
        return text
    return text.upper() + "!"
