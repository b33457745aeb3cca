package crm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/holdline/holdline/internal/config"
)

// zdAPI is the Zendesk Support API root.
const zdAPI = "/api/v2"

// zdOpen are the ticket statuses holdline shows as open records.
var zdOpen = []string{"new", "open", "pending", "hold"}

// Zendesk speaks the Zendesk Support API: users, tickets, audits and
// uploads. It is safe for concurrent use.
type Zendesk struct {
	c conn
}

var _ Client = (*Zendesk)(nil)

// NewZendesk returns the Zendesk adapter. With basic auth, Username is the
// agent's email; "/token" is appended unless present, since Zendesk takes
// API tokens as email/token with the token as password.
func NewZendesk(cfg config.CRM, hc *http.Client, endpoint func() string) (*Zendesk, error) {
	if cfg.Auth.Type == "basic" && cfg.Auth.Username != "" && !strings.HasSuffix(cfg.Auth.Username, "/token") {
		cfg.Auth.Username += "/token"
	}
	cn, err := newConn(cfg, hc, endpoint)
	if err != nil {
		return nil, err
	}
	return &Zendesk{c: cn}, nil
}

func (z *Zendesk) get(ctx context.Context, path string, out any) error {
	req, err := z.c.newRequest(ctx, http.MethodGet, path, nil, "")
	if err != nil {
		return err
	}
	_, err = z.c.do(req, out)
	return err
}

// zdID reads Zendesk's numeric ids.
type zdID int64

func (id zdID) String() string {
	if id == 0 {
		return ""
	}
	return strconv.FormatInt(int64(id), 10)
}

// zdPhoneQuery is the user search for a phone number in the form
// Zendesk's caller-lookup guide ("Retrieving the Zendesk user id of a
// caller") documents: digits only, without the leading "+" or any other
// non-numeric character. Zendesk matches it against numbers stored in
// E.164 ("+14155550100"), the form the guide "Creating a user profile in
// Support for a caller" asks for.
func zdPhoneQuery(e164 string) string {
	digits := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, e164)
	return "phone:" + digits
}

// FindByPhone searches users by phone (digits only, see zdPhoneQuery),
// then lists the first match's requested tickets (newest first, one page
// of up to 100) and keeps those new, open, pending or on hold. A number
// with no digits is nobody.
func (z *Zendesk) FindByPhone(ctx context.Context, e164 string) (Lookup, error) {
	q := zdPhoneQuery(e164)
	if q == "phone:" {
		return Lookup{}, nil
	}
	var users struct {
		Users []struct {
			ID    zdID   `json:"id"`
			Name  string `json:"name"`
			Email string `json:"email"`
			Phone string `json:"phone"`
		} `json:"users"`
	}
	if err := z.get(ctx, zdAPI+"/users/search.json?query="+url.QueryEscape(q), &users); err != nil {
		return Lookup{}, fmt.Errorf("crm: search users: %w", err)
	}
	if len(users.Users) == 0 {
		return Lookup{}, nil
	}
	base, _ := z.c.base()
	u := users.Users[0]
	out := Lookup{
		Contact: &Contact{ID: u.ID.String(), Name: u.Name, Email: u.Email, Phone: u.Phone, URL: base + "/agent/users/" + u.ID.String()},
		Records: []Record{},
	}
	var tickets zdTickets
	if err := z.get(ctx, zdAPI+"/users/"+u.ID.String()+"/tickets/requested.json?sort_by=updated_at&sort_order=desc", &tickets); err != nil {
		return Lookup{}, fmt.Errorf("crm: list requested tickets: %w", err)
	}
	for _, t := range tickets.Tickets {
		if !slices.Contains(zdOpen, t.Status) {
			continue
		}
		r := Record{ID: t.ID.String(), Subject: t.Subject, Status: t.Status, URL: base + "/agent/tickets/" + t.ID.String()}
		if ts, err := time.Parse(time.RFC3339, t.UpdatedAt); err == nil {
			r.UpdatedAt = ts
		}
		out.Records = append(out.Records, r)
	}
	return out, nil
}

type zdTickets struct {
	Tickets []struct {
		ID        zdID   `json:"id"`
		Subject   string `json:"subject"`
		Status    string `json:"status"`
		UpdatedAt string `json:"updated_at"`
	} `json:"tickets"`
}

