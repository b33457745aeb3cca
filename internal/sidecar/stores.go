package sidecar

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/holdline/holdline/adapters/blob"
	"github.com/holdline/holdline/internal/audit"
)

// openStores opens what lives in data_dir, in this order: the directory,
// the audit log, the outbox's local store ({data_dir}/outbox.db, held
// with a file lock), this sidecar's id and the recording spool
// ({data_dir}/spool). Each is closed by Stop, or by New on a later error.
func (s *Sidecar) openStores(context.Context) error {
	dir := s.cfg.DataDir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("sidecar: data dir: %w", err)
	}
	auditLog, err := audit.Open(dir, audit.Options{Logger: s.log})
	if err != nil {
		return err
	}
	s.closers = append(s.closers, auditLog.Close)
	s.audit = auditLog
	local, err := s.openOutbox()
	if err != nil {
		return err
	}
	owner, err := loadOwner(dir)
	if err != nil {
		return err
	}
	rc := s.cfg.Recordings
	spool, err := blob.OpenSpool(filepath.Join(dir, "spool"), blob.SpoolOptions{
		MaxBytes: rc.SpoolMaxBytes, ReserveBytes: rc.SpoolReserveBytes,
	})
	if err != nil {
		return err
	}
	s.jobs = &jobs{store: local, bolt: local, owner: owner, spool: spool, backend: "bolt", tr: s.tracing}
	return nil
}
