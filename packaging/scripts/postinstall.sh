#!/bin/sh
# deb postinst: $1 = configure, $2 = the last configured version (empty on a
#               first install; set again after `dpkg -r`, see the marker below).
# rpm %post:    $1 = 1 on install, 2 on upgrade.
#
# First install: enable kuma-agent (also without a running systemd, e.g. in
# an image build) and start it. It only starts once the cluster's gossip
# keyring is in place (ConditionPathExists in the unit): until then the
# start is a no-op and the agent starts at the next `systemctl start
# kuma-agent` or boot. kuma-agent-alerts is left to the operator: it needs
# an edited alerts.yaml.
# Upgrade: restart what runs, so the new binary takes over; an agent the
# operator stopped or disabled stays so.
set -e
units="kuma-agent.service kuma-agent-alerts.service"
# Left by postrm on `dpkg -r`: dpkg then passes the old version to the next
# install's configure, which is a first install all the same (prerm
# disabled the unit).
marker=/var/lib/kuma-agent/.package-removed

first=
case "$1" in
configure) if [ -z "${2:-}" ] || [ -e "$marker" ]; then first=1; fi ;;
1) first=1 ;;
2) ;;
*) exit 0 ;;
esac
rm -f "$marker"
command -v systemctl >/dev/null 2>&1 || exit 0
running=
if [ -d /run/systemd/system ]; then
	running=1
	systemctl daemon-reload >/dev/null 2>&1 || true
fi

if [ -n "$first" ]; then
	systemctl enable kuma-agent.service >/dev/null 2>&1 || true
	if [ ! -e /etc/kuma-agent/gossip.keyring ]; then
		echo "kuma-agent: enabled; it starts once /etc/kuma-agent/gossip.keyring exists" \
			"(\`kuma-agent keygen\` on one node, copied to every node; see README), then:" \
			"systemctl start kuma-agent" >&2
	elif [ -n "$running" ] && ! systemctl start kuma-agent.service >/dev/null 2>&1; then
		echo "kuma-agent: installed, but it did not start: journalctl -u kuma-agent" >&2
	fi
elif [ -n "$running" ]; then
	# shellcheck disable=SC2086
	systemctl try-restart $units >/dev/null 2>&1 || true
fi
exit 0
