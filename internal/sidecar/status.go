package sidecar

import (
	"context"
	"time"

	"github.com/holdline/holdline/adapters/crm"
	"github.com/holdline/holdline/adapters/dialogflow"
	"github.com/holdline/holdline/adapters/identity"
	"github.com/holdline/holdline/gateway/adminapi"
	"github.com/holdline/holdline/internal/conversation"
	"github.com/holdline/holdline/outbox"
)

// statusSections returns the gateway's Options.StatusSections: it fills in
// the sections of /v1/status this sidecar owns (outbox, spool, identity,
// crm, dialogflow) with the admin spec's types, so the answer cannot drift
// from openapi/admin.yaml. A section whose part is not configured stays
// absent. The gateway adds version, mode, dependencies and drills.
func (s *Sidecar) statusSections(df *dialogflow.Client) func(context.Context, *adminapi.Status) {
	return func(ctx context.Context, st *adminapi.Status) {
		now := time.Now()
		if s.jobs != nil {
			st.Outbox = s.jobs.outboxStatus(ctx, now)
			st.Spool = s.jobs.spoolStatus(ctx, now)
		}
		if s.identity != nil {
			st.Identity = identitySection(s.identity.Status())
		}
		if s.crm != nil {
			st.Crm = s.crmStatus()
		}
		if df != nil {
			st.Dialogflow = dialogflowSection(df.Agents())
		}
		if s.statusPages != nil {
			addVendorStatus(st.Dependencies, s.statusPages.Reports())
		}
		if s.deps != nil {
			addHealth(st.Dependencies, s.deps)
		}
	}
}

// outboxStatus is the "outbox" section: the store's job counts. When the
// store cannot be read, the counts are 0 and Error says so.
func (j *jobs) outboxStatus(ctx context.Context, now time.Time) *adminapi.OutboxStatus {
	out := &adminapi.OutboxStatus{Backend: j.backend}
	st, err := j.store.Stats(ctx)
	if err != nil {
		out.Error = ptr("outbox unavailable")
		return out
	}
	out.Pending, out.Inflight, out.Dead, out.Held, out.Blocked, out.Done = st.Pending, st.Inflight, st.Dead, st.Held, st.Blocked, st.Done
	if !st.OldestPending.IsZero() {
		out.OldestPendingAgeSeconds = max(0, now.Sub(st.OldestPending).Seconds())
	}
	return out
}

// spoolStatus is the "spool" section: this sidecar's spool as its disk
// holds it, and the unfinished upload jobs of every owner as the outbox
// holds them. An owner that stays in by_owner with no sidecar of that id
// running is a spool whose data_dir is gone: its recordings wait for that
// volume to come back. Nil when there is no spool.
func (j *jobs) spoolStatus(ctx context.Context, now time.Time) *adminapi.SpoolStatus {
	if j.spool == nil {
		return nil
	}
	out := &adminapi.SpoolStatus{Owner: j.owner, ByOwner: map[string]adminapi.SpoolOwner{}}
	if st, err := j.spool.Stats(); err != nil {
		out.Error = ptr("spool unreadable")
	} else {
		out.Files, out.Bytes, out.Orphaned, out.MaxBytes = st.Files, st.Bytes, st.Aside, st.MaxBytes
		if !st.Oldest.IsZero() {
			out.OldestAgeSeconds = max(0, now.Sub(st.Oldest).Seconds())
		}
		if st.Full != "" {
			out.Full = ptr(st.Full)
		}
	}
	owners := map[string]*spoolOwner{}
	stores := []outbox.Store{j.store}
	if j.local != nil {
		stores = append(stores, j.local)
	}
	for _, store := range stores {
		if err := uploadsByOwner(ctx, store, now, owners); err != nil {
			out.ByOwnerError = ptr("outbox unavailable")
		}
	}
	for id, o := range owners {
		out.ByOwner[id] = adminapi.SpoolOwner{Jobs: o.Jobs, Bytes: o.Bytes, OldestAgeSeconds: o.OldestAgeSeconds}
	}
	return out
}

