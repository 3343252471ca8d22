#!/bin/sh
# dx_py_gazelle %{label}: runs `dx-py gazelle "$@"` in the workspace `bazel run` was called from.
%{runfiles_lookup}
if [ -z "${BUILD_WORKSPACE_DIRECTORY:-}" ]; then
    echo "dx_py_gazelle %{label}: BUILD_WORKSPACE_DIRECTORY is unset; start this with 'bazel run'" >&2
    exit 2
fi
cd "$BUILD_WORKSPACE_DIRECTORY" || exit 2
exec "$runfiles/%{binary}" gazelle "$@"