// CreateRecord creates a ticket with external_id set to the key. A replay
// is caught twice: first by listing tickets with that external_id (which
// survives Zendesk's 2-hour idempotency window), then by the
// Idempotency-Key header on the create itself (which covers two attempts
// racing). ContactID, when set, must be a Zendesk user id; in.Fields are
// extra ticket fields (priority, custom_fields, ...).
func (z *Zendesk) CreateRecord(ctx context.Context, in NewRecord, idemKey string) (string, error) {
	if idemKey != "" {
		var found zdTickets
		if err := z.get(ctx, zdAPI+"/tickets.json?external_id="+url.QueryEscape(idemKey), &found); err != nil {
			return "", fmt.Errorf("crm: create ticket: find earlier: %w", err)
		}
		if len(found.Tickets) > 0 {
			return found.Tickets[0].ID.String(), nil
		}
	}
	body := in.Description
	if body == "" {
		body = in.Subject
	}
	t := maps.Clone(in.Fields)
	if t == nil {
		t = map[string]any{}
	}
	t["subject"] = in.Subject
	t["comment"] = map[string]any{"body": body, "public": false}
	t["tags"] = []string{"holdline"}
	meta := map[string]any{}
	if idemKey != "" {
		t["external_id"] = idemKey
		meta["holdline_key"] = idemKey
	}
	if in.InteractionID != "" {
		meta["holdline_interaction"] = in.InteractionID
	}
	t["metadata"] = meta // Zendesk returns it as the audit's metadata.custom
	if in.ContactID != "" {
		id, err := strconv.ParseInt(in.ContactID, 10, 64)
		if err != nil {
			return "", fmt.Errorf("crm: create ticket: contact id %q is not a Zendesk user id", in.ContactID)
		}
		t["requester_id"] = id
	}
	req, err := z.c.jsonRequest(ctx, http.MethodPost, zdAPI+"/tickets.json", map[string]any{"ticket": t}, idemKey)
	if err != nil {
		return "", fmt.Errorf("crm: create ticket: %w", err)
	}
	var answer struct {
		Ticket struct {
			ID zdID `json:"id"`
		} `json:"ticket"`
	}
	if _, err := z.c.do(req, &answer); err != nil {
		return "", fmt.Errorf("crm: create ticket: %w", err)
	}
	if answer.Ticket.ID == 0 {
		return "", errors.New("crm: create ticket: the answer has no ticket id")
	}
	return answer.Ticket.ID.String(), nil
}

type zdEvent struct {
	ID          zdID   `json:"id"`
	Type        string `json:"type"`
	Attachments []struct {
		ID zdID `json:"id"`
	} `json:"attachments"`
}

type zdAudit struct {
	Metadata struct {
		Custom map[string]any `json:"custom"`
	} `json:"metadata"`
	Events []zdEvent `json:"events"`
}

// comment returns the audit's Comment event.
func (a zdAudit) comment() (zdEvent, bool) {
	for _, e := range a.Events {
		if e.Type == "Comment" {
			return e, true
		}
	}
	return zdEvent{}, false
}

// earlier finds the Comment event of the ticket's audit whose
// metadata.custom.holdline_key is key, looking at the newest page of
// audits. A missing ticket is ErrNotFound.
func (z *Zendesk) earlier(ctx context.Context, ticketID, key string) (zdEvent, bool, error) {
	var audits struct {
		Audits []zdAudit `json:"audits"`
	}
	if err := z.get(ctx, zdAPI+"/tickets/"+url.PathEscape(ticketID)+"/audits.json?sort_order=desc", &audits); err != nil {
		if hasStatus(err, http.StatusNotFound) {
			return zdEvent{}, false, notFound(err)
		}
		return zdEvent{}, false, err
	}
	for _, a := range audits.Audits {
		if k, _ := a.Metadata.Custom["holdline_key"].(string); k == key {
			if e, ok := a.comment(); ok {
				return e, true, nil
			}
		}
	}
	return zdEvent{}, false, nil
}

// comment updates the ticket with one private comment and returns the
// Comment event. meta goes in ticket.metadata, which Zendesk stores on the
// update's audit as metadata.custom (Tickets reference, "Setting
// Metadata"): sending {"custom": {...}} would nest it twice. No
// Idempotency-Key is sent: Zendesk documents it for ticket creation only
// (Ticketing API introduction, "Idempotency"), so dedupe rests on earlier.
func (z *Zendesk) comment(ctx context.Context, ticketID string, cm, meta map[string]any) (zdEvent, error) {
	cm["public"] = false
	body := map[string]any{"ticket": map[string]any{"comment": cm, "metadata": meta}}
	req, err := z.c.jsonRequest(ctx, http.MethodPut, zdAPI+"/tickets/"+url.PathEscape(ticketID)+".json", body, "")
	if err != nil {
		return zdEvent{}, err
	}
	var answer struct {
		Audit zdAudit `json:"audit"`
	}
	if _, err := z.c.do(req, &answer); err != nil {
		if hasStatus(err, http.StatusNotFound) {
			return zdEvent{}, notFound(err)
		}
		return zdEvent{}, err
	}
	e, ok := answer.Audit.comment()
	if !ok {
		return zdEvent{}, errors.New("the answer's audit has no comment event")
	}
	return e, nil
}

