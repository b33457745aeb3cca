package drill

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// item is one write or recording the sidecar accepted with a 2xx, and
// what became of it.
type item struct {
	Interaction string    `json:"interaction_id"`
	Kind        string    `json:"kind"` // record, comment, recording
	JobID       string    `json:"job_id,omitempty"`
	RecordingID string    `json:"recording_id,omitempty"`
	Accepted    int       `json:"accepted_status"`
	AcceptedAt  time.Time `json:"accepted_at"`
	// State after recovery: done, pending, inflight, dead or missing (the
	// sidecar no longer knows it: lost).
	State     string `json:"state"`
	LastError string `json:"last_error,omitempty"`
}

// ledger holds every accepted write of a drill.
type ledger struct {
	mu    sync.Mutex
	items []item
}

func (l *ledger) add(it item) {
	it.AcceptedAt = time.Now()
	l.mu.Lock()
	l.items = append(l.items, it)
	l.mu.Unlock()
}

func (l *ledger) snapshot() []item {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.items)
}

// interactionView is the part of GET /v1/interactions/{id} the ledger reads.
type interactionView struct {
	Jobs []struct {
		ID        string `json:"id"`
		State     string `json:"state"`
		LastError string `json:"last_error"`
	} `json:"jobs"`
	Recordings []struct {
		RecordingID string `json:"recording_id"`
		Stored      string `json:"stored"`
		CRM         string `json:"crm"`
	} `json:"recordings"`
}

// check asks the sidecar what became of every item not yet settled (done
// or dead) and reports whether all are settled now.
func (l *ledger) check(ctx context.Context, data *api) (settled bool, err error) {
	l.mu.Lock()
	byID := map[string][]int{}
	for i, it := range l.items {
		if it.State != "done" && it.State != "dead" {
			byID[it.Interaction] = append(byID[it.Interaction], i)
		}
	}
	l.mu.Unlock()
	var errs []error
	for id, idx := range byID {
		var v interactionView
		gctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, gerr := data.do(gctx, http.MethodGet, "/v1/interactions/"+id, nil, nil, &v)
		cancel()
		if gerr != nil && !isStatus(gerr, http.StatusNotFound) {
			errs = append(errs, gerr)
			continue
		}
		l.mu.Lock()
		for _, i := range idx {
			it := &l.items[i]
			it.State, it.LastError = "missing", ""
			if gerr != nil {
				continue
			}
			if it.Kind == "recording" {
				for _, r := range v.Recordings {
					if r.RecordingID == it.RecordingID {
						it.State = map[string]string{"attached": "done", "dead": "dead"}[r.CRM]
						if it.State == "" {
							it.State = "pending"
						}
					}
				}
				continue
			}
			for _, j := range v.Jobs {
				if j.ID == it.JobID {
					it.State, it.LastError = j.State, j.LastError
				}
			}
		}
		l.mu.Unlock()
		if ctx.Err() != nil {
			break
		}
	}
	if len(errs) > 0 {
		return false, errors.Join(errs...)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, it := range l.items {
		if it.State != "done" && it.State != "dead" {
			return false, nil
		}
	}
	return true, nil
}

// shortErr names a transport failure without its URL.
func shortErr(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	return s
}
