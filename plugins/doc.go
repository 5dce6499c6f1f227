// Package plugins runs local check plugins in the Nagios / node-problem-
// detector convention: an executable in a root-owned directory that prints a
// line and exits 0 (ok), 1 (warning), 2 (critical) or anything else
// (unknown). Running files from disk as root is an attack surface, so a plugin
// runs only when it and its directory could not have been written by anyone
// but their owner, and always in a process group of its own that a timeout
// kills whole.
package plugins
