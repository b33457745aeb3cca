package sidecar

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/renameio/v2"
)

// ownerFile holds the sidecar's id inside data_dir.
const ownerFile = "sidecar-id"

// loadOwner returns this sidecar's id, stored in {data_dir}/sidecar-id
// and created on first start. The id names the spool's owner in upload
// jobs, so it lives with the spool: a sidecar restarted on the same
// data_dir (the same persistent volume) is the same owner and resumes its
// spooled uploads; one given a fresh data_dir is a new owner, and the old
// owner's jobs show in /v1/status until its volume comes back.
func loadOwner(dataDir string) (string, error) {
	path := filepath.Join(dataDir, ownerFile)
	b, err := os.ReadFile(path)
	if err == nil {
		if id := strings.TrimSpace(string(b)); id != "" {
			return id, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("sidecar: read %s: %w", ownerFile, err)
	}
	var r [8]byte
	_, _ = rand.Read(r[:])
	id := hex.EncodeToString(r[:])
	// renameio writes a temporary file, fsyncs it and renames it into
	// place: a crash leaves no file or the whole id, never half of one.
	// It does not fsync the directory, and the rename must survive a power
	// loss too: the id names this sidecar's spooled uploads.
	if err := renameio.WriteFile(path, []byte(id+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("sidecar: write %s: %w", ownerFile, err)
	}
	if err := syncDir(dataDir); err != nil {
		return "", fmt.Errorf("sidecar: sync %s: %w", dataDir, err)
	}
	return id, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
