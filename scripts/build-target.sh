#!/bin/bash
# One command per board profile: installs what the build needs, configures
# with the profile's preset, builds, runs the unit tests (under qemu-user for
# the ARM profiles) and writes the .deb into build/<profile>/.
#
# Usage: scripts/build-target.sh PROFILE [extra cmake configure arguments]
#   PROFILE: rpi-aarch64 | armhf-generic | x86_64-gateway
# Environment: WINDROW_SYSROOT_DIR (where cross-deps.sh keeps the sysroots),
#   JOBS (parallel build and test jobs; default: number of CPUs).
# See docs/targets.md.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(dirname "$here")

if [ $# -lt 1 ]; then
    echo "usage: build-target.sh rpi-aarch64|armhf-generic|x86_64-gateway [cmake args]" >&2
    exit 2
fi
profile=$1
shift
case $profile in
rpi-aarch64) arch=arm64 cross=1 ;;
armhf-generic) arch=armhf cross=1 ;;
x86_64-gateway) arch=amd64 cross=0 ;;
*)
    echo "build-target.sh: unknown profile '$profile'" >&2
    exit 2
    ;;
esac
bdir=$src/build/$profile
jobs=${JOBS:-$(nproc)}
t0=$(date +%s)
phase_start=$t0
timings=()
phase_done() {
    local now
    now=$(date +%s)
    timings+=("$1 $((now - phase_start))s")
    phase_start=$now
}

if [ "$(id -u)" -eq 0 ]; then
    sudo=()
else
    sudo=(sudo)
fi

# ---- dependencies -------------------------------------------------------
if [ "$cross" -eq 1 ]; then
    "$here/cross-deps.sh" "$arch"
else
    native_pkgs=(cmake gcc libc6-dev dpkg-dev binutils libpaho-mqtt-dev libsqlite3-dev
        libmbedtls-dev libcjson-dev libcmocka-dev)
    missing=()
    for p in "${native_pkgs[@]}"; do
        if ! dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
            missing+=("$p")
        fi
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "build-target: installing ${missing[*]}"
        "${sudo[@]}" apt-get update -qq || echo "build-target: apt-get update reported errors" >&2
        sim=$(LC_ALL=C "${sudo[@]}" apt-get install -s --no-install-recommends "${missing[@]}")
        if grep -q '^Remv' <<<"$sim"; then
            echo "build-target: refusing: installing ${missing[*]} would remove:" >&2
            grep '^Remv' <<<"$sim" >&2
            exit 1
        fi
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
    else
        echo "build-target: native build dependencies present"
    fi
fi
phase_done deps

# ---- configure, build, test ----------------------------------------------
cd "$src"
cmake --preset "$profile" "$@"
if [ ! -f "$bdir/CPackConfig.cmake" ]; then
    echo "build-target: no CPack configuration in $bdir: the top-level CMakeLists.txt" \
        "must include(cmake/Packaging.cmake)" >&2
    exit 1
fi
phase_done configure
cmake --build --preset "$profile" -j "$jobs"
phase_done build
test_log=$bdir/ctest-$profile.log
set +e
ctest --preset "$profile" -j "$jobs" 2>&1 | tee "$test_log"
test_rc=${PIPESTATUS[0]}
set -e
summary=$(grep -E 'tests passed|No tests were found' "$test_log" | tail -1 || true)
phase_done test
if [ "$test_rc" -ne 0 ]; then
    echo "build-target: $profile: tests failed: $summary" >&2
    exit 1
fi

# ---- package and its checks ------------------------------------------------
rm -f "$bdir"/windrow_*.deb
cpack --preset "$profile"
deb=$(ls "$bdir"/windrow_*_"$arch".deb)
phase_done package

deb_arch=$(dpkg-deb -f "$deb" Architecture)
if [ "$deb_arch" != "$arch" ]; then
    echo "build-target: $deb has Architecture $deb_arch, expected $arch" >&2
    exit 1
