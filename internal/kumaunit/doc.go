// Package kumaunit reads what a KUMA service's systemd unit says about it:
// the unit name (kind and service ID, `kuma-core-<ID>.service`) and the
// KUMA flags of its ExecStart (listeners, Raft addresses, the Cores a
// service fetches its configuration from). The known flags are a table
// (flags.go) with their documented meaning; a flag not in the table is
// kept and shown, never fatal: KUMA versions add flags, and an agent that
// refuses a unit it does not fully know would stop checking the rest.
//
// Everything here is a pure function of its input: the argv comes from
// systemd over D-Bus (supervisor.Systemd), and tests and fuzzing feed it
// directly.
package kumaunit
