"""Public API of rules_dxpy. Only re-exports; implementations live in //rules/private.

- dx_py_library: Python sources + data + deps for dx-py tests (DxPyInfo, PyInfo).
- dx_py_test: tests run by dx-py (DxPyTest worker action + replaying executable).
- dx_py_gazelle: `bazel run` target running `dx-py gazelle` on the workspace.
- dxpy_toolchain: a dx-py binary as a `@rules_dxpy//dxpy:toolchain_type` toolchain.
"""

load("//rules/private:gazelle.bzl", _dx_py_gazelle = "dx_py_gazelle")
load("//rules/private:library.bzl", _dx_py_library = "dx_py_library")
load(
    "//rules/private:providers.bzl",
    _DxPyInfo = "DxPyInfo",
    _DxPyTestInfo = "DxPyTestInfo",
    _DxPyToolchainInfo = "DxPyToolchainInfo",
)
load("//rules/private:test_macro.bzl", _dx_py_test = "dx_py_test")
load("//rules/private:toolchain.bzl", _dxpy_toolchain = "dxpy_toolchain")

DxPyInfo = _DxPyInfo
DxPyTestInfo = _DxPyTestInfo
DxPyToolchainInfo = _DxPyToolchainInfo
dx_py_gazelle = _dx_py_gazelle
dx_py_library = _dx_py_library
dx_py_test = _dx_py_test
dxpy_toolchain = _dxpy_toolchain
