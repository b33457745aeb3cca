package gateway

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/holdline/holdline/internal/phone"
	"github.com/holdline/holdline/internal/screenpop"
)

// fixedPop answers every pop from "cache" without any dependency.
type fixedPop struct{ r screenpop.Result }

func (f fixedPop) Pop(ctx context.Context, n phone.Number) screenpop.Result {
	r := f.r
	r.E164 = n.E164()
	return r
}

func (f fixedPop) Unknown(reason string) screenpop.Result {
	return screenpop.Result{Records: []screenpop.Record{}, Source: screenpop.SourceMinimal, Degraded: true, Reasons: []string{reason}}
}

// BenchmarkScreenPopHandler is the HTTP layer's cost for one screen pop
// (middleware, spec validation, phone parsing, encoding) around a flow that
// answers at once.
func BenchmarkScreenPopHandler(b *testing.B) {
	reg := prometheus.NewRegistry()
	s, err := New(Options{Logger: slog.New(slog.DiscardHandler), Registry: reg, Gatherer: reg, Services: Services{
		DefaultRegion: "US",
		ScreenPop:     fixedPop{screenpop.Result{Contact: &screenpop.Contact{ID: "101", Name: "Ada Lovelace"}, Records: []screenpop.Record{{ID: "1001", Subject: "Billing"}}, Source: "cache"}},
	}})
	if err != nil {
		b.Fatal(err)
	}
	data, _, err := s.Handlers()
	if err != nil {
		b.Fatal(err)
	}
	const body = `{"phone":"(415) 555-0100","interaction_id":"call-1","channel":"voice"}`
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/v1/screen-pop", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		data.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}