fi
contents=$(dpkg-deb -c "$deb")
grep -q '\./etc/windrow/windrow\.json$' <<<"$contents"
grep -q '\./lib/systemd/system/windrow\.service$' <<<"$contents"
grep -q '\./etc/mosquitto/conf\.d/windrow\.conf$' <<<"$contents"
conffiles=$(dpkg-deb -I "$deb" conffiles)
grep -qx '/etc/windrow/windrow.json' <<<"$conffiles"
grep -qx '/etc/mosquitto/conf.d/windrow.conf' <<<"$conffiles"

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
dpkg-deb -x "$deb" "$stage"
bin=$stage/usr/bin/windrow
if [ -f "$bin" ]; then
    # Every shared library the binary needs must come from a package in
    # Depends (cmake/Packaging.cmake); OpenSSL must not appear at all.
    needed=$(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
    depends=$(dpkg-deb -f "$deb" Depends)
    for so in $needed; do
        case $so in
        libc.so.* | libm.so.* | libpthread.so.* | libdl.so.* | librt.so.* | ld-linux*) pkg=libc6 ;;
        libpaho-mqtt3a.so.1) pkg=libpaho-mqtt1.3 ;;
        libsqlite3.so.0) pkg=libsqlite3-0 ;;
        libcjson.so.1) pkg=libcjson1 ;;
        libmbedtls.so.14) pkg=libmbedtls14 ;;
        libmbedx509.so.1) pkg=libmbedx509-1 ;;
        libmbedcrypto.so.7) pkg=libmbedcrypto7 ;;
        libzstd.so.1) pkg=libzstd1 ;;
        libssl.so.* | libcrypto.so.*)
            echo "build-target: windrow links OpenSSL ($so)" >&2
            exit 1
            ;;
        *)
            echo "build-target: windrow needs $so, which no Depends entry covers:" \
                "add it to CPACK_DEBIAN_PACKAGE_DEPENDS in cmake/Packaging.cmake" >&2
            exit 1
            ;;
        esac
        if ! grep -qE "(^|, )$pkg( |,|$)" <<<"$depends"; then
            echo "build-target: windrow needs $so but Depends lacks $pkg" >&2
            exit 1
        fi
    done
    if readelf -d "$bin" | grep -qE '\((RPATH|RUNPATH)\)'; then
        echo "build-target: the packaged windrow still has an RPATH/RUNPATH" >&2
        exit 1
    fi
    # Natively, dpkg-shlibdeps can compute the list: each package it names
    # must be in Depends with at least its lower bound (libc6 is stated
    # higher: Debian 12's symbols file does not know GLIBC_ABI_DT_RELR, 2.36).
    if [ "$cross" -eq 0 ] && command -v dpkg-shlibdeps >/dev/null; then
        computed=$(cd "$stage" && mkdir -p debian && echo 'Source: windrow' >debian/control &&
            dpkg-shlibdeps -O usr/bin/windrow 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
        IFS=',' read -ra entries <<<"$computed"
        for e in "${entries[@]}"; do
            e=$(echo "$e" | sed 's/^ *//; s/ *$//')
            pkg=${e%% *}
            want=$(sed -n 's/.*(>= \(.*\))/\1/p' <<<"$e")
            have=$(tr ',' '\n' <<<"$depends" | sed -n "s/^ *$pkg (>= \(.*\))\$/\1/p")
            if [ -z "$have" ] || { [ -n "$want" ] && ! dpkg --compare-versions "$have" ge "$want"; }; then
                echo "build-target: dpkg-shlibdeps wants '$e'; Depends is: $depends" >&2
                exit 1
            fi
        done
    fi
    # Packed relative relocations need glibc 2.36; Depends must say so.
    if readelf -V "$bin" | grep -q GLIBC_ABI_DT_RELR &&
        ! grep -qE '(^|, )libc6 \(>= 2\.3[6-9]' <<<"$depends"; then
        echo "build-target: windrow uses DT_RELR (glibc 2.36) but Depends has: $depends" >&2
        exit 1
    fi
    bin_size=$(stat -c %s "$bin")
    needed_list=$(echo "$needed" | paste -sd ' ')
elif [ -f "$src/agent/main.c" ]; then
    echo "build-target: $deb lacks /usr/bin/windrow" >&2
    exit 1
else
    echo "build-target: warning: agent/main.c does not exist yet: the package has no binary" >&2
    bin_size=none
    needed_list=none
fi

echo
echo "== $profile ($arch) done in $(($(date +%s) - t0))s: ${timings[*]}"
echo "   tests:   $summary"
echo "   package: $deb ($(stat -c %s "$deb") bytes)"
echo "   binary:  stripped $bin_size bytes; NEEDED $needed_list"
