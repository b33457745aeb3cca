// Package dialogflow runs Dialogflow CX turns for holdline's agent aliases,
// always on each alias's pinned published environment, and answers with the
// alias's live-agent hand-off when Dialogflow cannot.
//
// # Pinned environments
//
// Every alias in config (dialogflow.agents) names the full resource name of
// a published environment, projects/P/locations/L/agents/A/environments/E.
// New refuses Draft (config.CheckEnvironment) just as `holdline config
// validate` does, and every session path sent to Dialogflow is
// {environment}/sessions/{session_id}: a request cannot choose another
// environment, and no path without /environments/ (which Dialogflow runs on
// Draft) is ever built.
//
// Calls go through the official client (cloud.google.com/go/dialogflow/cx/
// apiv3) on the regional endpoint of the environment's location
// ({location}-dialogflow.googleapis.com:443, dialogflow.googleapis.com:443
// for global), with one Sessions and one Environments client per endpoint.
// The client's default DetectIntent options (a 220 s timeout and a retry
// on UNAVAILABLE) are removed: DetectIntent is not idempotent, and the
// deadline comes from the alias budget and the dialogflow policy chain
// (resilience.Write: bulkhead, rate limit, breaker, timeout; never retried).
// Drill faults (resilience.Dependency.Inject) act in a gRPC interceptor,
// beneath the policies.
//
// # Degrading
//
// A turn never fails because of Dialogflow. When the call fails, times out,
// or a breaker is open, DetectIntent answers the alias's fallback: its
// message and hand-off queue, Source "fallback", LiveAgentHandoff and
// Degraded true, with the reason. The alias budget bounds the whole turn;
// the call gets the budget less a small margin, so the fallback is
// answered within budget even when Dialogflow hangs.
//
// # Regional failover and session affinity
//
// An alias may name a secondary environment: an agent in another region
// (an agent's region is fixed, so failover means a second agent). Each
// environment has its own circuit breaker, in addition to the
// dependency-wide chain that every call still goes through: the
// dependency's breaker says "Dialogflow is failing" (and honours an
// operator's forced mode), the environment's breaker says "this region is
// failing" and fails its turns fast. The environment breakers use the
// dependency's failure rate, window, open_for and half-open probes with a
// quarter of its min_requests, so a single failing region is fenced off
// before its failures can trip the dependency-wide breaker.
//
// A session stays in the region it started in for its whole life
// (Dialogflow keeps a session's state in its agent: another region would
// start the conversation over): its later turns go to that environment
// whatever the active region is now, and while that environment's breaker
// is open they get the fallback rather than moving. Its affinity ends when
// the session does: idle for SessionIdle (dialogflow.session_ttl, 30
// minutes by default as in Dialogflow), or a turn that reaches END_SESSION
// or an EndInteraction message. Affinities live in a bounded map
// (MaxSessions, dialogflow.max_sessions; least recently used forgotten
// first).
//
// A new session goes to the alias's active region: the primary, until an
// operator runs `holdline failover dialogflow --to secondary` (the
// dependency's SetActiveEndpoint, which calls the FailoverFunc New
// registers: every alias that has a secondary switches; the admin API
// audits it). The client never switches by itself unless the alias sets
// auto_failover: then, when the active environment's breaker is open and
// the other's admits the call, the alias's new sessions move to the other
// region; the decision is logged, reported to Options.OnAutoSwitch (the
// sidecar audits it as AutoActor) and shown by Agents (active_region,
// last_switch by "auto"). There is no automatic failback: an operator
// fails back. Without auto_failover, a region that is down costs its
// callers the live-agent hand-off, within budget, until someone decides.
//
// Drill faults match the role, in the calling alias, of the environment a
// call goes to (Fault.Endpoint "primary" or "secondary"), not the active
// region, so a drill can take down one region while sessions run in both.
//
// # Static stability
//
// New reads each pinned environment once (Environments.GetEnvironment,
// bounded by ReadTimeout) and records its version configs. When the read
// fails, New succeeds anyway and Agents reports versions_read false; Run
// checks again every DriftInterval, takes the first successful read as the
// baseline in that case, and reports drift when an environment's version
// configs differ from the baseline. Nothing on the turn path calls the
// control plane.
//
// Not a stable API: holdline is a binary, and this package serves it.
package dialogflow
