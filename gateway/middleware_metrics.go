package gateway

import (
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
)

// httpMetrics are the per-route request metrics of one listener.
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	// resolved keeps each label combination's series once seen (routes
	// are templates, so they are few), sparing the label hashing and vec
	// lookups on every request.
	resolved sync.Map // seriesKey -> *httpSeries
}

type seriesKey struct {
	listener, route, method string
	status                  int
}

type httpSeries struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

// series returns the request counter and latency histogram of one label
// combination.
func (m *httpMetrics) series(listener, route, method string, status int) *httpSeries {
	k := seriesKey{listener, route, metricMethod(method), status}
	if s, ok := m.resolved.Load(k); ok {
		return s.(*httpSeries)
	}
	code := strconv.Itoa(status)
	s, _ := m.resolved.LoadOrStore(k, &httpSeries{
		requests: m.requests.WithLabelValues(listener, route, k.method, code),
		duration: m.duration.WithLabelValues(listener, route, k.method, code),
	})
	return s.(*httpSeries)
}

// metricMethod is the method label: a client may send any token as the
// method, so anything but the standard methods counts as "other", which
// keeps the series (and the resolved map) bounded.
func metricMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "other"
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "holdline_http_requests_total",
			Help: "HTTP requests served, by listener, route template, method and status.",
		}, []string{"listener", "route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "holdline_http_request_duration_seconds",
			Help:    "HTTP request latency, by listener, route template, method and status.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .3, .5, 1, 2.5, 5, 10},
		}, []string{"listener", "route", "method", "status"}),
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}

// statusWriter records the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// observe counts and times every request by its chi route template (never
// the raw path, which would hold ids and explode cardinality) and writes
// one access-log line without headers or bodies.
func observe(listener string, m *httpMetrics, log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			sw := &statusWriter{ResponseWriter: w}
			next.ServeHTTP(sw, r)
			if sw.status == 0 {
				sw.status = http.StatusOK
			}
			route := "unmatched"
			if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" {
				route = rc.RoutePattern()
			}
			d := time.Since(start)
			s := m.series(listener, route, r.Method, sw.status)
			s.requests.Inc()
			s.duration.Observe(d.Seconds())
			level := slog.LevelDebug
			if sw.status >= 500 {
				level = slog.LevelWarn
			}
			if !log.Enabled(r.Context(), level) {
				return // the success path's line is debug: build nothing
			}
			log.LogAttrs(r.Context(), level, "http",
				slog.String("request_id", RequestID(r.Context())), slog.String("listener", listener),
				slog.String("method", r.Method), slog.String("route", route), slog.Int("status", sw.status),
				slog.Int64("bytes", sw.bytes), slog.Duration("duration", d))
		})
	}
}
