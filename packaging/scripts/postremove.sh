#!/bin/sh
# Only a deb purge removes state. rpm has no purge: an erase ($1 = 0) keeps
# /var/lib/kuma-agent, as it keeps an edited config as .rpmsave; nothing an
# operator may need is deleted without being asked.
set -e
case "$1" in
  purge) rm -rf /var/lib/kuma-agent ;;
esac
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null 2>&1 || true
fi
exit 0
