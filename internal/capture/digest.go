package capture

import (
	"encoding/base64"
	"encoding/hex"
	"strings"
)

// parseReprDigest reads an RFC 9530 Repr-Digest field (a structured-field
// dictionary such as `sha-256=:BASE64:, sha-512=:...:`) and returns the
// sha-256 digest in hex. Other algorithms are ignored, but one sha-256 is
// required: it is the only one holdline verifies.
func parseReprDigest(v string) (string, error) {
	var found string
	for _, member := range strings.Split(v, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(member), "=")
		if !ok {
			return "", invalid("Repr-Digest", "is not a dictionary of algorithm=:base64: members", nil)
		}
		if strings.ToLower(strings.TrimSpace(k)) != "sha-256" {
			continue
		}
		val = strings.TrimSpace(val)
		if i := strings.IndexByte(val, ';'); i >= 0 {
			val = val[:i] // parameters
		}
		if len(val) < 2 || val[0] != ':' || val[len(val)-1] != ':' {
			return "", invalid("Repr-Digest", "sha-256 must be a byte sequence, :base64:", nil)
		}
		b, err := base64.StdEncoding.DecodeString(val[1 : len(val)-1])
		if err != nil || len(b) != 32 {
			return "", invalid("Repr-Digest", "sha-256 must be 32 bytes of base64", nil)
		}
		found = hex.EncodeToString(b)
	}
	if found == "" {
		return "", invalid("Repr-Digest", "must carry a sha-256 digest", nil)
	}
	return found, nil
}
