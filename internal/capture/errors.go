package capture

import (
	"errors"
	"fmt"
)

// These errors are returned by Flow.Upload; callers match them with
// errors.Is. Input problems are also an *InvalidError naming the field.
var (
	// ErrUnsupportedType is returned for a Content-Type other than
	// audio/wav, audio/mpeg, audio/ogg and application/octet-stream.
	ErrUnsupportedType = errors.New("capture: unsupported content type")

	// ErrTooLarge is returned when the body is, or declares it is, longer
	// than recordings.max_bytes. Nothing is stored.
	ErrTooLarge = errors.New("capture: recording too large")

	// ErrDigestMismatch is returned (inside an *InvalidError for
	// Repr-Digest) when the body's SHA-256 differs from the Repr-Digest.
	// Nothing is stored.
	ErrDigestMismatch = errors.New("capture: body does not match Repr-Digest")

	// ErrConflict is returned when the recording id already names a
	// recording with other bytes, or one of another interaction.
	ErrConflict = errors.New("capture: recording id already used")

	// ErrInsufficientStorage is returned when the store failed and the
	// spool could not take the bytes (disk full, or a spool write error).
	// Nothing is stored.
	ErrInsufficientStorage = errors.New("capture: no room to store the recording")

	// ErrSpoolLost is wrapped by the upload job's error (the job goes
	// dead) when the owner's spool no longer has the recording's file:
	// the sidecar's data_dir was lost or wiped.
	ErrSpoolLost = errors.New("capture: spool file lost")

	// ErrBody is returned when the request body could not be read (the
	// client went away). Nothing is stored.
	ErrBody = errors.New("capture: reading the recording")
)

// InvalidError is a bad input, naming the offending field or header.
type InvalidError struct {
	Field  string
	Detail string
	Err    error // a sentinel above, or nil
}

func (e *InvalidError) Error() string {
	return fmt.Sprintf("capture: %s: %s", e.Field, e.Detail)
}

func (e *InvalidError) Unwrap() error { return e.Err }
