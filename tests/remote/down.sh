#!/usr/bin/env bash
# Stop the bots and the BuildGrid server tests/remote/up.sh started (by the
# pids it recorded) and remove their state. Idempotent.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)
STATE=${DXPY_REMOTE_STATE:-$REPO_ROOT/.cache/remote-state}

# stop PIDFILE: TERM the recorded process (and its process group, which setsid
# made its own), then KILL it after 10 s.
stop() {
    local pidfile=$1 pid
    [[ -f $pidfile ]] || return 0
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
}

[[ -d $STATE ]] || exit 0
for pidfile in "$STATE"/bot-*.pid; do
    [[ -e $pidfile ]] && stop "$pidfile"
done
stop "$STATE/server.pid"
# Staged inputs are read-only files in writable directories: rm removes them.
rm -rf --one-file-system "$STATE"
echo "down.sh: stopped; removed $STATE" >&2
