package lease

import (
	"regexp"
	"strings"
	"testing"
)

// kvKey is the KV key rule of nats.go's jetstream (keyValid).
var kvKey = regexp.MustCompile(`^[-/_=\.a-zA-Z0-9]+$`)

func validKVKey(k string) bool {
	return kvKey.MatchString(k) && k[0] != '.' && k[len(k)-1] != '.' && !strings.Contains(k, "..")
}

func TestKeyRejectsEmptyAndLong(t *testing.T) {
	if _, err := Key(""); err == nil {
		t.Error("Key(\"\") succeeded")
	}
	if _, err := Key(strings.Repeat("x", maxPurposeLen+1)); err == nil {
		t.Error("Key of an overlong purpose succeeded")
	}
}

func FuzzKey(f *testing.F) {
	for _, s := range []string{"heal", "heal.", "he=2Eal", "unit/kuma-collector@x.service", "ключ", "a b*>", "="} {
		f.Add(s, s+".")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ka, errA := Key(a)
		kb, errB := Key(b)
		if errA != nil || errB != nil {
			if a != "" && len(a) <= maxPurposeLen && errA != nil || b != "" && len(b) <= maxPurposeLen && errB != nil {
				t.Fatalf("Key(%q)=%v, Key(%q)=%v on acceptable purposes", a, errA, b, errB)
			}
			return
		}
		if !validKVKey(ka) {
			t.Fatalf("Key(%q) = %q is not a valid KV key", a, ka)
		}
		if (ka == kb) != (a == b) {
			t.Fatalf("Key(%q)=%q Key(%q)=%q: mapping not injective", a, ka, b, kb)
		}
	})
}
