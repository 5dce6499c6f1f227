package main

import (
	"fmt"
	"io"
	"time"
)

// install is `core --install`, the documented way to (re)join a Core to the Raft cluster.
// The real one also (re)installs the systemd unit; the fake only records the join, which
// the running service picks up on its next poll.
func install(cfg config, stdout, stderr io.Writer) int {
	d := stateDir(cfg.stateDir)
	// Clear "leave" before recording the join: were it the other way round, the service
	// could see the new join while "leave" is still set and fall straight out again.
	if d.fault() == faultLeave {
		if err := d.clearFault(); err != nil {
			fmt.Fprintln(stderr, "fake-kuma-core: clear leave fault:", err)
			return 1
		}
	}
	if _, err := prepareWorkDir(cfg.workDir, cfg.id, selfAddr(cfg)); err != nil {
		fmt.Fprintln(stderr, "fake-kuma-core:", err)
		return 1
	}
	if cfg.join != "" {
		// A joining Core receives the leader's state: its Raft members are the cluster's.
		if err := recordMembers(cfg.workDir, cfg.join, selfAddr(cfg)); err != nil {
			fmt.Fprintln(stderr, "fake-kuma-core: record members:", err)
			return 1
		}
	}
	if err := d.recordJoin(cfg.id, cfg.join, time.Now()); err != nil {
		fmt.Fprintln(stderr, "fake-kuma-core: record join:", err)
		return 1
	}
	target := cfg.join
	if target == "" {
		target = "(none: first Core)"
	}
	fmt.Fprintf(stdout, "core %s installed: joined raft cluster via %s; recorded in %s and %s\n",
		cfg.id, target, d.path(memberFile), d.path(joinsFile))
	return 0
}
