#!/bin/sh
# lintian on the .deb and rpmlint on the .rpm in DIST (`make package-lint`,
# after `make package`). Fails on any error that has no override: the
# overrides, each with its reason, are packaging/lint/lintian-overrides
# (shipped in the deb, where lintian reads them) and packaging/lint/rpmlintrc
# (where rpmlint also fails on a filter that no longer matches anything).
# Warnings are printed, not fatal; README's "Packages" section says which
# remain and why.
#
# usage: lint.sh DIST
set -eu
dist=${1:?usage: lint.sh DIST}
here=$(cd "$(dirname "$0")" && pwd)

set -- "$dist"/*.deb
[ -e "$1" ] || { echo "package-lint: no .deb in $dist: run make package first" >&2; exit 1; }
debs="$*"
set -- "$dist"/*.rpm
[ -e "$1" ] || { echo "package-lint: no .rpm in $dist: run make package first" >&2; exit 1; }
rpms="$*"

rc=0
echo "== lintian $debs"
# --show-overrides is left out: with it, lintian fails on overridden
# errors too. The overrides are in the package, with their reasons.
# shellcheck disable=SC2086
lintian --fail-on error --display-level '>=info' $debs || rc=1

echo "== rpmlint $rpms"
# packaging/lint/bin/cpio first in PATH: rpmlint must unpack nfpm's payload
# into its own temporary directory, never into / (see that script).
# shellcheck disable=SC2086
PATH="$here/bin:$PATH" rpmlint --config "$here/rpmlint.toml" --rpmlintrc "$here/rpmlintrc" $rpms || rc=1

if [ "$rc" -ne 0 ]; then
	echo "package-lint: an error above has no override (packaging/lint): fix the package, or add an override with its reason" >&2
fi
exit "$rc"
