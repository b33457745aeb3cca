package config

// Dependencies configures each upstream. Every one has the same Policy
// block; the CRM adds its adapter settings.
type Dependencies struct {
	CRM        CRM    `yaml:"crm"`
	Identity   Policy `yaml:"identity"`
	Dialogflow Policy `yaml:"dialogflow"`
	Blob       Policy `yaml:"blob"`
	Redis      Policy `yaml:"redis"`
}

// Policy is the resilience block every dependency shares.
type Policy struct {
	// Endpoints are the base URLs. Failover moves new calls between them.
	Endpoints Endpoints `yaml:"endpoints"`
	// Allow lists the hosts this dependency may dial: domain patterns
	// ("*.my.salesforce.com") and CIDR ranges ("168.86.128.0/18"). It is
	// checked on the resolved address at dial time. Empty allows only the
	// endpoints' own hosts.
	Allow []string `yaml:"allow"`
	// Timeout bounds one call. Default 800ms.
	Timeout Duration `yaml:"timeout"`
	// Retry applies to idempotent reads only.
	Retry Retry `yaml:"retry"`
	// Hedge sends a second read after a delay when the first is slow.
	Hedge Hedge `yaml:"hedge"`
	// Breaker stops calls to a failing dependency.
	Breaker Breaker `yaml:"breaker"`
	// Bulkhead caps concurrent calls.
	Bulkhead Bulkhead `yaml:"bulkhead"`
	// RateLimit caps calls per second.
	RateLimit RateLimit `yaml:"rate_limit"`
	// HealthCheck probes the endpoints actively; off by default.
	HealthCheck HealthCheck `yaml:"health_check"`
}

// Endpoints are a dependency's base URLs.
type Endpoints struct {
	// Primary is used unless an operator fails over.
	Primary string `yaml:"primary"`
	// Secondary is the failover target; optional.
	Secondary string `yaml:"secondary"`
}

// Retry configures retries of idempotent reads.
type Retry struct {
	// MaxAttempts counts the first try. 1 disables retries. Default 2.
	MaxAttempts int `yaml:"max_attempts"`
	// Backoff is the base delay, jittered. Default 20ms.
	Backoff Duration `yaml:"backoff"`
}

// Hedge configures hedged reads.
type Hedge struct {
	// Delay before a hedge is sent; 0 disables hedging (default).
	Delay Duration `yaml:"delay"`
}

// Breaker is a time-based failure-rate circuit breaker.
type Breaker struct {
	// FailureRate opens the breaker at this fraction of failures in
	// Window. Default 0.5.
	FailureRate float64 `yaml:"failure_rate"`
	// MinRequests is the fewest calls in Window before the rate counts.
	// Default 20.
	MinRequests int `yaml:"min_requests"`
	// Window is the period the rate is measured over. Default 30s.
	Window Duration `yaml:"window"`
	// OpenFor is how long the breaker stays open before probing.
	// Default 15s.
	OpenFor Duration `yaml:"open_for"`
	// HalfOpenProbes is how many probes must succeed to close. Default 3.
	HalfOpenProbes int `yaml:"half_open_probes"`
}

// Bulkhead caps concurrency, with a fixed limit or an adaptive one.
type Bulkhead struct {
	// Mode is fixed (default): at most MaxConcurrent calls in flight; or
	// adaptive: failsafe-go's adaptive limiter moves the limit between
	// MinConcurrent and MaxConcurrent, down when the dependency's latency
	// trends up against its baseline and up while it stays flat. A call
	// over the limit is refused at once like a full bulkhead (the caller
	// degrades; an outbox job waits).
	Mode string `yaml:"mode"`
	// MaxConcurrent calls in flight: the fixed limit, or the highest the
	// adaptive one may grow to. Default 64.
	MaxConcurrent int `yaml:"max_concurrent"`
	// MinConcurrent is the lowest the adaptive limit may fall to. Adaptive
	// only. Default 1.
	MinConcurrent int `yaml:"min_concurrent"`
	// InitialConcurrent is the adaptive limit at start. Adaptive only.
	// Default 20, or MaxConcurrent when smaller.
	InitialConcurrent int `yaml:"initial_concurrent"`
	// Queue lets calls over the adaptive limit wait for a permit, up to
	// Queue times the current limit, never past the call's timeout (a
	// call still waiting then is refused like a full bulkhead). Adaptive
	// only. Default 0: no call waits.
	Queue float64 `yaml:"queue"`
}

// Adaptive reports whether the limit is adaptive.
func (b Bulkhead) Adaptive() bool { return b.Mode == "adaptive" }

// RateLimit caps the call rate.
type RateLimit struct {
	// PerSecond calls; 0 means unlimited (default).
	PerSecond int `yaml:"per_second"`
}

// CRM configures the CRM dependency and its adapter.
type CRM struct {
	Policy `yaml:",inline"`
	// Kind is generic, salesforce or zendesk. Default generic.
	Kind string `yaml:"kind"`
	// Auth is how holdline authenticates to the CRM.
	Auth CRMAuth `yaml:"auth"`
	// Generic maps a custom CRM's REST API (kind generic).
	Generic GenericCRM `yaml:"generic"`
	// SharedRecords declares that endpoints.primary and endpoints.secondary
	// serve one database (a CRM with a DR replica behind two URLs), so a
	// record id issued by one is valid on the other: comments and
	// attachments go to the active endpoint. Default false: each record
	// remembers the endpoint that created it, and its writes wait (held)
	// while that endpoint is not the active one.
	SharedRecords bool `yaml:"shared_records"`
}

