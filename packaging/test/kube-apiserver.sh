#!/bin/bash
# Builds, once, a real kube-apiserver for the control-plane tests (internal/testlab/kubelab)
# and prints its path. It is built from the Go module proxy in a scratch module outside this
# repository's go.mod (k8s.io/kubernetes is not a library: its staging modules are replaced
# by their published v0.x versions), then cached, keyed on the version. Idempotent: an
# existing binary is reused. Cold build: about 3 minutes on 2 cores, 2.2 GB peak memory.
#
#   KUMA_KUBE_VERSION  Kubernetes version (default v1.33.13; the proxy serves some only)
#   KUMA_KUBE_CACHE    cache directory (default /var/cache/kuma-agent as root, else
#                      ${XDG_CACHE_HOME:-~/.cache}/kuma-agent)
set -euo pipefail

VERSION=${KUMA_KUBE_VERSION:-v1.33.13}
if [ -z "${KUMA_KUBE_CACHE:-}" ]; then
	if [ "$(id -u)" = 0 ]; then KUMA_KUBE_CACHE=/var/cache/kuma-agent
	else KUMA_KUBE_CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/kuma-agent; fi
fi
DIR=$KUMA_KUBE_CACHE/kube-apiserver-$VERSION
BIN=$DIR/kube-apiserver

if [ -x "$BIN" ]; then
	echo "$BIN"
	exit 0
fi
mkdir -p "$KUMA_KUBE_CACHE"
# Two concurrent runs (parallel test packages) must not build into the same place.
exec 9>"$DIR.lock"
flock 9
if [ -x "$BIN" ]; then
	echo "$BIN"
	exit 0
fi

minor=${VERSION#v1.}
STAGING_VERSION=v0.$minor
SRC=$DIR.src
rm -rf "$SRC"
mkdir -p "$SRC"
cd "$SRC"
export GOFLAGS=-mod=mod GOWORK=off GOTOOLCHAIN=local CGO_ENABLED=0

cat >main.go <<'EOF'
// Command kube-apiserver is the real API server, built for kuma-agent's tests only.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	os.Exit(cli.Run(app.NewAPIServerCommand()))
}
EOF
go mod init kuma-agent.test/kube-apiserver >/dev/null 2>&1
go mod download -json "k8s.io/kubernetes@$VERSION" >/dev/null
gomod=$(go env GOMODCACHE)/cache/download/k8s.io/kubernetes/@v/$VERSION.mod
{
	echo "require k8s.io/kubernetes $VERSION"
	# Every staging module k8s.io/kubernetes replaces with ./staging/src/..., except the
	# samples the proxy does not serve (nothing here imports them).
	grep -E '=> \./staging/' "$gomod" | awk '{print $1}' | grep -v '^k8s.io/sample-' |
		while read -r m; do echo "replace $m => $m $STAGING_VERSION"; done
} >>go.mod
echo "kube-apiserver: building $VERSION in $SRC (a few minutes, once)" >&2
go mod tidy >&2
go build -trimpath -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$VERSION" -o "$BIN.tmp" .
mv "$BIN.tmp" "$BIN"
cd /
rm -rf "$SRC"
echo "$BIN"
