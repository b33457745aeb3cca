package crm

import "testing"

func TestExpandEscapes(t *testing.T) {
	tests := []struct {
		tmpl string
		vars map[string]string
		want string
	}{
		{"/contacts?phone={phone}", map[string]string{"phone": "+14155550100"}, "/contacts?phone=%2B14155550100"},
		{"/by-phone/{phone}", map[string]string{"phone": "+14155550100"}, "/by-phone/+14155550100"},
		{"/records/{record_id}/comments", map[string]string{"record_id": "a/b c"}, "/records/a%2Fb%20c/comments"},
		{"/c/{contact_id}/r?q={contact_id}&x=1", map[string]string{"contact_id": "a&b"}, "/c/a&b/r?q=a%26b&x=1"},
	}
	for _, tt := range tests {
		if got := expand(tt.tmpl, tt.vars); got != tt.want {
			t.Errorf("expand(%q, %v) = %q, want %q", tt.tmpl, tt.vars, got, tt.want)
		}
	}
}

func TestSOQLQuote(t *testing.T) {
	tests := map[string]string{
		"+14155550100":  `'+14155550100'`,
		`a'b`:           `'a\'b'`,
		`a\'b`:          `'a\\\'b'`,
		"line\nbreak\t": `'line\nbreak\t'`,
		`say "hi"`:      `'say \"hi\"'`,
	}
	for in, want := range tests {
		if got := soqlQuote(in); got != want {
			t.Errorf("soqlQuote(%q) = %s, want %s", in, got, want)
		}
	}
}
