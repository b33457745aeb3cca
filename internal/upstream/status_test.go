package upstream

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"
)

func TestIsPermanent(t *testing.T) {
	for code, want := range map[int]bool{400: true, 401: true, 404: true, 409: true, 408: false, 425: false, 429: false, 500: false, 503: false} {
		if got := IsPermanent(fmt.Errorf("x: %w", &StatusError{Code: code})); got != want {
			t.Errorf("IsPermanent(%d) = %v, want %v", code, got, want)
		}
	}
	if IsPermanent(&StatusError{Code: 403, Transient: true}) {
		t.Error("IsPermanent(transient 403) = true, want false")
	}
	if IsPermanent(errors.New("boom")) {
		t.Error("IsPermanent(boom) = true")
	}
}

func TestIsAuthFailureAndRateLimited(t *testing.T) {
	tests := []struct {
		err         error
		auth, limit bool
	}{
		{fmt.Errorf("crm: %w", &StatusError{Code: 401}), true, false},
		{&StatusError{Code: 401, Transient: true}, true, false},
		{&StatusError{Code: 429}, false, true},
		{&StatusError{Code: 403}, false, false},
		{errors.New("boom"), false, false},
		{nil, false, false},
	}
	for _, tt := range tests {
		if got := IsAuthFailure(tt.err); got != tt.auth {
			t.Errorf("IsAuthFailure(%v) = %v, want %v", tt.err, got, tt.auth)
		}
		if got := IsRateLimited(tt.err); got != tt.limit {
			t.Errorf("IsRateLimited(%v) = %v, want %v", tt.err, got, tt.limit)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"3", 3 * time.Second},
		{" 120 ", 2 * time.Minute},
		{"-5", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
		{"soon", 0},
	}
	for _, tt := range tests {
		if got := ParseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("ParseRetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestFromResponse(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	resp := &http.Response{StatusCode: 503, Header: http.Header{"Retry-After": {"2"}}}
	want := StatusError{Code: 503, RetryAfter: 2 * time.Second}
	if got := FromResponse(resp, now); got == nil || *got != want {
		t.Errorf("FromResponse(503, Retry-After: 2) = %+v, want %+v", got, want)
	}
	if got := FromResponse(&http.Response{StatusCode: 204}, now); got != nil {
		t.Errorf("FromResponse(204) = %+v, want nil", got)
	}
}
