package phone

import (
	"strings"

	"github.com/maypok86/otter/v2"
)

// Parser is Parse with a bounded memo of recent answers. Parsing costs
// about 10-20 µs (libphonenumber's metadata regexps) and a contact
// center sees the same ANIs again and again, so the screen-pop hot path
// asks a Parser. It is safe for concurrent use.
type Parser struct {
	memo *otter.Cache[string, result]
}

type result struct {
	n   Number
	err error
}

// NewParser returns a Parser remembering up to size answers (valid and
// invalid: a flood of junk cannot make parsing slower, and W-TinyLFU keeps
// frequent numbers when junk churns the rest). size <= 0 means 10,000.
func NewParser(size int) *Parser {
	if size <= 0 {
		size = 10_000
	}
	return &Parser{memo: otter.Must(&otter.Options[string, result]{MaximumSize: size})}
}

// Parse is Parse(raw, region), memoized.
func (p *Parser) Parse(raw, region string) (Number, error) {
	key := strings.ToUpper(region) + "\x00" + raw
	if r, ok := p.memo.GetIfPresent(key); ok {
		return r.n, r.err
	}
	n, err := Parse(raw, region)
	p.memo.Set(key, result{n, err})
	return n, err
}
