package sidecar

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"time"

	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/sim"
)

// DevConfig is the configuration of `holdline serve --dev`: defaults, with
// fault injection on, a breaker that reacts within a few seconds and
// recordings stored in a directory ({data_dir}/recordings; drill faults on
// the blob dependency still fail it, so the spool can be tried). In
// dev mode, New starts simulators for the upstreams this leaves empty and
// fills them in (devTransform) before it checks the config.
func DevConfig() *config.Config {
	cfg := config.Default()
	cfg.Drills.Enabled = true
	cfg.Recordings.Store = "dir"
	crm := &cfg.Dependencies.CRM
	crm.Breaker.MinRequests = 10
	crm.Breaker.Window = config.Duration(10 * time.Second)
	crm.Breaker.OpenFor = config.Duration(5 * time.Second)
	crm.Breaker.HalfOpenProbes = 2
	return cfg
}

// UseSimStore asks the holdline-sim at simURL where its GCS emulator is
// (GET simURL/dev/sim) and points cfg's recording store at it, so that
// stored recordings, like the CRM ledger, outlive the sidecar. A sim
// without an emulator leaves cfg alone (recordings then go to the dev
// directory store). It fails when the sim does not answer within ctx or
// 5s.
func UseSimStore(ctx context.Context, cfg *config.Config, simURL string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(simURL, "/")+"/dev/sim", nil)
	if err != nil {
		return fmt.Errorf("sidecar: --sim %q: %w", simURL, err)
	}
	resp, err := (&http.Client{}).Do(req)
	if err != nil {
		return fmt.Errorf("sidecar: ask the sim where its GCS emulator is: %w", err)
	}
	defer resp.Body.Close()
	var info sim.Info
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("sidecar: GET %s/dev/sim = %d; is it a holdline-sim?", simURL, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		return fmt.Errorf("sidecar: GET %s/dev/sim: %w", simURL, err)
	}
	if info.GCS == "" {
		return nil
	}
	cfg.Recordings.Store = "gcs"
	cfg.Recordings.Bucket = cmp.Or(info.Bucket, sim.DevBucket)
	cfg.Dependencies.Blob.Endpoints.Primary = info.GCS
	return nil
}

// Dev-mode Dialogflow: one alias pinned to a published environment, with a
// secondary in another region, all served by the in-process simulator.
const (
	devAgentAlias     = "support"
	devEnvironment    = "projects/holdline-dev/locations/us-central1/agents/dev-agent/environments/production"
	devEnvironmentEU  = "projects/holdline-dev/locations/europe-west1/agents/dev-agent-eu/environments/production"
	devHandoffQueue   = "support-live"
	devHandoffMessage = "Let me connect you to an agent."
	devAudience       = "holdline"
)

// simAddrs are where the dev simulators listen; an empty field is a
// simulator that was not started because its upstream is configured.
type simAddrs struct {
	// CRM and CRMSecondary are the CRM simulators' base URLs (CRM alone
	// with --sim).
	CRM, CRMSecondary string
	// Issuer, ClientID and ClientSecret are the OIDC provider simulator's.
	Issuer, ClientID, ClientSecret string
	// Dialogflow is the Dialogflow simulator's host:port.
	Dialogflow string
}

// devTransform returns cfg with its empty upstreams pointed at the dev
// simulators at a. It is a pure function: it changes nothing it is given
// (the agents map is copied before it is written).
func devTransform(cfg config.Config, a simAddrs) config.Config {
	if a.CRM != "" {
		crm := &cfg.Dependencies.CRM
		crm.Kind = "generic"
		crm.Endpoints.Primary, crm.Endpoints.Secondary = a.CRM, a.CRMSecondary
	}
	if a.Issuer != "" {
		id := &cfg.Identity
		id.Issuer, id.Audience = a.Issuer, devAudience
		id.ClientID, id.ClientSecret = a.ClientID, config.Secret(a.ClientSecret)
	}
	if a.Dialogflow != "" {
		agents := maps.Clone(cfg.Dialogflow.Agents)
		if agents == nil {
			agents = map[string]config.DialogflowAgent{}
		}
		agents[devAgentAlias] = config.DialogflowAgent{
			Environment: devEnvironment, Secondary: devEnvironmentEU,
			Budget:   config.Duration(2 * time.Second),
			Fallback: config.DialogflowFallback{Message: devHandoffMessage, Queue: devHandoffQueue},
		}
		cfg.Dialogflow.Agents = agents
	}
	return cfg
}
