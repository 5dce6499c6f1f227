package metrics

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

func serve(h http.Handler, method string) *http.Response {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, "/", nil))
	return rec.Result()
}

func body(t *testing.T, res *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestMetricsHandler(t *testing.T) {
	r := NewRegistry()
	r.Counter("kuma_runs_total", "Runs.", "check").With("ntp").Add(4)

	res := serve(r.Handler(), http.MethodGet)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET: %d", res.StatusCode)
	}
	if ct := res.Header.Get("Content-Type"); ct != "text/plain; version=0.0.4; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if got, want := body(t, res), render(t, r); got != want || !strings.Contains(got, `kuma_runs_total{check="ntp"} 4`) {
		t.Errorf("GET body:\n%s\nwant:\n%s", got, want)
	}

	res = serve(r.Handler(), http.MethodHead)
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != ContentType {
		t.Errorf("HEAD: %d %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	if b := body(t, res); b != "" {
		t.Errorf("HEAD sent a body: %q", b)
	}

	res = serve(r.Handler(), http.MethodPost)
	if res.StatusCode != http.StatusMethodNotAllowed || res.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: %d Allow %q", res.StatusCode, res.Header.Get("Allow"))
	}
}

func TestHealthHandler(t *testing.T) {
	ok, msg := true, "all checks ok\n"
	h := HealthHandler(func() (bool, string) { return ok, msg })

	for _, tc := range []struct {
		ok       bool
		msg      string
		method   string
		code     int
		wantBody string
	}{
		{true, "all checks ok\n", http.MethodGet, http.StatusOK, "all checks ok\n"},
		{false, "ntp: crit\n", http.MethodGet, http.StatusServiceUnavailable, "ntp: crit\n"},
		{true, "all checks ok\n", http.MethodHead, http.StatusOK, ""},
		{false, "ntp: crit\n", http.MethodHead, http.StatusServiceUnavailable, ""},
		{true, "x", http.MethodPost, http.StatusMethodNotAllowed, "method not allowed\n"},
		{true, "x", http.MethodDelete, http.StatusMethodNotAllowed, "method not allowed\n"},
	} {
		ok, msg = tc.ok, tc.msg
		res := serve(h, tc.method)
		if res.StatusCode != tc.code {
			t.Errorf("%s ok=%v: status %d, want %d", tc.method, tc.ok, res.StatusCode, tc.code)
		}
		if b := body(t, res); b != tc.wantBody {
			t.Errorf("%s ok=%v: body %q, want %q", tc.method, tc.ok, b, tc.wantBody)
		}
		if tc.code == http.StatusMethodNotAllowed && res.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s: Allow %q", tc.method, res.Header.Get("Allow"))
		}
		if tc.method == http.MethodHead && res.Header.Get("Content-Length") != strconv.Itoa(len(tc.msg)) {
			t.Errorf("HEAD: Content-Length %q for a %d-byte body", res.Header.Get("Content-Length"), len(tc.msg))
		}
	}
}
