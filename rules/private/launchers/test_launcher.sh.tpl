#!/bin/sh
# dx_py_test %{label}: replays or executes the tests via `dx-py bazel-test`.
%{runfiles_lookup}
# Arguments beyond the `args` attribute (--test_arg, `bazel run -- ARGS`) go
# to `dx-py bazel-test`, which passes them to pytest in a real run.
%{drop_attribute_args}exec "$runfiles/%{binary}" bazel-test "@$runfiles/%{argsfile}" "$@"
