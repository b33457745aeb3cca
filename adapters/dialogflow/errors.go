package dialogflow

import (
	"fmt"
	"net/http"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/holdline/holdline/internal/upstream"
)

// callerCodes are the gRPC codes that say the request was wrong, not that
// Dialogflow is unwell, with the HTTP status each maps to (the google.rpc
// Code mapping). A bad language code from one caller must not open a
// region's breaker for every caller, so these are returned as permanent
// (upstream.IsPermanent): no breaker counts them and nothing retries
// them. UNAVAILABLE, DEADLINE_EXCEEDED, INTERNAL, RESOURCE_EXHAUSTED,
// UNKNOWN, ABORTED and DATA_LOSS still count.
var callerCodes = map[codes.Code]int{
	codes.InvalidArgument:    http.StatusBadRequest,
	codes.FailedPrecondition: http.StatusBadRequest,
	codes.OutOfRange:         http.StatusBadRequest,
	codes.Unauthenticated:    http.StatusUnauthorized,
	codes.PermissionDenied:   http.StatusForbidden,
	codes.NotFound:           http.StatusNotFound,
	codes.AlreadyExists:      http.StatusConflict,
	codes.Unimplemented:      http.StatusNotImplemented,
}

// classify marks a gRPC error whose code is the caller's as permanent by
// wrapping it with a 4xx upstream.StatusError; Unimplemented, whose HTTP
// mapping is 501, is wrapped as a 400 so that it stays the caller's. Other
// errors are returned as they are.
func classify(err error) error {
	st, ok := status.FromError(err)
	if err == nil || !ok {
		return err
	}
	code, caller := callerCodes[st.Code()]
	if !caller {
		return err
	}
	if code >= 500 {
		code = http.StatusBadRequest
	}
	return fmt.Errorf("%w: %w", &upstream.StatusError{Code: code}, err)
}