// crmStatus is the "crm" section: the kind and, when the CRM reports it,
// its daily API usage.
func (s *Sidecar) crmStatus() *adminapi.CRMStatus {
	out := &adminapi.CRMStatus{Kind: s.cfg.Dependencies.CRM.Kind}
	if u, ok := s.crm.(crm.UsageReporter); ok {
		if usage, ok := u.APIUsage(); ok {
			out.ApiUsage = &adminapi.APIUsage{Used: usage.Used, Limit: usage.Limit, Remaining: usage.Remaining(), At: usage.At}
		}
	}
	return out
}

// identitySection is the "identity" section.
func identitySection(v identity.Status) *adminapi.IdentityStatus {
	return &adminapi.IdentityStatus{
		Issuer:          v.Issuer,
		Degraded:        v.Degraded,
		Reason:          optional(v.Reason),
		KeySource:       adminapi.IdentityStatusKeySource(v.KeySource),
		KeyIds:          nonNil(v.KeyIDs),
		KeysFetchedAt:   v.KeysFetchedAt,
		KeysAge:         optional(v.KeysAge),
		KeysUsableUntil: v.KeysUsableUntil,
		LastRefresh:     v.LastRefresh,
		NextRefresh:     v.NextRefresh,
		LastError:       optional(v.LastError),
		MaxStale:        v.MaxStale,
		Introspection: adminapi.IntrospectionStatus{
			CacheEntries:   v.Introspection.CacheEntries,
			MaxEntries:     v.Introspection.MaxEntries,
			MaxPositiveTtl: v.Introspection.MaxPositiveTTL,
			MaxNegativeTtl: v.Introspection.MaxNegativeTTL,
		},
	}
}

// dialogflowSection is the "dialogflow" section: every agent alias.
func dialogflowSection(agents []conversation.AgentStatus) *adminapi.DialogflowStatus {
	out := &adminapi.DialogflowStatus{Agents: make([]adminapi.DialogflowAgent, 0, len(agents))}
	for _, a := range agents {
		w := adminapi.DialogflowAgent{
			Alias: a.Alias, Environment: a.Environment, Secondary: optional(a.Secondary),
			Versions: nonNil(a.Versions), VersionsRead: a.VersionsRead, Drift: a.Drift,
			Breaker:      adminapi.DialogflowAgentBreaker(a.Breaker),
			Environments: make([]adminapi.DialogflowEnvironment, 0, len(a.Environments)),
			ActiveRegion: adminapi.DialogflowAgentActiveRegion(a.ActiveRegion),
			AutoFailover: a.AutoFailover,
		}
		if sw := a.LastSwitch; sw != nil {
			w.LastSwitch = &adminapi.RegionSwitch{At: sw.At, By: sw.By, Reason: sw.Reason,
				From: adminapi.RegionSwitchFrom(sw.From), To: adminapi.RegionSwitchTo(sw.To)}
		}
		for _, e := range a.Environments {
			w.Environments = append(w.Environments, adminapi.DialogflowEnvironment{
				Name: e.Name, Role: adminapi.DialogflowEnvironmentRole(e.Role), Endpoint: e.Endpoint,
				Versions: nonNil(e.Versions), CurrentVersions: nonNil(e.CurrentVersions),
				VersionsRead: e.VersionsRead, Drift: e.Drift,
				Breaker:   adminapi.DialogflowEnvironmentBreaker(e.Breaker),
				CheckedAt: e.CheckedAt, LastError: optional(e.LastError),
			})
		}
		out.Agents = append(out.Agents, w)
	}
	return out
}

func ptr[T any](v T) *T { return &v }

// optional is nil for "", so an empty string field is left out.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// degraded reports whether any dependency is not healthy (a breaker open,
// half-open or forced, or a drill fault active), dead outbox jobs wait
// for an operator, the spool is full, or identity verifies with keys the
// provider has not confirmed (or has none).
func (s *Sidecar) degraded() bool {
	if s.identity != nil && s.identity.Degraded() {
		return true
	}
	if s.jobs != nil && (s.jobs.deadJobs(context.Background()) || s.jobs.backend != s.cfg.Outbox.Backend || s.jobs.spoolFull()) {
		return true // dead jobs wait for a person, fleet mode fell back to local, or the spool refuses recordings
	}
	for _, d := range s.deps.All() {
		st := d.Status()
		if st.Breaker != "closed" || st.BreakerMode != "auto" || st.ActiveFaults > 0 {
			return true
		}
	}
	return false
}
