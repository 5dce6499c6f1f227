package plugins

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/kuma-agent/kuma-agent/checks"
)

func names(cs []checks.Check) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Name()
		if c.Area() != checks.AreaPlugin {
			out[i] += " in area " + string(c.Area())
		}
	}
	return out
}

func TestLoaderListsExecutables(t *testing.T) {
	dir := pluginDir(t)
	for _, n := range []string{"b_disk", "a_ntp", ".hidden", "c~", "d.dpkg-old", "e.dpkg-dist", "f.rpmnew", "g.rpmsave", "h.ucf-dist", "i.swp"} {
		script(t, dir, n, "echo OK")
	}
	if err := os.WriteFile(filepath.Join(dir, "README"), []byte("not a plugin\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	script(t, filepath.Join(dir, "sub"), "nested", "echo OK")

	cs, err := Loader{Dir: dir, OwnerUID: os.Getuid()}.Checks()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(cs), []string{"plugin:a_ntp", "plugin:b_disk"}; !slices.Equal(got, want) {
		t.Fatalf("checks %q, want %q", got, want)
	}
	for _, c := range cs {
		if r := c.Run(context.Background()); r.Status != checks.OK || r.Message != "OK" {
			t.Errorf("%s: %+v", c.Name(), r)
		}
	}
}

func TestLoaderMissingDir(t *testing.T) {
	cs, err := Loader{Dir: filepath.Join(t.TempDir(), "none")}.Checks()
	if err != nil || len(cs) != 0 {
		t.Errorf("checks %v err %v, want none", cs, err)
	}
}

// refusal runs the single check for name and asserts it refuses without
// running the plugin (each test plugin touches a marker when run).
func refusal(t *testing.T, cs []checks.Check, name, marker string) checks.Result {
	t.Helper()
	i := slices.IndexFunc(cs, func(c checks.Check) bool { return c.Name() == name })
	if i < 0 {
		t.Fatalf("no check %q in %q", name, names(cs))
	}
	r := cs[i].Run(context.Background())
	if r.Status != checks.Crit || !strings.HasPrefix(r.Message, "refused: ") {
		t.Errorf("%s: %v %q, want a critical refusal", name, r.Status, r.Message)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Errorf("%s: the refused plugin ran", name)
	}
	return r
}

func TestLoaderRefusesUnsafePlugins(t *testing.T) {
	uid := os.Getuid()
	tests := []struct {
		name   string
		setup  func(t *testing.T, dir, plugin string) // plugin is an already written safe script
		msg    string                                 // after "refused: ", %s is the plugin path
		remedy string
	}{
		{"world-writable", func(t *testing.T, dir, p string) { chmod(t, p, 0o777) },
			"%s is world-writable", "chown root:root %s && chmod 755 %s"},
		{"group-writable", func(t *testing.T, dir, p string) { chmod(t, p, 0o775) },
			"%s is group-writable", "chown root:root %s && chmod 755 %s"},
		{"foreign owner", func(t *testing.T, dir, p string) {
			if os.Getuid() != 0 {
				t.Skip("chown needs root")
			}
			if err := os.Chown(p, 65534, 65534); err != nil {
				t.Fatal(err)
			}
		}, "%s is owned by uid 65534, not root", "chown root:root %s && chmod 755 %s"},
		{"fifo", func(t *testing.T, dir, p string) {
			os.Remove(p)
			if err := syscall.Mkfifo(p, 0o755); err != nil {
				t.Skip(err)
			}
			chmod(t, p, 0o755)
		}, "%s is not a regular file", "remove %s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if uid != 0 && strings.Contains(tt.remedy, "root") {
				tt.remedy = strings.Replace(tt.remedy, "root:root", strconv.Itoa(uid), 1)
			}
			dir := pluginDir(t)
			marker := filepath.Join(t.TempDir(), "ran")
			script(t, dir, "good", "echo OK")
			p := script(t, dir, "bad", "touch "+marker+"; echo ran")
			tt.setup(t, dir, p)
			cs, err := Loader{Dir: dir, OwnerUID: uid}.Checks()
			if err != nil {
				t.Fatal(err)
			}
			if got, want := names(cs), []string{"plugin:bad", "plugin:good"}; !slices.Equal(got, want) {
				t.Fatalf("checks %q, want %q", got, want)
			}
			r := refusal(t, cs, "plugin:bad", marker)
			if want := "refused: " + strings.ReplaceAll(tt.msg, "%s", p); r.Message != want {
				t.Errorf("message %q, want %q", r.Message, want)
			}
			if want := strings.ReplaceAll(tt.remedy, "%s", p); !strings.HasPrefix(r.Remedy, want) {
				t.Errorf("remedy %q, want %q", r.Remedy, want)
			}
		})
	}
}

