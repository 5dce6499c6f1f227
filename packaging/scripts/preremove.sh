#!/bin/sh
# Stop and disable only on real removal: deb passes "remove" (or "upgrade" on
# upgrade), rpm passes 0 on erase and 1 on upgrade, and the old package's
# script runs after the new %post, so an unconditional disable would leave an
# upgraded agent stopped.
set -e
if [ -d /run/systemd/system ]; then
  case "$1" in
    remove|0) systemctl disable --now kuma-agent.service >/dev/null 2>&1 || true ;;
  esac
fi
exit 0
