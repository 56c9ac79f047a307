#!/bin/sh
# Install what building, testing and the demo need on Debian 12, if missing.
set -eu
PKGS="build-essential cmake pkg-config python3 openssl mosquitto mosquitto-clients
      libpaho-mqtt-dev libsqlite3-dev libmbedtls-dev libcjson-dev libcmocka-dev
      clang libclang-rt-14-dev libzstd-dev zstd"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "installing:$missing"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends $missing
fi
