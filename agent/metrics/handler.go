package metrics

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
)

// ContentType is the media type of the text format 0.0.4.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// Handler serves the registry for GET and HEAD; other methods get 405. The
// whole text is rendered before anything is sent, so a failure is a clean
// 500 rather than a truncated scrape.
func (r *Registry) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if !allowRead(w, req) {
			return
		}
		var buf bytes.Buffer
		if err := r.WriteText(&buf); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", ContentType)
		w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
		w.WriteHeader(http.StatusOK)
		if req.Method != http.MethodHead {
			_, _ = buf.WriteTo(w) // the client went away; nothing to do
		}
	})
}

// HealthHandler serves status() for GET and HEAD: 200 when ok, 503 when
// not, the body in both cases (load balancers read the code, people the
// body); other methods get 405.
func HealthHandler(status func() (ok bool, body string)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if !allowRead(w, req) {
			return
		}
		ok, body := status()
		code := http.StatusOK
		if !ok {
			code = http.StatusServiceUnavailable
		}
		h := w.Header()
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		h.Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(code)
		if req.Method != http.MethodHead {
			_, _ = io.WriteString(w, body)
		}
	})
}

// allowRead answers 405 to anything but GET and HEAD.
func allowRead(w http.ResponseWriter, req *http.Request) bool {
	if req.Method == http.MethodGet || req.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET, HEAD")
	http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	return false
}
