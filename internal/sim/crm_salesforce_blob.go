package sim

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
)

// Blob limits from the REST API Developer Guide, "Insert or Update Blob
// Data": a ContentVersion inserted with a multipart body may hold up to
// 2 GB; a non-multipart (JSON, base64 VersionData) body is limited to
// 50 MB of text or 37.5 MB of base64-encoded data. The simulator reads MB
// as 10^6 bytes, the stricter reading.
const (
	sfMultipartMax  = 2_000_000_000
	sfJSONBodyMax   = 50_000_000
	sfJSONBase64Max = 37_500_000
)

// sfVersionFields are the ContentVersion fields holdline sets.
type sfVersionFields struct {
	Title                  string
	PathOnClient           string
	Description            string
	ReasonForChange        string
	FirstPublishLocationId string
	ContentUrl             string
	VersionData            []byte // JSON form only (base64)
}

// sfContentVersion answers POST sobjects/ContentVersion, published to
// FirstPublishLocationId, in either form the guide documents:
//
//   - multipart/form-data: the first part is the non-binary field data
//     (JSON, named entity_content), the second the binary VersionData
//     (Content-Disposition name "VersionData"), up to 2 GB;
//   - application/json: VersionData base64 in the JSON (refused with 413
//     past 50 MB of body or 37.5 MB of decoded data), or ContentUrl for a
//     link.
//
// It never deduplicates; ReasonForChange is kept (as the attachment's
// idempotency_key) for clients to query.
func (c *CRM) sfContentVersion(w http.ResponseWriter, r *http.Request) {
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var (
		in   sfVersionFields
		a    CRMAttachment
		fail bool
	)
	if mt == "multipart/form-data" {
		in, a, fail = c.sfVersionMultipart(w, r, params["boundary"])
	} else {
		in, a, fail = c.sfVersionJSON(w, r)
	}
	if fail {
		return
	}
	if in.ContentUrl == "" && in.PathOnClient == "" {
		sfFail(w, http.StatusBadRequest, "REQUIRED_FIELD_MISSING", "Required fields are missing: [PathOnClient]", "PathOnClient")
		return
	}
	a.Name, a.Link, a.Dialect, a.IdempotencyKey = in.Title, in.ContentUrl, "salesforce", in.ReasonForChange
	parsePartOf(in.Description, &a)
	id, _, ok := c.addAttachment(in.FirstPublishLocationId, a, false)
	if !ok {
		sfFail(w, http.StatusBadRequest, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", "FirstPublishLocationId")
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"id": id, "success": true, "errors": []any{}})
}

// sfVersionJSON reads a non-multipart insert and enforces its limits.
func (c *CRM) sfVersionJSON(w http.ResponseWriter, r *http.Request) (sfVersionFields, CRMAttachment, bool) {
	var in sfVersionFields
	tooLarge := func() (sfVersionFields, CRMAttachment, bool) {
		sfFail(w, http.StatusRequestEntityTooLarge, "REQUEST_ENTITY_TOO_LARGE",
			"a non-multipart blob insert is limited to 50 MB of text or 37.5 MB of base64-encoded data; use a multipart request", "VersionData")
		return in, CRMAttachment{}, true
	}
	if r.ContentLength > sfJSONBodyMax {
		return tooLarge()
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, sfJSONBodyMax)).Decode(&in); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return tooLarge()
		}
		sfFail(w, http.StatusBadRequest, "JSON_PARSER_ERROR", err.Error())
		return in, CRMAttachment{}, true
	}
	if len(in.VersionData) > sfJSONBase64Max {
		return tooLarge()
	}
	var a CRMAttachment
	if in.ContentUrl == "" {
		sum := sha256.Sum256(in.VersionData)
		a.Size, a.SHA256 = int64(len(in.VersionData)), hex.EncodeToString(sum[:])
	}
	return in, a, false
}

// sfVersionMultipart reads a multipart insert: the field data, then the
// VersionData bytes, hashed as they stream in.
func (c *CRM) sfVersionMultipart(w http.ResponseWriter, r *http.Request, boundary string) (sfVersionFields, CRMAttachment, bool) {
	var in sfVersionFields
	bad := func(msg string) (sfVersionFields, CRMAttachment, bool) {
		sfFail(w, http.StatusBadRequest, "INVALID_MULTIPART_REQUEST", msg)
		return in, CRMAttachment{}, true
	}
	if boundary == "" {
		return bad("multipart request has no boundary")
	}
	mr := multipart.NewReader(http.MaxBytesReader(w, r.Body, sfMultipartMax+maxJSONBody), boundary)
	first, err := mr.NextPart()
	if err != nil {
		return bad("Multipart message must include a non-binary part")
	}
	if ct, _, _ := mime.ParseMediaType(first.Header.Get("Content-Type")); ct != "application/json" {
		return bad("Multipart message must include a non-binary part first (application/json)")
	}
	if err := json.NewDecoder(io.LimitReader(first, maxJSONBody)).Decode(&in); err != nil {
		sfFail(w, http.StatusBadRequest, "JSON_PARSER_ERROR", err.Error())
		return in, CRMAttachment{}, true
	}
	if in.VersionData != nil {
		return bad("VersionData must be the binary part, not a field of the JSON part")
	}
	blob, err := mr.NextPart()
	if err != nil {
		return bad("Multipart message must include a binary part")
	}
	if name := blob.FormName(); !strings.EqualFold(name, "VersionData") {
		return bad("the binary part must be named VersionData, not " + name)
	}
	var a CRMAttachment
	a.ContentType = blob.Header.Get("Content-Type")
	n, sum, err := digest(io.LimitReader(blob, sfMultipartMax+1))
	if err != nil {
		return bad("reading the binary part: " + err.Error())
	}
	if n > sfMultipartMax {
		sfFail(w, http.StatusRequestEntityTooLarge, "REQUEST_ENTITY_TOO_LARGE", "a ContentVersion file is limited to 2 GB", "VersionData")
		return in, CRMAttachment{}, true
	}
	if _, err := mr.NextPart(); !errors.Is(err, io.EOF) {
		return bad("a ContentVersion insert takes one binary part")
	}
	a.Size, a.SHA256 = n, sum
	return in, a, false
}
