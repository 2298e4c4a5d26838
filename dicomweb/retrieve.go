package dicomweb

import (
	"context"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/minipacs/minipacs/dicomweb/archive/retrieve"
	"github.com/minipacs/minipacs/dicomweb/dicom/part10"
	"github.com/minipacs/minipacs/dicomweb/dicom/pixels"
	"github.com/minipacs/minipacs/index"
)

// retrieve handles WADO-RS retrieval of a study, series or instance as
// multipart/related; type="application/dicom", streamed object by object:
// the stored bytes, or for native objects not stored as Explicit VR Little
// Endian, when that syntax is asked for (also by naming none), the object
// re-encoded on the fly (see retrieve.Service.Instance).
func (s *Server) retrieve(c echo.Context) error {
	ctx := c.Request().Context()
	study, series, instance, err := uids(c)
	if err != nil {
		return err
	}
	refs, err := s.ret.Refs(ctx, study, series, instance)
	if err != nil {
		return err
	}
	for _, r := range refs {
		touched(c, r.StudyUID, 1)
	}
	choices := acceptDICOM(acceptOf(c), instance != "")
	if len(choices) == 0 {
		return notAcceptable("this resource is available as multipart/related; type=\"application/dicom\"")
	}
	// Decide every instance's syntax before the first byte is sent.
	syntaxes := make([]string, len(refs))
	single := false
	for i := range refs {
		ref := &refs[i]
		ts, _ := part10.LookupTransferSyntax(ref.TransferSyntaxUID)
		decodable := ts.Encapsulated && pixels.CanDecode(ts.UID)
		ok := false
		for _, ch := range choices {
			uid, yes := pickSyntax(ch, ts, decodable)
			if yes && uid != ts.UID && !retrieve.CanSend(ref, uid) {
				yes = false // e.g. a DICOMDIR: never re-encoded
			}
			if yes {
				syntaxes[i], single, ok = uid, ch.singlePart, true
				break
			}
		}
		if !ok {
			return notAcceptable("an instance is stored in a transfer syntax that cannot be converted to the one requested; ask with transfer-syntax=*")
		}
	}

	if single && len(refs) == 1 {
		body, err := s.ret.Instance(ctx, &refs[0], syntaxes[0])
		if err != nil {
			return fmt.Errorf("retrieve: %w", err)
		}
		defer body.Close()
		h := c.Response().Header()
		h.Set(echo.HeaderContentType, "application/dicom; transfer-syntax="+syntaxes[0])
		if body.Size >= 0 {
			h.Set(echo.HeaderContentLength, itoa(body.Size))
		}
		c.Response().WriteHeader(http.StatusOK)
		return body.WriteTo(ctx, sendWriter{c.Response()})
	}

	pw := newPartWriter(c, "application/dicom")
	// When every instance goes as stored, the index knows every size: the
	// body's length is declared up front, so it is not chunked and the
	// objects go out by sendfile (see sendWriter).
	// A patient record (HL7 ADT) changes the objects' patient attributes
	// as they are sent: then the sizes are not the stored ones.
	pv, err := s.idx.PatientVersion(ctx, refs[0].StudyUID)
	if err != nil {
		return err
	}
	specs := make([]partSpec, len(refs))
	for i := range refs {
		specs[i] = partSpec{"application/dicom; transfer-syntax=" + syntaxes[i], -1}
		if ts, _ := part10.LookupTransferSyntax(refs[i].TransferSyntaxUID); syntaxes[i] == ts.UID && pv.IsZero() {
			specs[i].length = refs[i].Size // sent as stored
		}
	}
	pw.setLength(specs)
	for i := range refs {
		if err := s.sendInstance(ctx, pw, specs[i], &refs[i], syntaxes[i]); err != nil {
			return fmt.Errorf("retrieve %d of %d: %w", i+1, len(refs), err)
		}
	}
	return pw.close()
}

// sendInstance writes one part of a retrieve: the instance ref in
// transfer syntax uid.
func (s *Server) sendInstance(ctx context.Context, pw *partWriter, spec partSpec, ref *index.Ref, uid string) error {
	body, err := s.ret.Instance(ctx, ref, uid)
	if err != nil {
		return err
	}
	defer body.Close()
	if pw.length >= 0 && body.Size != spec.length {
		return fmt.Errorf("stored object has %d bytes, the index says %d", body.Size, spec.length)
	}
	pw.part(spec.contentType, body.Size)
	if err := body.WriteTo(ctx, sendWriter{pw.c.Response()}); err != nil {
		return err
	}
	pw.endPart()
	return nil
}
