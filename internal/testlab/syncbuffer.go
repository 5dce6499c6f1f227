package testlab

import (
	"bytes"
	"strings"
	"sync"
)

// SyncBuffer collects output written from several goroutines (a logger, a
// child's stderr) while the test reads it.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String is everything written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Contains reports whether s was written.
func (b *SyncBuffer) Contains(s string) bool { return strings.Contains(b.String(), s) }
