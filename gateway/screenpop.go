package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/holdline/holdline/adapters/crm"
	"github.com/holdline/holdline/gateway/api"
	"github.com/holdline/holdline/internal/phone"
	"github.com/holdline/holdline/internal/screenpop"
)

// ScreenPopper answers screen pops within their budget, whatever the CRM
// does (internal/screenpop.Flow).
type ScreenPopper interface {
	Pop(ctx context.Context, n phone.Number) screenpop.Result
}

// ScreenPop normalizes the ANI and asks the flow. An unparseable number is
// a 400 naming phone; it never reaches the CRM.
func (s *Server) ScreenPop(ctx context.Context, req api.ScreenPopRequestObject) (api.ScreenPopResponseObject, error) {
	svc := s.opts.Services
	if svc.ScreenPop == nil {
		return nil, notConfigured("screen pop")
	}
	if req.Body == nil {
		return nil, Invalid("", "a JSON request body is required")
	}
	region := svc.DefaultRegion
	if req.Body.Region != nil && *req.Body.Region != "" {
		region = strings.ToUpper(*req.Body.Region)
	}
	n, err := s.phones.Parse(req.Body.Phone, region)
	if err != nil {
		detail := "not a valid phone number"
		if errors.Is(err, phone.ErrInvalid) {
			detail = "not a valid phone number for region " + region + " (send E.164 such as +14155550100, or a national number with the right region)"
		}
		return nil, Invalid("phone", detail)
	}
	return screenPopResponse(svc.ScreenPop.Pop(ctx, n)), nil
}

// screenPopResponse writes a screenpop.Result in the spec's shape without
// converting it to the generated types first (this is the hot path).
type screenPopResponse screenpop.Result

type screenPopWire struct {
	E164     string       `json:"e164"`
	Contact  *crm.Contact `json:"contact"`
	Records  []crm.Record `json:"records"`
	Source   string       `json:"source"`
	Degraded bool         `json:"degraded"`
	Reasons  []string     `json:"reasons"`
	AgeMS    int64        `json:"age_ms"`
}

var noStrings = []string{}
var noRecords = []crm.Record{}

func (r screenPopResponse) VisitScreenPopResponse(w http.ResponseWriter) error {
	wire := screenPopWire{E164: r.E164, Contact: r.Contact, Records: r.Records, Source: r.Source, Degraded: r.Degraded, Reasons: r.Reasons, AgeMS: r.AgeMS}
	if wire.Reasons == nil {
		wire.Reasons = noStrings
	}
	if wire.Records == nil {
		wire.Records = noRecords
	}
	b, err := json.Marshal(&wire)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(append(b, '\n'))
	return err
}
