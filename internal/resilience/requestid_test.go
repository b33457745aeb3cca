package resilience

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/upstream"
)

// TestRequestIDGoesUpstream: a call made while serving a request carries
// that request's id as X-Request-Id; a call outside any request carries
// none; an id the adapter set itself is kept; the caller's request is not
// changed.
func TestRequestIDGoesUpstream(t *testing.T) {
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get("X-Request-Id")
	}))
	t.Cleanup(srv.Close)
	e := newEnv(t, func(d *config.Dependencies) { d.CRM.Endpoints = config.Endpoints{Primary: srv.URL} })
	client := e.crm().HTTPClient()

	call := func(ctx context.Context, preset string) (string, *http.Request) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		if preset != "" {
			req.Header.Set("X-Request-Id", preset)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return <-got, req
	}

	ctx := upstream.WithRequestID(t.Context(), "req-42")
	if id, req := call(ctx, ""); id != "req-42" || req.Header.Get("X-Request-Id") != "" {
		t.Errorf("upstream saw X-Request-Id %q (want req-42); caller's request header = %q (want it untouched)", id, req.Header.Get("X-Request-Id"))
	}
	if id, _ := call(t.Context(), ""); id != "" {
		t.Errorf("a call outside any request sent X-Request-Id %q, want none", id)
	}
	if id, _ := call(ctx, "adapter-set"); id != "adapter-set" {
		t.Errorf("upstream saw %q, want the adapter's own adapter-set", id)
	}
}
