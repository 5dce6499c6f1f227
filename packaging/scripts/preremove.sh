#!/bin/sh
# deb prerm:  $1 = remove, or upgrade/deconfigure/failed-upgrade.
# rpm %preun: $1 = 0 on erase, 1 on upgrade; on `rpm -U` the OLD package's
#             %preun runs after the new %post.
# Stop and disable only on a real removal: an unconditional disable would
# leave an upgraded agent stopped and disabled (test-hosts.md).
set -e
units="kuma-agent.service kuma-agent-alerts.service"
case "$1" in
remove | 0) ;;
*) exit 0 ;;
esac
command -v systemctl >/dev/null 2>&1 || exit 0
if [ -d /run/systemd/system ]; then
	# shellcheck disable=SC2086
	systemctl stop $units >/dev/null 2>&1 || true
fi
# shellcheck disable=SC2086
systemctl disable $units >/dev/null 2>&1 || true
exit 0
