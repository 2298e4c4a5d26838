package retrieve

import (
	"context"
	"fmt"
	"io"

	"github.com/minipacs/minipacs/dicomweb/dicom/part10"
	"github.com/minipacs/minipacs/dicomweb/dicom/pixels"
	"github.com/minipacs/minipacs/index"
	"github.com/minipacs/minipacs/storage"
)

// Index is what the service needs of the metadata index.
type Index interface {
	Instance(ctx context.Context, study, series, sop string) (*index.Ref, error)
	Refs(ctx context.Context, study, series string) ([]index.Ref, error)
}

// Service retrieves stored instances. It is safe for concurrent use.
type Service struct {
	idx     Index
	store   storage.Store
	renders *byteLRU
}

// renderCacheBytes bounds the cache of rendered pictures.
const renderCacheBytes = 64 << 20

// New returns the retrieve service over the index idx and the object store
// that holds the instances.
func New(idx Index, store storage.Store) *Service {
	return &Service{idx: idx, store: store, renders: newByteLRU(renderCacheBytes)}
}

// Ref looks up one instance (an error of kind NotFound when it is not
// stored).
func (s *Service) Ref(ctx context.Context, study, series, sop string) (*index.Ref, error) {
	return s.idx.Instance(ctx, study, series, sop)
}

// Refs lists the instances of a study (series and sop empty), a series
// (sop empty) or the one instance sop, in the index's order.
func (s *Service) Refs(ctx context.Context, study, series, sop string) ([]index.Ref, error) {
	if sop != "" {
		ref, err := s.idx.Instance(ctx, study, series, sop)
		if err != nil {
			return nil, err
		}
		return []index.Ref{*ref}, nil
	}
	return s.idx.Refs(ctx, study, series)
}

// CanSend reports whether Instance can send ref in transfer syntax uid:
// as stored, or re-encoded as Explicit VR Little Endian or Implicit VR
// Little Endian (the default syntax of DIMSE peers) when ref is native (in
// another syntax) or encapsulated in a syntax this build decodes. A
// DICOMDIR, which holds file offsets, is only sent as stored.
func CanSend(ref *index.Ref, uid string) bool {
	if uid == ref.TransferSyntaxUID {
		return true
	}
	ts, ok := part10.LookupTransferSyntax(ref.TransferSyntaxUID)
	if !ok || !reencodeTarget(uid) || ref.SOPClassUID == part10.MediaStorageDirectoryStorage {
		return false
	}
	return !ts.Encapsulated || pixels.CanDecode(ts.UID)
}

// reencodeTarget reports whether uid is a syntax Instance re-encodes to.
func reencodeTarget(uid string) bool {
	return uid == part10.ExplicitVRLittleEndian || uid == part10.ImplicitVRLittleEndian
}

