// Package doctor decides which checks apply to this node (from the config,
// the inventory and the node's roles), runs them once, and renders the
// findings as a table, JSON or a Nagios line. It needs no daemon.
package doctor
