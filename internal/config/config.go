package config

// Config is the whole holdline configuration file. Every key is optional;
// the defaults (see Default) make a sidecar that listens on loopback.
type Config struct {
	// Listen is the data-plane address (screen pops, CRM writes,
	// recordings, Dialogflow turns). Default 127.0.0.1:8080. The
	// --listen flag overrides it.
	Listen string `yaml:"listen"`
	// AdminListen is the admin-plane address (/healthz, /readyz,
	// /metrics, /v1/status, /v1/admin/..., /ui). Default 127.0.0.1:9901.
	// The --admin-listen flag overrides it.
	AdminListen string `yaml:"admin_listen"`
	// ProbeListen, when set, is an address that serves only /healthz and
	// /readyz: give it to the kubelet (0.0.0.0:9902) and keep the admin
	// plane, which holds operator controls and status, on loopback.
	// Default empty: the probes are on the admin plane only.
	ProbeListen string `yaml:"probe_listen"`
	// DataDir holds the outbox, the recording spool, the audit log and
	// the identity provider's last good key set (identity-jwks.json).
	// Default /var/lib/holdline. The --data-dir flag overrides it.
	DataDir string `yaml:"data_dir"`

	// Log sets the log level and format.
	Log Log `yaml:"log"`
	// HTTP holds limits shared by both listeners.
	HTTP HTTP `yaml:"http"`
	// Admin holds the admin tokens.
	Admin Admin `yaml:"admin"`
	// ScreenPop tunes the screen-pop operation.
	ScreenPop ScreenPop `yaml:"screen_pop"`
	// Cache tunes the two-tier contact cache.
	Cache Cache `yaml:"cache"`
	// Outbox tunes the durable queue of CRM writes and uploads.
	Outbox Outbox `yaml:"outbox"`
	// Recordings tunes recording capture.
	Recordings Recordings `yaml:"recordings"`
	// Drills enables fault injection through the admin API.
	Drills Drills `yaml:"drills"`
	// Dependencies configures every upstream holdline talks to.
	Dependencies Dependencies `yaml:"dependencies"`
	// Dialogflow maps agent aliases to pinned published environments.
	Dialogflow Dialogflow `yaml:"dialogflow"`
	// Identity configures token verification.
	Identity Identity `yaml:"identity"`
	// StatusPages are the vendor status pages shown beside the dependency
	// they concern; advisory only. Default none.
	StatusPages StatusPages `yaml:"status_pages"`
	// Tracing exports OpenTelemetry traces over OTLP. Default off.
	Tracing Tracing `yaml:"tracing"`
}

// Log configures structured logging (JSON to stderr).
type Log struct {
	// Level is debug, info, warn or error. Default info.
	Level string `yaml:"level"`
}

// HTTP holds listener limits.
type HTTP struct {
	// MaxBodyBytes caps JSON request bodies; larger ones get 413.
	// Recording uploads are capped by recordings.max_bytes instead.
	// Default 1048576 (1 MiB).
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// ShutdownTimeout bounds how long SIGTERM waits for in-flight
	// requests before closing stores. Default 15s.
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
	// ReadHeaderTimeout bounds how long a client may take to send
	// request headers. Default 5s.
	ReadHeaderTimeout Duration `yaml:"read_header_timeout"`
	// BodyTimeout bounds how long a client may take to send a whole JSON
	// request body; a slower one gets its connection closed. Default 10s.
	BodyTimeout Duration `yaml:"body_timeout"`
	// BodyIdleTimeout bounds how long a recording upload may go without
	// sending a byte (uploads may be large, so they are bounded by
	// progress, not by total time). Default 30s.
	BodyIdleTimeout Duration `yaml:"body_idle_timeout"`
	// IdleTimeout closes a keep-alive connection with no request for this
	// long. Default 120s.
	IdleTimeout Duration `yaml:"idle_timeout"`
	// MaxConnections caps the open connections of each listener (data
	// and admin). At the cap, the oldest connection that has not sent a
	// byte is closed to make room (an idle flood cannot lock clients
	// out), and with none such a new connection is answered 503 with
	// Retry-After, never queued. Default 4096.
	MaxConnections int `yaml:"max_connections"`
}

// Admin configures who may change things through the admin API.
type Admin struct {
	// Tokens are named bearer tokens for admin mutations. The name is
	// recorded as the actor in the audit log. HOLDLINE_ADMIN_TOKEN, when
	// set, adds a token named "env".
	Tokens []AdminToken `yaml:"tokens"`
	// TLS serves the admin plane over HTTPS. It is required when
	// admin_listen is beyond loopback (admin tokens, audit data and
	// operator controls must not cross a network in clear), unless
	// InsecurePlaintext is set.
	TLS AdminTLS `yaml:"tls"`
	// InsecurePlaintext allows a plain-HTTP admin plane beyond loopback,
	// on purpose (e.g. behind a mesh that terminates mTLS). Default false.
	InsecurePlaintext bool `yaml:"insecure_plaintext"`
}

// AdminTLS is the admin plane's certificate. Both files are re-read when
// they change on disk (a renewed certificate needs no restart).
type AdminTLS struct {
	// CertFile is the PEM certificate chain.
	CertFile string `yaml:"cert_file"`
	// KeyFile is the PEM private key.
	KeyFile string `yaml:"key_file"`
}

// Enabled reports whether a certificate is configured.
func (t AdminTLS) Enabled() bool { return t.CertFile != "" || t.KeyFile != "" }

// AdminToken is one named admin bearer token.
type AdminToken struct {
	// Name identifies the holder in the audit log, e.g. "oncall".
	Name string `yaml:"name"`
	// Token is the bearer value; use ${ENV_VAR} to keep it out of the file.
	Token Secret `yaml:"token"`
}

