package crm

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/holdline/holdline/internal/upstream"
)

// Errors the Salesforce adapter tells apart, by the errorCode of a
// Salesforce error answer (REST API Developer Guide, "Status Codes and
// Error Responses"). Both wrap a *upstream.StatusError marked Transient,
// so the call is retried later instead of going dead.
var (
	// ErrRequestLimit is returned when the org's daily API request limit
	// is spent (403 REQUEST_LIMIT_EXCEEDED). Salesforce lifts it as the
	// rolling 24-hour usage falls; the outbox keeps the job and retries.
	ErrRequestLimit = errors.New("crm: salesforce API request limit exceeded")
	// ErrSessionExpired is returned when the access token is no longer
	// valid (401 INVALID_SESSION_ID). It is the signal for the CRM
	// adapter's token renewal: with an OAuth auth type the adapter fetches
	// a fresh token and sends the call once more, so this is returned
	// only when the renewed token is refused too (or the static token's
	// file did not change); the job waits meanwhile (auth_failed).
	ErrSessionExpired = errors.New("crm: salesforce session expired")
)

// Salesforce errorCodes that mean a write named a record that is not there.
var sfNotFoundCodes = []string{"INVALID_CROSS_REFERENCE_KEY", "ENTITY_IS_DELETED", "MALFORMED_ID", "NOT_FOUND"}

// sfErrorCodes reads the errorCodes of a Salesforce error body, a JSON
// array of {message, errorCode, fields}.
func sfErrorCodes(body []byte) []string {
	var errs []struct{ ErrorCode string }
	if json.Unmarshal(body, &errs) != nil {
		return nil
	}
	codes := make([]string, 0, len(errs))
	for _, e := range errs {
		codes = append(codes, e.ErrorCode)
	}
	return codes
}

// send sends any Salesforce request and maps the answers that need it:
// 403 REQUEST_LIMIT_EXCEEDED is ErrRequestLimit and 401 INVALID_SESSION_ID
// is ErrSessionExpired, each with its StatusError marked Transient.
func (s *Salesforce) send(req *http.Request, out any) error {
	_, err := s.sendBody(req, out)
	return err
}

func (s *Salesforce) sendBody(req *http.Request, out any) ([]byte, error) {
	body, err := s.c.do(req, out)
	if err == nil {
		return nil, nil
	}
	se, ok := errors.AsType[*upstream.StatusError](err)
	if !ok {
		return nil, err
	}
	codes := sfErrorCodes(body)
	switch {
	case se.Code == http.StatusForbidden && slices.Contains(codes, "REQUEST_LIMIT_EXCEEDED"):
		se.Transient = true
		return body, fmt.Errorf("%w: %w", ErrRequestLimit, err)
	case se.Code == http.StatusUnauthorized && slices.Contains(codes, "INVALID_SESSION_ID"):
		se.Transient = true
		return body, fmt.Errorf("%w: %w", ErrSessionExpired, err)
	}
	return body, err
}

// write sends a write; besides send's mapping, a 404, or a 400 whose
// errorCode says the named record is missing, is ErrNotFound.
func (s *Salesforce) write(req *http.Request, out any) error {
	body, err := s.sendBody(req, out)
	if err == nil {
		return nil
	}
	if hasStatus(err, http.StatusNotFound) {
		return notFound(err)
	}
	if hasStatus(err, http.StatusBadRequest) {
		for _, code := range sfErrorCodes(body) {
			if slices.Contains(sfNotFoundCodes, code) {
				return notFound(fmt.Errorf("%s: %w", code, err))
			}
		}
	}
	return err
}

// APIUsage is the org's daily API usage as Salesforce last reported it in
// the Sforce-Limit-Info answer header (REST API Developer Guide, "Limit
// Info Header": api-usage=USED/LIMIT).
type APIUsage struct {
	// Used and Limit are the calls made in the last 24 hours and the
	// org's daily limit.
	Used, Limit int64
	// At is when the answer carrying them arrived.
	At time.Time
}

// Remaining is Limit - Used, never below 0.
func (u APIUsage) Remaining() int64 { return max(u.Limit-u.Used, 0) }

// usage keeps the last APIUsage seen. Safe for concurrent use.
type usage struct {
	now func() time.Time

	mu   sync.Mutex
	last APIUsage
	ok   bool
}

// observe reads Sforce-Limit-Info from an answer's headers.
func (u *usage) observe(h http.Header) {
	v := h.Get("Sforce-Limit-Info")
	if v == "" {
		return
	}
	for f := range strings.SplitSeq(v, ";") {
		val, ok := strings.CutPrefix(strings.TrimSpace(f), "api-usage=")
		if !ok {
			continue
		}
		usedStr, limitStr, ok := strings.Cut(val, "/")
		used, err1 := strconv.ParseInt(strings.TrimSpace(usedStr), 10, 64)
		limit, err2 := strconv.ParseInt(strings.TrimSpace(limitStr), 10, 64)
		if !ok || err1 != nil || err2 != nil || used < 0 || limit <= 0 {
			return
		}
		now := time.Now
		if u.now != nil {
			now = u.now
		}
		u.mu.Lock()
		u.last, u.ok = APIUsage{Used: used, Limit: limit, At: now()}, true
		u.mu.Unlock()
		return
	}
}

// APIUsage returns the org's daily API usage from the newest
// Sforce-Limit-Info header, and false before any answer carried one.
func (s *Salesforce) APIUsage() (APIUsage, bool) {
	s.usage.mu.Lock()
	defer s.usage.mu.Unlock()
	return s.usage.last, s.usage.ok
}
