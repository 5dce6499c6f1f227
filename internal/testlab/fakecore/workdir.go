package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// prepareWorkDir makes <root>/core/<ID> look like a Core's working directory (raft/ and
// the database file) and honours raft/.reset: when it is there, the Core forgets its
// cluster, records itself as the only member and removes the file, as the documented
// restore of a cluster that lost its majority expects. reset reports that it happened.
func prepareWorkDir(dir, id, self string) (reset bool, err error) {
	if err := os.MkdirAll(filepath.Join(dir, raftDir), 0o750); err != nil {
		return false, fmt.Errorf("working directory: %w", err)
	}
	db := filepath.Join(dir, dbFile)
	if _, err := os.Stat(db); errors.Is(err, os.ErrNotExist) {
		if err := os.WriteFile(db, []byte("fake-kuma-core database of "+id+"\n"), 0o640); err != nil {
			return false, fmt.Errorf("database file: %w", err)
		}
	}
	members := filepath.Join(dir, raftDir, membersLog)
	resetPath := filepath.Join(dir, raftDir, resetFile)
	if _, err := os.Stat(resetPath); err == nil {
		if err := os.WriteFile(members, []byte(self+"\n"), 0o640); err != nil {
			return false, fmt.Errorf("reset: %w", err)
		}
		if err := os.Remove(resetPath); err != nil {
			return false, fmt.Errorf("reset: %w", err)
		}
		return true, nil
	}
	return false, nil
}

// recordMembers notes a join in raft/members (the join target and this Core).
func recordMembers(dir, target, self string) error {
	if err := os.MkdirAll(filepath.Join(dir, raftDir), 0o750); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, raftDir, membersLog), []byte(target+"\n"+self+"\n"), 0o640)
}
