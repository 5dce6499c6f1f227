package checks

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/testlab"
)

// Canned `nginx -V` outputs. Debian's has --with-stream=dynamic and, like
// every build, --with-stream_ssl_module, which must not read as the module.
const (
	nginxVStatic  = "nginx version: nginx/1.24.0\nconfigure arguments: --prefix=/etc/nginx --with-stream --with-stream_ssl_module\n"
	nginxVDynamic = "nginx version: nginx/1.22.1\nconfigure arguments: --prefix=/usr/share/nginx --with-stream=dynamic --with-stream_ssl_module --with-stream_realip_module\n"
	nginxVNone    = "nginx version: nginx/1.22.1\nconfigure arguments: --prefix=/usr/share/nginx --with-stream_ssl_module --with-http_ssl_module\n"
)

// fakeNginx writes a shell script that answers -V with vOut on stderr and
// -t with tOut and exit code tRC, and records the -t arguments.
func fakeNginx(t *testing.T, vOut, tOut string, tRC int) string {
	t.Helper()
	dir := t.TempDir()
	writeConfFile(t, filepath.Join(dir, "V.txt"), vOut)
	writeConfFile(t, filepath.Join(dir, "t.txt"), tOut)
	bin := filepath.Join(dir, "nginx")
	script := fmt.Sprintf(`#!/bin/sh
d=$(dirname "$0")
case "$1" in
-V) cat "$d/V.txt" >&2; exit 0 ;;
-t) echo "$@" > "$d/args"; cat "$d/t.txt" >&2; exit %d ;;
esac
echo "unexpected arguments: $*" >&2; exit 64
`, tRC)
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

const nginxTOK = "nginx: the configuration file X syntax is ok\nnginx: configuration file X test is successful\n"

// k0sCluster is an LB, one controller and two workers.
func k0sCluster() *cluster.Cluster {
	mk := func(name, ip string, roles ...cluster.Role) *cluster.Host {
		h := peerHost(name, ip)
		h.Roles = roles
		return h
	}
	return &cluster.Cluster{Layout: cluster.LayoutK0s, Hosts: []*cluster.Host{
		mk("kuma-lb.local", "127.0.10.9", cluster.RoleLB),
		mk("kuma-2.local", "127.0.10.2", cluster.RoleController),
		mk("kuma-3.local", "127.0.10.3", cluster.RoleWorker, cluster.RoleCore),
		mk("kuma-4.local", "127.0.10.4", cluster.RoleWorker),
		mk("kuma-1.local", "127.0.10.1", cluster.RoleStorage),
	}}
}

var (
	k0sWorkerPorts = []uint16{7209, 7210, 7220, 7222, 7223}
	k0sCtrlPorts   = []uint16{6443, 8132, 9443}
)

// lbRoute is one stream server of a generated configuration.
type lbRoute struct {
	port     uint16
	udp      bool
	backends []string
}

// streamConf renders an nginx.conf with one upstream per lbRoute.
func streamConf(head string, routes []lbRoute) string {
	var b strings.Builder
	b.WriteString(head)
	b.WriteString("events { worker_connections 64; }\nstream {\n")
	for _, r := range routes {
		fmt.Fprintf(&b, "  upstream up_%d {\n    least_conn;\n", r.port)
		for _, be := range r.backends {
			fmt.Fprintf(&b, "    server %s max_fails=2;\n", be)
		}
		udp := ""
		if r.udp {
			udp = " udp"
		}
		fmt.Fprintf(&b, "  }\n  server {\n    listen %d%s;\n    proxy_pass up_%d;\n  }\n", r.port, udp, r.port)
	}
	b.WriteString("}\n")
	return b.String()
}

// k0sRoutes forwards every required port to its right hosts, by IP.
func k0sRoutes() []lbRoute {
	var rs []lbRoute
	for _, p := range k0sWorkerPorts {
		rs = append(rs, lbRoute{port: p, backends: []string{fmt.Sprintf("127.0.10.3:%d", p), fmt.Sprintf("127.0.10.4:%d", p)}})
	}
	for _, p := range k0sCtrlPorts {
		rs = append(rs, lbRoute{port: p, backends: []string{fmt.Sprintf("127.0.10.2:%d", p)}})
	}
	return rs
}

func editRoute(rs []lbRoute, port uint16, f func(*lbRoute)) []lbRoute {
	for i := range rs {
		if rs[i].port == port {
			f(&rs[i])
		}
	}
	return rs
}

type lbCase struct {
	name      string
	v         string
	tOut      string
	tRC       int
	head      string
	routes    []lbRoute
	conf      string // overrides head+routes when set
	soPresent bool
	cluster   *cluster.Cluster
	overrides cluster.Overrides

	status  Status
	msg     []string
	details [][]string
	remedy  []string
}

func runLBCase(t *testing.T, tt lbCase) Result {
	t.Helper()
	dir := t.TempDir()
	conf := tt.conf
	if conf == "" {
		conf = streamConf(tt.head, tt.routes)
	}
	confPath := writeConfFile(t, filepath.Join(dir, "nginx.conf"), conf)
	writeConfFile(t, filepath.Join(dir, "modules-enabled", "50-mod-stream.conf"), "load_module modules/ngx_stream_module.so;\n")
	mods := filepath.Join(dir, "modules")
	if err := os.MkdirAll(mods, 0o755); err != nil {
		t.Fatal(err)
	}
	if tt.soPresent {
		writeConfFile(t, filepath.Join(mods, streamModule), "\x7fELF")
	}
	tOut := tt.tOut
	if tOut == "" {
		tOut = nginxTOK
	}
	c := tt.cluster
	if c == nil {
		c = k0sCluster()
	}
	bin := fakeNginx(t, tt.v, tOut, tt.tRC)
	r := LB{Cluster: c, Overrides: tt.overrides, Bin: bin, Conf: confPath, ModulesDir: mods}.Run(context.Background())
	if args, err := os.ReadFile(filepath.Join(filepath.Dir(bin), "args")); err != nil || strings.TrimSpace(string(args)) != "-t -c "+confPath {
		t.Errorf("nginx -t called with %q (%v), want -t -c %s", args, err, confPath)
	}
	return r
}

func checkLBResult(t *testing.T, r Result, status Status, msg []string, details [][]string, remedy []string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status = %v, want %v\n%+v", r.Status, status, r)
	}
	for _, m := range msg {
		if !strings.Contains(r.Message, m) {
			t.Errorf("message %q lacks %q", r.Message, m)
		}
	}
	for _, d := range details {
		if !hasLine(r.Details, d...) {
			t.Errorf("details lack a line with %q:\n%s", d, strings.Join(r.Details, "\n"))
		}
	}
	for _, m := range remedy {
		if !strings.Contains(r.Remedy, m) {
			t.Errorf("remedy %q lacks %q", r.Remedy, m)
		}
	}
}

