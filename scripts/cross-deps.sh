#!/bin/bash
# Installs what a cross build of Windrow needs on a Debian 12 amd64 host:
#   - the cross compiler and its C library (amd64 packages: gcc-<triplet>,
#     libc6-dev-<arch>-cross) and qemu-user to run the cross-built tests;
#   - a sysroot folder holding the target architecture's -dev and runtime
#     packages of Paho MQTT C, SQLite, cJSON, mbedTLS and cmocka, unpacked
#     with dpkg-deb -x (not installed: see toolchains/debian-cross.cmake).
#
# Usage: scripts/cross-deps.sh [--refresh] ARCH...     ARCH: arm64 | armhf
#
# Idempotent: returns at once when the tools and the sysroots are already
# there; --refresh rebuilds the sysroots from the current package lists.
# The sysroots go to $WINDROW_SYSROOT_DIR/<arch>, by default build/sysroots/
# in the source tree, which is where the toolchain files look.
# Never removes or downgrades an installed package: every apt-get install is
# simulated first and refused if apt would remove anything. Does not add
# foreign architectures to dpkg (see below).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(dirname "$here")
sysroot_dir=${WINDROW_SYSROOT_DIR:-$src/build/sysroots}

# Packages unpacked into the sysroot: the headers and .so links, and the
# shared libraries they point at (qemu runs the tests against these).
sysroot_pkgs=(
    libpaho-mqtt-dev libpaho-mqtt1.3
    libsqlite3-dev libsqlite3-0
    libcjson-dev libcjson1
    libmbedtls-dev libmbedtls14 libmbedx509-1 libmbedcrypto7
    libcmocka-dev libcmocka0
    libzstd-dev libzstd1
)

refresh=0
arches=()
for a in "$@"; do
    case $a in
    --refresh) refresh=1 ;;
    arm64 | armhf) arches+=("$a") ;;
    -h | --help)
        sed -n '2,16p' "$0"
        exit 0
        ;;
    *)
        echo "cross-deps.sh: unknown architecture '$a' (arm64 or armhf)" >&2
        exit 2
        ;;
    esac
done
if [ ${#arches[@]} -eq 0 ]; then
    echo "usage: cross-deps.sh [--refresh] arm64|armhf..." >&2
    exit 2
fi

if [ "$(id -u)" -eq 0 ]; then
    sudo=()
else
    sudo=(sudo)
fi

triplet_of() {
    case $1 in
    arm64) echo aarch64-linux-gnu ;;
    armhf) echo arm-linux-gnueabihf ;;
    esac
}
qemu_of() {
    case $1 in
    arm64) echo qemu-aarch64 ;;
    armhf) echo qemu-arm ;;
    esac
}

# The stamp names the packages and versions a sysroot was made from; a
# sysroot without one (interrupted unpack) is made again.
stamp_of() { echo "$sysroot_dir/$1/.windrow-sysroot"; }

tools_missing() {
    local a t
    for a in "${arches[@]}"; do
        t=$(triplet_of "$a")
        command -v "$t-gcc" >/dev/null || return 0
        [ -f "/usr/$t/include/stdio.h" ] || return 0
        command -v "$(qemu_of "$a")" >/dev/null || return 0
    done
    return 1
}

sysroot_missing() {
    [ "$refresh" -eq 1 ] && return 0
    local a
    for a in "${arches[@]}"; do
        [ -f "$(stamp_of "$a")" ] || return 0
    done
    return 1
}

if ! tools_missing && ! sysroot_missing; then
    echo "cross-deps: ${arches[*]}: toolchain, qemu and sysroot present"
    exit 0
fi

if tools_missing; then
    echo "cross-deps: apt-get update"
    if ! "${sudo[@]}" apt-get update -qq; then
        echo "cross-deps: warning: apt-get update reported errors; carrying on" >&2
    fi
    host_pkgs=(qemu-user)
    for a in "${arches[@]}"; do
        t=$(triplet_of "$a")
        host_pkgs+=("gcc-$t" "libc6-dev-$a-cross")
    done
    sim=$(LC_ALL=C "${sudo[@]}" apt-get install -s --no-install-recommends "${host_pkgs[@]}")
    if grep -q '^Remv' <<<"$sim"; then
        echo "cross-deps: refusing: installing ${host_pkgs[*]} would remove:" >&2
        grep '^Remv' <<<"$sim" >&2
        exit 1
    fi
    echo "cross-deps: installing ${host_pkgs[*]}"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "${host_pkgs[@]}" >/dev/null
fi

for a in "${arches[@]}"; do
    if [ "$refresh" -eq 0 ] && [ -f "$(stamp_of "$a")" ]; then
        continue
    fi
    root="$sysroot_dir/$a"
    echo "cross-deps: building the $a sysroot in $root"
    rm -rf "$root"
    mkdir -p "$root"
    # The target architecture's package lists go to a private apt state
    # folder: the machine's dpkg does not learn the foreign architecture
    # (no dpkg --add-architecture), so the host's apt-get update is not
    # slowed down, nor failed by a mirror whose foreign index is mid-sync.
    apt_state="$sysroot_dir/.apt/$a"
    mkdir -p "$apt_state/lists/partial" "$apt_state/cache/archives/partial"
    : >"$apt_state/status"
    apt_opts=(-o "APT::Architectures=$a" -o "Dir::State::Lists=$apt_state/lists"
        -o "Dir::Cache=$apt_state/cache" -o "Dir::State::status=$apt_state/status"
        -o "APT::Sandbox::User=root" -q)
    echo "cross-deps: apt-get update ($a lists, private to $apt_state)"
    # A mirror in mid-sync can fail one index (seen with bookworm-security
    # armhf); the download below still fails loudly if a package is missing.
    # Tried three times, a few seconds apart, before carrying on with what
    # did arrive.
    for attempt in 1 2 3; do
        if apt-get "${apt_opts[@]}" update >"$apt_state/update.log" 2>&1; then
            break
        fi
        echo "cross-deps: warning: apt-get update ($a) attempt $attempt reported errors:" >&2
        grep -E '^(E|W):' "$apt_state/update.log" >&2 || true
        if [ "$attempt" -lt 3 ]; then sleep 5; fi
    done
    debs=$(mktemp -d)
    specs=()
    for p in "${sysroot_pkgs[@]}"; do
        specs+=("$p:$a")
    done
    (cd "$debs" && apt-get "${apt_opts[@]}" download "${specs[@]}" >/dev/null)
    for d in "$debs"/*.deb; do
        dpkg-deb -x "$d" "$root"
    done
    # Debian's .so development links are relative; an absolute one would
    # point at the host's amd64 library.
    if find "$root" -type l -lname '/*' | grep -q .; then
        echo "cross-deps: absolute symlinks in $root:" >&2
        find "$root" -type l -lname '/*' >&2
        exit 1
    fi
    for d in "$debs"/*.deb; do
        dpkg-deb -f "$d" Package Version | paste -sd ' '
    done >"$(stamp_of "$a")"
    rm -rf "$debs"
    echo "cross-deps: $a sysroot from $(wc -l <"$(stamp_of "$a")") packages"
done
