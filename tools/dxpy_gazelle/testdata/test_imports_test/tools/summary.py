# Non-test code that imports a test module: its library cannot be testonly.
import tests.test_c as limits


def summary():
    return limits.LIMITS
