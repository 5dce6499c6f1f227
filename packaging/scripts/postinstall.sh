#!/bin/sh
# deb: $1 = configure, $2 = the old version on an upgrade (empty on install).
# rpm: $1 = 1 on install, 2 on upgrade.
# The unit starts only once /etc/kuma-agent/gossip.keyring exists
# (ConditionPathExists), so starting on a fresh install is harmless.
set -e
[ -d /run/systemd/system ] || exit 0
systemctl daemon-reload >/dev/null 2>&1 || true
case "$1" in
  configure)
    if [ -z "$2" ]; then
      systemctl enable --now kuma-agent.service >/dev/null 2>&1 || true
    else
      systemctl try-restart kuma-agent.service >/dev/null 2>&1 || true
    fi ;;
  1) systemctl enable --now kuma-agent.service >/dev/null 2>&1 || true ;;
  2) systemctl try-restart kuma-agent.service >/dev/null 2>&1 || true ;;
esac
exit 0
