#!/usr/bin/env bash
# Run a command under ARM emulation: scripts/arm64.sh [--arch arm64|armhf] [--user] [--bind DIR]... [--] COMMAND...
#
# Builds once, and caches outside the repository (in $EDGEPROVE_ARM_CACHE, default /var/cache/edgeprove-arm),
# a Debian root filesystem for the architecture with the core dependencies and the test tools taken from
# Debian's own packages (python3-numpy, -typer, -rich, -pytest, -hypothesis; no psutil, as on a phone
# without a compiler), then runs COMMAND inside it through qemu user-mode emulation, with the working tree
# importable and mounted at the same path, so files written there are visible outside. Running needs no
# package index; the first build needs Debian's mirror. Needs root (chroot, mounts); installs
# qemu-user-static, binfmt-support and debootstrap with apt-get when missing.
#
#   --arch arm64   64-bit ARM (the default): phones and boards of the last decade
#   --arch armhf   32-bit ARM (ARMv7 with hardware floats): older boards, 32-bit Android userlands
#   --user         run COMMAND as the unprivileged user "edge" (uid 1000) instead of root
#   --bind DIR     also mount the host folder DIR at the same path (e.g. a temporary folder for outputs)
#
# COMMAND runs in a private mount and pid namespace: /proc, /dev, /tmp (a tmpfs) and the working tree are
# mounted for it alone and disappear with it, as does any process it leaves. /sys is not mounted, so there
# is no cgroup file system inside. The environment is cleared (env -i) except TERM, CI, QEMU_CPU,
# OPENBLAS_* and EDGEPROVE_* variables. The exit code is COMMAND's; 2 for bad usage, 5 when the
# environment cannot be built or entered; 130 / 143 / 129 when this script gets SIGINT / SIGTERM / SIGHUP,
# which ends COMMAND and everything it started.
set -euo pipefail

usage() {
    sed -n '2,3p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

arch=arm64
as_user=0
binds=()
while [ $# -gt 0 ]; do
    case "$1" in
        --arch)
            [ $# -ge 2 ] || usage
            arch="$2"
            shift 2
            ;;
        --arch=*)
            arch="${1#--arch=}"
            shift
            ;;
        --user)
            as_user=1
            shift
            ;;
        --bind)
            [ $# -ge 2 ] || usage
            [ -d "$2" ] || {
                echo "arm64.sh: --bind $2 is not a folder" >&2
                exit 2
            }
            binds+=("$(cd "$2" && pwd -P)")
            shift 2
            ;;
        --)
            shift
            break
            ;;
        -h | --help) usage ;;
        -*)
            echo "arm64.sh: unknown option $1" >&2
            usage
            ;;
        *) break ;;
    esac
done
[ $# -ge 1 ] || usage

case "$arch" in
    arm64) qemu=aarch64 ;;
    armhf) qemu=arm ;;
    *)
        echo "arm64.sh: --arch must be arm64 or armhf, not '$arch'" >&2
        exit 2
        ;;
esac

fail() {
    echo "arm64.sh: $*" >&2
    exit 5
}

[ "$(id -u)" = 0 ] || fail "needs root (debootstrap, chroot and mounts)"

repo="$(cd "$(dirname "$0")/.." && pwd -P)"
suite=trixie
mirror="${EDGEPROVE_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
packages=python3,python3-numpy,python3-typer,python3-rich,python3-pytest,python3-hypothesis,time,passwd
# The cached root filesystem's name carries what it was built from, so a change here builds a new one.
spec="$(printf '%s\n' "$arch" "$suite" "$packages" 1 | sha256sum | cut -c1-12)"
cache="${EDGEPROVE_ARM_CACHE:-/var/cache/edgeprove-arm}"
rootfs="$cache/$arch-$suite-$spec"

log() {
    echo "arm64.sh: $*" >&2
}

install_host_tools() {
    local missing=()
    command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
    command -v update-binfmts >/dev/null 2>&1 || missing+=(binfmt-support)
    command -v "qemu-$qemu-static" >/dev/null 2>&1 || missing+=(qemu-user-static)
    command -v unshare >/dev/null 2>&1 || missing+=(util-linux)
    command -v flock >/dev/null 2>&1 || missing+=(util-linux)
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing ${missing[*]} from Debian"
    apt-get update -qq >/dev/null &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
        fail "could not install ${missing[*]}"
}

enable_binfmt() {
    # The kernel must hand ARM executables to qemu: binfmt_misc mounted and qemu's entry enabled.
    if [ ! -e /proc/sys/fs/binfmt_misc/status ]; then
        mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null ||
            fail "cannot mount binfmt_misc (in a container, the host must register qemu-$qemu)"
    fi
    if [ ! -e "/proc/sys/fs/binfmt_misc/qemu-$qemu" ]; then
        update-binfmts --enable "qemu-$qemu" >/dev/null 2>&1 || fail "cannot enable qemu-$qemu in binfmt_misc"
    fi
    grep -q '^enabled' "/proc/sys/fs/binfmt_misc/qemu-$qemu" || fail "binfmt entry qemu-$qemu is disabled"
}

