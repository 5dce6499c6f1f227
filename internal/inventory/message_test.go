package inventory

import (
	"strings"
	"testing"
)

// Finding 6: the leading-digit finding read "...the Core domain must not",
// cut short. It says what must not happen, and why.
func TestCoreNameLeadingDigitMessageIsWhole(t *testing.T) {
	c, err := Parse("d.yml", []byte("kuma_core:\n  hosts:\n    1kuma.example.com:\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range Validate(c) {
		if f.Code != "core-name-leading-digit" {
			continue
		}
		if strings.HasSuffix(f.Message, "must not") || !strings.Contains(f.Message, "must not start with a digit") {
			t.Fatalf("message %q is cut short", f.Message)
		}
		return
	}
	t.Fatal("no core-name-leading-digit finding")
}
