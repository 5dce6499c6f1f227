#!/bin/sh
# Maps a version from `git describe --tags --always --dirty` (what
# `kuma-agent version` prints) to a package version that dpkg and rpm both
# accept and order the way git does:
#
#   v1.2.3                    1.2.3
#   v1.2.3-dirty              1.2.3+dirty
#   v1.2.3-4-gabc1234         1.2.3+git4.abc1234        (4 commits after v1.2.3: newer)
#   v1.2.3-rc.1               1.2.3~rc.1                (a pre-release: older than 1.2.3)
#   v1.2.3-rc.1-4-gabc1234    1.2.3~rc.1+git4.abc1234
#   abc1234-dirty             0.0.0~git20261123104501.abc1234+dirty   (no tag yet:
#                             the commit's UTC date orders builds; the hash alone cannot)
#   0.0.0-dev                 0.0.0~dev                 (no git at all)
#   <any of these>+next       <its mapping>+next        (build metadata, kept last)
#
# No '-' survives: rpm forbids it in a version and dpkg would split the
# version at the last one into upstream version and Debian revision. nfpm's
# version_schema "semver" would turn "v1.2.3-4-gabc1234" into the pre-release
# 1.2.3~4_gabc1234, which sorts BEFORE 1.2.3, and cannot parse a bare hash:
# nfpm.yaml uses version_schema "none" and gets the result of this script.
set -eu

v=${1:?usage: pkgversion.sh GIT_DESCRIBE_OUTPUT}

meta=
case $v in
*+*) meta=+$(printf '%s' "${v#*+}" | tr -c 'A-Za-z0-9.\n' '.'); v=${v%%+*} ;;
esac
dirty=
case $v in
*-dirty) dirty=dirty; v=${v%-dirty} ;;
esac
v=${v#v}

# release BASE: a tag as a package version: '-' starts a pre-release ('~'
# sorts before the release in dpkg and rpm), other characters outside
# [A-Za-z0-9.~] become '.', and a tag not starting with a digit goes after 0.0.0~.
release() {
	r=$(printf '%s' "$1" | tr -- '-' '~' | tr -c 'A-Za-z0-9.~\n' '.')
	case $r in
	[0-9]*) printf '%s' "$r" ;;
	*) printf '0.0.0~%s' "$r" ;;
	esac
}

# is_hash V: V is a bare commit hash (git describe found no tag). git
# decides when it knows the commit (an abbreviated hash can be all digits,
# like a tag "20261123"); without git, all digits is taken for a tag.
is_hash() {
	printf '%s' "$1" | grep -Eqx '[0-9a-f]{7,40}' || return 1
	if git rev-parse -q --verify "$1^{commit}" >/dev/null 2>&1; then
		! git rev-parse -q --verify "refs/tags/$1" >/dev/null 2>&1
		return
	fi
	! printf '%s' "$1" | grep -Eqx '[0-9]+'
}

if is_hash "$v"; then
	date=$(TZ=UTC git log -1 --format=%cd --date=format-local:%Y%m%d%H%M%S "$v" 2>/dev/null || true)
	out=0.0.0~git${date:+$date.}$v
elif m=$(printf '%s' "$v" | sed -nE 's/^(.+)-([0-9]+)-g([0-9a-f]{4,40})$/\1 \2 \3/p') && [ -n "$m" ]; then
	# shellcheck disable=SC2086 # split into base, count, hash
	set -- $m
	out=$(release "$1")+git$2.$3
else
	out=$(release "$v")
fi

if [ -n "$dirty" ]; then
	case $out in
	*+*) out=$out.dirty ;;
	*) out=$out+dirty ;;
	esac
fi
printf '%s%s\n' "$out" "$meta"
