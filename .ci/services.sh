# Sourced by .ci/run: a private Docker daemon for the harness's real Docker tests.
#
# Installs Debian's docker.io (and busybox-static) when missing, starts dockerd in the background with its
# own data root, exec root, pidfile and socket under a temporary folder, no bridge and no iptables, and a
# cgroup parent nested inside this job's own cgroup; builds the test image from local files (a busybox
# rootfs that chroots into the host filesystem, mounted read-only) and exports DOCKER_HOST and
# EDGEPROVE_TEST_IMAGE. An EXIT trap stops the daemon by its pid and removes the folder and its cgroups.
# A failure here is reported, not fatal: the Docker tests then fail with the reason on CI. Safe under
# `set -euo pipefail`.

EDGEPROVE_TEST_IMAGE="${EDGEPROVE_TEST_IMAGE:-edgeprove-host:local}"
EDGEPROVE_DOCKER_DIR=""
EDGEPROVE_DOCKER_CGROUP=""

edgeprove_services_log() {
    echo "services: $*" >&2
}

edgeprove_own_cgroup() {
    # The job's memory cgroup (cgroup v1), else its unified (v2) cgroup.
    local path
    path="$(awk -F: '$2 ~ /(^|,)memory(,|$)/ {print $3; exit}' /proc/self/cgroup)"
    [ -n "$path" ] || path="$(awk -F: '$1 == "0" {print $3; exit}' /proc/self/cgroup)"
    echo "${path%/}"
}

edgeprove_install_docker() {
    if command -v dockerd >/dev/null 2>&1 && command -v busybox >/dev/null 2>&1; then
        return 0
    fi
    if [ "$(id -u)" != 0 ]; then
        edgeprove_services_log "dockerd or busybox missing and not root: cannot install docker.io"
        return 1
    fi
    edgeprove_services_log "installing docker.io and busybox-static from Debian"
    apt-get update -qq >/dev/null &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            docker.io busybox-static >/dev/null
}

edgeprove_build_test_image() {
    local rootfs="$EDGEPROVE_DOCKER_DIR/rootfs"
    mkdir -p "$rootfs/bin" "$rootfs/host" "$rootfs/proc" "$rootfs/sys" "$rootfs/dev" "$rootfs/etc" || return 1
    cp "$(command -v busybox)" "$rootfs/bin/busybox" || return 1
    ln -sf busybox "$rootfs/bin/sh"
    ln -sf busybox "$rootfs/bin/chroot"
    tar -C "$rootfs" -c . |
        docker import --change 'LABEL edgeprove.host-root=/host' - "$EDGEPROVE_TEST_IMAGE" >/dev/null
}

edgeprove_services_stop() {
    local pid waited=0
    if [ -n "$EDGEPROVE_DOCKER_DIR" ] && [ -f "$EDGEPROVE_DOCKER_DIR/docker.pid" ]; then
        pid="$(cat "$EDGEPROVE_DOCKER_DIR/docker.pid")"
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            docker ps -aq --filter label=edgeprove.run 2>/dev/null | xargs -r docker rm -f >/dev/null 2>&1 || true
            kill -TERM "$pid" 2>/dev/null
            while kill -0 "$pid" 2>/dev/null && [ "$waited" -lt 200 ]; do
                sleep 0.1
                waited=$((waited + 1))
            done
            if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
        fi
    fi
    if [ -n "$EDGEPROVE_DOCKER_CGROUP" ]; then
        for hierarchy in /sys/fs/cgroup /sys/fs/cgroup/*; do
            if [ -d "$hierarchy$EDGEPROVE_DOCKER_CGROUP" ]; then
                find "$hierarchy$EDGEPROVE_DOCKER_CGROUP" -depth -type d -exec rmdir {} \; 2>/dev/null || true
            fi
        done
    fi
    if [ -n "$EDGEPROVE_DOCKER_DIR" ] && [ -d "$EDGEPROVE_DOCKER_DIR" ]; then
        { grep -F " $EDGEPROVE_DOCKER_DIR/" /proc/self/mounts || true; } | awk '{print $2}' | sort -r |
            xargs -r -n1 umount -l 2>/dev/null || true
        rm -rf "$EDGEPROVE_DOCKER_DIR"
    fi
    EDGEPROVE_DOCKER_DIR=""
}

edgeprove_services_start() {
    edgeprove_install_docker || return 1
    EDGEPROVE_DOCKER_DIR="$(mktemp -d /tmp/edgeprove-dockerd.XXXXXX)" || return 1
    EDGEPROVE_DOCKER_CGROUP="$(edgeprove_own_cgroup)/edgeprove-dockerd-$$"
    local socket="$EDGEPROVE_DOCKER_DIR/docker.sock" waited=0
    dockerd \
        --data-root "$EDGEPROVE_DOCKER_DIR/data" \
        --exec-root "$EDGEPROVE_DOCKER_DIR/exec" \
        --pidfile "$EDGEPROVE_DOCKER_DIR/docker.pid" \
        --host "unix://$socket" \
        --bridge=none --iptables=false --ip6tables=false \
        --storage-driver=vfs \
        --cgroup-parent="$EDGEPROVE_DOCKER_CGROUP" \
        >"$EDGEPROVE_DOCKER_DIR/dockerd.log" 2>&1 </dev/null &
    export DOCKER_HOST="unix://$socket"
    until docker version >/dev/null 2>&1; do
        if [ "$waited" -ge 120 ]; then
            edgeprove_services_log "dockerd did not answer within 60 s; its log ends with:"
            tail -n 5 "$EDGEPROVE_DOCKER_DIR/dockerd.log" >&2
            return 1
        fi
        sleep 0.5
        waited=$((waited + 1))
    done
    edgeprove_build_test_image || return 1
    export EDGEPROVE_TEST_IMAGE
    edgeprove_services_log "dockerd up at $DOCKER_HOST (pid $(cat "$EDGEPROVE_DOCKER_DIR/docker.pid")), image $EDGEPROVE_TEST_IMAGE"
}

edgeprove_previous_exit_trap="$(trap -p EXIT | sed -e "s/^trap -- '\(.*\)' EXIT$/\1/")"
# shellcheck disable=SC2064  # the previous trap is expanded now, on purpose
trap "edgeprove_services_stop; $edgeprove_previous_exit_trap" EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
edgeprove_services_start || edgeprove_services_log "Docker is not available; the Docker tests will fail on CI"
