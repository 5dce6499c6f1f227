package statuspage

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"
)

// Handler serves the page: GET and HEAD only (the page changes nothing;
// any other method is 405), with the Content-Security-Policy and headers
// that keep a browser from running, loading or framing anything.
type Handler struct {
	// Input gathers what the agent knows now; it must return within the
	// request's context (it reads memory, and at most one bounded lookup).
	Input func(ctx context.Context) Input
	Log   *slog.Logger
}

// ParseRefresh reads the refresh query parameter: whole seconds, "" or 0
// for none; anything else is an error naming the value. Build bounds it
// to [5 s, 1 h].
func ParseRefresh(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("refresh=%q: want whole seconds (0 to 65535)", s)
	}
	return time.Duration(n) * time.Second, nil
}

func (h Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", ContentSecurityPolicy)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cache-Control", "no-store")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		http.Error(w, "the status page is read-only: GET or HEAD", http.StatusMethodNotAllowed)
		return
	}
	refresh, err := ParseRefresh(r.URL.Query().Get("refresh"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	in := h.Input(r.Context())
	in.Refresh = refresh
	var b bytes.Buffer
	if err := Render(&b, Build(in)); err != nil {
		if h.Log != nil {
			h.Log.Error("status page not rendered", "err", err)
		}
		http.Error(w, "status page not rendered (the agent's log says why)", http.StatusInternalServerError)
		return
	}
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Content-Length", strconv.Itoa(b.Len()))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(b.Bytes())
}
