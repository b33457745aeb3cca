package crm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strings"
)

// SalesforceMaxPartBytes is the largest file part the Salesforce adapter
// sends: a ContentVersion inserted with a multipart body may hold 2 GB
// (REST API Developer Guide, "Insert or Update Blob Data"; a non-multipart
// base64 body would be limited to 37.5 MB of data).
const SalesforceMaxPartBytes = 2_000_000_000

// sfReason is the ContentVersion.ReasonForChange that marks a key.
func sfReason(key string) string { return "holdline:" + key }

// MaxPartBytes is the largest Attachment part AttachFile accepts (2 GB).
func (s *Salesforce) MaxPartBytes() int64 { return SalesforceMaxPartBytes }

// AttachFile adds a ContentVersion published to the case: the part's
// bytes as a multipart insert (REST API Developer Guide, "Insert or Update
// Blob Data": the JSON field data first, then the binary VersionData),
// streamed from a.Body and never held in memory, or a link as ContentUrl.
// ContentVersion cannot be upserted, so ReasonForChange carries
// "holdline:KEY" and the adapter first queries for it: a replay returns
// the earlier version's id. Description says "part N of M". A part larger
// than MaxPartBytes is refused before anything is sent. It reads a.Body
// but does not close it.
func (s *Salesforce) AttachFile(ctx context.Context, recordID string, a Attachment, idemKey string) (string, error) {
	if a.Size > SalesforceMaxPartBytes {
		return "", fmt.Errorf("crm: attach content version: part of %d bytes is over Salesforce's %d-byte file limit", a.Size, int64(SalesforceMaxPartBytes))
	}
	fields := map[string]any{"Title": a.Name, "FirstPublishLocationId": recordID}
	if p := partLabel(a); p != "" {
		fields["Description"] = "holdline recording " + p
	}
	if idemKey != "" {
		fields["ReasonForChange"] = sfReason(idemKey)
		var found string
		q := "SELECT Id FROM ContentVersion WHERE ReasonForChange = " + soqlQuote(sfReason(idemKey)) + " LIMIT 1"
		err := sfQuery(ctx, s, q, func(r struct {
			ID string `json:"Id"`
		}) bool {
			found = r.ID
			return false
		})
		if err != nil {
			return "", fmt.Errorf("crm: attach content version: find earlier: %w", err)
		}
		if found != "" {
			return found, nil
		}
	}
	var answer struct{ ID string }
	var err error
	if a.Link != "" {
		fields["ContentUrl"] = a.Link
		var req *http.Request
		req, err = s.c.jsonRequest(ctx, http.MethodPost, sfAPI+"/sobjects/ContentVersion", fields, "")
		if err == nil {
			err = s.write(req, &answer)
		}
	} else {
		fields["PathOnClient"] = a.Name
		err = s.postVersionData(ctx, fields, a, &answer)
	}
	if err != nil {
		return "", fmt.Errorf("crm: attach content version: %w", err)
	}
	return answer.ID, nil
}

// postVersionData posts fields and a.Body as a multipart/form-data
// ContentVersion insert: part "entity_content" (application/json) with
// the fields, then part "VersionData" with the bytes, copied from a.Body
// as the transport reads. It returns only once it has stopped reading
// a.Body.
func (s *Salesforce) postVersionData(ctx context.Context, fields map[string]any, a Attachment, out any) error {
	meta, err := json.Marshal(fields)
	if err != nil {
		return err
	}
	src := a.Body
	if src == nil {
		src = strings.NewReader("")
	}
	ct := a.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	req, err := s.c.newRequest(ctx, http.MethodPost, sfAPI+"/sobjects/ContentVersion", pr, "")
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if a.Size > 0 && a.Body != nil {
		req.ContentLength = multipartLength(mw.Boundary(), meta, a.Name, ct, a.Size)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		pw.CloseWithError(writeVersionData(mw, meta, a.Name, ct, src))
	}()
	err = s.write(req, out)
	_ = pr.CloseWithError(errors.New("request finished"))
	<-done
	return err
}

// writeVersionData writes the two parts of a ContentVersion insert.
func writeVersionData(mw *multipart.Writer, meta []byte, name, ct string, src io.Reader) error {
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="entity_content"`)
	h.Set("Content-Type", "application/json")
	w, err := mw.CreatePart(h)
	if err != nil {
		return err
	}
	if _, err := w.Write(meta); err != nil {
		return err
	}
	h = textproto.MIMEHeader{}
	h.Set("Content-Disposition", multipartDisposition("VersionData", name))
	h.Set("Content-Type", ct)
	if w, err = mw.CreatePart(h); err != nil {
		return err
	}
	if _, err := io.Copy(w, src); err != nil {
		return err
	}
	return mw.Close()
}

// multipartDisposition is a form-data Content-Disposition with a file
// name, quoted as mime/multipart quotes it.
func multipartDisposition(field, file string) string {
	q := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	return fmt.Sprintf(`form-data; name="%s"; filename="%s"`, q.Replace(field), q.Replace(file))
}

// multipartLength is the exact length writeVersionData produces for a
// body of size bytes, computed by writing the framing alone, so the
// request can carry a Content-Length.
func multipartLength(boundary string, meta []byte, name, ct string, size int64) int64 {
	var n countWriter
	mw := multipart.NewWriter(&n)
	_ = mw.SetBoundary(boundary)
	_ = writeVersionData(mw, meta, name, ct, strings.NewReader(""))
	return int64(n) + size
}

// countWriter counts the bytes written to it.
type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) {
	*c += countWriter(len(p))
	return len(p), nil
}
