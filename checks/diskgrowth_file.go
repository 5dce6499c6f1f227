package checks

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/privfile"
	"github.com/kuma-agent/kuma-agent/internal/yamlstrict"
)

// growthFileVersion is the on-disk form's version; another is not read.
const growthFileVersion = 1

// maxGrowthFileSystems bounds the file systems a history file may hold.
const maxGrowthFileSystems = 64

// growthFileOptions: the history file is read like any file the agent did
// not necessarily write itself: regular files only, size-capped.
var growthFileOptions = yamlstrict.Options{Kind: "disk growth history", MaxBytes: 1 << 20}

type growthFileForm struct {
	Version int                         `json:"version"`
	FS      map[string]growthFileSystem `json:"fs"`
}

type growthFileSystem struct {
	Total   uint64          `json:"total"`
	Samples []growthFileRow `json:"samples"`
}

type growthFileRow struct {
	UnixMilli int64   `json:"t"`
	Free      float64 `json:"free"`
}

// load reads g.File into the (empty) history; called once, under g.mu. A
// missing file is no history; a bad one is an error naming it, and the
// history starts afresh (it is rewritten at the next save).
func (g *DiskGrowth) load() error {
	g.loaded = true
	data, err := growthFileOptions.ReadFile(g.File)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var form growthFileForm
	if err := json.Unmarshal(data, &form); err != nil {
		return fmt.Errorf("%s: %w", g.File, err)
	}
	if form.Version != growthFileVersion {
		return fmt.Errorf("%s: version %d, this agent reads %d", g.File, form.Version, growthFileVersion)
	}
	if len(form.FS) > maxGrowthFileSystems {
		return fmt.Errorf("%s: %d file systems, more than %d", g.File, len(form.FS), maxGrowthFileSystems)
	}
	limit := g.maxSamples() + 2
	for key, f := range form.FS {
		rows := f.Samples
		if len(rows) > limit {
			rows = rows[len(rows)-limit:]
		}
		h := &growthHistory{total: f.Total}
		for i, r := range rows {
			if i > 0 && r.UnixMilli < rows[i-1].UnixMilli || r.Free < 0 {
				return fmt.Errorf("%s: %s: sample %d is out of order or negative", g.File, clipKey(key), i)
			}
			h.samples = append(h.samples, growthSample{at: time.UnixMilli(r.UnixMilli), free: r.Free})
		}
		g.hist[key] = h
	}
	return nil
}

// Save writes the history to g.File (0600, replaced atomically); nothing
// when File is empty or when it was saved less than the sample spacing ago.
func (g *DiskGrowth) Save(now time.Time) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.File == "" || now.Sub(g.saved) < g.window()/time.Duration(g.maxSamples()) {
		return nil
	}
	form := growthFileForm{Version: growthFileVersion, FS: map[string]growthFileSystem{}}
	for key, h := range g.hist {
		f := growthFileSystem{Total: h.total, Samples: make([]growthFileRow, 0, len(h.samples))}
		for _, s := range h.samples {
			f.Samples = append(f.Samples, growthFileRow{UnixMilli: s.at.UnixMilli(), Free: s.free})
		}
		form.FS[key] = f
	}
	b, err := json.Marshal(form)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(g.File), ".disk-growth-*")
	if err != nil {
		return fmt.Errorf("save disk growth history: %w", err)
	}
	if err := privfile.Finish(tmp, b); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("save disk growth history %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), g.File); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("save disk growth history: %w", err)
	}
	g.saved = now
	return nil
}

func clipKey(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
