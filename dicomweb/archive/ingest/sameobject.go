package ingest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/minipacs/minipacs/dicomweb/dicom/part10"
	"github.com/minipacs/minipacs/index"
)

// sameDataSet reports whether a new part holds the same instance as the
// stored object of ref although their bytes differ: the same transfer
// syntax and byte for byte the same data set, only the file meta group
// (0002) differing. Each front door writes its own meta group (DIMSE
// builds one, a STOW client sends the file's own), so the same instance
// reaching the archive through two doors is a re-send, not a conflict.
// Any doubt (a stored object without a meta group length, a read error)
// answers false: the caller then refuses the part as a duplicate, as it
// would without this check.
func (g *Ingester) sameDataSet(ctx context.Context, ref *index.Ref, f *part10.File, p *Part) (bool, error) {
	if ref.TransferSyntaxUID != f.TransferSyntax.UID {
		return false, nil
	}
	ctx, cancel := context.WithTimeout(ctx, g.timeout)
	defer cancel()
	rc, size, err := g.store.Get(ctx, ref.ObjectKey)
	if err != nil {
		return false, fmt.Errorf("read the stored object: %w", err)
	}
	defer rc.Close()
	stored := bufio.NewReaderSize(rc, 64<<10)
	off, err := part10.MetaEnd(stored)
	if err != nil || size-off != p.Size-f.DataSetOffset {
		return false, nil
	}
	return sameBytes(stored, io.NewSectionReader(p.f, f.DataSetOffset, p.Size-f.DataSetOffset))
}

// sameBytes compares two streams to their ends.
func sameBytes(a, b io.Reader) (bool, error) {
	bufA, bufB := make([]byte, 64<<10), make([]byte, 64<<10)
	for {
		na, errA := io.ReadFull(a, bufA)
		nb, errB := io.ReadFull(b, bufB)
		if na != nb || !bytes.Equal(bufA[:na], bufB[:nb]) {
			return false, nil
		}
		endA := errA == io.EOF || errA == io.ErrUnexpectedEOF
		endB := errB == io.EOF || errB == io.ErrUnexpectedEOF
		switch {
		case errA != nil && !endA:
			return false, errA
		case errB != nil && !endB:
			return false, errB
		case endA || endB:
			return endA && endB, nil
		}
	}
}