// AddComment adds a private comment and returns its id. The key goes in
// the audit's metadata.custom.holdline_key and the author in
// holdline_author; a replay finds the earlier audit and returns its
// comment's id.
func (z *Zendesk) AddComment(ctx context.Context, recordID string, c Comment, idemKey string) (string, error) {
	custom := map[string]any{}
	if idemKey != "" {
		e, ok, err := z.earlier(ctx, recordID, idemKey)
		if err != nil {
			return "", fmt.Errorf("crm: add ticket comment: find earlier: %w", err)
		}
		if ok {
			return e.ID.String(), nil
		}
		custom["holdline_key"] = idemKey
	}
	if c.Author != "" {
		custom["holdline_author"] = c.Author
	}
	e, err := z.comment(ctx, recordID, map[string]any{"body": c.Body}, custom)
	if err != nil {
		return "", fmt.Errorf("crm: add ticket comment: %w", err)
	}
	return e.ID.String(), nil
}

// AttachFile uploads the part (POST uploads.json, raw body) and adds a
// private comment carrying its token; it returns the attachment id. A
// link becomes a comment with the link instead. Replays are caught like
// AddComment's; an upload whose comment was never made is left for
// Zendesk to expire. It reads a.Body but does not close it.
func (z *Zendesk) AttachFile(ctx context.Context, recordID string, a Attachment, idemKey string) (string, error) {
	custom := map[string]any{"holdline_name": a.Name}
	if a.Parts > 0 {
		custom["holdline_part"], custom["holdline_parts"] = a.Part, a.Parts
	}
	if idemKey != "" {
		e, ok, err := z.earlier(ctx, recordID, idemKey)
		if err != nil {
			return "", fmt.Errorf("crm: attach to ticket: find earlier: %w", err)
		}
		if ok {
			return attachmentID(e), nil
		}
		custom["holdline_key"] = idemKey
	}
	text := "Recording " + a.Name
	if p := partLabel(a); p != "" {
		text += " (" + p + ")"
	}
	cm := map[string]any{}
	if a.Link != "" {
		custom["holdline_link"] = a.Link
		cm["body"] = text + ": " + a.Link
	} else {
		tok, err := z.upload(ctx, a)
		if err != nil {
			return "", fmt.Errorf("crm: attach to ticket: upload: %w", err)
		}
		cm["body"], cm["uploads"] = text, []string{tok}
	}
	e, err := z.comment(ctx, recordID, cm, custom)
	if err != nil {
		return "", fmt.Errorf("crm: attach to ticket: %w", err)
	}
	return attachmentID(e), nil
}

// attachmentID is the comment's first attachment id, or the comment's id
// for a link.
func attachmentID(e zdEvent) string {
	if len(e.Attachments) > 0 {
		return e.Attachments[0].ID.String()
	}
	return e.ID.String()
}

// ZendeskMaxPartBytes is the largest file part the Zendesk adapter sends
// in one upload: Zendesk's 50 MB attachment size limit, read as 10^6
// bytes (the stricter reading).
const ZendeskMaxPartBytes = 50_000_000

// MaxPartBytes is the largest Attachment part AttachFile accepts (50 MB).
func (z *Zendesk) MaxPartBytes() int64 { return ZendeskMaxPartBytes }

// upload sends the part's bytes and returns the upload token.
func (z *Zendesk) upload(ctx context.Context, a Attachment) (string, error) {
	if a.Size > ZendeskMaxPartBytes {
		return "", fmt.Errorf("part of %d bytes is over Zendesk's %d-byte attachment limit", a.Size, int64(ZendeskMaxPartBytes))
	}
	var body io.Reader = http.NoBody
	if a.Body != nil {
		body = io.NopCloser(a.Body)
	}
	req, err := z.c.newRequest(ctx, http.MethodPost, zdAPI+"/uploads.json?filename="+url.QueryEscape(a.Name), body, "")
	if err != nil {
		return "", err
	}
	ct := a.ContentType
	if ct == "" {
		ct = "application/binary"
	}
	req.Header.Set("Content-Type", ct)
	if a.Size > 0 && a.Body != nil {
		req.ContentLength = a.Size
	}
	var answer struct {
		Upload struct {
			Token string `json:"token"`
		} `json:"upload"`
	}
	if _, err := z.c.do(req, &answer); err != nil {
		return "", err
	}
	if answer.Upload.Token == "" {
		return "", errors.New("the answer has no upload token")
	}
	return answer.Upload.Token, nil
}