func TestLB(t *testing.T) {
	byName := editRoute(k0sRoutes(), 7210, func(r *lbRoute) { r.backends = []string{"kuma-3.local:7210", "KUMA-4.local:7210"} })
	tests := []lbCase{
		{
			name: "all good, module compiled in", v: nginxVStatic, routes: k0sRoutes(),
			status: OK, msg: []string{"stream forwards 8 ports"},
			details: [][]string{{"compiled into nginx"}, {"7210/tcp", "forwarded to kuma-3.local, kuma-4.local"}, {"6443/tcp", "kuma-2.local"}, {"nginx -t -c", "ok"}},
		},
		{
			name: "module loaded by an included file", v: nginxVDynamic, head: "include modules-enabled/*.conf;\n", routes: k0sRoutes(),
			status: OK, details: [][]string{{"stream module: loaded at", "50-mod-stream.conf:1"}},
		},
		{
			name: "module installed but not loaded", v: nginxVDynamic, routes: k0sRoutes(), soPresent: true,
			status: Crit, msg: []string{"installed but not loaded"},
			remedy: []string{"load_module ", "/modules/ngx_stream_module.so;"},
		},
		{
			name: "dynamic module missing", v: nginxVDynamic, routes: k0sRoutes(),
			status: Crit, msg: []string{"no stream module", "ngx_stream_module.so is missing"},
			remedy: []string{"apt install libnginx-mod-stream", "load_module"},
		},
		{
			name: "stream_ssl_module is not the stream module", v: nginxVNone, routes: k0sRoutes(),
			status: Crit, msg: []string{"no stream module", "built without it"},
		},
		{
			name: "nginx -t: unknown directive stream", v: nginxVDynamic, routes: k0sRoutes(), soPresent: true,
			tOut: "nginx: [emerg] unknown directive \"stream\" in /etc/nginx/nginx.conf:12\nnginx: configuration file /etc/nginx/nginx.conf test failed\n", tRC: 1,
			status: Crit, msg: []string{`nginx -t failed: [emerg] unknown directive "stream" in /etc/nginx/nginx.conf:12`},
			details: [][]string{{"nginx -t:", "test failed"}},
			remedy:  []string{"/modules/ngx_stream_module.so;", "apt install libnginx-mod-stream"},
		},
		{
			name: "nginx -t: other error", v: nginxVStatic, routes: k0sRoutes(),
			tOut: "nginx: [emerg] host not found in upstream \"kuma-9.local:7210\" in /etc/nginx/nginx.conf:20\n", tRC: 1,
			status: Crit, msg: []string{`host not found in upstream "kuma-9.local:7210"`},
			remedy: []string{"fix the configuration"},
		},
		{
			name: "backend missing", v: nginxVStatic,
			routes: editRoute(k0sRoutes(), 7220, func(r *lbRoute) { r.backends = r.backends[:1] }),
			status: Crit, msg: []string{"1 inventory backend is missing"},
			details: [][]string{{"upstream up_7220 at ", "nginx.conf:", "(7220/tcp) lacks kuma-4.local (127.0.10.4):7220"}},
			remedy:  []string{"server 127.0.10.4:7220; in upstream up_7220"},
		},
		{
			name: "backend on the wrong port", v: nginxVStatic,
			routes: editRoute(k0sRoutes(), 9443, func(r *lbRoute) { r.backends = []string{"127.0.10.2:6443"} }),
			status: Crit, details: [][]string{{"up_9443", "lacks kuma-2.local (127.0.10.2):9443"}, {"up_9443", "sends to 127.0.10.2:6443"}},
		},
		{
			name: "backend marked down", v: nginxVStatic,
			conf:   strings.Replace(streamConf("", k0sRoutes()), "server 127.0.10.4:7223 max_fails=2;", "server 127.0.10.4:7223 down;", 1),
			status: Crit, details: [][]string{{"up_7223", "marks 127.0.10.4:7223 down"}},
		},
		{
			name: "extra backend", v: nginxVStatic,
			routes: editRoute(k0sRoutes(), 8132, func(r *lbRoute) { r.backends = append(r.backends, "127.0.10.77:8132") }),
			status: Warn, msg: []string{"1 upstream backend is not in the inventory"},
			details: [][]string{{"up_8132", "sends to 127.0.10.77:8132", "k0s controller"}},
		},
		{
			name: "a worker must not back the controller ports", v: nginxVStatic,
			routes: editRoute(k0sRoutes(), 6443, func(r *lbRoute) { r.backends = append(r.backends, "127.0.10.3:6443") }),
			status: Warn, details: [][]string{{"up_6443", "sends to 127.0.10.3:6443"}},
		},
		{
			name: "port not forwarded", v: nginxVStatic,
			routes: slices.DeleteFunc(k0sRoutes(), func(r lbRoute) bool { return r.port == 9443 }),
			status: Crit, msg: []string{"does not listen on 9443/tcp"},
			details: [][]string{{"9443/tcp: no stream server listens on it"}},
			remedy:  []string{"upstream k0s_join_9443 { least_conn; server 127.0.10.2:9443; } server { listen 9443; proxy_pass k0s_join_9443; }"},
		},
		{
			name: "backends by name, case-insensitively", v: nginxVStatic, routes: byName,
			status: OK, details: [][]string{{"7210/tcp", "forwarded"}},
		},
		{
			name: "proxy_pass straight to an address", v: nginxVStatic,
			conf: "events {}\nstream {\n" + func() string {
				var b strings.Builder
				for _, p := range append(slices.Clone(k0sWorkerPorts), k0sCtrlPorts...) {
					ip := "127.0.10.3"
					if slices.Contains(k0sCtrlPorts, p) {
						ip = "127.0.10.2"
					}
					fmt.Fprintf(&b, "server { listen 0.0.0.0:%d; proxy_pass %s:%d; }\n", p, ip, p)
				}
				return b.String()
			}() + "}\n",
			status: Crit, details: [][]string{{"proxy_pass 127.0.10.3:7210", "lacks kuma-4.local"}, {"6443/tcp", "forwarded"}},
		},
		{
			name: "proxy_pass with a variable", v: nginxVStatic,
			conf:   strings.Replace(streamConf("", k0sRoutes()), "proxy_pass up_7209;", "proxy_pass $upstream;", 1),
			status: Unknown, details: [][]string{{"7209/tcp", "uses a variable"}},
		},
		{
			name: "overridden raft port", v: nginxVStatic, overrides: cluster.Overrides{"raft": 7300},
			routes: append(slices.DeleteFunc(k0sRoutes(), func(r lbRoute) bool { return r.port == 7209 }),
				lbRoute{port: 7300, backends: []string{"127.0.10.3:7300", "127.0.10.4:7300"}}),
			status: OK, details: [][]string{{"7300/tcp", "forwarded"}},
		},
		{
			name: "config our reader rejects but nginx accepts", v: nginxVStatic, conf: "events {}\nstream { a \"b\"c; }\n",
			status: Unknown, msg: []string{"cannot compare the stream upstreams", "nginx.conf:2"},
		},
		{
			name: "config both reject", v: nginxVStatic, conf: "stream {\n", tRC: 1,
			tOut:   "nginx: [emerg] unexpected end of file, expecting \"}\" in /x/nginx.conf:2\n",
			status: Crit, msg: []string{"unexpected end of file"}, details: [][]string{{"reading the configuration:", "nginx.conf:1"}},
		},
		{
			name: "no inventory", v: nginxVStatic, routes: nil, cluster: &cluster.Cluster{Layout: cluster.LayoutDistributed},
			status: OK, msg: []string{"0 ports"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runLBCase(t, tt)
			checkLBResult(t, r, tt.status, tt.msg, tt.details, tt.remedy)
		})
	}
}

