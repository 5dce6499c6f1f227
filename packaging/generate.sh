#!/bin/sh
# Writes what the packages install besides the tree's own files, into
# OUTDIR, for nfpm.yaml (`make package` runs it):
#
#   kuma-agent.1.gz   the manual page, from the binary's command table
#                     (`kuma-agent man`), dated by the commit: reproducible
#   kuma-agent.bash   bash completion (`kuma-agent completion bash`)
#   _kuma-agent       zsh completion (`kuma-agent completion zsh`)
#   changelog.yaml    packaging/changelog.yaml, with an entry for this build
#                     on top unless it is the tagged release the file's
#                     newest entry names; nfpm writes it as the deb's
#                     changelog.Debian.gz and the rpm's %changelog
#
# usage: generate.sh BIN OUTDIR PACKAGE_VERSION MAINTAINER
set -eu
bin=${1:?usage: generate.sh BIN OUTDIR PACKAGE_VERSION MAINTAINER}
out=${2:?}
version=${3:?}
maintainer=${4:?}
src=$(dirname "$0")

# The commit's date (a build of the same commit writes the same files),
# SOURCE_DATE_EPOCH when set, now without git.
if [ -n "${SOURCE_DATE_EPOCH:-}" ]; then
	when=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
elif ! when=$(TZ=UTC git log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ 2>/dev/null) || [ -z "$when" ]; then
	when=$(date -u +%Y-%m-%dT%H:%M:%SZ)
fi

"$bin" man --date "${when%%T*}" | gzip -9n >"$out/kuma-agent.1.gz"
"$bin" completion bash >"$out/kuma-agent.bash"
"$bin" completion zsh >"$out/_kuma-agent"

# YAML single-quoted scalar: the maintainer is the builder's free text.
yq() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/''/g")"; }
{
	if ! grep -Eq "^- semver: '?$version'?\$" "$src/changelog.yaml"; then
		cat <<ENTRY
- semver: $(yq "$version")
  date: $when
  packager: $(yq "$maintainer")
  deb:
    urgency: low
    distributions: [stable]
  changes:
    - note: $(yq "Build of $("$bin" version) from git.")
ENTRY
	fi
	grep -v '^#' "$src/changelog.yaml"
} >"$out/changelog.yaml"
