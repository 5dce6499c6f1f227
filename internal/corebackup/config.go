package corebackup

import (
	"path/filepath"

	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/config"
)

// DirName is the backups' directory under the agent's state directory.
const DirName = "core-backups"

// FromConfig are the backup options a config sets: archives in
// <state_dir>/core-backups, supervisor.backups' limits, and the disk
// check's checks.disk.min_free as the floor, judged by statfs(2).
func FromConfig(cfg config.Config) Options {
	return Options{Dir: filepath.Join(cfg.StateDir, DirName), MaxBytes: int64(cfg.Supervisor.Backups.MaxBytes),
		Keep: cfg.Supervisor.Backups.Keep, MinFree: uint64(cfg.Checks.Disk.MinFree),
		Free: func(p string) (uint64, error) {
			u, err := checks.StatFS(p)
			return u.FreeBytes, err
		}}
}
