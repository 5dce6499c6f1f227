package corebackup

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/kumaunit"
	"github.com/kuma-agent/kuma-agent/internal/privfile"
	"github.com/kuma-agent/kuma-agent/internal/yamlstrict"
)

// maxKeptFile bounds a file kept by KeepFile: a unit file is a few lines.
const maxKeptFile = 1 << 20

// KeepFile copies path (a Core's unit file about to be removed) into the
// backups' directory as <id>-<time>-<name>.kept, root-only, and returns
// where. List does not show it (it is no archive); restoring the unit is
// copying it back.
func KeepFile(o Options, id, path string) (string, error) {
	if !kumaunit.PlainID(id) {
		return "", fmt.Errorf("core ID %q is no plain name", id)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	f, err := yamlstrict.OpenRegular(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxKeptFile+1))
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	if len(b) > maxKeptFile {
		return "", fmt.Errorf("%s is larger than %d bytes", path, maxKeptFile)
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return "", fmt.Errorf("backup directory: %w", err)
	}
	dst := filepath.Join(o.Dir, id+"-"+o.Now().UTC().Format(timeLayout)+"-"+filepath.Base(path)+".kept")
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	if err := privfile.Finish(out, b); err != nil {
		os.Remove(dst)
		return "", fmt.Errorf("keep %s: %w", path, err)
	}
	return dst, nil
}
