// Package supervisor will watch the local KUMA Core, k0s and Raft units over
// systemd's D-Bus API and heal them under the cluster lease and quorum guard.
// Not implemented yet: see ARCHITECTURE.md and the open issues.
package supervisor
