package statuspage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/resilience"
	"github.com/holdline/holdline/internal/upstream"
)

// maxBody bounds a page's document: Google Cloud's incidents.json holds
// years of incidents and weighs a few MB.
const maxBody = 32 << 20

// ErrTooLarge: the document exceeds maxBody.
var ErrTooLarge = errors.New("statuspage: document too large")

// Options are the Poller's optional knobs.
type Options struct {
	// Logger receives a line when a page's indicator changes or a poll
	// fails. Nil discards.
	Logger *slog.Logger
	// Now is the clock of CheckedAt. Nil is time.Now.
	Now func() time.Time
}

// Poller polls the configured pages. Build it with New, Run it, read
// Reports. It is safe for concurrent use.
type Poller struct {
	pages []config.StatusPage
	dep   *resilience.Dependency
	log   *slog.Logger
	now   func() time.Time

	mu      sync.Mutex
	reports []Report // index-aligned with pages
}

// New returns a Poller of pages (validated, defaults applied) reading
// through dep, an advisory dependency whose allowlist admits the pages'
// hosts (resilience.NewAdvisory, resilience.AllowHosts). Every page
// reports Unknown until its first poll.
func New(pages []config.StatusPage, dep *resilience.Dependency, opts Options) *Poller {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	p := &Poller{pages: pages, dep: dep, log: opts.Logger, now: opts.Now, reports: make([]Report, len(pages))}
	for i, pg := range pages {
		p.reports[i] = Report{Name: pg.Name, Dependency: pg.Dependency, Kind: pg.Kind, URL: pg.URL, Indicator: Unknown}
	}
	return p
}

// Run polls every page at once, then each on its own interval, until ctx
// ends; it returns nil then.
func (p *Poller) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for i := range p.pages {
		wg.Go(func() {
			t := time.NewTicker(p.pages[i].Interval.D())
			defer t.Stop()
			for {
				p.poll(ctx, i)
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
			}
		})
	}
	wg.Wait()
	return nil
}

// PollAll polls every page once, concurrently, and returns when all are
// done: what Run does first, for a caller that wants fresh reports now.
func (p *Poller) PollAll(ctx context.Context) {
	var wg sync.WaitGroup
	for i := range p.pages {
		wg.Go(func() { p.poll(ctx, i) })
	}
	wg.Wait()
}

// Reports returns the last report of every page, in config order.
func (p *Poller) Reports() []Report {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Report, len(p.reports))
	for i, r := range p.reports {
		r.Incidents = append([]string(nil), r.Incidents...)
		out[i] = r
	}
	return out
}

// poll reads page i and records the outcome. A failure keeps the last
// vendor data but sets the indicator to Unknown: a stale "operational"
// would mislead during the very incident it is read in.
func (p *Poller) poll(ctx context.Context, i int) {
	pg := p.pages[i]
	v, err := p.read(ctx, pg)
	if ctx.Err() != nil {
		return // shutting down: not the vendor's fault
	}
	now := p.now()
	p.mu.Lock()
	r := &p.reports[i]
	before := r.Indicator
	if err != nil {
		r.Indicator, r.LastError = Unknown, reason(err)
	} else {
		r.Indicator, r.Description, r.Incidents, r.VendorUpdatedAt, r.LastError = v.indicator, v.description, v.incidents, v.updatedAt, ""
		r.CheckedAt = &now
	}
	after := r.Indicator
	p.mu.Unlock()
	switch {
	case err != nil:
		p.log.Warn("status page poll failed", "page", pg.Name, "dependency", pg.Dependency, "err", err)
	case before != after:
		p.log.Info("status page changed", "page", pg.Name, "dependency", pg.Dependency, "from", string(before), "to", string(after), "description", v.description)
	}
}

// read fetches and parses one page through the advisory dependency.
func (p *Poller) read(ctx context.Context, pg config.StatusPage) (verdict, error) {
	body, err := resilience.Read(ctx, p.dep, "status_page", func(ctx context.Context) ([]byte, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, pg.URL, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Accept", "application/json")
		resp, err := p.dep.HTTPClient().Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			return nil, upstream.FromResponse(resp, p.now())
		}
		b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
		if err != nil {
			return nil, err
		}
		if len(b) > maxBody {
			return nil, ErrTooLarge
		}
		return b, nil
	})
	if err != nil {
		return verdict{}, fmt.Errorf("statuspage: %s: %w", pg.Name, err)
	}
	return parse(pg.Kind, pg.Component, pg.JSONPath, body)
}

// reason says why a poll failed, without the URL or internal detail.
func reason(err error) string {
	switch {
	case errors.Is(err, ErrNoComponent):
		return "component not on the page"
	case errors.Is(err, ErrFormat):
		return "not a document of the configured kind"
	case errors.Is(err, ErrTooLarge):
		return "document too large"
	}
	return resilience.Reason("status page", err)
}

// Register registers holdline_status_page_indicator on reg, read from the
// reports at scrape time.
func (p *Poller) Register(reg prometheus.Registerer) error {
	return reg.Register(&collector{p: p, desc: prometheus.NewDesc("holdline_status_page_indicator",
		"What a vendor's status page says (advisory; it never trips a breaker): -1 unknown (not read, unreadable), 0 none, 1 minor, 2 major, 3 critical.",
		[]string{"page", "dependency"}, nil)})
}

type collector struct {
	p    *Poller
	desc *prometheus.Desc
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	for _, r := range c.p.Reports() {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, r.Indicator.Value(), r.Name, r.Dependency)
	}
}
