// Package drill runs failure scenarios against a running sidecar and
// reports what still worked, what broke that the scenario did not expect,
// and what was lost or delayed.
//
// A Scenario (scenario.go) is read from YAML strictly (Load: an unknown key
// is an error naming its path) and validated as a whole (Validate). Run
// (runner.go) then talks to the sidecar only through its public APIs:
//
//   - the admin API, to inject faults (/v1/admin/faults), force breakers
//     and fail endpoints over, to sample /v1/status every second and to read
//     the audit log's breaker changes afterwards;
//   - the data plane, to send the request mix at a fixed rate (open loop,
//     bounded in flight) and, after the run, to check through
//     GET /v1/interactions/{id} that every write and recording the sidecar
//     accepted with a 2xx reached the CRM.
//
// So the same drill runs against `holdline serve --dev` and against a
// staging sidecar with drills.enabled. Every fault a drill creates has a
// duration (it expires by itself) and is also deleted by id when the drill
// ends, is interrupted or finds its target restarted.
//
// Not a stable API: holdline is a binary, and this package serves it.
package drill
