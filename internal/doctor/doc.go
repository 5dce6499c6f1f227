// Package doctor runs a plan's checks once and renders the findings as a
// table, JSON or a Nagios line. Which checks apply to a node is decided by
// package plan, which the daemon uses as well. It needs no daemon.
package doctor
