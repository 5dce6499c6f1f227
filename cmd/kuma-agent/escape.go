package main

import (
	"strings"

	"github.com/kuma-agent/kuma-agent/internal/doctor"
	"github.com/kuma-agent/kuma-agent/internal/safetext"
)

// esc is how the CLI prints a name or value it did not make itself (a
// member's name and tags, a unit, an event's node and subject, a host of
// the inventory): safetext.Escape, the one escaping function of every
// renderer (doctor's tables use it through doctor.OneLine). A name with a
// newline or an escape sequence shows as \n or \x1b: it can neither forge a
// table row nor colour the terminal.
func esc(s string) string { return safetext.Escape(s) }

// escJoin escapes each of ss and joins them with sep.
func escJoin(ss []string, sep string) string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = esc(s)
	}
	return strings.Join(out, sep)
}

// line is free text (a message, a refusal) on one line: line breaks become
// spaces, other control characters escapes.
func line(s string) string { return doctor.OneLine(s) }