// ScreenPop tunes POST /v1/screen-pop.
type ScreenPop struct {
	// Budget is the longest a screen pop may take, whatever the CRM
	// does. Default 300ms.
	Budget Duration `yaml:"budget"`
	// DefaultRegion is the ISO 3166 region used to read numbers without
	// a country code. Default US.
	DefaultRegion string `yaml:"default_region"`
}

// Cache tunes the contact cache.
type Cache struct {
	// MaxEntries bounds the in-process L1 cache. Default 100000.
	MaxEntries int `yaml:"max_entries"`
	// FreshTTL is how long an entry is served without asking the CRM.
	// Default 5m.
	FreshTTL Duration `yaml:"fresh_ttl"`
	// StaleTTL is how long an entry may be served, degraded, when the
	// CRM fails. Default 24h.
	StaleTTL Duration `yaml:"stale_ttl"`
	// RefreshAhead is the fraction of FreshTTL after which a hit also
	// refreshes the entry in the background. Default 0.8.
	RefreshAhead float64 `yaml:"refresh_ahead"`
	// Redis, when its addr is set, adds a shared L2 tier.
	Redis Redis `yaml:"redis"`
	// EncryptionKey, a base64 32-byte key, encrypts entries in Redis
	// with AES-GCM (contact data is personal data).
	EncryptionKey Secret `yaml:"encryption_key"`
	// PreviousEncryptionKey, during a key rotation, is the key being
	// replaced: entries it sealed are still read (a miss under
	// EncryptionKey is asked again under it), nothing new is written
	// with it. Remove it once stale_ttl has passed since the rotation.
	PreviousEncryptionKey Secret `yaml:"previous_encryption_key"`
}

// Redis is a Redis connection.
type Redis struct {
	// Addr is host:port. Empty disables this use of Redis.
	Addr string `yaml:"addr"`
	// Username for Redis ACLs.
	Username string `yaml:"username"`
	// Password for AUTH.
	Password Secret `yaml:"password"`
	// DB is the database number. Default 0.
	DB int `yaml:"db"`
	// TLS turns on TLS to Redis.
	TLS bool `yaml:"tls"`
}

// Outbox tunes the durable job queue.
type Outbox struct {
	// Backend is bolt (embedded, default) or redis (fleet mode).
	Backend string `yaml:"backend"`
	// Redis is the connection for backend redis.
	Redis Redis `yaml:"redis"`
	// ClaimIdle (backend redis) is how long a run may go without its
	// sidecar's heartbeat (sent every claim_idle/3) before another sidecar
	// presumes it dead, takes the job back and runs it again with the same
	// idempotency key. It bounds how long a lost pod's in-flight jobs (and
	// the later jobs of their interactions) wait; a live sidecar stalled
	// longer than this (a long GC pause, a partition from Redis) loses its
	// runs and its late outcomes are refused. At least 1s. Default 30s.
	ClaimIdle Duration `yaml:"claim_idle"`
	// Workers bounds concurrent jobs. Default 8.
	Workers int `yaml:"workers"`
	// WriteBudget is how long a CRM write may take synchronously before
	// it is queued instead (202). Default 1s.
	WriteBudget Duration `yaml:"write_budget"`
	// Backoff shapes retries of failed jobs.
	Backoff Backoff `yaml:"backoff"`
	// Retention is how long done jobs are kept for audit. Default 7d.
	Retention Duration `yaml:"retention"`
}

// Backoff is exponential backoff with jitter.
type Backoff struct {
	// Initial is the first delay. Default 1s.
	Initial Duration `yaml:"initial"`
	// Max caps one delay. Default 5m.
	Max Duration `yaml:"max"`
	// MaxElapsed is how long a job keeps trying before it goes dead.
	// Default 24h.
	MaxElapsed Duration `yaml:"max_elapsed"`
}

// Recordings tunes recording capture.
type Recordings struct {
	// Store is gcs (default) or dir.
	Store string `yaml:"store"`
	// Bucket is the GCS bucket for store gcs.
	Bucket string `yaml:"bucket"`
	// Prefix starts every object name. Default "recordings/".
	Prefix string `yaml:"prefix"`
	// Dir is the directory for store dir.
	Dir string `yaml:"dir"`
	// MaxBytes caps one recording; larger uploads get 413.
	// Default 2147483648 (2 GiB).
	MaxBytes int64 `yaml:"max_bytes"`
	// AttachPartBytes is the largest part of a recording sent to the CRM
	// in one attachment; a longer recording is attached as several parts,
	// in order. The CRM adapter lowers it to what its CRM takes in one
	// file: Salesforce 2 GB (a multipart ContentVersion insert), Zendesk
	// 50 MB (one upload); the generic kind takes it as it is. Default
	// 50,000,000 (50 MB). See docs/crm.md.
	AttachPartBytes int64 `yaml:"attach_part_bytes"`
	// SpoolMaxBytes caps what the local spool ({data_dir}/spool) holds
	// while the store is unavailable, recordings being written included.
	// When it is reached, an upload the store cannot take gets 507 with
	// Retry-After; CRM writes are not affected. Default 10737418240
	// (10 GiB).
	SpoolMaxBytes int64 `yaml:"spool_max_bytes"`
	// SpoolReserveBytes is the free space the spool always leaves on the
	// data_dir filesystem, so that the outbox database (which shares it)
	// can keep taking CRM writes when recordings fill the disk. Default
	// 268435456 (256 MiB).
	SpoolReserveBytes int64 `yaml:"spool_reserve_bytes"`
}

// Drills configures fault injection.
type Drills struct {
	// Enabled turns on /v1/admin/faults. Off by default; on in dev mode.
	Enabled bool `yaml:"enabled"`
}
