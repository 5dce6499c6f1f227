package alerts

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
)

// ContentType is the structured-mode CloudEvents media type.
const ContentType = "application/cloudevents+json"

// maxResponseRead bounds how much of a response is read (to reuse the
// connection) and quoted in errors.
const maxResponseRead = 4 << 10

type webhookAction struct {
	name   string
	cfg    Action
	client *http.Client
	retrier
}

// deliver POSTs body, retrying network errors, 5xx and 429 (retrier: up to
// retries times, backoff doubling up to max_backoff, jittered); any other
// status is final.
func (w *webhookAction) deliver(ctx context.Context, j job, body []byte) error {
	return w.run(ctx, j, func(ctx context.Context) (bool, error) { return w.post(ctx, body) })
}

// statusError is a non-2xx answer.
type statusError struct {
	code int
	body string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("HTTP %d: %q", e.code, e.body)
}

// retryable reports whether a status is worth repeating the request for.
func retryable(code int) bool {
	return code >= 500 || code == http.StatusTooManyRequests
}

func (w *webhookAction) post(ctx context.Context, body []byte) (retry bool, err error) {
	if w.cfg.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, w.cfg.Timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	for k, v := range w.cfg.Headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", ContentType)
	resp, err := w.client.Do(req)
	if err != nil {
		return true, err // connection refused, reset, timeout: the receiver may come back
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponseRead))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return false, nil
	}
	se := &statusError{code: resp.StatusCode, body: string(bytes.TrimSpace(snippet))}
	return retryable(resp.StatusCode), se
}
