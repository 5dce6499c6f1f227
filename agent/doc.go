// Package agent will hold the long-running daemon (`kuma-agent run`): the
// check scheduler, the control socket and the serf mesh (subpackage mesh).
// See ARCHITECTURE.md for what exists today.
package agent
