package checks

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// LonghornPrereqs checks what Longhorn needs on a k0s worker (Longhorn's
// documented prerequisites): iscsid running (open-iscsi: volumes attach
// over iSCSI), an NFSv4 client (RWX volumes, backups) and the data path
// on ext4 or XFS. Each input is a field: tests point them anywhere.
type LonghornPrereqs struct {
	// ProcDir is /proc: a process whose comm is iscsid means it runs.
	ProcDir string
	// NFSHelpers are the mount helpers of an NFSv4 client; one must exist.
	NFSHelpers []string
	// DataPath is Longhorn's data path (default /var/lib/longhorn).
	DataPath string
	// FSType names the filesystem a path is on (default: statfs(2)).
	FSType func(path string) (string, error)
}

// DefaultLonghornDataPath is Longhorn's default data path.
const DefaultLonghornDataPath = "/var/lib/longhorn"

// DefaultNFSHelpers are nfs-common's and nfs-utils' mount helpers.
var DefaultNFSHelpers = []string{"/sbin/mount.nfs4", "/usr/sbin/mount.nfs4", "/sbin/mount.nfs", "/usr/sbin/mount.nfs"}

func (*LonghornPrereqs) Name() string { return "longhorn-prereqs" }
func (*LonghornPrereqs) Area() Area   { return AreaStorage }

// longhornFS are the filesystems Longhorn supports for its data path.
var longhornFS = []string{"ext4", "xfs"}

func (c *LonghornPrereqs) Run(ctx context.Context) Result {
	var bad, details []string
	var fixes []string
	running, err := processRunning(c.ProcDir, "iscsid")
	switch {
	case err != nil:
		return Unknownf(fmt.Sprintf("cannot read processes in %s: %v", c.ProcDir, err), "Check paths.proc_dir in /etc/kuma-agent/agent.yaml.")
	case !running:
		bad = append(bad, "iscsid not running")
		fixes = append(fixes, "install open-iscsi and start it: `apt-get install open-iscsi && systemctl enable --now iscsid` (RHEL: `dnf install iscsi-initiator-utils`)")
	default:
		details = append(details, "iscsid: running")
	}
	helper := ""
	for _, h := range c.NFSHelpers {
		if st, err := os.Stat(h); err == nil && st.Mode().IsRegular() {
			helper = h
			break
		}
	}
	if helper == "" {
		bad = append(bad, "no NFSv4 client")
		fixes = append(fixes, "install an NFSv4 client: `apt-get install nfs-common` (RHEL: `dnf install nfs-utils`)")
	} else {
		details = append(details, "NFSv4 client: "+helper)
	}
	fsType := c.FSType
	if fsType == nil {
		fsType = StatFSType
	}
	path := c.DataPath
	// The data path may not exist before Longhorn first runs: judge the
	// filesystem of its nearest existing parent, where it will be made.
	for {
		if _, err := os.Stat(path); err == nil || filepath.Dir(path) == path {
			break
		}
		path = filepath.Dir(path)
	}
	t, err := fsType(path)
	switch {
	case err != nil:
		return Unknownf(fmt.Sprintf("cannot tell the filesystem of %s: %v", path, err), "")
	case !slices.Contains(longhornFS, t):
		bad = append(bad, fmt.Sprintf("data path %s on %s", c.DataPath, t))
		fixes = append(fixes, fmt.Sprintf("put %s on an ext4 or XFS filesystem (Longhorn supports no other)", c.DataPath))
	default:
		details = append(details, fmt.Sprintf("data path %s: %s", c.DataPath, t))
	}
	if len(bad) > 0 {
		return Critf("Longhorn prerequisites missing: "+strings.Join(bad, "; "), strings.Join(fixes, "; ")+". Then `k0s kubectl -n longhorn-system get nodes.longhorn.io` shows the node's conditions.", details...)
	}
	return Okf("Longhorn prerequisites present (iscsid, NFSv4 client, "+t+")", details...)
}

// processRunning reports whether a process named comm runs (by /proc/*/comm).
func processRunning(procDir, comm string) (bool, error) {
	ents, err := os.ReadDir(procDir)
	if err != nil {
		return false, err
	}
	for _, e := range ents {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		b, err := readCapped(filepath.Join(procDir, e.Name(), "comm"), 256)
		if err == nil && strings.TrimSpace(string(b)) == comm {
			return true, nil
		}
	}
	return false, nil
}

// fsMagic names the statfs(2) f_type values the checks tell apart.
var fsMagic = map[int64]string{0xEF53: "ext4", 0x58465342: "xfs", 0x9123683E: "btrfs", 0x01021994: "tmpfs", 0x2FC12FC1: "zfs", 0x794C7630: "overlayfs"}

// StatFSType is the filesystem type of path by statfs(2) ("ext4" for the
// ext2/3/4 magic, which they share; "0x..." for one not in the table).
func StatFSType(path string) (string, error) {
	var s unix.Statfs_t
	if err := unix.Statfs(path, &s); err != nil {
		return "", &fs.PathError{Op: "statfs", Path: path, Err: err}
	}
	if n, ok := fsMagic[int64(s.Type)]; ok {
		return n, nil
	}
	return fmt.Sprintf("0x%x", s.Type), nil
}
