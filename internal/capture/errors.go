package capture

import (
	"errors"

	"github.com/holdline/holdline"
)

// These errors are returned by Flow.Upload, inside a *holdline.Error
// that gives each its code (see clientError); callers match them with
// errors.Is.
var (
	// ErrUnsupportedType is returned for a Content-Type other than
	// audio/wav, audio/mpeg, audio/ogg and application/octet-stream.
	ErrUnsupportedType = errors.New("capture: unsupported content type")

	// ErrTooLarge is returned when the body is, or declares it is, longer
	// than recordings.max_bytes. Nothing is stored.
	ErrTooLarge = errors.New("capture: recording too large")

	// ErrDigestMismatch is returned (inside an EINVALID error for
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

// invalid is a bad input, naming the offending field or header; err is a
// sentinel above, or nil.
func invalid(field, detail string, err error) error {
	return holdline.Wrap(holdline.EINVALID, field, detail, err)
}

// clientError gives Upload's sentinel errors their code and the client
// its message; it is the one place that does. Errors that already have a
// code, and internal errors, pass unchanged.
func clientError(err error) error {
	if err == nil || holdline.ErrorCode(err) != holdline.EINTERNAL {
		return err
	}
	switch {
	case errors.Is(err, ErrUnsupportedType):
		return holdline.Wrap(holdline.EUNSUPPORTEDMEDIA, "Content-Type",
			"send the recording as audio/wav, audio/mpeg, audio/ogg or application/octet-stream", err)
	case errors.Is(err, ErrTooLarge):
		return holdline.Wrap(holdline.ETOOLARGE, "", "the recording is larger than recordings.max_bytes allows; nothing was stored", err)
	case errors.Is(err, ErrConflict):
		return holdline.Wrap(holdline.ECONFLICT, "X-Recording-Id",
			"X-Recording-Id already names a recording with other bytes or of another interaction; nothing was stored", err)
	case errors.Is(err, ErrInsufficientStorage):
		e := holdline.Wrap(holdline.EINSUFFICIENTSTORAGE, "",
			"the recording store is unavailable and the local spool cannot take the recording; nothing was stored, retry later", err)
		e.Retryable = true
		return e
	case errors.Is(err, ErrBody):
		return holdline.Wrap(holdline.EINVALID, "", "the request body could not be read to its end; nothing was stored", err)
	}
	return err
}
