package sim

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"unicode/utf8"
)

// sfPrefix is the Salesforce REST API root the simulator serves.
const sfPrefix = "/services/data/v60.0"

// sfTime is the layout of Salesforce datetimes.
const sfTime = "2006-01-02T15:04:05.000-0700"

// sfCommentMaxBytes is CaseComment.CommentBody's limit: 4,000 bytes
// (Object Reference, "CaseComment").
const sfCommentMaxBytes = 4000

func (c *CRM) salesforceRoutes(mux *http.ServeMux) {
	mux.Handle("GET "+sfPrefix+"/query", c.route("salesforce.query", false, c.sfGate(c.sfQuery)))
	mux.Handle("GET "+sfPrefix+"/query/{locator}", c.route("salesforce.query_more", false, c.sfGate(c.sfQueryMore)))
	mux.Handle("PATCH "+sfPrefix+"/sobjects/Case/Holdline_Key__c/{key}", c.route("salesforce.upsert_case", true, c.sfGate(c.sfUpsertCase)))
	mux.Handle("POST "+sfPrefix+"/sobjects/CaseComment", c.route("salesforce.case_comment", true, c.sfGate(c.sfCaseComment)))
	mux.Handle("POST "+sfPrefix+"/sobjects/ContentVersion", c.route("salesforce.content_version", true, c.sfGate(c.sfContentVersion)))
}

type sfError struct {
	Message   string   `json:"message"`
	ErrorCode string   `json:"errorCode"`
	Fields    []string `json:"fields,omitempty"`
}

func sfFail(w http.ResponseWriter, status int, code, msg string, fields ...string) {
	writeJSON(w, status, []sfError{{Message: msg, ErrorCode: code, Fields: fields}})
}

var (
	soqlFrom  = regexp.MustCompile(`(?i)\bFROM\s+(\w+)`)
	soqlWhere = regexp.MustCompile(`(\w+)\s*=\s*('(?:[^'\\]|\\.)*'|true|false)`)
	// holdline's markers: a comment's last line and a case description's
	// trailer (see package adapters/crm).
	sfCommentMarker   = regexp.MustCompile(`\[holdline:([^\]]+)\]\s*$`)
	sfInteractionLine = regexp.MustCompile(`(?m)^holdline interaction: (\S+)\s*$`)
)

