package clusterchecks

import (
	"bytes"
	"compress/flate"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

func TestPayloadRoundTrip(t *testing.T) {
	in := HostsReply{Names: map[string][]string{"kuma-1.local": {"10.0.0.1"}, "kuma-2.local": {}}}
	b, err := EncodePayload(in)
	if err != nil {
		t.Fatal(err)
	}
	if b[0] != PayloadVersion {
		t.Errorf("version byte %d", b[0])
	}
	var out HostsReply
	if err := DecodePayload(b, &out); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Errorf("got %+v, want %+v", out, in)
	}
}

// rawPayload compresses js as EncodePayload would, without its checks.
func rawPayload(t testing.TB, version byte, js []byte) []byte {
	var buf bytes.Buffer
	buf.WriteByte(version)
	w, _ := flate.NewWriter(&buf, flate.BestCompression)
	if _, err := w.Write(js); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestDecodePayloadRejects(t *testing.T) {
	good, err := EncodePayload(TimeReply{UnixNano: 5})
	if err != nil {
		t.Fatal(err)
	}
	// A bomb: 2 MiB of JSON whitespace compresses to a few KiB.
	bomb := rawPayload(t, PayloadVersion, append(bytes.Repeat([]byte(" "), 2<<20), "{}"...))
	if len(bomb) > MaxPayload {
		t.Fatalf("bomb is %d bytes, not a bomb", len(bomb))
	}
	tests := []struct {
		name string
		in   []byte
		is   error
	}{
		{"empty", nil, ErrPayloadCorrupt},
		{"version 0", append([]byte{0}, good[1:]...), ErrPayloadVersion},
		{"version 2", append([]byte{2}, good[1:]...), ErrPayloadVersion},
		{"truncated", good[:len(good)-2], ErrPayloadCorrupt},
		{"garbage", []byte{PayloadVersion, 0xff, 0xff, 0xff}, ErrPayloadCorrupt},
		{"trailing", append(bytes.Clone(good), 0), ErrPayloadCorrupt},
		{"bomb", bomb, ErrPayloadDecompressSize},
		{"oversized", append(bytes.Clone(good), make([]byte, MaxPayload)...), ErrPayloadTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r TimeReply
			if err := DecodePayload(tt.in, &r); !errors.Is(err, tt.is) {
				t.Errorf("error %v, want %v", err, tt.is)
			}
		})
	}
}

func TestDecodePayloadJSON(t *testing.T) {
	var r TimeReply
	// Unknown fields from a newer agent are fine.
	if err := DecodePayload(rawPayload(t, PayloadVersion, []byte(`{"unix_nano":7,"zone":"UTC"}`)), &r); err != nil || r.UnixNano != 7 {
		t.Errorf("unknown field: %v, %+v", err, r)
	}
	// Wrong types are not.
	if err := DecodePayload(rawPayload(t, PayloadVersion, []byte(`{"unix_nano":"7"}`)), &r); err == nil {
		t.Error("string accepted for int64")
	}
	var h HostsReply
	if err := DecodePayload(rawPayload(t, PayloadVersion, []byte(`{"names":{"a":"10.0.0.1"}}`)), &h); err == nil {
		t.Error("string accepted for []string")
	}
	if err := DecodePayload(rawPayload(t, PayloadVersion, []byte(`{} {}`)), &h); err == nil {
		t.Error("trailing JSON accepted")
	}
}

func TestEncodePayloadTooLarge(t *testing.T) {
	noise := make([]byte, MaxPayload)
	rand.Read(noise)
	_, err := EncodePayload(base64.StdEncoding.EncodeToString(noise))
	if !errors.Is(err, ErrPayloadTooLarge) {
		t.Errorf("incompressible %d bytes: %v", MaxPayload, err)
	}
	_, err = EncodePayload(strings.Repeat("a", MaxDecompressed))
	if !errors.Is(err, ErrPayloadTooLarge) {
		t.Errorf("JSON over the decompression cap: %v", err)
	}
	if _, err := EncodePayload(func() {}); err == nil {
		t.Error("unmarshalable value accepted")
	}
}

