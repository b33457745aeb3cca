package identity

import (
	"time"
)

// Status is the identity section of /v1/status: what an operator needs
// during a provider outage to tell whether agents' tokens still verify and
// for how long.
type Status struct {
	// Issuer is the issuer tokens must carry (the discovery document's
	// form once known).
	Issuer string `json:"issuer"`
	// Degraded is true when JWT verdicts rest on keys the provider has not
	// confirmed (the last fetch failed, or the keys were loaded from disk
	// and no fetch has succeeded yet), or there are no usable keys.
	Degraded bool `json:"degraded"`
	// Reason says why, when Degraded.
	Reason string `json:"reason,omitempty"`
	// KeySource is "fetched", "persisted" (loaded from data_dir at start
	// and not yet confirmed) or "none".
	KeySource string `json:"key_source"`
	// KeyIDs are the kids of the usable keys.
	KeyIDs []string `json:"key_ids"`
	// KeysFetchedAt is when the key set was fetched from the provider.
	KeysFetchedAt *time.Time `json:"keys_fetched_at,omitempty"`
	// KeysAge is how old the key set is, e.g. "2h0m0s".
	KeysAge string `json:"keys_age,omitempty"`
	// KeysUsableUntil is when the key set passes identity.max_stale; from
	// then on every JWT is refused until a fetch succeeds.
	KeysUsableUntil *time.Time `json:"keys_usable_until,omitempty"`
	// LastRefresh is when a fetch was last attempted.
	LastRefresh *time.Time `json:"last_refresh,omitempty"`
	// NextRefresh is when the background refresh is next due.
	NextRefresh *time.Time `json:"next_refresh,omitempty"`
	// LastError is why the last fetch failed; empty when it succeeded.
	// It names the failure kind only (no hosts or URLs).
	LastError string `json:"last_error,omitempty"`
	// MaxStale is identity.max_stale.
	MaxStale string `json:"max_stale"`
	// Introspection describes the introspection answer cache.
	Introspection IntrospectionStatus `json:"introspection"`
}

// IntrospectionStatus describes the introspection answer cache.
type IntrospectionStatus struct {
	// CacheEntries is the number of cached answers.
	CacheEntries int `json:"cache_entries"`
	// MaxEntries is identity.introspection.max_entries.
	MaxEntries int `json:"max_entries"`
	// MaxPositiveTTL is identity.introspection.max_positive_ttl.
	MaxPositiveTTL string `json:"max_positive_ttl"`
	// MaxNegativeTTL is identity.introspection.max_negative_ttl.
	MaxNegativeTTL string `json:"max_negative_ttl"`
}

// Status reports the key set's freshness and the introspection cache. It
// makes no provider call and is safe for concurrent use.
func (v *Verifier) Status() Status {
	now := v.now()
	st := v.keys.Load()
	out := Status{
		Issuer:    v.issuer,
		Degraded:  st.degraded(),
		KeySource: "none",
		KeyIDs:    []string{},
		MaxStale:  v.maxStale.String(),
		Introspection: IntrospectionStatus{
			CacheEntries:   v.cache.len(),
			MaxEntries:     v.cfg.Introspection.MaxEntries,
			MaxPositiveTTL: v.cfg.Introspection.MaxPositiveTTL.String(),
			MaxNegativeTTL: v.cfg.Introspection.MaxNegativeTTL.String(),
		},
	}
	if st == nil {
		out.Reason = "no key set fetched yet"
		return out
	}
	out.Issuer = st.issuerOr(v.issuer)
	out.LastRefresh = timePtr(st.attempt)
	out.NextRefresh = timePtr(st.next)
	if st.err != nil {
		out.LastError = reasonFor(st.err)
	}
	if st.set != nil {
		out.KeySource = "fetched"
		if st.persisted {
			out.KeySource = "persisted"
		}
		out.KeyIDs = keyIDs(st.set)
		out.KeysFetchedAt = timePtr(st.fetchedAt)
		out.KeysAge = v.ageOf(st, now).String()
		out.KeysUsableUntil = timePtr(st.fetchedAt.Add(v.maxStale))
	}
	switch {
	case st.set == nil:
		out.Reason = "no usable key set: every JWT is refused"
	case now.Sub(st.fetchedAt) > v.maxStale:
		out.Degraded = true
		out.Reason = "the key set is past max_stale: every JWT is refused until a fetch succeeds"
	case st.err != nil:
		out.Reason = "the last fetch failed: JWTs verify against the last good key set until keys_usable_until"
	case st.persisted:
		out.Reason = "keys loaded from data_dir, not yet confirmed by the provider"
	}
	return out
}

// Degraded reports whether Status would say degraded, cheaply.
func (v *Verifier) Degraded() bool {
	st := v.keys.Load()
	return st.degraded() || v.now().Sub(st.fetchedAt) > v.maxStale
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}
