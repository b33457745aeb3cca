package sim

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// SalesforceOptions tune the documented limits the Salesforce dialect
// enforces. The zero value is a large org: no daily limit to reach, no
// session expiry, and query batches of 2,000 records.
type SalesforceOptions struct {
	// DailyLimit, when positive, is the org's daily API request limit.
	// Every Salesforce request counts one; past the limit, requests get
	// 403 REQUEST_LIMIT_EXCEEDED (REST API Developer Guide, "Status Codes
	// and Error Responses") until the next UTC day. Every answer carries
	// Sforce-Limit-Info: api-usage=USED/LIMIT (REST API Developer Guide,
	// "Limit Info Header"), with a limit of 100,000 when DailyLimit is 0.
	DailyLimit int
	// SessionTimeout, when positive, is how long a bearer token stays
	// valid after its first use; afterwards every request with it gets 401
	// INVALID_SESSION_ID ("Status Codes and Error Responses": "The session
	// ID or OAuth token used has expired or is invalid"). A new token
	// starts a new session. See also CRM.ExpireSessions.
	SessionTimeout time.Duration
	// QueryBatch is how many records one query answer holds before it
	// sets done=false and a nextRecordsUrl (REST API Developer Guide,
	// "Query" and "Query More Results": up to 2,000 at a time). Default
	// 2,000; tests set it small to exercise paging.
	QueryBatch int
}

// sfDefaultDailyLimit is the limit shown in Sforce-Limit-Info when
// SalesforceOptions.DailyLimit is 0.
const sfDefaultDailyLimit = 100_000

// sfState is the Salesforce-only part of the simulator, guarded by CRM.mu.
type sfState struct {
	day  string // UTC date the usage counts for
	used int
	// sessions maps a bearer token to when it was first used; a zero time
	// means ExpireSessions expired it.
	sessions map[string]time.Time
	// cursors holds the rest of paged query results by query locator.
	cursors map[string][]map[string]any
}

// ExpireSessions ends every Salesforce session seen so far: requests with
// those bearer tokens get 401 INVALID_SESSION_ID from now on, as after a
// session timeout or a revoked token. A new token starts a new session.
func (c *CRM) ExpireSessions() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for t := range c.sf.sessions {
		c.sf.sessions[t] = time.Time{}
	}
}

// SalesforceUsage returns the API requests counted today and the daily
// limit, as Sforce-Limit-Info reports them.
func (c *CRM) SalesforceUsage() (used, limit int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sf.used, c.sfLimit()
}

func (c *CRM) sfLimit() int {
	if l := c.opts.Salesforce.DailyLimit; l > 0 {
		return l
	}
	return sfDefaultDailyLimit
}

// sfGate applies the org-wide rules to every Salesforce request before h:
// the session (401 INVALID_SESSION_ID), the daily limit (403
// REQUEST_LIMIT_EXCEEDED) and the Sforce-Limit-Info answer header.
func (c *CRM) sfGate(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		now := c.now()
		token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		c.mu.Lock()
		expired := false
		if token != "" {
			first, seen := c.sf.sessions[token]
			switch {
			case !seen:
				c.sf.sessions[token] = now
			case first.IsZero():
				expired = true
			case c.opts.Salesforce.SessionTimeout > 0 && now.Sub(first) >= c.opts.Salesforce.SessionTimeout:
				c.sf.sessions[token] = time.Time{}
				expired = true
			}
		}
		var over bool
		used, limit := 0, c.sfLimit()
		if !expired {
			if day := now.UTC().Format(time.DateOnly); day != c.sf.day {
				c.sf.day, c.sf.used = day, 0
			}
			if c.opts.Salesforce.DailyLimit > 0 && c.sf.used >= c.opts.Salesforce.DailyLimit {
				over = true
			} else {
				c.sf.used++
			}
			used = c.sf.used
		}
		c.mu.Unlock()
		switch {
		case expired:
			sfFail(w, http.StatusUnauthorized, "INVALID_SESSION_ID", "Session expired or invalid")
			return
		case over:
			w.Header().Set("Sforce-Limit-Info", fmt.Sprintf("api-usage=%d/%d", used, limit))
			sfFail(w, http.StatusForbidden, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
			return
		}
		w.Header().Set("Sforce-Limit-Info", fmt.Sprintf("api-usage=%d/%d", used, limit))
		h(w, r)
	}
}

// sfBatch returns the query batch size.
func (c *CRM) sfBatch() int {
	if b := c.opts.Salesforce.QueryBatch; b > 0 {
		return b
	}
	return 2000
}

// sfAnswerQuery writes the first batch of recs and keeps the rest under a
// query locator for sfQueryMore ("Query More Results").
func (c *CRM) sfAnswerQuery(w http.ResponseWriter, recs []map[string]any) {
	if recs == nil {
		recs = []map[string]any{}
	}
	total, batch := len(recs), c.sfBatch()
	out := map[string]any{"totalSize": total, "done": true, "records": recs}
	if total > batch {
		c.mu.Lock()
		loc := "01gSIM" + c.nextLocked("cursor")
		c.sf.cursors[loc] = recs[batch:]
		c.mu.Unlock()
		out["records"], out["done"] = recs[:batch], false
		out["nextRecordsUrl"] = sfPrefix + "/query/" + loc + "-" + strconv.Itoa(batch)
	}
	writeJSON(w, http.StatusOK, out)
}

// sfQueryMore answers GET query/{locator}-{offset} with the next batch of
// a paged query ("Query More Results"). An unknown locator is 400
// INVALID_QUERY_LOCATOR.
func (c *CRM) sfQueryMore(w http.ResponseWriter, r *http.Request) {
	loc, offStr, ok := strings.Cut(r.PathValue("locator"), "-")
	off, err := strconv.Atoi(offStr)
	c.mu.Lock()
	rest, found := c.sf.cursors[loc]
	if found {
		delete(c.sf.cursors, loc)
	}
	c.mu.Unlock()
	if !ok || err != nil || !found {
		sfFail(w, http.StatusBadRequest, "INVALID_QUERY_LOCATOR", "invalid query locator")
		return
	}
	total, batch := off+len(rest), c.sfBatch()
	out := map[string]any{"totalSize": total, "done": true, "records": rest}
	if len(rest) > batch {
		c.mu.Lock()
		c.sf.cursors[loc] = rest[batch:]
		c.mu.Unlock()
		out["records"], out["done"] = rest[:batch], false
		out["nextRecordsUrl"] = sfPrefix + "/query/" + loc + "-" + strconv.Itoa(off+batch)
	}
	writeJSON(w, http.StatusOK, out)
}
