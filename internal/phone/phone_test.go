package phone

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name, raw, region, want string
	}{
		{"national US", "(415) 555-0100", "US", "+14155550100"},
		{"international ignores region", "+44 20 7946 0958", "US", "+442079460958"},
		{"lowercase region", "415.555.0100", "us", "+14155550100"},
		{"extension dropped", "+1 415 555 0100 ext. 99", "US", "+14155550100"},
		{"tel URI", "tel:+1-415-555-0100", "US", "+14155550100"},
		{"tel URI with parameters", "tel:+14155550100;ext=2", "US", "+14155550100"},
		{"sip URI", "sip:+14155550100@pbx.example.com", "US", "+14155550100"},
		{"sip URI with user=phone, in angle brackets", "<sip:+14155550100@pbx;user=phone>", "US", "+14155550100"},
		{"sips URI, national user part", "SIPS:4155550100@10.0.0.1", "US", "+14155550100"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := Parse(tt.raw, tt.region)
			if err != nil {
				t.Fatalf("Parse(%q, %q) error: %v", tt.raw, tt.region, err)
			}
			if n.E164() != tt.want {
				t.Errorf("Parse(%q, %q) = %q, want %q", tt.raw, tt.region, n.E164(), tt.want)
			}
		})
	}
}

func TestParseWithheld(t *testing.T) {
	for _, raw := range []string{"", "  ", "anonymous", "Anonymous", "WITHHELD", "private", "restricted", "unavailable", "unknown", "sip:anonymous@anonymous.invalid", "<sip:anonymous@pbx>"} {
		if n, err := Parse(raw, "US"); !errors.Is(err, ErrWithheld) {
			t.Errorf("Parse(%q) = %v, %v; want ErrWithheld", raw, n.E164(), err)
		}
	}
}

func TestParseRejects(t *testing.T) {
	for _, raw := range []string{"0", "not a number", "555-1234", "+1", "12", "sip:alice@pbx"} {
		if n, err := Parse(raw, "US"); !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%q) = %v, %v; want ErrInvalid", raw, n.E164(), err)
		}
	}
}

func TestNumberNeverLogsWhole(t *testing.T) {
	n, err := Parse("+14155550100", "")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("pop", "phone", n)
	if strings.Contains(buf.String(), "4155550100") || strings.Contains(buf.String(), "55501") {
		t.Fatalf("log line holds the number: %s", buf.String())
	}
	if got := n.String(); got != "+1********00" {
		t.Errorf("String() = %q, want +1********00", got)
	}
}

func TestMaskRaw(t *testing.T) {
	if got := Mask("(415) 555-0100"); got != "(***) ***-**00" {
		t.Errorf("Mask = %q", got)
	}
}

func BenchmarkParse(b *testing.B) {
	for b.Loop() {
		if _, err := Parse("(415) 555-0100", "US"); err != nil {
			b.Fatal(err)
		}
	}
}

func TestParserMemoizes(t *testing.T) {
	p := NewParser(16)
	for range 3 {
		n, err := p.Parse("(415) 555-0100", "us")
		if err != nil || n.E164() != "+14155550100" {
			t.Fatalf("Parser.Parse = %q, %v", n.E164(), err)
		}
		if _, err := p.Parse("not a number", "US"); !errors.Is(err, ErrInvalid) {
			t.Fatalf("Parser.Parse(junk) = %v, want ErrInvalid", err)
		}
	}
	// The region is part of the key: a national number reads differently.
	gb, err := p.Parse("020 7946 0958", "GB")
	if err != nil || gb.E164() != "+442079460958" {
		t.Fatalf("Parser.Parse(GB) = %q, %v", gb.E164(), err)
	}
}

func BenchmarkParserHit(b *testing.B) {
	p := NewParser(0)
	for b.Loop() {
		if _, err := p.Parse("(415) 555-0100", "US"); err != nil {
			b.Fatal(err)
		}
	}
}

func TestParserBounded(t *testing.T) {
	p := NewParser(16)
	for i := range 500 {
		raw := fmt.Sprintf("+1 415 555 %04d", i)
		n, err := p.Parse(raw, "US")
		if err != nil || n.E164() != fmt.Sprintf("+1415555%04d", i) {
			t.Fatalf("Parser.Parse(%q) = %q, %v", raw, n.E164(), err)
		}
	}
	p.memo.CleanUp()
	if got := p.memo.EstimatedSize(); got > 16 {
		t.Errorf("after 500 numbers the memo holds %d answers, want at most 16", got)
	}
}

// TestParserAgreesWithParse checks the memo's answers, asked twice (a
// miss, then a hit), against Parse's for valid, invalid and withheld
// input in several regions: the same number, or the same kind of error.
func TestParserAgreesWithParse(t *testing.T) {
	p := NewParser(64)
	inputs := []struct{ raw, region string }{
		{"(415) 555-0100", "US"}, {"(415) 555-0100", "GB"}, {"020 7946 0958", "GB"}, {"020 7946 0958", "US"},
		{"+44 20 7946 0958", "US"}, {"555-1234", "US"}, {"not a number", "US"}, {"anonymous", "US"}, {"", "GB"},
		{"tel:+14155550100", "gb"},
	}
	for range 2 {
		for _, in := range inputs {
			want, wantErr := Parse(in.raw, in.region)
			got, err := p.Parse(in.raw, in.region)
			if got != want || errors.Is(err, ErrInvalid) != errors.Is(wantErr, ErrInvalid) || errors.Is(err, ErrWithheld) != errors.Is(wantErr, ErrWithheld) {
				t.Errorf("Parser.Parse(%q, %q) = %q, %v; Parse = %q, %v", in.raw, in.region, got.E164(), err, want.E164(), wantErr)
			}
		}
	}
}
