package config

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestCRMAuthValidate: each auth type names the keys it is missing, so
// `holdline config validate` catches them before serve does.
func TestCRMAuthValidate(t *testing.T) {
	const head = "recordings: {bucket: recordings}\ndependencies:\n  crm:\n    endpoints: {primary: https://crm.example.com}\n    auth: "
	tests := []struct {
		name string
		auth string
		want []string
	}{
		{"static bearer", "{type: bearer, secret: t}", nil},
		{"static bearer from a file", "{type: bearer, secret_file: /run/secrets/token}", nil},
		{"bearer without a secret", "{type: bearer}", []string{"dependencies.crm.auth.secret"}},
		{"bearer with secret and file", "{type: bearer, secret: t, secret_file: /f}", []string{"dependencies.crm.auth.secret"}},
		{"basic without username", "{type: basic, secret: p}", []string{"dependencies.crm.auth.username"}},
		{"client credentials", "{type: client_credentials, token_url: /services/oauth2/token, client_id: a, client_secret_file: /f}", nil},
		{"client credentials missing all", "{type: client_credentials}",
			[]string{"dependencies.crm.auth.client_id", "dependencies.crm.auth.client_secret", "dependencies.crm.auth.token_url"}},
		{"client credentials token url not a url", "{type: client_credentials, token_url: \"login/token\", client_id: a, client_secret: s}",
			[]string{"dependencies.crm.auth.token_url"}},
		{"jwt bearer", "{type: jwt_bearer, token_url: https://login.salesforce.com/services/oauth2/token, client_id: a, username: u, private_key_file: /k.pem}", nil},
		{"jwt bearer missing all", "{type: jwt_bearer}",
			[]string{"dependencies.crm.auth.client_id", "dependencies.crm.auth.username", "dependencies.crm.auth.private_key_file", "dependencies.crm.auth.token_url"}},
		{"unknown type", "{type: oauth}", []string{"dependencies.crm.auth.type"}},
		{"file poll negative", "{type: bearer, secret: t, file_poll: -1s}", []string{"dependencies.crm.auth.file_poll"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, problemPaths(t, head+tt.auth+"\n")); diff != "" {
				t.Errorf("problem paths (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCRMTokenHostAllowed: an absolute token URL on another host is
// allowed for egress beside the endpoints when allow is empty, and an
// explicit allow list is kept as written.
func TestCRMTokenHostAllowed(t *testing.T) {
	const y = "recordings: {bucket: recordings}\ndependencies:\n  crm:\n    endpoints: {primary: https://acme.my.salesforce.com}\n" +
		"    auth: {type: client_credentials, token_url: https://login.salesforce.com/services/oauth2/token, client_id: a, client_secret: s}\n"
	cfg, err := Parse([]byte(y), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"acme.my.salesforce.com", "login.salesforce.com"}, cfg.DependencyPolicies().CRM.Allow); diff != "" {
		t.Errorf("crm allow (-want +got):\n%s", diff)
	}
	cfg.Dependencies.CRM.Allow = []string{"*.salesforce.com"}
	if diff := cmp.Diff([]string{"*.salesforce.com"}, cfg.DependencyPolicies().CRM.Allow); diff != "" {
		t.Errorf("explicit crm allow (-want +got):\n%s", diff)
	}
}

// TestDiff names the keys that changed, inline secrets by key only.
func TestDiff(t *testing.T) {
	a := Default()
	b := Default()
	b.Listen = "0.0.0.0:8080"
	b.Dependencies.CRM.Timeout = Duration(2 * time.Second)
	b.Dependencies.CRM.Auth.Secret = "new-token-value"
	b.Dialogflow.Agents = map[string]DialogflowAgent{"support": {}}
	got := Diff(a, b)
	want := []string{"listen", "dependencies.crm.timeout", "dependencies.crm.auth.secret", "dialogflow.agents.support"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Diff (-want +got):\n%s", diff)
	}
	if got := Diff(a, Default()); len(got) != 0 {
		t.Errorf("Diff of two defaults = %v, want none", got)
	}
}
