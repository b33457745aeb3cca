package gateway

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/holdline/holdline/gateway/api"
	"github.com/holdline/holdline/internal/capture"
)

// Recorder stores recordings: store first, spool when the store fails
// (internal/capture.Flow).
type Recorder interface {
	Upload(ctx context.Context, req capture.Request) (capture.Result, error)
}

// UploadRecording streams the body to the recording flow: 201 stored, 202
// spooled, 200 the same recording again. The body is never buffered; the
// flow enforces recordings.max_bytes while streaming (the body-size
// middleware leaves this route alone, but passes on the declared
// Content-Length, so a recording declared too large gets 413 before a
// byte is read).
func (s *Server) UploadRecording(ctx context.Context, req api.UploadRecordingRequestObject) (api.UploadRecordingResponseObject, error) {
	rec := s.opts.Services.Recordings
	if rec == nil {
		return nil, notConfigured("recording capture")
	}
	in := capture.Request{InteractionID: req.InteractionId, ContentType: req.ContentType, ContentLength: declaredLength(ctx), Body: req.Body}
	if req.Params.XRecordingId != nil {
		in.RecordingID = *req.Params.XRecordingId
	}
	if req.Params.ReprDigest != nil {
		if *req.Params.ReprDigest == "" {
			return nil, Invalid("Repr-Digest", "must not be empty; send sha-256=:BASE64: or leave it out")
		}
		in.ReprDigest = *req.Params.ReprDigest
	}
	if in.Body == nil {
		return nil, Invalid("", "a request body is required")
	}
	res, err := rec.Upload(ctx, in)
	if err != nil {
		return nil, recordingProblem(err)
	}
	r := res.Recording
	out := api.Recording{
		RecordingId: r.RecordingID, Size: r.Size, Crc32c: r.CRC32C,
		Stored: api.RecordingStored(r.Stored), Crm: api.RecordingCrm(r.CRM),
		Object: optional(r.Object), Sha256: optional(r.SHA256), JobId: optional(r.JobID),
	}
	switch res.Outcome {
	case capture.Stored:
		return api.UploadRecording201JSONResponse(out), nil
	case capture.Spooled:
		return api.UploadRecording202JSONResponse(out), nil
	}
	return api.UploadRecording200JSONResponse(out), nil
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// storageRetryAfter is the Retry-After of a 507: long enough for the
// spool to drain a few recordings once the store is back, short enough
// that a client's retry finds it.
const storageRetryAfter = 30 * time.Second

// recordingProblem maps the flow's errors to what the client sees.
func recordingProblem(err error) error {
	if inv, ok := errors.AsType[*capture.InvalidError](err); ok {
		p := Invalid(inv.Field, inv.Detail)
		p.Err = err
		return p
	}
	switch {
	case errors.Is(err, capture.ErrUnsupportedType):
		return newProblem(http.StatusUnsupportedMediaType, "unsupported-media-type",
			"send the recording as audio/wav, audio/mpeg, audio/ogg or application/octet-stream")
	case errors.Is(err, capture.ErrTooLarge):
		return TooLarge("the recording is larger than recordings.max_bytes allows; nothing was stored")
	case errors.Is(err, capture.ErrConflict):
		return Conflict("X-Recording-Id already names a recording with other bytes or of another interaction; nothing was stored")
	case errors.Is(err, capture.ErrInsufficientStorage):
		p := InsufficientStorage("the recording store is unavailable and the local spool cannot take the recording; nothing was stored, retry later", err)
		p.RetryAfter = storageRetryAfter
		return p
	case errors.Is(err, capture.ErrBody):
		p := Invalid("", "the request body could not be read to its end; nothing was stored")
		p.Err = err
		return p
	}
	return err
}
