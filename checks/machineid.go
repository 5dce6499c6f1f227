package checks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
)

// DefaultMachineIDFiles are read in this order; the first is the primary.
var DefaultMachineIDFiles = []string{"/etc/machine-id", "/var/lib/dbus/machine-id"}

// MachineID checks that this node has a well-formed machine-id and that
// every copy of it agrees. k0s identifies nodes by it (reading
// /var/lib/dbus/machine-id or /etc/machine-id), and cloned VMs share one:
// duplicate machine-ids destabilise k0s HA clusters, which is why the KUMA
// installer demands a unique id on every controller. This check sees only
// this node; duplicates across nodes are found by comparing ReadMachineID
// results over the mesh.
type MachineID struct {
	// Files are the machine-id files, primary first. Nil means
	// DefaultMachineIDFiles. A secondary that does not exist is fine.
	Files []string
}

func (*MachineID) Name() string { return "machine-id" }
func (*MachineID) Area() Area   { return AreaIdentity }

// machineIDRemedy is the documented regeneration, with its caution.
const machineIDRemedy = "Only after the host's administrator confirms that nothing else depends on the old id, " +
	"regenerate it: `rm /etc/machine-id /var/lib/dbus/machine-id && dbus-uuidgen --ensure=/etc/machine-id && " +
	"dbus-uuidgen --ensure && reboot`."

// machineIDMaxSize bounds the read; a valid file is 33 bytes.
const machineIDMaxSize = 4096

// Errors of ReadMachineID, for errors.Is.
var (
	ErrMachineIDUninitialized = errors.New(`machine-id is "uninitialized" (systemd's first boot never completed)`)
	ErrMachineIDMalformed     = errors.New("machine-id is not 32 lowercase hex characters on one line")
	ErrMachineIDZero          = errors.New("machine-id is all zeros")
)

// ReadMachineID reads and validates the machine-id file at path: exactly 32
// lowercase hex characters, optionally followed by one newline, not all
// zeros. On a malformed id it returns the (trimmed, possibly shortened)
// content along with an error wrapping one of the ErrMachineID* values, so
// callers can show what they found; a missing file gives an error matching
// fs.ErrNotExist.
func ReadMachineID(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, machineIDMaxSize))
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	raw := string(data)
	shown := strings.TrimSpace(raw)
	if len(shown) > 64 {
		shown = shown[:64] + "..."
	}
	if err := validateMachineID(raw); err != nil {
		return shown, fmt.Errorf("%s: %w", path, err)
	}
	return strings.TrimSuffix(raw, "\n"), nil
}

func validateMachineID(raw string) error {
	id := strings.TrimSuffix(raw, "\n")
	if strings.TrimSpace(id) == "uninitialized" {
		return ErrMachineIDUninitialized
	}
	if len(id) != 32 {
		return fmt.Errorf("%w (%d characters)", ErrMachineIDMalformed, len(id))
	}
	for _, c := range []byte(id) {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return fmt.Errorf("%w (contains %q)", ErrMachineIDMalformed, c)
		}
	}
	if strings.Trim(id, "0") == "" {
		return ErrMachineIDZero
	}
	return nil
}

func (m *MachineID) Run(ctx context.Context) Result {
	files := m.Files
	if len(files) == 0 {
		files = DefaultMachineIDFiles
	}
	primary := files[0]
	id, err := ReadMachineID(primary)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return Critf(fmt.Sprintf("%s does not exist", primary), machineIDRemedy)
	case errors.Is(err, ErrMachineIDUninitialized), errors.Is(err, ErrMachineIDMalformed), errors.Is(err, ErrMachineIDZero):
		return Critf(fmt.Sprintf("bad machine-id in %s: %q: %v", primary, id, errors.Unwrap(err)), machineIDRemedy)
	case err != nil:
		return Unknownf(fmt.Sprintf("cannot read %s: %v", primary, err), "Run the agent as root so it can read "+primary+".")
	}

	res := Okf(fmt.Sprintf("machine-id %s (%s)", id, primary), fmt.Sprintf("%s: %s", primary, id))
	for _, sec := range files[1:] {
		if ctx.Err() != nil {
			return Unknownf("check cancelled: "+ctx.Err().Error(), "")
		}
		res = machineIDMerge(res, m.secondary(primary, id, sec))
	}
	return res
}

// secondary judges one more copy against the primary id.
func (m *MachineID) secondary(primary, id, path string) Result {
	got, err := ReadMachineID(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return Okf("", fmt.Sprintf("%s does not exist (fine: k0s then reads %s)", path, primary))
	case errors.Is(err, ErrMachineIDUninitialized), errors.Is(err, ErrMachineIDMalformed), errors.Is(err, ErrMachineIDZero):
		return Critf(fmt.Sprintf("bad machine-id in %s: %q: %v (k0s may read this file instead of %s)", path, got, errors.Unwrap(err), primary),
			machineIDRemedy, fmt.Sprintf("%s: %q", path, got))
	case err != nil:
		return Unknownf(fmt.Sprintf("cannot read %s: %v", path, err), "Run the agent as root so it can read "+path+".")
	case got != id:
		return Critf(fmt.Sprintf("machine-id mismatch: %s has %s but %s has %s", primary, id, path, got),
			machineIDRemedy, fmt.Sprintf("%s: %s", path, got))
	}
	return Okf("", fmt.Sprintf("%s: %s (same)", path, got))
}

// machineIDMerge merges b into a: details accumulate, and the message and
// remedy are those of the more severe (the first on a tie).
func machineIDMerge(a, b Result) Result {
	out := a
	if b.Status > a.Status {
		out.Status, out.Message, out.Remedy = b.Status, b.Message, b.Remedy
	}
	out.Details = append(append([]string(nil), a.Details...), b.Details...)
	return out
}
