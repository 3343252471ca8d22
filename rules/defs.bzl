"""Public API of rules_dxpy.

Only re-exports; implementations live in //rules/private.

TODO: dx_py_test (runs tests through the dx-py runner) is not written yet; it
needs the runner binary. Until then use rules_python's py_test, which can
depend on dx_py_library targets.
"""

load("//rules/private:library.bzl", _dx_py_library = "dx_py_library")
load("//rules/private:providers.bzl", _DxPyInfo = "DxPyInfo")

DxPyInfo = _DxPyInfo
dx_py_library = _dx_py_library