func TestLBAcura(t *testing.T) {
	c := &cluster.Cluster{Layout: cluster.LayoutAcura}
	for i := 1; i <= 3; i++ {
		h := peerHost("acura-node-"+strconv.Itoa(i), "127.0.60."+strconv.Itoa(i))
		h.Roles = cluster.Roles{cluster.RoleAcuraNode}
		c.Hosts = append(c.Hosts, h)
	}
	lb := peerHost("acura-lb", "127.0.60.9")
	lb.Roles = cluster.Roles{cluster.RoleLB}
	c.Hosts = append(c.Hosts, lb)

	mk := func(port uint16, udp bool) lbRoute {
		r := lbRoute{port: port, udp: udp}
		for i := 1; i <= 3; i++ {
			r.backends = append(r.backends, fmt.Sprintf("acura-node-%d:%d", i, port))
		}
		return r
	}
	good := []lbRoute{mk(80, false), mk(443, false), mk(4443, false), mk(6443, false), mk(15000, false), mk(12201, true)}
	t.Run("good", func(t *testing.T) {
		r := runLBCase(t, lbCase{v: nginxVStatic, routes: good, cluster: c})
		checkLBResult(t, r, OK, []string{"6 ports"}, [][]string{{"12201/udp", "forwarded to acura-node-1, acura-node-2, acura-node-3"}}, nil)
	})
	t.Run("logs port forwarded as tcp", func(t *testing.T) {
		routes := slices.Clone(good)
		routes[5] = mk(12201, false)
		r := runLBCase(t, lbCase{v: nginxVStatic, routes: routes, cluster: c})
		checkLBResult(t, r, Crit, []string{"does not listen on 12201/udp"}, nil, []string{"listen 12201 udp;"})
	})
}

