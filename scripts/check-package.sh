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
# The local broker's drop-in: installed, a conffile, and accepted by
# Mosquitto the way Debian's mosquitto.conf includes it, with the queueing
# it promises (tests/integration/test_broker_dropin.py on the installed file).
test -f /etc/mosquitto/conf.d/windrow.conf
dpkg-query -W -f='${Conffiles}\n' windrow | grep -q /etc/mosquitto/conf.d/windrow.conf
if command -v mosquitto >/dev/null 2>&1 || test -x /usr/sbin/mosquitto; then
    WINDROW_BROKER_DROPIN=/etc/mosquitto/conf.d/windrow.conf \
        python3 tests/integration/test_broker_dropin.py
    dropin="broker drop-in loads and queues"
else
    dropin="broker drop-in installed (no mosquitto here to load it)"
fi
test -d /var/lib/windrow
systemd-analyze verify /lib/systemd/system/windrow.service
echo "package check: installed, config valid, conffiles registered, unit verified, $dropin"
