package contract

import (
	"bytes"
	"context"
	"log/slog"
	"reflect"
	"sync"
	"testing"

	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/sidecar"
)

// adminToken is the dev sidecar's admin token in these tests.
const adminToken = "contract-test-token-0123456789"

// running is a dev-mode sidecar (in-process simulators for every
// upstream) listening on loopback.
type running struct {
	data, admin string // base URLs
	logs        *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startSidecar starts a dev-mode sidecar, the one `holdline serve --dev`
// runs, on loopback ports, and stops it when the test ends. mod, if not
// nil, changes the config before the sidecar is built.
func startSidecar(t *testing.T, mod func(*config.Config)) *running {
	t.Helper()
	cfg := sidecar.DevConfig()
	cfg.Listen, cfg.AdminListen, cfg.DataDir = "127.0.0.1:0", "127.0.0.1:0", t.TempDir()
	if mod != nil {
		mod(cfg)
	}
	logs := &syncBuffer{}
	sc, err := sidecar.New(t.Context(), cfg, sidecar.Options{
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
		Dev:    true,
		Getenv: func(k string) string {
			if k == "HOLDLINE_ADMIN_TOKEN" {
				return adminToken
			}
			return ""
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	// Start's context is the sidecar's lifetime: not the test's, which
	// is cancelled before the cleanup that stops it runs.
	if err := sc.Start(context.WithoutCancel(t.Context())); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := sc.Stop(); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return &running{data: "http://" + sc.Addr(), admin: "http://" + sc.AdminAddr(), logs: logs}
}

// problem is what the tests read of a typed problem answer of either
// generated client.
type problem struct {
	Status      int // the HTTP status the client saw
	Type, Field string
	BodyStatus  int // the problem's own status member
	RequestID   string
}

// problemOf reads a generated client's problem answer. Both clients give
// each declared error status its own type, defined on a struct of the
// HTTP status and the decoded Problem; anything else (a success type) is
// not a problem.
func problemOf(res any) (problem, bool) {
	v := reflect.ValueOf(res)
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return problem{}, false
	}
	sc, resp := v.FieldByName("StatusCode"), v.FieldByName("Response")
	if !sc.IsValid() || !resp.IsValid() || resp.Kind() != reflect.Struct || !resp.FieldByName("Type").IsValid() {
		return problem{}, false
	}
	opt := func(name string) string {
		f := resp.FieldByName(name)
		if f.FieldByName("Set").Bool() {
			return f.FieldByName("Value").String()
		}
		return ""
	}
	return problem{
		Status:     int(sc.Int()),
		Type:       resp.FieldByName("Type").String(),
		BodyStatus: int(resp.FieldByName("Status").Int()),
		Field:      opt("Field"),
		RequestID:  opt("RequestID"),
	}, true
}

// wantProblem fails unless res is a typed problem with the status, the
// problem type (the last segment of its URI) and, if not empty, the field.
func wantProblem(t *testing.T, op string, res any, err error, status int, typ, field string) {
	t.Helper()
	if err != nil {
		t.Errorf("%s: %v, want a typed %d problem", op, err, status)
		return
	}
	p, ok := problemOf(res)
	if !ok {
		t.Errorf("%s: answered %T, want a typed %d problem", op, res, status)
		return
	}
	if p.Status != status || p.BodyStatus != status {
		t.Errorf("%s: problem status %d (body %d), want %d", op, p.Status, p.BodyStatus, status)
	}
	if p.Type != "https://holdline.dev/problems/"+typ {
		t.Errorf("%s: problem type %q, want .../problems/%s", op, p.Type, typ)
	}
	if field != "" && p.Field != field {
		t.Errorf("%s: problem field %q, want %q", op, p.Field, field)
	}
	if p.RequestID == "" {
		t.Errorf("%s: problem without request_id", op)
	}
}