func TestLBNginxMissing(t *testing.T) {
	dir := t.TempDir()
	conf := writeConfFile(t, filepath.Join(dir, "nginx.conf"), streamConf("", k0sRoutes()))
	r := LB{Cluster: k0sCluster(), Bin: filepath.Join(dir, "no-such-nginx"), Conf: conf, ModulesDir: dir}.Run(context.Background())
	checkLBResult(t, r, Crit, []string{"cannot run", "no-such-nginx"}, nil, []string{"apt install nginx libnginx-mod-stream"})
}

// TestLBRealNginx runs the real `nginx -t` on temporary configurations. It
// needs Debian's nginx (nginx-light is enough) and libnginx-mod-stream.
func TestLBRealNginx(t *testing.T) {
	bin := testlab.ToolPath(t, "nginx") // fails in CI, skips loudly elsewhere
	modules := "/usr/lib/nginx/modules"
	so := filepath.Join(modules, streamModule)
	vOut, _ := exec.Command(bin, "-V").CombinedOutput()
	static := slices.Contains(strings.Fields(string(vOut)), "--with-stream")
	if _, err := os.Stat(so); err != nil && !static {
		testlab.Unavailable(t, "missing nginx stream module "+so+" (Debian package libnginx-mod-stream): run `make deps` as root")
	}
	dir := t.TempDir()
	// nginx -t opens the pid and error log paths of the configuration but
	// binds no port; keep both inside the temp dir.
	head := fmt.Sprintf("pid %s;\nerror_log %s;\n", filepath.Join(dir, "nginx.pid"), filepath.Join(dir, "error.log"))
	load := ""
	if !static {
		load = "load_module " + so + ";\n"
	}

	t.Run("valid", func(t *testing.T) {
		conf := writeConfFile(t, filepath.Join(dir, "ok.conf"), load+head+streamConf("", k0sRoutes()))
		r := LB{Cluster: k0sCluster(), Bin: bin, Conf: conf, ModulesDir: modules}.Run(context.Background())
		checkLBResult(t, r, OK, []string{"8 ports"}, [][]string{{"nginx -t -c " + conf + ": ok"}}, nil)
	})
	t.Run("stream without module", func(t *testing.T) {
		if static {
			t.Skip("this nginx has the stream module compiled in")
		}
		conf := writeConfFile(t, filepath.Join(dir, "nomod.conf"), head+streamConf("", k0sRoutes()))
		r := LB{Cluster: k0sCluster(), Bin: bin, Conf: conf, ModulesDir: modules}.Run(context.Background())
		checkLBResult(t, r, Crit, []string{"installed but not loaded", `unknown directive "stream"`},
			[][]string{{"nginx -t:", "test failed"}}, []string{"load_module " + so + ";"})
	})
	t.Run("syntax error", func(t *testing.T) {
		conf := writeConfFile(t, filepath.Join(dir, "bad.conf"), load+head+"events {}\nstream {\n  server { listen 7210; proxy_pass up; }\n  bogus_directive on;\n}\n")
		r := LB{Cluster: k0sCluster(), Bin: bin, Conf: conf, ModulesDir: modules}.Run(context.Background())
		checkLBResult(t, r, Crit, []string{"nginx -t failed", "bogus_directive", conf}, nil, nil)
	})
}
