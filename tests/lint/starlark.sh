#!/usr/bin/env bash
# Lint of the Starlark files: buildifier's formatting check plus its lint
# warnings over every *.bzl, BUILD, BUILD.bazel, MODULE.bazel and WORKSPACE*
# file of the tree (tracked or new, .gitignore'd ones left out). Exits
# non-zero on any finding.
#
# buildifier comes from npm's @bazel/buildifier, which ships the prebuilt
# binaries inside its tarball (no download at install time), installed into
# ${DXPY_CACHE:-<repo>/.cache}/lint-npm and reused while the pinned version
# matches.
#
# Not checked: tools/dxpy_gazelle/testdata/**/BUILD.in|BUILD.out, golden
# files whose exact text (dx-py gazelle's output) is what the tests compare;
# the name patterns below do not match them. (Their layout differs from
# buildifier's: gazelle writes `deps` before `visibility`.)
#
# `tests/lint/starlark.sh --fix` lets buildifier fix what it can
# (-mode=fix -lint=fix), then checks again. A finding that must stay is
# suppressed by a `# buildifier: disable=<warning>` comment on or above its
# line, with the reason beside it.
set -euo pipefail

BUILDIFIER_VERSION=8.2.1
# Lint warnings: buildifier's default set, which is every warning but the
# opt-in ones; of those this tree would only fail unsorted-dict-items, left
# off because dict order carries meaning here (sizes and timeouts ascend,
# provider fields and attrs read in order). Disabled defaults (none so far)
# go in this list, one line each with the reason.
DISABLED_WARNINGS=()

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cache=${DXPY_CACHE:-$repo/.cache}/lint-npm
buildifier=$cache/node_modules/@bazel/buildifier/buildifier.js

installed_version() {
    node -p "require('$cache/node_modules/@bazel/buildifier/package.json').version" 2>/dev/null || true
}

install_buildifier() {
    [[ $(installed_version) == "$BUILDIFIER_VERSION" ]] && return 0
    echo "lint: installing @bazel/buildifier@$BUILDIFIER_VERSION into $cache" >&2
    mkdir -p "$cache"
    npm install --prefix "$cache" --no-save --no-audit --no-fund --loglevel=error \
        "@bazel/buildifier@$BUILDIFIER_VERSION" >&2
    [[ $(installed_version) == "$BUILDIFIER_VERSION" ]] || {
        echo "lint: error: @bazel/buildifier@$BUILDIFIER_VERSION did not install" >&2
        exit 1
    }
}

starlark_files() {
    git -C "$repo" ls-files -z --cached --others --exclude-standard |
        grep -zE '(^|/)(BUILD|BUILD\.bazel|MODULE\.bazel|WORKSPACE|WORKSPACE\.bazel|WORKSPACE\.bzlmod|[^/]+\.bzl)$'
}

main() {
    install_buildifier
    cd "$repo"
    local files=()
    mapfile -d '' files < <(starlark_files)
    if [[ ${#files[@]} -eq 0 ]]; then
        echo "lint: error: found no Starlark files under $repo" >&2
        exit 1
    fi
    local warnings=default w
    for w in "${DISABLED_WARNINGS[@]}"; do warnings+=",-$w"; done
    if [[ ${1:-} == --fix ]]; then
        node "$buildifier" -mode=fix -lint=fix -warnings="$warnings" "${files[@]}"
    fi
    # -mode=check reports files to reformat, -lint=warn the lint findings;
    # buildifier exits non-zero on either.
    if node "$buildifier" -mode=check -lint=warn -warnings="$warnings" "${files[@]}"; then
        echo "lint: starlark: ${#files[@]} files clean (buildifier $BUILDIFIER_VERSION)"
    else
        echo "lint: starlark: buildifier found the problems above (fix: bash tests/lint/starlark.sh --fix)" >&2
        exit 1
    fi
}

main "$@"