build_rootfs() {
    # Built into a temporary folder beside the cache entry and renamed into place when complete, so an
    # interrupted build leaves no half-built root filesystem that a later run would take for a good one.
    local staging
    rm -rf "$cache/.$arch-"*.building "$cache/.$arch-"*.building.log
    staging="$(mktemp -d --suffix=.building "$cache/.$arch-$suite-$spec.XXXXXX")"
    # Interrupted (the signal reaches debootstrap too when sent to the process group): remove the staging
    # folder at once; a build killed outright leaves it to the next build's clean-up above.
    trap 'rm -rf "$staging" "$staging.log"; exit 130' INT
    trap 'rm -rf "$staging" "$staging.log"; exit 143' TERM
    trap 'rm -rf "$staging" "$staging.log"; exit 129' HUP
    chmod 755 "$staging"
    log "building the $arch Debian $suite root filesystem in $staging (about 15 minutes under emulation)"
    # debootstrap mounts /proc and /sys inside the target; a private mount namespace drops them with it.
    if ! unshare --mount --propagation private -- \
        debootstrap --arch="$arch" --variant=minbase --include="$packages" "$suite" "$staging" "$mirror" \
        >"$staging.log" 2>&1; then
        tail -n 15 "$staging.log" >&2
        rm -rf "$staging" "$staging.log"
        fail "debootstrap failed (log above)"
    fi
    chroot "$staging" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
        useradd --create-home --uid 1000 --shell /bin/sh edge ||
        { rm -rf "$staging" "$staging.log"; fail "could not create the unprivileged user"; }
    chroot "$staging" /usr/bin/env -i PATH=/usr/bin:/bin \
        python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")' >"$staging/etc/edgeprove-python" ||
        { rm -rf "$staging" "$staging.log"; fail "python3 does not start in the new root filesystem"; }
    rm -rf "$staging/var/cache/apt/archives/"*.deb "$staging.log"
    mv -T "$staging" "$rootfs"
    trap - INT TERM HUP
    log "cached $rootfs ($(du -sh "$rootfs" | cut -f1))"
}

install_host_tools
enable_binfmt
mkdir -p "$cache"
# Runs hold the lock shared; a build takes it exclusively, so concurrent runs wait for one build.
exec 9>"$cache/$arch.lock"
flock -s 9
if [ ! -f "$rootfs/etc/edgeprove-python" ]; then
    flock -x 9
    [ -f "$rootfs/etc/edgeprove-python" ] || build_rootfs
    flock -s 9
fi

workdir="$(pwd -P)"
case "$workdir" in
    "$repo" | "$repo"/*) ;;
    *) workdir="$repo" ;;
esac
python_version="$(cat "$rootfs/etc/edgeprove-python")"
# Bytecode of the working tree, kept between runs (for root and the unprivileged user alike).
mkdir -p "$rootfs/var/cache/edgeprove-pycache"
chmod 1777 "$rootfs/var/cache/edgeprove-pycache"
if [ "$as_user" = 1 ]; then
    run_as=(setpriv --reuid=1000 --regid=1000 --init-groups --)
    home=/home/edge
else
    run_as=()
    home=/root
fi
keep=(TERM="${TERM:-dumb}")
while IFS='=' read -r name _; do
    case "$name" in
        CI | QEMU_CPU | OPENBLAS_* | EDGEPROVE_*) keep+=("$name=${!name}") ;;
    esac
done < <(env)

# Inside the new namespaces: mount what COMMAND needs, install the working tree (a .pth file and an
# `edgeprove` command in a private /usr/local), print the architecture and run COMMAND.
# shellcheck disable=SC2016  # expanded by the inner shell
inner='
set -eu
root="$1" repo="$2" pyver="$3" binds="$4"
shift 4
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
mount -t tmpfs -o mode=755 tmpfs "$root/usr/local"
mkdir -p "$root$repo" "$root/usr/local/bin" "$root/usr/local/lib/python$pyver/dist-packages"
mount --bind "$repo" "$root$repo"
printf "%s" "$binds" | while IFS= read -r dir || [ -n "$dir" ]; do
    [ -n "$dir" ] || continue
    mkdir -p "$root$dir"
    mount --bind "$dir" "$root$dir"
done
echo "$repo" >"$root/usr/local/lib/python$pyver/dist-packages/edgeprove-worktree.pth"
printf "#!/usr/bin/python3\nimport sys\nfrom edgeprove.cli import main\nsys.exit(main())\n" \
    >"$root/usr/local/bin/edgeprove"
chmod 755 "$root/usr/local/bin/edgeprove"
exec chroot "$root" "$@"
'
stop_namespace() {
    # unshare ignores SIGINT and SIGTERM while it waits, so a signal to this script kills the namespace's
    # first process, which takes every process in it along.
    local first
    first="$(cat "/proc/$namespace/task/$namespace/children" 2>/dev/null || true)"
    [ -z "$first" ] || kill -KILL $first 2>/dev/null || true
    wait "$namespace" 2>/dev/null || true
    exit "$1"
}
unshare --mount --propagation private --pid --fork --kill-child -- \
    bash -c "$inner" inner "$rootfs" "$repo" "$python_version" "$(printf '%s\n' "${binds[@]}")" \
    /usr/bin/env -i "${keep[@]}" HOME="$home" LANG=C.UTF-8 PATH=/usr/local/bin:/usr/bin:/bin \
    PYTHONPYCACHEPREFIX=/var/cache/edgeprove-pycache \
    /bin/sh -c 'cd "$1" 2>/dev/null || cd /; shift
        numpy="$(cd /usr/lib/python3/dist-packages && echo numpy-*.dist-info)"
        numpy="${numpy#numpy-}"
        echo "arm64.sh: $(uname -m), $(. /etc/os-release && echo "$PRETTY_NAME"), $(python3 -V), numpy ${numpy%.dist-info}" >&2
        exec "$@"' sh "$workdir" "${run_as[@]}" "$@" &
namespace=$!
trap 'stop_namespace 130' INT
trap 'stop_namespace 143' TERM
trap 'stop_namespace 129' HUP
wait "$namespace"
