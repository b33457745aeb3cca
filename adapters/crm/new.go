package crm

import (
	"fmt"
	"net/http"

	"github.com/holdline/holdline/internal/config"
)

// New returns the adapter for cfg.Kind (generic when empty, salesforce or
// zendesk). hc is the CRM dependency's client; endpoint returns the active
// base URL and is called for every request, so a failover applies to the
// next call. The adapter applies no resilience policies of its own and
// honours ctx on every call. It reports every configuration problem at
// once, each naming its config path.
func New(cfg config.CRM, hc *http.Client, endpoint func() string) (Client, error) {
	var (
		c   Client
		err error
	)
	switch cfg.Kind {
	case "", "generic":
		c, err = nilIfErr(NewGeneric(cfg, hc, endpoint))
	case "salesforce":
		c, err = nilIfErr(NewSalesforce(cfg, hc, endpoint))
	case "zendesk":
		c, err = nilIfErr(NewZendesk(cfg, hc, endpoint))
	default:
		return nil, fmt.Errorf("dependencies.crm.kind: %q is not one of generic, salesforce, zendesk", cfg.Kind)
	}
	return c, err
}

// nilIfErr keeps a typed nil pointer out of the Client interface.
func nilIfErr[T Client](c T, err error) (Client, error) {
	if err != nil {
		return nil, err
	}
	return c, nil
}
