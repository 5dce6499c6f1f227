#!/bin/sh
# deb postrm:  $1 = remove, purge, upgrade, disappear, abort-*, failed-upgrade.
# rpm %postun: $1 = 0 on erase, 1 on upgrade.
#
# Only a deb purge deletes the agent's state (/var/lib/kuma-agent: mesh
# snapshot, event outbox, JetStream store). rpm has no purge: an erase keeps
# it, as it keeps an edited agent.yaml as .rpmsave. What the operator put in
# /etc/kuma-agent (gossip keyring, inventory, NATS route password) is never
# deleted: dpkg purges only the package's own conffiles.
set -e
case "$1" in
remove)
	# The next `dpkg -i` is a first install (see postinstall.sh).
	mkdir -p -m 0700 /var/lib/kuma-agent
	: >/var/lib/kuma-agent/.package-removed
	;;
purge) rm -rf /var/lib/kuma-agent ;;
esac
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
	systemctl daemon-reload >/dev/null 2>&1 || true
fi
exit 0
