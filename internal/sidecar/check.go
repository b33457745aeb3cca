package sidecar

import (
	"errors"
	"net/http"
	"slices"

	"github.com/holdline/holdline/adapters/crm"
	"github.com/holdline/holdline/internal/config"
)

// Check runs every check New runs on a configuration before it opens
// anything, and returns every problem at once, joined, each naming its key
// path (errors.Is(err, config.ErrInvalid) holds for each). `holdline config
// validate` and `holdline serve` (through New) both call it, so a file one
// accepts the other accepts.
//
// It is config.Config.Validate (each section validates itself) plus the
// checks whose rules an adapter owns: the CRM adapter's URL templates and
// field mapping for the generic kind, and the CRM's secret files (each
// must be readable and not empty; a jwt_bearer private key must parse).
// Check makes no network call and opens nothing but those files.
func Check(cfg *config.Config) error {
	errs := cfg.Validate()
	errs = append(errs, checkCRM(cfg.Dependencies.CRM)...)
	errs = append(errs, checkCRMFiles(cfg.Dependencies.CRM.Auth)...)
	return errors.Join(errs...)
}

// crmKinds are the kinds crm.New knows; config.Validate reports others.
var crmKinds = []string{"generic", "salesforce", "zendesk"}

// checkCRM builds the CRM adapter without a connection (a pure
// constructor) for the problems only the adapter knows. The kind and the
// auth block are left to config.Validate, so nothing is reported twice.
func checkCRM(c config.CRM) []error {
	if !slices.Contains(crmKinds, c.Kind) {
		return nil
	}
	c.Auth = config.CRMAuth{Type: "none"}
	_, err := crm.New(c, &http.Client{}, func() string { return "" })
	var out []error
	for _, e := range flatten(err) {
		// The adapter's messages already start with their key path.
		out = append(out, &config.Problem{Msg: e.Error()})
	}
	return out
}

// checkCRMFiles reads the CRM's secret files as serve will. Only the
// files are checked here: a missing key is config.Validate's to report.
func checkCRMFiles(a config.CRMAuth) []error {
	if a.SecretFile == "" && a.ClientSecretFile == "" && a.PrivateKeyFile == "" {
		return nil
	}
	var out []error
	for _, e := range flatten(crm.CheckAuth(a)) {
		out = append(out, &config.Problem{Msg: e.Error()})
	}
	return out
}

// flatten returns the leaves of a tree of joined errors, nil for nil.
func flatten(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}
