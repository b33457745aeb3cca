package identity

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/google/renameio/v2"
	"github.com/lestrrat-go/jwx/v3/jwk"
)

// stateFile is the name of the persisted key set in Options.StateDir.
const stateFile = "identity-jwks.json"

// persisted is the file format of the last good key set. The JWKS is kept
// as the provider sent it (public keys only), with when it was fetched and
// the issuer it belongs to, so a restart can tell how old it is and that
// it is for this provider.
type persisted struct {
	Version   int             `json:"version"`
	Issuer    string          `json:"issuer"`
	FetchedAt time.Time       `json:"fetched_at"`
	JWKS      json.RawMessage `json:"jwks"`
}

// saveState writes st to the state file atomically (a crash leaves the old
// file or the new one, never a torn one). A failure is logged, never
// returned: the keys in memory are still good.
func (v *Verifier) saveState(st *keyState) {
	if v.state == "" || len(st.doc) == 0 {
		return
	}
	b, err := json.Marshal(persisted{Version: 1, Issuer: st.issuer, FetchedAt: st.fetchedAt.UTC(), JWKS: st.doc})
	if err == nil {
		if err = os.MkdirAll(filepath.Dir(v.state), 0o700); err == nil {
			err = renameio.WriteFile(v.state, b, 0o600)
		}
	}
	if err != nil {
		v.log.Warn("could not persist the key set; a restart during a provider outage would find none", "error", err)
	}
}

// loadState installs the persisted key set, if there is one for this
// issuer with usable keys, as degraded keys (st.persisted) due for an
// immediate refresh. A missing file is normal; a bad one is logged and
// ignored.
func (v *Verifier) loadState() {
	if v.state == "" {
		return
	}
	st, err := v.readState()
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return
	case err != nil:
		v.log.Warn("ignoring the persisted key set", "path", v.state, "error", err)
		return
	}
	now := v.now()
	v.keys.Store(st)
	v.log.Info("loaded the persisted key set; it serves, degraded, until the provider answers or it is max_stale old",
		"kids", keyIDs(st.set), "keys_age", v.ageOf(st, now).String(), "max_stale", v.maxStale.String(),
		"usable", now.Sub(st.fetchedAt) <= v.maxStale)
}

func (v *Verifier) readState() (*keyState, error) {
	b, err := os.ReadFile(v.state)
	if err != nil {
		return nil, err
	}
	var p persisted
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("identity: parse %s: %w", stateFile, err)
	}
	if p.Version != 1 {
		return nil, fmt.Errorf("identity: %s: unknown version %d", stateFile, p.Version)
	}
	if !sameIssuer(p.Issuer, v.issuer) {
		return nil, fmt.Errorf("identity: %s is for issuer %q, not %q", stateFile, p.Issuer, v.issuer)
	}
	if p.FetchedAt.IsZero() || p.FetchedAt.After(v.now().Add(v.leeway)) {
		return nil, fmt.Errorf("identity: %s: fetched_at %s is not a past time", stateFile, p.FetchedAt)
	}
	set, err := jwk.Parse(p.JWKS)
	if err != nil {
		return nil, fmt.Errorf("identity: %s: parse jwks: %w", stateFile, err)
	}
	ks := newKeySet(set, v.algs)
	if len(ks.all) == 0 {
		return nil, fmt.Errorf("identity: %s: %w", stateFile, errNoUsableKeys)
	}
	return &keyState{set: ks, doc: p.JWKS, issuer: p.Issuer, fetchedAt: p.FetchedAt, next: v.now(), persisted: true}, nil
}