func FuzzDecodePayload(f *testing.F) {
	for _, v := range []any{
		TimeReply{UnixNano: 1},
		HostsReply{Names: map[string][]string{"a.local": {"10.0.0.1", "::1"}}},
		ReachReply{Failing: []EdgeWire{{From: "a", To: "b", Port: "raft", Number: 7209, Proto: "tcp", Reason: "refused"}}},
		DoctorReply{Host: "a", Findings: []FindingWire{{Check: "ntp", Status: "warn", Details: []string{"x"}}}},
	} {
		b, err := EncodePayload(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{PayloadVersion})
	f.Add([]byte{PayloadVersion, 0xff, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		// Every reply type: none may panic, and a success re-encodes.
		for _, v := range []any{&TimeReply{}, &HostsReply{}, &ReachReply{}, &DoctorReply{}} {
			if err := DecodePayload(b, v); err != nil {
				continue
			}
			if _, err := EncodePayload(v); err != nil && !errors.Is(err, ErrPayloadTooLarge) {
				t.Fatalf("decoded %T does not encode: %v", v, err)
			}
		}
	})
}

// TestDecodePayloadBombMemory: the biggest bomb that fits MaxPayload would
// expand to about 16 MiB; decoding it must stop near the 1 MiB cap.
func TestDecodePayloadBombMemory(t *testing.T) {
	bomb := rawPayload(t, PayloadVersion, bytes.Repeat([]byte(" "), 16<<20))
	if len(bomb) > MaxPayload {
		t.Fatalf("bomb is %d bytes, over MaxPayload", len(bomb))
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var r TimeReply
	err := DecodePayload(bomb, &r)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrPayloadDecompressSize) {
		t.Fatalf("error %v", err)
	}
	t.Logf("allocated %d bytes", after.TotalAlloc-before.TotalAlloc)
	// Uncapped, io.ReadAll alone would allocate over 16 MiB; the bound
	// leaves room for the race detector's and the runtime's own garbage.
	if n := after.TotalAlloc - before.TotalAlloc; n > 8*MaxDecompressed {
		t.Errorf("decoding the bomb allocated %d bytes", n)
	}
}

// An answer is encoded every interval, long after the collections in
// between emptied any pool: each encode then pays what the encoder needs
// afresh. A compress/flate writer is 787 KiB (Go 1.26, any level), and
// every agent answers four queries an interval; the stateless encoder keeps
// nothing and allocates a few tens of KiB.
func TestEncodePayloadAfterCollectionIsSmall(t *testing.T) {
	reply := DoctorReply{Host: "core-1.example.com", Findings: []FindingWire{}}
	for i := range 40 {
		reply.Findings = append(reply.Findings, FindingWire{Check: fmt.Sprintf("check-%d", i), Status: "ok",
			Message: fmt.Sprintf("all good on core-%d.example.com: 12 of 12 ports answer, disk 43%% used", i)})
	}
	// The least of several runs: TotalAlloc is the process's, and whatever
	// else allocates meanwhile (the race detector, a leftover goroutine) only
	// adds to a run.
	least := uint64(math.MaxUint64)
	for range 5 {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		b, err := EncodePayload(reply)
		runtime.ReadMemStats(&after)
		if err != nil {
			t.Fatal(err)
		}
		var back DoctorReply
		if err := DecodePayload(b, &back); err != nil || len(back.Findings) != 40 {
			t.Fatalf("round trip: %v, %d findings", err, len(back.Findings))
		}
		least = min(least, after.TotalAlloc-before.TotalAlloc)
	}
	t.Logf("%d bytes allocated by an encode after a collection (least of 5)", least)
	if least > 400<<10 {
		t.Errorf("an encode after a collection allocated %d bytes; a fresh compress/flate writer is 787 KiB", least)
	}
}