func TestLoaderRefusesUnsafeDir(t *testing.T) {
	for _, mode := range []os.FileMode{0o777, 0o775} {
		t.Run(mode.String(), func(t *testing.T) {
			dir := pluginDir(t)
			marker := filepath.Join(t.TempDir(), "ran")
			script(t, dir, "a", "touch "+marker)
			script(t, dir, "b", "touch "+marker)
			chmod(t, dir, mode)
			cs, err := Loader{Dir: dir, OwnerUID: os.Getuid()}.Checks()
			if err != nil {
				t.Fatal(err)
			}
			if got := names(cs); !slices.Equal(got, []string{"plugin:plugins.d"}) {
				t.Fatalf("checks %q, want the one refusal for the directory", got)
			}
			r := refusal(t, cs, "plugin:plugins.d", marker)
			if !strings.Contains(r.Message, dir+" is ") || !strings.Contains(r.Remedy, "chmod 755 "+dir) {
				t.Errorf("got %q / %q", r.Message, r.Remedy)
			}
		})
	}
	t.Run("foreign owner", func(t *testing.T) {
		if os.Getuid() != 0 {
			t.Skip("chown needs root")
		}
		dir := pluginDir(t)
		if err := os.Chown(dir, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		cs, err := Loader{Dir: dir}.Checks()
		if err != nil || len(cs) != 1 || !strings.Contains(cs[0].Run(context.Background()).Message, "owned by uid 65534") {
			t.Fatalf("checks %q err %v", names(cs), err)
		}
	})
	t.Run("not a directory", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "file")
		os.WriteFile(f, nil, 0o644)
		cs, err := Loader{Dir: f, OwnerUID: os.Getuid()}.Checks()
		if err != nil || len(cs) != 1 || !strings.Contains(cs[0].Run(context.Background()).Message, "is not a directory") {
			t.Fatalf("checks %q err %v", names(cs), err)
		}
	})
}

func TestLoaderSymlinks(t *testing.T) {
	uid := os.Getuid()
	t.Run("to a safe target runs the target", func(t *testing.T) {
		dir := pluginDir(t)
		lib := pluginDir(t)
		target := script(t, lib, "check_real", "echo from target")
		if err := os.Symlink(target, filepath.Join(dir, "linked")); err != nil {
			t.Fatal(err)
		}
		cs, err := Loader{Dir: dir, OwnerUID: uid}.Checks()
		if err != nil || len(cs) != 1 || cs[0].Name() != "plugin:linked" {
			t.Fatalf("checks %q err %v", names(cs), err)
		}
		if r := cs[0].Run(context.Background()); r.Status != checks.OK || r.Message != "from target" {
			t.Errorf("got %+v", r)
		}
	})
	t.Run("to a world-writable target", func(t *testing.T) {
		dir := pluginDir(t)
		lib := pluginDir(t)
		marker := filepath.Join(t.TempDir(), "ran")
		target := script(t, lib, "check_bad", "touch "+marker)
		chmod(t, target, 0o777)
		link := filepath.Join(dir, "linked")
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
		cs, err := Loader{Dir: dir, OwnerUID: uid}.Checks()
		if err != nil {
			t.Fatal(err)
		}
		r := refusal(t, cs, "plugin:linked", marker)
		if want := "refused: " + link + " (symlink to " + target + ") is world-writable"; r.Message != want {
			t.Errorf("message %q, want %q", r.Message, want)
		}
		if !strings.Contains(r.Remedy, "chmod 755 "+target) {
			t.Errorf("remedy %q should fix the target", r.Remedy)
		}
	})
	t.Run("into a world-writable directory", func(t *testing.T) {
		dir := pluginDir(t)
		lib := pluginDir(t)
		marker := filepath.Join(t.TempDir(), "ran")
		target := script(t, lib, "check_x", "touch "+marker)
		chmod(t, lib, 0o777) // anyone could swap check_x
		if err := os.Symlink(target, filepath.Join(dir, "linked")); err != nil {
			t.Fatal(err)
		}
		cs, err := Loader{Dir: dir, OwnerUID: uid}.Checks()
		if err != nil {
			t.Fatal(err)
		}
		r := refusal(t, cs, "plugin:linked", marker)
		if !strings.Contains(r.Message, "directory "+lib+" is world-writable") {
			t.Errorf("message %q", r.Message)
		}
	})
	t.Run("dangling", func(t *testing.T) {
		dir := pluginDir(t)
		if err := os.Symlink(filepath.Join(dir, "nowhere"), filepath.Join(dir, "dangling")); err != nil {
			t.Fatal(err)
		}
		cs, err := Loader{Dir: dir, OwnerUID: uid}.Checks()
		if err != nil {
			t.Fatal(err)
		}
		refusal(t, cs, "plugin:dangling", filepath.Join(dir, "no-marker"))
	})
}

func chmod(t *testing.T, p string, m os.FileMode) {
	t.Helper()
	if err := os.Chmod(p, m); err != nil {
		t.Fatal(err)
	}
}
