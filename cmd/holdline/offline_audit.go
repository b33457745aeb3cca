package main

import (
	"context"
	"fmt"
	"os/user"

	"github.com/holdline/holdline/internal/audit"
)

// offlineAudit records an offline (--data-dir) mutation in the data dir's
// audit log, as the sidecar records the same mutation made through its
// admin API. There is no admin token offline, so the actor is the OS user
// who ran the command, as "os:<name>".
type offlineAudit struct {
	log   *audit.Log
	actor string
}

// openOfflineAudit opens dataDir's audit log; call it before mutating, so
// a log that cannot be written stops the command before it changes
// anything.
func openOfflineAudit(e env, dataDir string) (*offlineAudit, error) {
	l, err := audit.Open(dataDir, audit.Options{})
	if err != nil {
		return nil, fmt.Errorf("offline changes are audited, and the audit log cannot be opened: %w", err)
	}
	return &offlineAudit{log: l, actor: "os:" + osUser(e)}, nil
}

// osUser names the user running the command.
func osUser(e env) string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if u := e.getenv("USER"); u != "" {
		return u
	}
	return "unknown"
}

// record appends one entry and returns its error: an offline mutation
// whose entry is not durable is reported as a failure of the command.
func (a *offlineAudit) record(_ context.Context, action, target, reason, result string, details map[string]any) error {
	if details == nil {
		details = map[string]any{}
	}
	details["via"] = "cli --data-dir"
	err := a.log.Append(audit.Entry{Actor: a.actor, Action: action, Target: target, Reason: reason, Result: result, Details: details})
	if err != nil {
		return fmt.Errorf("the change was made but its audit entry was not written: %w", err)
	}
	return nil
}

func (a *offlineAudit) Close() error { return a.log.Close() }