// soqlUnescape undoes SOQL string-literal escaping.
func soqlUnescape(lit string) string {
	if lit == "true" || lit == "false" {
		return lit
	}
	s := lit[1 : len(lit)-1]
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch s[i] {
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// sfQuery answers the SOQL queries holdline sends: Contact by Phone or
// MobilePhone, open Cases by ContactId, CaseComments by ParentId and
// ContentVersions by ReasonForChange. Conditions on Contact are ORed; all
// others are ANDed. Other objects get 400 INVALID_TYPE.
func (c *CRM) sfQuery(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query().Get("q")
	m := soqlFrom.FindStringSubmatch(q)
	if m == nil {
		sfFail(w, http.StatusBadRequest, "MALFORMED_QUERY", "unexpected token: no FROM")
		return
	}
	where := map[string]string{}
	for _, cond := range soqlWhere.FindAllStringSubmatch(q, -1) {
		where[cond[1]] = soqlUnescape(cond[2])
	}
	var recs []map[string]any
	attrs := func(typ, id string) map[string]string {
		return map[string]string{"type": typ, "url": sfPrefix + "/sobjects/" + typ + "/" + id}
	}
	switch m[1] {
	case "Contact":
		for _, ct := range c.Contacts() {
			if (where["Phone"] != "" && (ct.Phone == where["Phone"] || ct.Mobile == where["Phone"])) ||
				(where["MobilePhone"] != "" && (ct.Mobile == where["MobilePhone"] || ct.Phone == where["MobilePhone"])) {
				recs = append(recs, map[string]any{"attributes": attrs("Contact", ct.ID), "Id": ct.ID,
					"Name": ct.Name, "Email": ct.Email, "Phone": ct.Phone, "MobilePhone": ct.Mobile})
				break
			}
		}
	case "Case":
		for _, rec := range c.recordsOf(where["ContactId"], where["IsClosed"] == "false") {
			status := "New"
			if rec.Status == "closed" {
				status = "Closed"
			}
			recs = append(recs, map[string]any{"attributes": attrs("Case", rec.ID), "Id": rec.ID,
				"Subject": rec.Subject, "Status": status, "LastModifiedDate": rec.UpdatedAt.Format(sfTime)})
		}
	case "CaseComment":
		if rec, ok := c.Record(where["ParentId"]); ok {
			for _, cm := range rec.Comments {
				recs = append(recs, map[string]any{"attributes": attrs("CaseComment", cm.ID), "Id": cm.ID,
					"ParentId": rec.ID, "CommentBody": cm.Body, "CreatedDate": cm.CreatedAt.Format(sfTime)})
			}
		}
	case "ContentVersion":
		for _, rec := range c.Records() {
			for _, a := range rec.Attachments {
				if a.Dialect == "salesforce" && a.IdempotencyKey == where["ReasonForChange"] {
					recs = append(recs, map[string]any{"attributes": attrs("ContentVersion", a.ID), "Id": a.ID,
						"Title": a.Name, "ReasonForChange": a.IdempotencyKey, "FirstPublishLocationId": rec.ID})
				}
			}
		}
	default:
		sfFail(w, http.StatusBadRequest, "INVALID_TYPE", "sObject type '"+m[1]+"' is not supported.")
		return
	}
	c.sfAnswerQuery(w, recs)
}

// sfCaseFields are the Case fields the simulator accepts besides custom
// (__c) ones; anything else gets 400 INVALID_FIELD like a real org.
var sfCaseFields = map[string]bool{
	"Subject": true, "Description": true, "ContactId": true, "AccountId": true, "Origin": true,
	"Status": true, "Priority": true, "Type": true, "Reason": true, "SuppliedPhone": true,
	"SuppliedName": true, "SuppliedEmail": true, "OwnerId": true,
}

// sfUpsertCase answers PATCH sobjects/Case/Holdline_Key__c/{key}: 201
// {"id","success","errors","created":true} when it creates the case, 200
// with created false when a case with that key exists (whose Subject and
// Description it updates).
func (c *CRM) sfUpsertCase(w http.ResponseWriter, r *http.Request) {
	var in map[string]any
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxJSONBody)).Decode(&in); err != nil {
		sfFail(w, http.StatusBadRequest, "JSON_PARSER_ERROR", err.Error())
		return
	}
	for k := range in {
		if k == "Holdline_Key__c" {
			sfFail(w, http.StatusBadRequest, "INVALID_FIELD", "The external ID field must not be in the request body", k)
			return
		}
		if !sfCaseFields[k] && !strings.HasSuffix(k, "__c") {
			sfFail(w, http.StatusBadRequest, "INVALID_FIELD", "No such column '"+k+"' on sobject of type Case", k)
			return
		}
	}
	str := func(k string) string { s, _ := in[k].(string); return s }
	rec := CRMRecord{ContactID: str("ContactId"), Subject: str("Subject"), Description: str("Description"), Dialect: "salesforce"}
	if rec.ContactID != "" {
		if _, ok := c.contactByID(rec.ContactID); !ok {
			sfFail(w, http.StatusBadRequest, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", "ContactId")
			return
		}
	}
	if m := sfInteractionLine.FindStringSubmatch(rec.Description); m != nil {
		rec.InteractionID = m[1]
	}
	key := r.PathValue("key")
	id, created := c.upsertRecord(rec, key)
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, map[string]any{"id": id, "success": true, "errors": []any{}, "created": created})
}

// sfCaseComment answers POST sobjects/CaseComment {ParentId, CommentBody}.
// Like Salesforce it never deduplicates: a client finds its earlier
// comment by querying.
func (c *CRM) sfCaseComment(w http.ResponseWriter, r *http.Request) {
	var in struct {
		ParentId    string
		CommentBody string
		IsPublished bool
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxJSONBody)).Decode(&in); err != nil {
		sfFail(w, http.StatusBadRequest, "JSON_PARSER_ERROR", err.Error())
		return
	}
	if len(in.CommentBody) > sfCommentMaxBytes || !utf8.ValidString(in.CommentBody) {
		sfFail(w, http.StatusBadRequest, "STRING_TOO_LONG", "Body: data value too large: max length=4000", "CommentBody")
		return
	}
	cm := CRMComment{Body: in.CommentBody, Dialect: "salesforce"}
	if m := sfCommentMarker.FindStringSubmatch(in.CommentBody); m != nil {
		cm.IdempotencyKey = m[1] // shown in the ledger; never used to dedupe
	}
	id, _, ok := c.addComment(in.ParentId, cm, false)
	if !ok {
		sfFail(w, http.StatusBadRequest, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", "ParentId")
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"id": id, "success": true, "errors": []any{}})
}

// parsePartOf reads "part N of M" from a description.
var partOf = regexp.MustCompile(`part (\d+) of (\d+)`)

func parsePartOf(s string, a *CRMAttachment) {
	if m := partOf.FindStringSubmatch(s); m != nil {
		a.Part, a.Parts = atoi(m[1]), atoi(m[2])
	}
}

func atoi(s string) int {
	n := 0
	for _, r := range s {
		if r < '0' || r > '9' {
			return 0
		}
		n = n*10 + int(r-'0')
	}
	return n
}
