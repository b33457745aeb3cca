// Package phone normalizes raw caller numbers (ANIs) to E.164 and keeps
// them out of logs: a Number prints masked unless asked for its digits.
package phone

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

var (
	// ErrInvalid is returned by Parse for input that is not a valid number.
	ErrInvalid = errors.New("phone: not a valid phone number")

	// ErrWithheld is returned by Parse when the caller sent no number: an
	// empty caller id, or a privacy marker such as "anonymous",
	// "withheld", "private", "restricted", "unavailable" or "unknown"
	// (also as the user part of a sip: URI).
	ErrWithheld = errors.New("phone: no caller number")
)

// withheld are the caller ids carriers and PBXs send instead of a number.
var withheld = map[string]bool{
	"anonymous": true, "withheld": true, "private": true, "restricted": true,
	"unavailable": true, "unknown": true, "blocked": true, "p": true, "o": true,
}

// callerID reduces the caller id forms a call carries to the number part:
// "tel:+14155550100;ext=2" (RFC 3966) and "sip:+14155550100@pbx;user=phone"
// or "sips:..." (RFC 3261) give "+14155550100". Anything else is returned
// as it came.
func callerID(raw string) string {
	s := strings.TrimSpace(raw)
	if len(s) > 1 && s[0] == '<' && s[len(s)-1] == '>' {
		s = s[1 : len(s)-1]
	}
	lower := strings.ToLower(s)
	switch {
	case strings.HasPrefix(lower, "tel:"):
		s = s[len("tel:"):]
	case strings.HasPrefix(lower, "sip:"):
		s = s[len("sip:"):]
	case strings.HasPrefix(lower, "sips:"):
		s = s[len("sips:"):]
	default:
		return s
	}
	if i := strings.IndexByte(s, '@'); i >= 0 {
		s = s[:i]
	}
	if i := strings.IndexByte(s, ';'); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}

// Number is a valid E.164 number. Its String and LogValue mask all but
// the country code and the last two digits; E164 gives the whole number.
type Number struct{ e164 string }

// Parse reads raw (as received from the carrier, in any common format,
// including tel: and sip:/sips: URIs whose user part is a number) with
// region as the default ISO 3166 region for numbers without a country
// code. It returns ErrWithheld (wrapped) when the caller sent no number,
// and an error wrapping ErrInvalid when raw is not a valid number.
func Parse(raw, region string) (Number, error) {
	raw = callerID(raw)
	if raw == "" || withheld[strings.ToLower(raw)] {
		return Number{}, ErrWithheld
	}
	n, err := phonenumbers.Parse(raw, strings.ToUpper(region))
	if err != nil {
		return Number{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if !phonenumbers.IsValidNumber(n) {
		return Number{}, fmt.Errorf("%w: not a valid number for its region", ErrInvalid)
	}
	return Number{e164: phonenumbers.Format(n, phonenumbers.E164)}, nil
}

// E164 returns the whole number, e.g. +14155550100. Use it only where the
// number must leave holdline (a CRM query, a response body, a cache key).
func (n Number) E164() string { return n.e164 }

// IsZero reports whether n is the zero Number.
func (n Number) IsZero() bool { return n.e164 == "" }

// String returns the number masked, e.g. +1********00.
func (n Number) String() string { return Mask(n.e164) }

// LogValue implements slog.LogValuer with the masked form.
func (n Number) LogValue() slog.Value { return slog.StringValue(n.String()) }

// Mask hides every digit of s but a leading "+" with the first digit and
// the last two digits. It is safe on any string, including raw ANIs that
// failed to parse.
func Mask(s string) string {
	b := []byte(s)
	digits := 0
	for _, c := range b {
		if c >= '0' && c <= '9' {
			digits++
		}
	}
	seen := 0
	for i, c := range b {
		if c < '0' || c > '9' {
			continue
		}
		seen++
		if seen == 1 && len(b) > 0 && b[0] == '+' {
			continue
		}
		if seen > digits-2 && digits > 4 {
			continue
		}
		b[i] = '*'
	}
	return string(b)
}
