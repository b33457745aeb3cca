package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"

	"github.com/holdline/holdline/gateway/api"
	"github.com/holdline/holdline/internal/phone"
	"github.com/holdline/holdline/internal/screenpop"
)

// ScreenPopper answers screen pops within their budget, whatever the CRM
// does (internal/screenpop.Flow).
type ScreenPopper interface {
	Pop(ctx context.Context, n phone.Number) screenpop.Result
	// Unknown answers a pop without a usable number, with the reason.
	Unknown(reason string) screenpop.Result
}

// ScreenPop normalizes the ANI and asks the flow. A withheld or
// unparseable caller id is not the caller's fault and must not block
// routing: it gets a 200 minimal pop, degraded, and never reaches the CRM.
func (s *Server) ScreenPop(ctx context.Context, req api.ScreenPopRequestObject) (api.ScreenPopResponseObject, error) {
	svc := s.opts.Services
	if svc.ScreenPop == nil {
		return nil, notConfigured("screen pop")
	}
	if req.Body == nil {
		return nil, invalidBody()
	}
	region := svc.DefaultRegion
	if req.Body.Region != nil && *req.Body.Region != "" {
		region = strings.ToUpper(*req.Body.Region)
	}
	n, err := s.phones.Parse(req.Body.Phone, region)
	switch {
	case errors.Is(err, phone.ErrWithheld):
		return screenPopResponse(svc.ScreenPop.Unknown(screenpop.ReasonNoNumber)), nil
	case err != nil:
		return screenPopResponse(svc.ScreenPop.Unknown(screenpop.ReasonUnparseableNumber)), nil
	}
	res := svc.ScreenPop.Pop(ctx, n)
	traceSource(ctx, &res)
	return screenPopResponse(res), nil
}

// screenPopResponse writes a screenpop.Result in the spec's shape without
// converting it to the generated types first (this is the hot path).
type screenPopResponse screenpop.Result

type screenPopWire struct {
	E164     string             `json:"e164"`
	Contact  *screenpop.Contact `json:"contact"`
	Records  []screenpop.Record `json:"records"`
	Source   string             `json:"source"`
	Degraded bool               `json:"degraded"`
	Reasons  []string           `json:"reasons"`
	AgeMS    int64              `json:"age_ms"`
}

var noStrings = []string{}
var noRecords = []screenpop.Record{}

func (r screenPopResponse) VisitScreenPopResponse(w http.ResponseWriter) error {
	wire := screenPopWire{E164: r.E164, Contact: r.Contact, Records: r.Records, Source: r.Source, Degraded: r.Degraded, Reasons: r.Reasons, AgeMS: r.AgeMS}
	if wire.Reasons == nil {
		wire.Reasons = noStrings
	}
	if wire.Records == nil {
		wire.Records = noRecords
	}
	buf := answerBufs.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= maxPooledAnswer {
			answerBufs.Put(buf)
		}
	}()
	// Encode writes what json.Marshal would, then a newline.
	if err := json.NewEncoder(buf).Encode(&wire); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(buf.Bytes())
	return err
}

// answerBufs holds the buffers screen-pop answers are encoded into, so
// that encoding one allocates nothing in the steady state.
var answerBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledAnswer is the largest buffer answerBufs keeps.
const maxPooledAnswer = 64 << 10
