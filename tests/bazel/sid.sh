#!/usr/bin/env bash
# Provision and use a Debian sid chroot that carries Bazel 7.7.1 with
# Debian's offline bzlmod setup (bookworm only ships bazel-bootstrap 4.2.3).
#
# Subcommands (all need root):
#   provision                          create/refresh the chroot (idempotent)
#   run   [--workspace DIR] -- CMD...  run CMD inside the chroot
#   bazel [--workspace DIR] -- ARGS... run bazel offline in DIR (default: cwd)
#
# Layout: the chroot lives at ${DXPY_SID_ROOT:-/var/cache/dxpy/sid}. It is
# entered through a private mount namespace + pivot_root (not plain chroot),
# because a chrooted process may not create user namespaces, which Bazel's
# linux-sandbox needs. Every mount is made inside that namespace, so the
# kernel drops them all when its last process exits: nothing leaks onto the
# host even if the command fails or is killed.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)
SID_ROOT=${DXPY_SID_ROOT:-/var/cache/dxpy/sid}
MIRROR=${DXPY_SID_MIRROR:-http://deb.debian.org/debian}
PACKAGES=(bazel-bootstrap bazel-rules-python bazel-rules-rust bazel-rules-shell python3 python3-pytest python3-pytest-cov)
# Bump when the provisioning recipe changes so old roots get refreshed.
RECIPE_VERSION=1
STAMP="$SID_ROOT/.dxpy-provisioned"
BASE_STAMP="$SID_ROOT/.dxpy-base-complete"
# Written before debootstrap starts: only a root carrying it may be deleted.
BASE_STARTED="$SID_ROOT/.dxpy-base-started"
# In-chroot locations of the offline Bazel support files and caches.
CHROOT_SUPPORT=/opt/dxpy
CHROOT_OUTPUT_USER_ROOT=/var/cache/dxpy-bazel

die() { echo "sid.sh: error: $*" >&2; exit 1; }
log() { echo "sid.sh: $*" >&2; }

usage() {
    sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

require_root() {
    [[ $(id -u) -eq 0 ]] || die "must run as root (needs debootstrap, mount namespaces and pivot_root); try: sudo $0 $*"
}

stamp_contents() {
    printf 'recipe=%s\nmirror=%s\npackages=%s\n' "$RECIPE_VERSION" "$MIRROR" "${PACKAGES[*]}"
}

is_provisioned() {
    [[ -f "$STAMP" ]] && [[ "$(cat "$STAMP")" == "$(stamp_contents)" ]]
}

# Refuse to delete a root that still has something mounted under it:
# rm -rf through a bind mount of /dev or of a workspace would destroy it.
assert_nothing_mounted_under() {
    local dir=$1
    if awk -v d="$dir" '$5 == d || index($5, d "/") == 1 { found = 1 } END { exit !found }' /proc/self/mountinfo; then
        die "something is still mounted under $dir (see /proc/self/mountinfo); unmount it first"
    fi
}

ensure_host_tool() {
    local tool=$1 package=$2
    command -v "$tool" >/dev/null 2>&1 && return 0
    log "installing $package on the host"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq </dev/null \
        || die "apt-get update failed on the host"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" </dev/null >/dev/null \
        || die "could not install $package on the host"
    command -v "$tool" >/dev/null 2>&1 || die "$tool still missing after installing $package"
}

cmd_provision() {
    require_root provision
    if is_provisioned; then
        log "already provisioned: $SID_ROOT"
        return 0
    fi
    case "$SID_ROOT" in
        / | /*/ | "") die "DXPY_SID_ROOT must be an absolute path without a trailing slash, not '$SID_ROOT'" ;;
        /*) ;;
        *) die "DXPY_SID_ROOT must be absolute, got '$SID_ROOT'" ;;
    esac
    mkdir -p "$(dirname "$SID_ROOT")"
    # Concurrent provisioners (parallel CI jobs) take turns; the second one
    # then finds the root provisioned.
    exec 9>"$SID_ROOT.lock"
    flock 9
    if is_provisioned; then
        log "already provisioned: $SID_ROOT"
        return 0
    fi
    ensure_host_tool debootstrap debootstrap
    ensure_host_tool unshare util-linux
    check_namespaces

    if [[ -e "$SID_ROOT" && ! -f "$BASE_STAMP" ]]; then
        # An interrupted debootstrap leaves a root that apt cannot trust.
        [[ -f "$BASE_STARTED" ]] || [[ -z "$(ls -A "$SID_ROOT")" ]] \
            || die "$SID_ROOT exists but was not made by this script; move it away or set DXPY_SID_ROOT"
        log "found half-made root at $SID_ROOT; removing it"
        assert_nothing_mounted_under "$SID_ROOT"
        rm -rf --one-file-system "$SID_ROOT"
    fi
    if [[ ! -f "$BASE_STAMP" ]]; then
        mkdir -p "$SID_ROOT"
        touch "$BASE_STARTED"
        log "debootstrap sid into $SID_ROOT (from $MIRROR)"
        # Own mount namespace: the /proc and /sys debootstrap mounts in the
        # target cannot outlive it, even if it is killed.
        if ! unshare --mount --propagation private -- \
            debootstrap --variant=minbase sid "$SID_ROOT" "$MIRROR" </dev/null >"$SID_ROOT.debootstrap.log" 2>&1; then
            tail -n 30 "$SID_ROOT.debootstrap.log" >&2 || true
            die "debootstrap failed (full log: $SID_ROOT.debootstrap.log)"
        fi
        touch "$BASE_STAMP"
    fi

    # The mirror is a frozen snapshot whose Release files have expired.
    mkdir -p "$SID_ROOT/etc/apt/apt.conf.d"
    printf 'Acquire::Check-Valid-Until "false";\n' >"$SID_ROOT/etc/apt/apt.conf.d/99dxpy-no-valid-until"
    printf 'APT::Install-Recommends "false";\n' >"$SID_ROOT/etc/apt/apt.conf.d/99dxpy-no-recommends"
    cp -L /etc/resolv.conf "$SID_ROOT/etc/resolv.conf" 2>/dev/null || true

    log "installing ${PACKAGES[*]} inside the chroot"
    if ! enter_chroot "" env DEBIAN_FRONTEND=noninteractive \
        sh -c 'dpkg --configure -a && apt-get update -qq && apt-get install -y -qq "$@"' sh "${PACKAGES[@]}" \
        </dev/null >"$SID_ROOT.apt.log" 2>&1; then
        tail -n 30 "$SID_ROOT.apt.log" >&2 || true
        die "apt-get install inside the chroot failed (full log: $SID_ROOT.apt.log)"
    fi
    enter_chroot "" apt-get clean </dev/null >/dev/null 2>&1 || true
    enter_chroot "" bazel --version </dev/null >/dev/null 2>&1 \
        || die "bazel does not run inside the provisioned chroot"
    stamp_contents >"$STAMP"
    log "provisioned $SID_ROOT"
}

check_namespaces() {
    command -v unshare >/dev/null 2>&1 || die "unshare (util-linux) is missing on the host"
    unshare --mount --propagation private -- true 2>/dev/null \
        || die "cannot create a mount namespace (needs CAP_SYS_ADMIN; in a container run it --privileged)"
}

# enter_chroot WORKSPACE CMD... : run CMD inside the chroot. The repository
# (for the offline bazelrc and override modules) and WORKSPACE, if set, are
# bound at their own paths inside.
enter_chroot() {
    local workspace=$1
    shift
    [[ -d "$SID_ROOT/usr/bin" ]] || die "no chroot at $SID_ROOT; run: $0 provision"
    check_namespaces
    local -a binds=("$REPO_ROOT")
    if [[ -n "$workspace" ]]; then
        case "$workspace/" in
            "$REPO_ROOT"/*) ;;
            *) binds+=("$workspace") ;;
        esac
    fi
    # The inner script runs in the new mount namespace; it receives the root,
    # the bind list (NUL-free, newline-separated) and the command.
    unshare --mount --propagation private --fork -- \
        bash -c "$ENTER_SCRIPT" enter "$SID_ROOT" "$(printf '%s\n' "${binds[@]}")" "$PWD" "$@"
}

# shellcheck disable=SC2016  # expanded by the inner bash, not here
ENTER_SCRIPT='
set -euo pipefail
root=$1 binds=$2 cwd=$3
shift 3
# pivot_root needs the new root to be a mount point.
mount --bind "$root" "$root"
mount -t proc proc "$root/proc"
for d in /sys /dev /dev/pts /dev/shm; do
    mkdir -p "$root$d"
    mount --bind "$d" "$root$d"
done
while IFS= read -r dir; do
    [[ -n "$dir" ]] || continue
    mkdir -p "$root$dir"
    mount --bind "$dir" "$root$dir"
done <<<"$binds"
mkdir -p "$root/.dxpy-oldroot"
cd "$root"
pivot_root . .dxpy-oldroot
umount -l /.dxpy-oldroot
cd / 
if [[ -d "$cwd" ]]; then cd "$cwd"; fi
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8
exec "$@"
'

parse_workspace_then_command() {
    WORKSPACE=""
    while [[ $# -gt 0 ]]; do
        case "$1" in
            --workspace)
                [[ $# -ge 2 ]] || die "--workspace needs a directory"
                [[ -d "$2" ]] || die "workspace $2 is not a directory"
                WORKSPACE=$(cd "$2" && pwd)
                shift 2
                ;;
            --) shift; break ;;
            *) die "unexpected argument $1 (put the command after --)" ;;
        esac
    done
    COMMAND=("$@")
}

cmd_run() {
    require_root run
    parse_workspace_then_command "$@"
    [[ ${#COMMAND[@]} -gt 0 ]] || die "run: no command given after --"
    is_provisioned || die "chroot at $SID_ROOT is not provisioned; run: $0 provision"
    if [[ -n "$WORKSPACE" ]]; then cd "$WORKSPACE"; fi
    enter_chroot "$WORKSPACE" "${COMMAND[@]}"
}

# Copy the committed offline bazelrc and empty override modules to a fixed
# in-chroot path, so the bazelrc can name them absolutely for any workspace.
install_support_files() {
    local target="$SID_ROOT$CHROOT_SUPPORT"
    rm -rf --one-file-system "$target.new"
    mkdir -p "$target.new"
    cp -a "$SCRIPT_DIR/offline.bazelrc" "$target.new/offline.bazelrc"
    cp -a "$SCRIPT_DIR/overrides" "$target.new/overrides"
    rm -rf --one-file-system "$target"
    mv "$target.new" "$target"
    mkdir -p "$SID_ROOT$CHROOT_OUTPUT_USER_ROOT"
}

cmd_bazel() {
    require_root bazel
    parse_workspace_then_command "$@"
    [[ -n "$WORKSPACE" ]] || WORKSPACE=$PWD
    is_provisioned || die "chroot at $SID_ROOT is not provisioned; run: $0 provision"
    install_support_files
    cd "$WORKSPACE"
    local -a startup=(--bazelrc="$CHROOT_SUPPORT/offline.bazelrc" --output_user_root="$CHROOT_OUTPUT_USER_ROOT")
    enter_chroot "$WORKSPACE" bazel "${startup[@]}" "${COMMAND[@]}"
}

main() {
    [[ $# -ge 1 ]] || usage
    local sub=$1
    shift
    case "$sub" in
        provision) cmd_provision "$@" ;;
        run) cmd_run "$@" ;;
        bazel) cmd_bazel "$@" ;;
        -h | --help | help) usage ;;
        *) die "unknown subcommand $sub (expected provision, run or bazel)" ;;
    esac
}

main "$@"
