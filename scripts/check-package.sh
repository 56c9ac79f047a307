#!/bin/sh
# Install the x86_64-gateway .deb on this machine, check that the installed
# agent accepts its default config and that systemd accepts its unit, then
# purge it again. Run after scripts/build-target.sh x86_64-gateway.
set -eu
cd "$(dirname "$0")/.."
deb=$(ls build/x86_64-gateway/windrow_*_amd64.deb | head -n 1)
command -v systemd-analyze >/dev/null 2>&1 || {
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends systemd
}
cleanup() { dpkg --purge windrow >/dev/null 2>&1 || true; }
trap cleanup EXIT
dpkg -i "$deb"
/usr/bin/windrow --check-config /etc/windrow/windrow.json
dpkg-query -W -f='${Conffiles}\n' windrow | grep -q /etc/windrow/windrow.json
test -d /var/lib/windrow
systemd-analyze verify /lib/systemd/system/windrow.service
echo "package check: installed, config valid, conffile registered, unit verified"
