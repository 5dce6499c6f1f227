package exepages

import (
	"errors"
	"io"
	"os"
	"runtime"
	"strings"
	"testing"
)

type advised struct{ start, length uintptr }

func fakeReleaser(smaps string, id FileID, advise func(start, length uintptr) error) Releaser {
	return Releaser{
		SmapsPath: "/proc/self/smaps",
		ExePath:   "/proc/self/exe",
		Open:      func(string) (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(smaps)), nil },
		Stat:      func(string) (FileID, error) { return id, nil },
		Advise:    advise,
	}
}

// Only the executable's clean read-only regions are released: its text
// and read-only data; not its written data segment, not another file's
// region, not anonymous memory.
func TestReleasePicksTheExecutablesCleanRegions(t *testing.T) {
	in := sampleSmaps + `7f0000000000-7f0000010000 r--p 00000000 fe:00 4242 /usr/lib/other.so
Rss:                  64 kB
Anonymous:             0 kB
Swap:                  0 kB
`
	var got []advised
	r := fakeReleaser(in, FileID{Dev: "fe:00", Inode: 9986394}, func(s, l uintptr) error {
		got = append(got, advised{s, l})
		return nil
	})
	res, err := r.Release()
	if err != nil {
		t.Fatal(err)
	}
	want := []advised{{0x400000, 0x10a8000 - 0x400000}, {0x10a8000, 0x1d22000 - 0x10a8000}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("advised %x, want %x", got, want)
	}
	if res.Regions != 2 || res.ReleasedKiB != 11680+12072 || res.Kept != 1 {
		t.Errorf("result = %+v, want 2 regions, %d KiB, 1 kept (the data segment)", res, 11680+12072)
	}
}

// A read-only region holding pages the process wrote (a dynamic build's
// relocated data, made read-only after), in memory or swapped out, is
// kept: its file pages are not what the process runs on. So are a
// writable region even with nothing written yet, a shared one, a locked
// one (mlock: the kernel refuses), and one whose smaps lacks the lines
// that would say it is clean. A region with nothing resident is skipped.
func TestReleaseKeepsWhatItCannotDrop(t *testing.T) {
	region := func(lo, perms, extra string) string {
		return "00" + lo + "0000-00" + lo + "8000 " + perms + " 00000000 fe:00 7 /bin/a\nRss: 40 kB\n" + extra
	}
	in := region("40", "r--p", "Anonymous: 8 kB\nSwap: 0 kB\n") +
		region("50", "r--p", "Anonymous: 0 kB\nSwap: 8 kB\n") +
		region("60", "rw-p", "Anonymous: 0 kB\nSwap: 0 kB\n") +
		region("70", "r-xs", "Anonymous: 0 kB\nSwap: 0 kB\n") +
		region("80", "r-xp", "Anonymous: 0 kB\nSwap: 0 kB\nVmFlags: rd ex lo\n") +
		region("90", "r-xp", "Anonymous: 0 kB\n") +
		"00a00000-00a08000 r-xp 00000000 fe:00 7 /bin/a\nRss: 0 kB\nAnonymous: 0 kB\nSwap: 0 kB\n"
	r := fakeReleaser(in, FileID{Dev: "fe:00", Inode: 7}, func(s, l uintptr) error {
		t.Errorf("advised %x+%x", s, l)
		return nil
	})
	res, err := r.Release()
	if err != nil {
		t.Fatal(err)
	}
	if res.Regions != 0 || res.Kept != 6 {
		t.Errorf("result = %+v, want nothing released and 6 kept", res)
	}
}

