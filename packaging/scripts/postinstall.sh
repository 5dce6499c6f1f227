#!/bin/sh
# deb: $1 = configure (install or upgrade); rpm: $1 = 1 install, 2 upgrade.
set -e
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null 2>&1 || true
  case "$1" in
    configure|1) systemctl enable kuma-agent.service >/dev/null 2>&1 || true ;;
    2) systemctl try-restart kuma-agent.service >/dev/null 2>&1 || true ;;
  esac
fi
exit 0
