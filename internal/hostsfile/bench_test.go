package hostsfile

import (
	"bytes"
	"fmt"
	"testing"
)

// BenchmarkParse parses a 1000-entry hosts file (a large cluster plus
// aliases), then looks up one name, as the hosts check does per host.
func BenchmarkParse(b *testing.B) {
	var buf bytes.Buffer
	for i := range 1000 {
		fmt.Fprintf(&buf, "10.%d.%d.%d kuma-%d.example.com kuma-%d # node %d\n", i>>16&255, i>>8&255, i&255, i, i, i)
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		f, err := Parse("bench", bytes.NewReader(data))
		if err != nil || len(f.Lookup("kuma-999.example.com")) != 1 {
			b.Fatal("parse failed", err)
		}
	}
}
