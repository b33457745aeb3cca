// Package blob stores recordings: the Store contract, a GCS store (the
// default) and a local-directory store for sites without GCS, and the
// Spool, where bytes wait on local disk while the store is unavailable.
//
// Every Store writes create-only: an object, once committed, is never
// overwritten, so a replayed upload can never replace a recording. Writes
// stream: a Writer holds at most one chunk in memory whatever the size.
//
// Not a stable API: holdline is a binary, and this package serves it.
package blob

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"time"
)

// These errors are returned by Store implementations. Callers match them
// with errors.Is.
var (
	// ErrExists is returned by Writer.Commit when an object already has the
	// name: the write was create-only and nothing was overwritten.
	ErrExists = errors.New("blob: object already exists")

	// ErrNotExist is returned by Stat and Open for a name with no object.
	ErrNotExist = errors.New("blob: object does not exist")

	// ErrChecksum is returned by Writer.Commit when the store's CRC32C of
	// what it stored differs from the one computed while streaming. The
	// object is removed again before Commit returns (best effort; the error
	// says so if that failed too).
	ErrChecksum = errors.New("blob: checksum mismatch")

	// ErrNoLinks is returned by SignedURL for a store that cannot hand out
	// links (the local directory, or GCS without signing credentials).
	ErrNoLinks = errors.New("blob: store cannot sign links")

	// ErrSpoolFull is wrapped by Spool writes that failed because the disk
	// is full (ENOSPC, EDQUOT), because the spool holds SpoolOptions.MaxBytes
	// already, or because the write would leave less free space on the
	// filesystem than SpoolOptions.ReserveBytes.
	ErrSpoolFull = errors.New("blob: spool disk full")
)

// Castagnoli is the CRC32C table GCS uses.
var Castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Meta describes an object at creation. It is stored with the object.
type Meta struct {
	ContentType   string
	InteractionID string
	RecordingID   string
	// SHA256 is the hex SHA-256 of the bytes, when known before the first
	// byte (a spooled recording, or a client's Repr-Digest). Commit sets it
	// afterwards otherwise.
	SHA256 string
	// CRC32C, when HasCRC32C, is sent ahead of the bytes so that the
	// server itself rejects a mismatch.
	CRC32C    uint32
	HasCRC32C bool
}

// Sum is what the caller computed while streaming the bytes.
type Sum struct {
	Size   int64
	CRC32C uint32
	SHA256 string // hex
}

// Attrs describe a stored object.
type Attrs struct {
	Name        string
	Size        int64
	CRC32C      uint32
	SHA256      string // hex; "" when the store has none recorded
	ContentType string
	Created     time.Time
}

// Store is a recording store: gcs (GCS) or dir (a local directory).
// Implementations are safe for concurrent use.
type Store interface {
	// Kind is "gcs" or "dir", the "stored" value of an answer.
	Kind() string
	// URI names an object for clients: gs://bucket/name or file:///path.
	URI(name string) string
	// Create starts a create-only streaming write. Nothing is visible
	// under name until Commit succeeds; ctx bounds the whole write.
	Create(ctx context.Context, name string, m Meta) (Writer, error)
	// Stat returns an object's attributes, or ErrNotExist.
	Stat(ctx context.Context, name string) (Attrs, error)
	// Open reads length bytes from offset (length < 0: to the end), or
	// ErrNotExist. The caller closes the reader.
	Open(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error)
	// Delete removes an object; a missing one is not an error.
	Delete(ctx context.Context, name string) error
	// SignedURL returns a link that reads the object until ttl passes,
	// or ErrNoLinks.
	SignedURL(ctx context.Context, name string, ttl time.Duration) (string, error)
}

// Writer is one streaming create-only write. Write and Commit are not safe
// for concurrent use.
type Writer interface {
	io.Writer
	// Commit makes the object durable under its name if, and only if, no
	// object has that name yet (ErrExists otherwise, and nothing is
	// changed), and checks that the store holds exactly sum (ErrChecksum).
	Commit(ctx context.Context, sum Sum) (Attrs, error)
	// Abort gives the write up: nothing is stored. It is safe to call
	// after Commit, when it does nothing.
	Abort()
}

// EncodeCRC32C returns the base64 big-endian form GCS uses.
func EncodeCRC32C(c uint32) string {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], c)
	return base64.StdEncoding.EncodeToString(b[:])
}

// DecodeCRC32C parses EncodeCRC32C's form.
func DecodeCRC32C(s string) (uint32, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != 4 {
		return 0, errors.New("blob: crc32c is not 4 base64 bytes")
	}
	return binary.BigEndian.Uint32(b), nil
}
