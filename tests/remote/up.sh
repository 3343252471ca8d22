#!/usr/bin/env bash
# Start a loopback-only REAPI server (BuildGrid: Execution, CAS, ActionCache,
# ByteStream) and its bots; print the endpoint `grpc://127.0.0.1:PORT` as the
# last line. Idempotent: when they already run, only the endpoint is printed.
# tests/remote/down.sh stops them and removes their state.
#
# First use installs BuildGrid (pinned) into a venv under the repository's
# .cache/ (the bots run on its interpreter too). Each bot runs an action's
# command through DXPY_REMOTE_RUN_PREFIX, by default `tests/bazel/sid.sh run --`:
# the executor image is the Debian sid chroot local Bazel runs in (its python3
# and pytest), which this provisions when needed. Set DXPY_REMOTE_RUN_PREFIX=
# (empty) to run actions on the host instead.
#
# `up.sh --install` only installs (for a setup step that has the network).
#
#   DXPY_REMOTE_PORT   port (default: a free one)
#   DXPY_REMOTE_BOTS   number of bots, one action each at a time (default 2)
#   DXPY_REMOTE_STATE  state directory (default <repo>/.cache/remote-state); it
#                      must be inside the repository, which sid.sh binds into
#                      the chroot
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)
# The last release that runs on SQLite (0.3 and later need PostgreSQL).
BUILDGRID_PIN="buildgrid==0.2.53"
VENV=$REPO_ROOT/.cache/remote-venv
STATE=${DXPY_REMOTE_STATE:-$REPO_ROOT/.cache/remote-state}
BOTS=${DXPY_REMOTE_BOTS:-2}
RUN_PREFIX=${DXPY_REMOTE_RUN_PREFIX-$REPO_ROOT/tests/bazel/sid.sh run --}
# What the bots offer; an action's platform may ask for these exec_properties.
PROPERTIES=(OSFamily=linux dxpy-executor=sid)
[[ -n $RUN_PREFIX ]] || PROPERTIES=(OSFamily=linux dxpy-executor=host)

die() { echo "up.sh: error: $*" >&2; exit 1; }
log() { echo "up.sh: $*" >&2; }

alive() { [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

# The venv is reused while the pin and the constraints (its dependencies' versions) hold.
ensure_venv() {
    local constraints=$SCRIPT_DIR/constraints.txt stamp
    stamp="$BUILDGRID_PIN $(sha256sum "$constraints" | cut -d' ' -f1)"
    if [[ "$(cat "$VENV/pins" 2>/dev/null)" == "$stamp" ]]; then
        return 0
    fi
    log "installing $BUILDGRID_PIN into $VENV"
    rm -rf "$VENV"
    python3 -m venv "$VENV" &&
        "$VENV/bin/pip" install --quiet --disable-pip-version-check -c "$constraints" "$BUILDGRID_PIN" ||
        die "could not install $BUILDGRID_PIN"
    echo "$stamp" >"$VENV/pins"
}

free_port() {
    "$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_ready PORT: the server answers GetCapabilities (up to 60 s).
wait_ready() {
    "$VENV/bin/python" - "$1" <<'EOF' || die "the server did not answer on port $1 (log: $STATE/server.log)"
import sys
import time

import grpc
from buildgrid._protos.build.bazel.remote.execution.v2 import remote_execution_pb2 as re_pb2
from buildgrid._protos.build.bazel.remote.execution.v2 import remote_execution_pb2_grpc as re_grpc

channel = grpc.insecure_channel(f"127.0.0.1:{sys.argv[1]}")
stub = re_grpc.CapabilitiesStub(channel)
deadline = time.monotonic() + 60
while True:
    try:
        stub.GetCapabilities(re_pb2.GetCapabilitiesRequest(instance_name=""), timeout=2)
        break
    except grpc.RpcError:
        if time.monotonic() > deadline:
            sys.exit(1)
        time.sleep(0.3)
EOF
}

start_server() {
    local port=$1
    mkdir -p "$STATE/cas"
    sed "s#@PORT@#$port#; s#@STATE@#$STATE#g" "$SCRIPT_DIR/buildgrid.yml.in" >"$STATE/buildgrid.yml"
    # BuildGrid creates no tables in an SQLite file of its own; make them from its models.
    "$VENV/bin/python" -c '
import sys
import sqlalchemy
from buildgrid.server.sql.models import Base
Base.metadata.create_all(sqlalchemy.create_engine(sys.argv[1]))' "sqlite:///$STATE/scheduler.db"
    setsid "$VENV/bin/bgd" server start "$STATE/buildgrid.yml" </dev/null >"$STATE/server.log" 2>&1 &
    echo $! >"$STATE/server.pid"
    echo "$port" >"$STATE/port"
    wait_ready "$port"
}

start_bot() {
    local index=$1 port=$2 props=()
    for property in "${PROPERTIES[@]}"; do props+=(--property "$property"); done
    setsid "$VENV/bin/python" "$SCRIPT_DIR/bot.py" --endpoint "127.0.0.1:$port" --bot-id "dxpy-bot-$index" \
        --work-root "$STATE/bots/$index" --run-prefix "$RUN_PREFIX" "${props[@]}" \
        </dev/null >"$STATE/bot-$index.log" 2>&1 &
    echo $! >"$STATE/bot-$index.pid"
}

main() {
    exec </dev/null
    case "$STATE/" in "$REPO_ROOT"/*) ;; *) die "DXPY_REMOTE_STATE must be inside $REPO_ROOT" ;; esac
    [[ $BOTS =~ ^[1-9][0-9]*$ ]] || die "DXPY_REMOTE_BOTS must be a positive number, not '$BOTS'"
    ensure_venv
    [[ ${1:-} != --install ]] || return 0
    if alive "$STATE/server.pid"; then
        local port index
        port=$(cat "$STATE/port")
        for ((index = 1; index <= BOTS; index++)); do
            alive "$STATE/bot-$index.pid" || start_bot "$index" "$port"
        done
        log "already running"
        echo "grpc://127.0.0.1:$port"
        return 0
    fi
    # A server that died leaves state behind: start over from nothing.
    bash "$SCRIPT_DIR/down.sh" >/dev/null
    if [[ -n $RUN_PREFIX && $RUN_PREFIX == "$REPO_ROOT/tests/bazel/sid.sh run --" ]]; then
        "$REPO_ROOT/tests/bazel/sid.sh" provision
    fi
    local port=${DXPY_REMOTE_PORT:-$(free_port)}
    mkdir -p "$STATE"
    start_server "$port"
    for ((index = 1; index <= BOTS; index++)); do
        start_bot "$index" "$port"
    done
    log "BuildGrid on 127.0.0.1:$port with $BOTS bot(s); logs in $STATE"
    echo "grpc://127.0.0.1:$port"
}

main "$@"
