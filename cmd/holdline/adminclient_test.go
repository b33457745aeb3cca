package main

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"testing"
)

// TestAnsweredKeepsTheProblem checks that a non-2xx admin answer becomes
// an *apiError whose message reads as before and whose Problem carries the
// problem+json body, for callers that branch on its type.
func TestAnsweredKeepsTheProblem(t *testing.T) {
	for _, tt := range []struct {
		name, ctype, body string
		status            int
		wantMsg, wantType string
	}{
		{name: "problem", ctype: "application/problem+json", status: http.StatusConflict,
			body:    `{"type":"https://holdline.dev/problems/conflict","title":"Conflict","status":409,"detail":"crm has no secondary endpoint configured"}`,
			wantMsg: "PUT /v1/admin/dependencies/crm/endpoint: 409 Conflict: crm has no secondary endpoint configured", wantType: "https://holdline.dev/problems/conflict"},
		{name: "unauthorized hints at the token", ctype: "application/problem+json", status: http.StatusUnauthorized,
			body:    `{"type":"about:blank","title":"Unauthorized","status":401}`,
			wantMsg: "PUT /v1/admin/dependencies/crm/endpoint: 401 Unauthorized (set HOLDLINE_ADMIN_TOKEN)", wantType: "about:blank"},
		{name: "no problem body", ctype: "text/plain", status: http.StatusBadGateway, body: "bad gateway",
			wantMsg: "PUT /v1/admin/dependencies/crm/endpoint: 502 Bad Gateway"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			hr := &http.Response{
				StatusCode: tt.status, Status: fmt.Sprintf("%d %s", tt.status, http.StatusText(tt.status)),
				Header:  http.Header{"Content-Type": {tt.ctype}},
				Request: &http.Request{Method: http.MethodPut, URL: &url.URL{Path: "/v1/admin/dependencies/crm/endpoint"}},
			}
			err := answered(hr, []byte(tt.body))
			e, ok := errors.AsType[*apiError](err)
			if !ok {
				t.Fatalf("answered = %v, want an *apiError", err)
			}
			if err.Error() != tt.wantMsg {
				t.Errorf("message = %q, want %q", err.Error(), tt.wantMsg)
			}
			gotType := ""
			if e.Problem != nil {
				gotType = e.Problem.Type
			}
			if gotType != tt.wantType || e.Status != tt.status {
				t.Errorf("problem type, status = %q, %d, want %q, %d", gotType, e.Status, tt.wantType, tt.status)
			}
		})
	}
	if err := answered(&http.Response{StatusCode: http.StatusOK}, nil); err != nil {
		t.Errorf("answered(200) = %v, want nil", err)
	}
}
