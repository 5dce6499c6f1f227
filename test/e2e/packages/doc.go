// Package packages holds the end-to-end tests of the kuma-agent packages
// on real systemd: the .deb and .rpm that `make package` builds, installed,
// upgraded and removed in systemd-nspawn containers (nspawnlab), and a
// three-node KUMA Raft cluster run from those packages (`make e2e`).
//
// The tests build their packages with the Makefile, boot containers and
// take a few minutes, so they run only under `make e2e` (KUMA_E2E=1, root,
// `make rootfs`); a plain `go test ./...` skips them loudly. The package
// has no code outside its tests.
package packages
