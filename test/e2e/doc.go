// Package e2e holds the end-to-end tests of kuma-agent: the real binary,
// one agent per network namespace (see netlab), talking over a real
// bridge. The package has no code of its own outside the tests; they skip
// loudly unless run as root with iproute2.
package e2e
