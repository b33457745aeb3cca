package gateway

import (
	"context"

	"github.com/holdline/holdline"
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
			return nil, holdline.Errorf(holdline.EINVALID, "Repr-Digest", "must not be empty; send sha-256=:BASE64: or leave it out")
		}
		in.ReprDigest = *req.Params.ReprDigest
	}
	if in.Body == nil {
		return nil, holdline.Errorf(holdline.EINVALID, "", "a request body is required")
	}
	res, err := rec.Upload(ctx, in)
	if err != nil {
		return nil, err
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
