package sim

// Info is what holdline-sim answers at GET /dev/sim: the base URLs of its
// simulators, so that `holdline serve --dev --sim URL` finds the GCS
// emulator beside the CRM simulator at URL.
type Info struct {
	// CRM is the CRM simulator (the URL given to --sim).
	CRM string `json:"crm"`
	// GCS is the GCS emulator, on a listener of its own: fake-gcs-server
	// routes by host, so it cannot share the CRM simulator's. Empty when
	// the sim runs no emulator.
	GCS string `json:"gcs,omitempty"`
	// Bucket is the bucket the emulator holds recordings in.
	Bucket string `json:"bucket,omitempty"`
}

// DevBucket is the bucket holdline-sim's GCS emulator creates unless told
// otherwise.
const DevBucket = "holdline-dev"