// A refusal stops the release and says which region; what was released
// before it is counted.
func TestReleaseReportsARefusal(t *testing.T) {
	calls := 0
	r := fakeReleaser(sampleSmaps, FileID{Dev: "fe:00", Inode: 9986394}, func(s, l uintptr) error {
		calls++
		if calls == 2 {
			return errors.New("EINVAL")
		}
		return nil
	})
	res, err := r.Release()
	if err == nil || !strings.Contains(err.Error(), "release 10a8000-1d22000 (r--p): EINVAL") {
		t.Fatalf("err = %v", err)
	}
	if res.Regions != 1 || res.ReleasedKiB != 11680 {
		t.Errorf("result = %+v, want the first region counted", res)
	}
}

// On an overlay file system (a container) a kernel before 6.8 shows the
// region with the device and inode of the file beneath; the path still
// names it. A process whose executable is nowhere in smaps is an error,
// not a silent nothing.
func TestReleaseFindsTheExecutableByPath(t *testing.T) {
	in := "00400000-00500000 r-xp 00000000 00:2a 99 /usr/bin/kuma-agent\nRss: 40 kB\nAnonymous: 0 kB\nSwap: 0 kB\n"
	released := 0
	r := fakeReleaser(in, FileID{Dev: "00:31", Inode: 7, Path: "/usr/bin/kuma-agent"}, func(s, l uintptr) error {
		released++
		return nil
	})
	if res, err := r.Release(); err != nil || res.Regions != 1 || released != 1 {
		t.Fatalf("by path: %+v, %v, %d advised", res, err, released)
	}
	r = fakeReleaser(in, FileID{Dev: "00:31", Inode: 7, Path: "/opt/other"}, func(s, l uintptr) error {
		t.Errorf("advised another file's region %x+%x", s, l)
		return nil
	})
	if _, err := r.Release(); err == nil || !strings.Contains(err.Error(), "has no region of the executable (/opt/other, device 00:31 inode 7)") {
		t.Errorf("err = %v", err)
	}
}

func TestReleaseNamesWhatItCouldNotRead(t *testing.T) {
	r := fakeReleaser("", FileID{}, nil)
	r.Open = func(string) (io.ReadCloser, error) { return nil, os.ErrPermission }
	if _, err := r.Release(); err == nil || !strings.Contains(err.Error(), "read /proc/self/smaps") {
		t.Errorf("err = %v", err)
	}
	r = fakeReleaser("Rss: 4 kB\n", FileID{}, nil)
	if _, err := r.Release(); err == nil || !strings.Contains(err.Error(), "/proc/self/smaps: smaps line 1") {
		t.Errorf("err = %v", err)
	}
	r.Stat = func(string) (FileID, error) { return FileID{}, os.ErrNotExist }
	if _, err := r.Release(); err == nil || !strings.Contains(err.Error(), "identify the executable") {
		t.Errorf("err = %v", err)
	}
}

// The real thing, on this test binary: its text is resident (it is
// running), the release drops it, and the process goes on running the
// code it dropped.
func TestReleaseSelf(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("smaps and MADV_DONTNEED are Linux's")
	}
	before := exeRSS(t)
	if before == 0 {
		t.Fatal("the test binary's read-only regions hold nothing resident")
	}
	res, err := Self().Release()
	if err != nil {
		t.Fatal(err)
	}
	after := exeRSS(t)
	t.Logf("released %d regions, %d KiB; resident before %d KiB, after %d KiB", res.Regions, res.ReleasedKiB, before, after)
	if res.Regions == 0 || res.ReleasedKiB == 0 {
		t.Fatalf("released nothing: %+v", res)
	}
	// After: only what ran between the release and the second read (this
	// function, the parser, the file reads, the runtime) faulted back, 64
	// KiB around each page touched; without a release nothing goes.
	if after >= before {
		t.Errorf("resident %d KiB after the release, %d before: not released", after, before)
	}
}

// exeRSS is the resident size of this binary's clean read-only regions.
func exeRSS(t *testing.T) uint64 {
	t.Helper()
	id, err := statID("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	maps, err := ParseSmaps(f)
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, m := range maps {
		if id.is(m) && Clean(m) {
			n += m.RSSKiB
		}
	}
	return n
}
