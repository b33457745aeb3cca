package interactions

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/holdline/holdline/adapters/crm"
	"github.com/holdline/holdline/internal/resilience"
	"github.com/holdline/holdline/internal/timeline"
	"github.com/holdline/holdline/outbox"
)

// The endpoint names a record can live on (the CRM dependency's
// endpoints.primary and endpoints.secondary).
const (
	Primary   = "primary"
	Secondary = "secondary"
)

// Endpoints is the CRM as the write handlers see it: one client per
// configured endpoint, each bound to that endpoint's base URL (not to the
// active one), and which endpoint is active now.
type Endpoints struct {
	// Clients by endpoint name; Primary is required, Secondary optional.
	Clients map[string]crm.Client
	// Active names the endpoint new records go to
	// (resilience.Dependency.ActiveEndpoint).
	Active func() string
	// SharedRecords says both endpoints serve one database (config
	// dependencies.crm.shared_records): a record id is valid on either, so
	// every write goes to the active endpoint.
	SharedRecords bool
}

// Records finds an interaction's CRM record and the client that may write
// to it. It is safe for concurrent use.
type Records struct {
	store outbox.Store
	eps   Endpoints
	dep   *resilience.Dependency
}

// NewRecords returns Records reading jobs from store and calling the CRM
// through dep's policy chain (to re-create a record an operator moved).
// It reports every missing part at once.
func NewRecords(store outbox.Store, eps Endpoints, dep *resilience.Dependency) (*Records, error) {
	var errs []error
	if store == nil {
		errs = append(errs, errors.New("interactions: records: nil store"))
	}
	if dep == nil {
		errs = append(errs, errors.New("interactions: records: nil dependency"))
	}
	if eps.Clients[Primary] == nil {
		errs = append(errs, errors.New("interactions: records: no client for the primary endpoint"))
	}
	if eps.Active == nil {
		errs = append(errs, errors.New("interactions: records: nil Active func"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &Records{store: store, eps: eps, dep: dep}, nil
}

// active returns the active endpoint and its client.
func (r *Records) active() (string, crm.Client, error) {
	name := r.eps.Active()
	c := r.eps.Clients[name]
	if c == nil {
		return "", nil, fmt.Errorf("interactions: no CRM client for the %s endpoint", name)
	}
	return name, c, nil
}

// writer returns the client that writes to ref. A record on an endpoint
// other than the active one is held (outbox.ErrHeld, with the reason),
// unless records are shared.
func (r *Records) writer(ref timeline.RecordRef) (crm.Client, error) {
	name, c, err := r.active()
	if err != nil {
		return nil, err
	}
	if r.eps.SharedRecords || ref.Endpoint == name {
		return c, nil
	}
	return nil, fmt.Errorf("%w: record %s is on the %s CRM endpoint and the active one is %s; it waits for a failback, or for `holdline outbox replay --interaction ... --to %s`",
		outbox.ErrHeld, ref.ID, ref.Endpoint, name, name)
}

// holds reports whether writes to the record among jobs are held: it is on
// an endpoint that is not the active one and no move to the active one
// is asked for.
func (r *Records) holds(jobs []outbox.Job) bool {
	ref := Record(jobs, "")
	if ref.ID == "" {
		return false
	}
	_, err := r.writer(ref)
	if !errors.Is(err, outbox.ErrHeld) {
		return false
	}
	_, moving := pendingMove(jobs, r.eps.Active())
	return !moving
}

// Writer returns the record of j's interaction and the client to write to it. When the record is on an
// endpoint that is not the active one and an operator has asked for it to
// be moved to the active one (a crm.move_record job, see
// Service.MoveRecord), the record is first re-created there (idempotent:
// every job that does it gets the same record) and that record is
// returned. Errors: errNoRecordYet (retry later) when the interaction has
// no done record job, outbox.ErrHeld (wrapped, with the reason) when the
// record's endpoint is not the active one, the CRM's (as jobError maps
// them) and the store's.
func (r *Records) Writer(ctx context.Context, j *outbox.Job) (recordID string, c crm.Client, err error) {
	jobs, err := r.store.Interaction(ctx, j.InteractionID)
	if err != nil {
		return "", nil, fmt.Errorf("interactions: read interaction jobs: %w", err)
	}
	return r.writerIn(ctx, jobs, Record(jobs, ""))
}

// writerIn is Writer for ref among the interaction's jobs.
func (r *Records) writerIn(ctx context.Context, jobs []outbox.Job, ref timeline.RecordRef) (string, crm.Client, error) {
	if ref.ID == "" {
		return "", nil, errNoRecordYet
	}
	c, err := r.writer(ref)
	if err == nil {
		return ref.ID, c, nil
	}
	if !errors.Is(err, outbox.ErrHeld) {
		return "", nil, err
	}
	active := r.eps.Active()
	if _, ok := pendingMove(jobs, active); !ok {
		return "", nil, err
	}
	id, err := r.recreate(ctx, jobs, active)
	if err != nil {
		return "", nil, err
	}
	return id, r.eps.Clients[active], nil
}

// recreate creates the interaction's record again on endpoint to, from the
// first done crm.create_record job's payload, with a key derived from that
// job's: every caller gets the same record.
func (r *Records) recreate(ctx context.Context, jobs []outbox.Job, to string) (string, error) {
	c := r.eps.Clients[to]
	if c == nil {
		return "", outbox.Permanent(fmt.Errorf("interactions: no CRM client for the %s endpoint", to))
	}
	i := slices.IndexFunc(jobs, func(o outbox.Job) bool { return o.Kind == timeline.KindCreateRecord && o.State == outbox.Done })
	if i < 0 {
		return "", errNoRecordYet
	}
	p, err := timeline.DecodeRecord(jobs[i])
	if err != nil {
		return "", outbox.Permanent(fmt.Errorf("read record payload: %w", err))
	}
	key := "move:" + to + ":" + jobs[i].IdempotencyKey
	id, err := resilience.Write(ctx, r.dep, "create_record", func(ctx context.Context) (string, error) {
		return c.CreateRecord(ctx, p.Record, key)
	})
	if err != nil {
		return "", jobError(err)
	}
	if id == "" {
		return "", errors.New("the CRM answered without a record id")
	}
	return id, nil
}

// Record returns the interaction's record as of the jobs among jobs (in
// ID order) whose ID sorts before before ("" for no bound): the result of
// the first done crm.create_record job, replaced by the result of each
// later done crm.move_record job. A result without an endpoint (written
// before records remembered theirs) is on the primary.
func Record(jobs []outbox.Job, before string) timeline.RecordRef {
	var ref timeline.RecordRef
	for _, o := range jobs {
		if before != "" && o.ID >= before {
			break
		}
		if o.State != outbox.Done || !timeline.SetsRecord(o.Kind) {
			continue
		}
		if o.Kind == timeline.KindCreateRecord && ref.ID != "" {
			continue // an append to the record
		}
		res, err := timeline.DecodeRecordResult(o)
		if err != nil || res.RecordID == "" {
			continue
		}
		ref = timeline.RecordRef{ID: res.RecordID, Endpoint: res.Endpoint}
		if ref.Endpoint == "" {
			ref.Endpoint = Primary
		}
	}
	return ref
}

// RecordID returns Record(jobs, before).ID. Handlers of other kinds use
// Records.Writer instead, to honour the record's endpoint.
func RecordID(jobs []outbox.Job, before string) string { return Record(jobs, before).ID }

// pendingMove returns the payload of the first crm.move_record job of the
// interaction that is not done yet and targets endpoint, if any: the
// operator asked for the record to be re-created there, and the held jobs
// before it may go there once it is.
func pendingMove(jobs []outbox.Job, endpoint string) (timeline.MovePayload, bool) {
	for _, o := range jobs {
		if o.Kind != timeline.KindMoveRecord || o.State == outbox.Done {
			continue
		}
		if p, err := timeline.DecodeMove(o); err == nil && p.To == endpoint {
			return p, true
		}
	}
	return timeline.MovePayload{}, false
}
