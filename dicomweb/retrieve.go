package dicomweb

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/minipacs/minipacs/dicomweb/part10"
	"github.com/minipacs/minipacs/index"
)

// retrieve handles WADO-RS retrieval of a study, series or instance as
// multipart/related; type="application/dicom", streamed object by object.
func (s *Server) retrieve(c echo.Context) error {
	ctx := c.Request().Context()
	study, series, instance, err := uids(c)
	if err != nil {
		return err
	}
	refs, err := s.refs(ctx, study, series, instance)
	if err != nil {
		return err
	}
	choices := acceptDICOM(c.Request().Header.Get("Accept"), instance != "")
	if len(choices) == 0 {
		return notAcceptable("this resource is available as multipart/related; type=\"application/dicom\"")
	}
	// Decide every instance's syntax before the first byte is sent.
	syntaxes := make([]string, len(refs))
	single := false
	for i, ref := range refs {
		ts, _ := part10.LookupTransferSyntax(ref.TransferSyntaxUID)
		ok := false
		for _, ch := range choices {
			if uid, yes := pickSyntax(ch, ts); yes {
				syntaxes[i], single, ok = uid, ch.singlePart, true
				break
			}
		}
		if !ok {
			return notAcceptable("an instance is stored in a transfer syntax that cannot be converted to the one requested; ask with transfer-syntax=*")
		}
	}

	if single && len(refs) == 1 {
		rc, size, err := s.store.Get(ctx, refs[0].ObjectKey)
		if err != nil {
			return fmt.Errorf("retrieve: %w", err)
		}
		defer rc.Close()
		h := c.Response().Header()
		h.Set(echo.HeaderContentType, "application/dicom; transfer-syntax="+syntaxes[0])
		h.Set(echo.HeaderContentLength, itoa(size))
		c.Response().WriteHeader(http.StatusOK)
		_, err = io.Copy(c.Response(), rc)
		return err
	}

	pw := newPartWriter(c, "application/dicom")
	for i, ref := range refs {
		rc, size, err := s.store.Get(ctx, ref.ObjectKey)
		if err != nil {
			return fmt.Errorf("retrieve %d of %d: %w", i+1, len(refs), err)
		}
		w := pw.part("application/dicom; transfer-syntax="+syntaxes[i], size)
		_, err = io.Copy(w, rc)
		rc.Close()
		if err != nil {
			return fmt.Errorf("retrieve: copy: %w", err)
		}
		pw.endPart()
	}
	return pw.close()
}

// refs lists the instances a path names: one instance, a series or a study.
func (s *Server) refs(ctx context.Context, study, series, instance string) ([]index.Ref, error) {
	if instance != "" {
		ref, err := s.idx.Instance(ctx, study, series, instance)
		if err != nil {
			return nil, err
		}
		return []index.Ref{*ref}, nil
	}
	return s.idx.Refs(ctx, study, series)
}

// delete removes a study, series or instance: index entries first (one
// commit), then the objects.
func (s *Server) delete(c echo.Context) error {
	ctx := c.Request().Context()
	study, series, instance, err := uids(c)
	if err != nil {
		return err
	}
	keys, err := s.idx.Delete(ctx, study, series, instance)
	if err != nil {
		return err
	}
	s.ing.DeleteObjects(context.WithoutCancel(ctx), keys...)
	s.log.Info("deleted", "study", study, "series", series, "instance", instance, "objects", len(keys))
	return c.NoContent(http.StatusNoContent)
}
