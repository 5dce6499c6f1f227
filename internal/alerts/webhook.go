package alerts

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/retry"
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
	sleep  func(context.Context, time.Duration) error
	rand   func() float64
	log    *slog.Logger
}

// deliver POSTs body, retrying network errors, 5xx and 429 with
// exponential backoff (retry.Backoff: backoff doubling up to max_backoff,
// jittered); any other status is final. The loop is its own rather than
// retry.Do's: the number of retries is bounded and some errors are final.
func (w *webhookAction) deliver(ctx context.Context, j job, body []byte) error {
	b := retry.Backoff{Min: w.cfg.Backoff, Max: w.cfg.MaxBackoff, Rand: w.rand}
	for attempt := 0; ; attempt++ {
		retry, err := w.post(ctx, body)
		if err == nil {
			return nil
		}
		if !retry || attempt >= w.cfg.Retries || ctx.Err() != nil {
			return fmt.Errorf("webhook %s: attempt %d: %w", w.name, attempt+1, err)
		}
		wait := b.Delay(attempt)
		w.log.Warn("webhook failed; retrying", "action", w.name, "event_id", j.ev.ID, "attempt", attempt+1, "wait", wait, "err", err)
		if err := w.sleep(ctx, wait); err != nil {
			return fmt.Errorf("webhook %s: waiting to retry: %w", w.name, err)
		}
	}
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
