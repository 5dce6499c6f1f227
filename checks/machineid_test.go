package checks

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

const (
	idA = "0123456789abcdef0123456789abcdef"
	idB = "fedcba9876543210fedcba9876543210"
)

func TestReadMachineID(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name, content string
		want          string
		err           error
	}{
		{"ok-newline", idA + "\n", idA, nil},
		{"ok-bare", idA, idA, nil},
		{"uninitialized", "uninitialized\n", "uninitialized", ErrMachineIDUninitialized},
		{"upper", strings.ToUpper(idA) + "\n", strings.ToUpper(idA), ErrMachineIDMalformed},
		{"short", idA[:31] + "\n", idA[:31], ErrMachineIDMalformed},
		{"two-lines", idA + "\n" + idA + "\n", "", ErrMachineIDMalformed},
		{"crlf", idA + "\r\n", idA, ErrMachineIDMalformed},
		{"zeros", strings.Repeat("0", 32) + "\n", strings.Repeat("0", 32), ErrMachineIDZero},
		{"empty", "", "", ErrMachineIDMalformed},
		{"uuid-dashes", "01234567-89ab-cdef-0123-456789abcdef\n", "01234567-89ab-cdef-0123-456789abcdef", ErrMachineIDMalformed},
	}
	for _, c := range cases {
		p := filepath.Join(dir, c.name)
		writeCheckInput(t, p, c.content)
		got, err := ReadMachineID(p)
		if !errors.Is(err, c.err) || (c.err == nil) != (err == nil) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.err)
		}
		if err != nil && !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %q does not name the file", c.name, err)
		}
		if c.want != "" && got != c.want {
			t.Errorf("%s: id = %q, want %q", c.name, got, c.want)
		}
	}
	if _, err := ReadMachineID(filepath.Join(dir, "absent")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("absent file: err = %v, want ErrNotExist", err)
	}
}

func TestMachineIDCheck(t *testing.T) {
	cases := []struct {
		name          string
		primary, dbus *string // nil: file absent
		want          Status
		messageHas    []string
		detailHas     string
	}{
		{"both agree", new(idA + "\n"), new(idA + "\n"), OK, []string{idA}, "(same)"},
		{"dbus absent", new(idA + "\n"), nil, OK, []string{idA}, "does not exist"},
		{"mismatch", new(idA + "\n"), new(idB + "\n"), Crit, []string{"mismatch", "etc-machine-id", idA, "dbus-machine-id", idB}, idB},
		{"primary missing", nil, new(idA + "\n"), Crit, []string{"etc-machine-id", "does not exist"}, ""},
		{"primary uninitialized", new("uninitialized\n"), nil, Crit, []string{"uninitialized", "etc-machine-id"}, ""},
		{"primary zeros", new(strings.Repeat("0", 32)), new(idA), Crit, []string{"all zeros"}, ""},
		{"dbus malformed", new(idA + "\n"), new("garbage\n"), Crit, []string{"dbus-machine-id", "garbage"}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			files := []string{filepath.Join(dir, "etc-machine-id"), filepath.Join(dir, "dbus-machine-id")}
			for i, content := range []*string{c.primary, c.dbus} {
				if content != nil {
					writeCheckInput(t, files[i], *content)
				}
			}
			r := (&MachineID{Files: files}).Run(context.Background())
			if r.Status != c.want {
				t.Fatalf("status = %v, want %v: %+v", r.Status, c.want, r)
			}
			for _, s := range c.messageHas {
				if !strings.Contains(r.Message, s) {
					t.Errorf("message %q lacks %q", r.Message, s)
				}
			}
			if c.detailHas != "" && !linesContain(r.Details, c.detailHas) {
				t.Errorf("details %q lack %q", r.Details, c.detailHas)
			}
			if c.want == Crit && !strings.Contains(r.Remedy, "dbus-uuidgen --ensure=/etc/machine-id") ||
				c.want == Crit && !strings.Contains(r.Remedy, "confirms") {
				t.Errorf("remedy %q lacks the documented regeneration and its caution", r.Remedy)
			}
			if c.want == OK && r.Remedy != "" {
				t.Errorf("OK with remedy %q", r.Remedy)
			}
		})
	}
}

func TestMachineIDUnreadableIsUnknown(t *testing.T) {
	dir := t.TempDir() // a directory where the file should be: exists, cannot be read as a file
	r := (&MachineID{Files: []string{dir}}).Run(context.Background())
	if r.Status != Unknown || !strings.Contains(r.Message, dir) {
		t.Fatalf("got %+v, want unknown naming %s", r, dir)
	}
}
