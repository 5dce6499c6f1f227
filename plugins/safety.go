package plugins

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// verdict is what inspecting a plugin file found.
type verdict struct {
	// exec is the file to run: the path itself or its symlink's target.
	exec string
	// unsafe says why the file must not run; empty when it may.
	unsafe string
	// remedy fixes an unsafe file.
	remedy string
	// executable is false for files without an x bit: not plugins at all.
	executable bool
}

// inspectFile applies the plugin rules to path: a regular file (a symlink is
// judged by its target, whose directory must be safe too), owned by uid,
// writable by nobody else.
func inspectFile(path string, uid int) (verdict, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return verdict{}, err
	}
	v := verdict{exec: path}
	label := path
	if fi.Mode()&fs.ModeSymlink != 0 {
		target, err := filepath.EvalSymlinks(path)
		if err != nil {
			return verdict{unsafe: fmt.Sprintf("%s is a dangling symlink", path),
				remedy: fmt.Sprintf("remove %s or point it at an existing plugin", path), executable: true}, nil
		}
		v.exec = target
		label = fmt.Sprintf("%s (symlink to %s)", path, target)
		if d := inspectDir(filepath.Dir(target), uid); d.unsafe != "" {
			d.unsafe = fmt.Sprintf("%s: directory %s", label, d.unsafe)
			d.executable = true
			return d, nil
		}
		if fi, err = os.Stat(target); err != nil {
			return verdict{}, err
		}
	}
	v.executable = fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
	if reason := permProblem(fi, uid); reason != "" {
		v.unsafe = label + " " + reason
		v.remedy = fixPerms(v.exec, uid, "755")
		v.executable = true // report it even if it lost its x bit: someone tampered
		if !fi.Mode().IsRegular() {
			v.remedy = fmt.Sprintf("remove %s; a plugin must be a regular executable file", path)
		}
	}
	return v, nil
}

// inspectDir applies the directory rules: a directory owned by uid that no
// one else may write (so no one else can add or swap plugins).
func inspectDir(dir string, uid int) verdict {
	fi, err := os.Stat(dir)
	if err != nil {
		return verdict{unsafe: fmt.Sprintf("%s cannot be inspected: %v", dir, err), remedy: "check " + dir}
	}
	v := verdict{exec: dir}
	if !fi.IsDir() {
		v.unsafe = dir + " is not a directory"
		v.remedy = fmt.Sprintf("make %s a directory owned by %s with mode 755", dir, ownerName(uid))
		return v
	}
	if reason := permProblem(fi, uid); reason != "" {
		v.unsafe = dir + " " + reason
		v.remedy = fixPerms(dir, uid, "755")
	}
	return v
}

// permProblem checks type, owner and write bits, worst first.
func permProblem(fi fs.FileInfo, uid int) string {
	mode := fi.Mode()
	switch {
	case !mode.IsRegular() && !mode.IsDir():
		return "is not a regular file"
	case mode.Perm()&0o002 != 0:
		return "is world-writable"
	case mode.Perm()&0o020 != 0:
		return "is group-writable"
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return "has an unknown owner"
	}
	if int(st.Uid) != uid {
		return fmt.Sprintf("is owned by uid %d, not %s", st.Uid, ownerName(uid))
	}
	return ""
}

func ownerName(uid int) string {
	if uid == 0 {
		return "root"
	}
	return "uid " + strconv.Itoa(uid)
}

func fixPerms(path string, uid int, mode string) string {
	owner := strconv.Itoa(uid)
	if uid == 0 {
		owner = "root:root"
	}
	return fmt.Sprintf("chown %s %s && chmod %s %s", owner, path, mode, path)
}