// Instance prepares instance ref for sending in transfer syntax want: the
// stored bytes when want is the stored syntax (Size is then ref.Size, or
// what the store says), or else the object re-encoded as want, Explicit
// VR Little Endian or Implicit VR Little Endian, decoding its pixel data
// when it is encapsulated (Size -1). For that the stored object is parsed
// again (its structure is not in the index), front to back, skipping bulk
// values; the parse, and so any error it finds, happens here, before the
// caller writes anything. A syntax that CanSend refuses is
// ErrCannotConvert; an object that cannot be written in want (see
// part10.CanWriteNative and part10.CanWriteDecoded; in Implicit VR, e.g. a
// sequence sent as UN) is part10.ErrNotReencodable. When a patient record
// gives the study its patient attributes (PatientRecords), the object
// carries them in place of its own: spliced into the stored bytes (the
// size is then the spliced size; a deflated object is sent as stored),
// or written by the re-encoding writers.
func (s *Service) Instance(ctx context.Context, ref *index.Ref, want string) (*Body, error) {
	ts, _ := part10.LookupTransferSyntax(ref.TransferSyntaxUID)
	patient, err := s.patientAttrs(ctx, ref)
	if err != nil {
		return nil, err
	}
	if want == ref.TransferSyntaxUID || want == ts.UID {
		if patient != nil && !ts.Deflated {
			// The record's patient attributes spliced into the stored
			// bytes (patient.go).
			open := s.opener(ref)
			f, err := s.parse(ctx, ref, open)
			if err != nil {
				return nil, err
			}
			if edits, ok := patientSplice(f, ref.Size, patient); ok {
				return splicedBody(open, ref.Size, edits), nil
			}
		}
		return s.Stored(ctx, ref)
	}
	if !CanSend(ref, want) {
		return nil, fmt.Errorf("instance in %s: %w", want, ErrCannotConvert)
	}
	if ts.Encapsulated {
		im, err := s.Image(ctx, ref)
		if err != nil {
			return nil, fmt.Errorf("decode stored object: %w", err)
		}
		if patient != nil {
			patchDataSet(im.file, patient)
		}
		if err := part10.CanWriteDecoded(im.file, want); err != nil {
			return nil, fmt.Errorf("decode stored object: %w", err)
		}
		px := im.decodedPixels()
		return &Body{
			Size: -1, // known only after decoding
			write: func(ctx context.Context, w io.Writer) error {
				return part10.WriteDecoded(ctx, w, im.file, im.open, want, px)
			},
		}, nil
	}
	open := s.opener(ref)
	f, err := s.parse(ctx, ref, open)
	if err != nil {
		return nil, err
	}
	if patient != nil {
		patchDataSet(f, patient)
	}
	if err := part10.CanWriteNative(f, want); err != nil {
		return nil, fmt.Errorf("re-encode stored object: %w", err)
	}
	size, ok := part10.NativeLength(f, want)
	if !ok {
		return nil, fmt.Errorf("re-encode stored object: %w: its encoded length is unknown", ErrStoredObject)
	}
	return &Body{
		Size: size,
		write: func(ctx context.Context, w io.Writer) error {
			return part10.WriteNative(ctx, w, f, open, want)
		},
	}, nil
}

// Stored is the stored object of ref, byte for byte (what its SHA-256
// was computed on), whatever a patient record says.
func (s *Service) Stored(ctx context.Context, ref *index.Ref) (*Body, error) {
	rc, size, err := s.store.Get(ctx, ref.ObjectKey)
	if err != nil {
		return nil, fmt.Errorf("open stored object: %w", err)
	}
	return &Body{
		Size:  size,
		write: func(_ context.Context, w io.Writer) error { return copyStored(w, rc, size) },
		close: func() { rc.Close() },
	}, nil
}

// parse parses the stored object of ref again (skipping bulk values).
func (s *Service) parse(ctx context.Context, ref *index.Ref, open part10.OpenFunc) (*part10.File, error) {
	ra := part10.NewObjectReader(ctx, open, ref.Size)
	f, err := part10.Parse(ctx, ra, ref.Size, part10.Limits{})
	ra.Close()
	if err != nil {
		return nil, storedError(ctx, "parse stored object", ra.Err(), err)
	}
	return f, nil
}

// opener returns ranged reads of the instance's object; n < 0 reads to the
// end of the object.
func (s *Service) opener(ref *index.Ref) part10.OpenFunc {
	key, size := ref.ObjectKey, ref.Size
	return func(ctx context.Context, off, n int64) (io.ReadCloser, error) {
		if n < 0 {
			n = size - off
		}
		return storage.GetRange(ctx, s.store, key, off, n)
	}
}

// layout decodes the frame and bulk layout the index keeps of ref.
func layout(ctx context.Context, ref *index.Ref) (*part10.Layout, error) {
	lay := new(part10.Layout)
	if err := lay.UnmarshalBinary(ref.Layout); err != nil {
		return nil, storedError(ctx, "layout of a stored instance", nil, err)
	}
	return lay, nil
}
