#!/bin/bash
# Builds, once, the Debian bookworm rootfs the nspawnlab test hosts boot
# (systemd-nspawn --volatile=overlay: the rootfs is never written, so one
# copy serves every run). Idempotent: an existing rootfs is left alone.
#
#   KUMA_ROOTFS  where it goes (default /var/cache/kuma-agent/rootfs-bookworm-2; the
#                suffix changes with the package list, so a cached older rootfs is not reused)
#   KUMA_MIRROR  Debian mirror (default http://deb.debian.org/debian)
set -euo pipefail

DIR=${KUMA_ROOTFS:-/var/cache/kuma-agent/rootfs-bookworm-2}
MIRROR=${KUMA_MIRROR:-http://deb.debian.org/debian}
TMP=$DIR.tmp

if [ -d "$DIR" ]; then
	echo "rootfs: $DIR exists"
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "rootfs: $DIR is missing and building it needs root (debootstrap): run \`make rootfs\` as root" >&2
	exit 1
fi

# Stop at once, in one line, rather than install behind the caller's back.
if ! command -v debootstrap >/dev/null 2>&1; then
	echo "rootfs: missing tool debootstrap (Debian package debootstrap): run \`make deps\` as root" >&2
	exit 1
fi

mkdir -p "$(dirname "$DIR")"
# Two concurrent runs (parallel CI steps) must not debootstrap into the same dir.
exec 9>"$DIR.lock"
flock 9
if [ -d "$DIR" ]; then
	exit 0
fi

# debootstrap removes TMP/debootstrap when it succeeds: a tmp dir without it
# is a finished build that was not renamed yet (an interrupted run), reuse it.
if [ ! -x "$TMP/lib/systemd/systemd" ] || [ -e "$TMP/debootstrap" ]; then
	rm -rf "$TMP"
	echo "rootfs: debootstrap into $TMP (about a minute)"
	# openssh-server and python3 (+ python3-apt for ansible's apt module): the Ansible
	# deployment test reaches the hosts over SSH; man-db and bash-completion: the package's
	# man page and completion are checked where they are installed.
	debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,iproute2,rpm,openssh-server,python3,python3-apt,man-db,bash-completion \
		bookworm "$TMP" "$MIRROR"
fi

# Make boots fast, quiet and identical: nothing waits for a network, asks
# for a login on the console, or runs periodic maintenance.
sysd=$TMP/etc/systemd/system
for u in systemd-networkd-wait-online.service console-getty.service \
	getty@.service container-getty@.service serial-getty@.service getty.target \
	e2scrub_reap.service e2scrub_all.timer apt-daily.timer apt-daily-upgrade.timer \
	dpkg-db-backup.timer fstrim.timer systemd-pstore.service \
	systemd-tmpfiles-clean.timer systemd-firstboot.service; do
	rm -f "$sysd"/*.wants/"$u" "$sysd"/*.wants/"${u%@.service}"@*.service
	ln -sfn /dev/null "$sysd/$u"
done
# sshd is installed for the Ansible test, which starts it in its own hosts; other hosts
# do not run it.
rm -f "$sysd"/multi-user.target.wants/ssh.service "$sysd"/sshd.service
# An empty machine-id makes systemd generate a fresh one at every boot
# (from nspawn's random uuid): each test host needs its own id.
: >"$TMP/etc/machine-id"
ln -sfn /etc/machine-id "$TMP/var/lib/dbus/machine-id"
# No /etc/hostname (debootstrap copies the build machine's): the container
# keeps the name nspawn gives it (-M), so each host has its own.
rm -f "$TMP/etc/hostname"
printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' >"$TMP/etc/hosts"
rm -f "$TMP"/var/cache/apt/archives/*.deb

mv "$TMP" "$DIR"
echo "rootfs: ready at $DIR ($(du -sh "$DIR" | cut -f1))"
