package drill

import (
	"context"
	"sync"
	"time"
)

// picker chooses operations by smooth weighted round robin: the mix is
// followed exactly and deterministically, without clumps.
type picker struct {
	ops     []Operation
	weights []float64
	current []float64
}

func newPicker(m Mix) *picker {
	p := &picker{}
	for _, op := range Operations {
		if w := m.Weight(op); w > 0 {
			p.ops = append(p.ops, op)
			p.weights = append(p.weights, w)
		}
	}
	p.current = make([]float64, len(p.ops))
	return p
}

// next returns the next operation among those skip does not exclude, or
// "" when every operation is excluded.
func (p *picker) next(skip func(Operation) bool) Operation {
	best, total := -1, 0.0
	for i, op := range p.ops {
		if skip(op) {
			continue
		}
		p.current[i] += p.weights[i]
		total += p.weights[i]
		if best < 0 || p.current[i] > p.current[best] {
			best = i
		}
	}
	if best < 0 {
		return ""
	}
	p.current[best] -= total
	return p.ops[best]
}

// sendMix sends the mix at s.Rate until trafficCtx ends, open loop: each
// request is sent at its scheduled time whatever the earlier ones are
// doing, so a slow sidecar is not offered less load (no coordinated
// omission). At most s.MaxInFlight requests wait for answers; a request
// due beyond that is skipped and counted. Requests in flight when the
// window closes finish, bounded by s.RequestTimeout, or end with ctx (an
// interrupt).
func sendMix(trafficCtx, ctx context.Context, s *Scenario, t *target) []result {
	var (
		mu      sync.Mutex
		results []result
		wg      sync.WaitGroup
		sem     = make(chan struct{}, s.MaxInFlight)
		pick    = newPicker(s.Mix)
		every   = time.Duration(float64(time.Second) / s.Rate)
		start   = time.Now()
	)
	for i := 0; ; i++ {
		if !sleepUntil(trafficCtx, start.Add(time.Duration(i)*every)) {
			break
		}
		op := pick.next(t.isUnavailable)
		if op == "" {
			break // nothing in the mix is available on this sidecar
		}
		select {
		case sem <- struct{}{}:
		default:
			mu.Lock()
			results = append(results, result{Op: op, Start: time.Now(), Err: "skipped: max_in_flight requests already waiting"})
			mu.Unlock()
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			rctx, cancel := context.WithTimeout(ctx, s.RequestTimeout.D())
			defer cancel()
			r := t.send(rctx, op)
			if !r.OK && ctx.Err() != nil {
				return // cut short by the interrupt, not by the sidecar
			}
			mu.Lock()
			results = append(results, r)
			mu.Unlock()
		})
	}
	wg.Wait()
	return results
}