// CRMAuth is how holdline authenticates to the CRM: a static credential
// (header, basic, bearer) or an OAuth 2.0 token that renews itself
// (client_credentials, jwt_bearer). Every secret can come from a file
// instead (the *_file keys, for a mounted Kubernetes secret); a file is
// re-read when it changes (checked at most every file_poll) and on SIGHUP,
// without a restart.
type CRMAuth struct {
	// Type is none (default), header, basic, bearer (a static token),
	// client_credentials (OAuth 2.0 client credentials grant) or
	// jwt_bearer (OAuth 2.0 JWT bearer grant, RFC 7523, as Salesforce's
	// server-to-server flow uses it).
	Type string `yaml:"type"`
	// Header names the header for type header, e.g. X-Api-Key.
	Header string `yaml:"header"`
	// Username for basic; for jwt_bearer the user the token acts as
	// (the assertion's sub claim).
	Username string `yaml:"username"`
	// Secret is the header value, password or bearer token.
	Secret Secret `yaml:"secret"`
	// SecretFile is a file holding Secret (trailing newline trimmed);
	// set one of the two.
	SecretFile string `yaml:"secret_file"`

	// TokenURL is the OAuth 2.0 token endpoint (client_credentials,
	// jwt_bearer): an absolute URL, or a path such as
	// /services/oauth2/token resolved against the endpoint each CRM
	// client talks to (each endpoint then issues its own tokens).
	TokenURL string `yaml:"token_url"`
	// ClientID is the OAuth client id (Salesforce: the connected app's
	// consumer key; the assertion's iss claim for jwt_bearer).
	ClientID string `yaml:"client_id"`
	// ClientSecret is the OAuth client secret (client_credentials).
	ClientSecret Secret `yaml:"client_secret"`
	// ClientSecretFile is a file holding ClientSecret; set one of the two.
	ClientSecretFile string `yaml:"client_secret_file"`
	// PrivateKeyFile is the PEM RSA private key (PKCS #1 or #8) that
	// signs the jwt_bearer assertion; its certificate is uploaded to the
	// connected app.
	PrivateKeyFile string `yaml:"private_key_file"`
	// Audience is the jwt_bearer assertion's aud claim. Default: the
	// token URL's scheme and host (https://login.salesforce.com for
	// https://login.salesforce.com/services/oauth2/token).
	Audience string `yaml:"audience"`
	// Scopes requested with client_credentials (and sent as the scope
	// claim with jwt_bearer). Optional.
	Scopes []string `yaml:"scopes"`
	// RenewBefore renews a token this long before it expires, so no
	// call carries a token about to lapse. Default 1m.
	RenewBefore Duration `yaml:"renew_before"`
	// FilePoll is how often, at most, the *_file secrets are checked
	// for a change (on use). Default 10s. SIGHUP re-reads them at once.
	FilePoll Duration `yaml:"file_poll"`
}

// OAuth reports whether the auth type fetches tokens from TokenURL.
func (a CRMAuth) OAuth() bool { return a.Type == "client_credentials" || a.Type == "jwt_bearer" }

// GenericCRM maps a custom CRM's REST API. URLs are paths relative to the
// active endpoint, with {phone}, {contact_id} and {record_id} placeholders.
type GenericCRM struct {
	// LookupURL finds a contact by phone. Default /contacts?phone={phone}.
	LookupURL string `yaml:"lookup_url"`
	// RecordsURL lists a contact's open records.
	// Default /contacts/{contact_id}/records?status=open.
	RecordsURL string `yaml:"records_url"`
	// CreateRecordURL creates a record. Default /records.
	CreateRecordURL string `yaml:"create_record_url"`
	// CommentURL adds a comment. Default /records/{record_id}/comments.
	CommentURL string `yaml:"comment_url"`
	// AttachURL attaches a file. Default /records/{record_id}/attachments.
	AttachURL string `yaml:"attach_url"`
	// Fields maps holdline's contact fields (id, name, email, phone) to
	// JSON field names in the CRM's answer. Defaults are the same names.
	Fields map[string]string `yaml:"fields"`
}

// Dialogflow maps aliases to agents.
type Dialogflow struct {
	// Agents by alias, the {agent} path segment of detect-intent.
	Agents map[string]DialogflowAgent `yaml:"agents"`
	// SessionTTL is how long a session keeps its region (session
	// affinity) without a turn. Default 30m, Dialogflow CX's own idle
	// session lifetime: a session idle longer is gone there too.
	SessionTTL Duration `yaml:"session_ttl"`
	// MaxSessions bounds the sessions whose region is remembered; past
	// it, the least recently used is forgotten first. Default 100000.
	MaxSessions int `yaml:"max_sessions"`
}

// DialogflowAgent pins one published environment.
type DialogflowAgent struct {
	// Environment is the full resource name
	// projects/P/locations/L/agents/A/environments/E. Draft is refused.
	Environment string `yaml:"environment"`
	// Secondary is an optional environment in another region. New
	// sessions go to it after `holdline failover dialogflow --to
	// secondary`; running sessions stay where they started.
	Secondary string `yaml:"secondary"`
	// AutoFailover lets holdline itself send new sessions to the other
	// environment when the active one's breaker is open (recorded in
	// status and the audit log as an automatic decision). Default false:
	// only an operator switches regions. Needs Secondary.
	AutoFailover bool `yaml:"auto_failover"`
	// Budget bounds one turn. Default 2s.
	Budget Duration `yaml:"budget"`
	// Fallback is what the caller gets when Dialogflow is unhealthy.
	Fallback DialogflowFallback `yaml:"fallback"`
}

// DialogflowFallback is the live-agent hand-off.
type DialogflowFallback struct {
	// Message is said to the caller. Default "Let me connect you to an agent."
	Message string `yaml:"message"`
	// Queue is the hand-off target queue.
	Queue string `yaml:"queue"`
}
