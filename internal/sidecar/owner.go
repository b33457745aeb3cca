package sidecar

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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
	// Write then rename, fsynced: a crash leaves the old file or the new
	// one, never half an id.
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return "", fmt.Errorf("sidecar: write %s: %w", ownerFile, err)
	}
	_, err = f.WriteString(id + "\n")
	if serr := f.Sync(); err == nil {
		err = serr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = syncDir(dataDir)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("sidecar: write %s: %w", ownerFile, err)
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
