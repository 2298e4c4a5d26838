package query

import (
	"fmt"

	"github.com/minipacs/minipacs/index"
)

// Key is one key of a query given as a data set (a C-FIND identifier): its
// tag, VR and value, decoded to UTF-8, values separated by '\' as in the
// encoded data set ("" = universal matching: a return key).
//
// For a Sequence key (an SQ key: return only), Value is "" when its items
// hold only zero-length keys; anything else asks for sequence matching,
// which FromKeys refuses.
type Key struct {
	Tag      uint32
	VR       string
	Value    string
	Sequence bool
}

// maxKeys bounds the keys of one data set query.
const maxKeys = 1024

// Tags that are part of an identifier without being query keys.
const tagQueryRetrieveLevel uint32 = 0x00080052

// FromKeys validates a search given as a data set, the identifier of a
// C-FIND (PS3.4 C.4.1), at level (there is no path: no UID is fixed). Its
// matching is that of Parse, with the differences of a DICOM value:
//
//   - a value is one DICOM value: '\' separates its values, a ',' is a
//     character of it in every VR (CS and UI included);
//   - `""` is two quote characters, not empty value matching;
//   - a key of a level below the query level is ignored (and not
//     returned) when it does not constrain the match (empty, or only '*'),
//     and is an *Error otherwise; Modality and SOPClassUID are not
//     translated to their study-level counterparts;
//   - SpecificCharacterSet (0008,0005), QueryRetrieveLevel (0008,0052),
//     group lengths and the groups 0000 and 0002 are not keys: ignored.
//
// The returned fields are exactly the keys kept, plus the unique keys of
// the query level and of the levels above it (StudyInstanceUID;
// SeriesInstanceUID at series and instance level; SOPInstanceUID at
// instance level), as a C-FIND answer carries them. There is no limit but
// the Options' one. Client mistakes are *Error.
func FromKeys(level index.Level, keys []Key, opt Options) (*Request, error) {
	if level < index.LevelStudy || level > index.LevelInstance {
		return nil, fmt.Errorf("query: from keys: invalid level %d", level)
	}
	if len(keys) > maxKeys {
		return nil, errorf("too many keys")
	}
	r := newRequest(level, "", "")
	s := &search{form: formDataSet}
	fields := fieldSet{}
	for _, k := range keys {
		group := k.Tag >> 16
		switch {
		case group == 0x0000, group == 0x0002, k.Tag&0xFFFF == 0,
			k.Tag == tagSpecificCharacterSet, k.Tag == tagQueryRetrieveLevel:
			continue
		}
		ak, err := resolveOne(fmt.Sprintf("%08X", k.Tag))
		if err != nil {
			return nil, err
		}
		if k.Sequence {
			ak.seq = true
			if k.Value != "" {
				return nil, errorf("matching inside sequences is not supported (%s)", ak.name)
			}
		}
		if ak.vr == "" && isVR(k.VR) && k.VR != "UN" && LevelOf(k.Tag) <= level {
			// A private or unknown return key is answered in the VR it was
			// asked with; it still cannot be matched on.
			fields.add(Field{k.Tag, k.VR})
		}
		if err := s.add(ak, k.Value); err != nil {
			return nil, err
		}
	}
	fields.add(Field{tagStudyInstanceUID, "UI"})
	if level >= index.LevelSeries {
		fields.add(Field{tagSeriesInstanceUID, "UI"})
	}
	if level == index.LevelInstance {
		fields.add(Field{tagSOPInstanceUID, "UI"})
	}
	if err := r.build(s, fields, opt); err != nil {
		return nil, err
	}
	return r, nil
}

// isVR reports whether s looks like a VR: two upper-case letters.
func isVR(s string) bool {
	return len(s) == 2 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z'
}
