package dimse

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/minipacs/minipacs/dicomweb/archive/worklist"
	"github.com/minipacs/minipacs/dicomweb/dicom/charset"
	"github.com/minipacs/minipacs/dicomweb/dicom/dicomjson"
	"github.com/minipacs/minipacs/dicomweb/dicom/part10"
)

// ModalityWorklistFind is the Modality Worklist Information Model - FIND
// SOP class (PS3.4 K.6.1).
const ModalityWorklistFind = "1.2.840.10008.5.1.4.31"

// Worklist searches the scheduled procedure steps (*worklist.Service).
type Worklist interface {
	Find(ctx context.Context, f worklist.Filter, fn func(*worklist.Order) error) error
}

// Worklist attributes (PS3.4 K.6.1.2.2).
const (
	tagSPSSequence             = 0x00400100
	tagScheduledStationAE      = 0x00400001
	tagSPSStartDate            = 0x00400002
	tagSPSStartTime            = 0x00400003
	tagPerformingPhysician     = 0x00400006
	tagSPSDescription          = 0x00400007
	tagSPSID                   = 0x00400009
	tagSPSStatus               = 0x00400020
	tagRequestedProcedureID    = 0x00401001
	tagRequestedProcedureDesc  = 0x00321060
	tagReferringPhysician      = 0x00080090
	tagAccessionNumber         = 0x00080050
	tagModalityTag             = 0x00080060
	tagPatientName             = 0x00100010
	tagPatientBirthDate        = 0x00100030
	tagPatientSex              = 0x00100040
	tagSpecificCharacterSet    = 0x00080005
	tagStudyInstanceUIDTag     = 0x0020000D
	tagPatientIDTag            = 0x00100020
	tagIssuerOfPatientIDTag    = 0x00100021
	tagPlacerOrderNumber       = 0x00402016
	tagFillerOrderNumber       = 0x00402017
	tagScheduledStationNameTag = 0x00400010
)

// mwlAttr is a worklist attribute we answer: its VR and where the order
// keeps it.
type mwlAttr struct {
	vr  string
	get func(o *worklist.Order) string
	// set puts a matching value into the filter (nil: return key only).
	set func(f *worklist.Filter, v string) error
}

// mwlTop are the top-level attributes of a worklist item; mwlStep those of
// the Scheduled Procedure Step Sequence item.
var (
	mwlTop = map[uint32]mwlAttr{
		tagAccessionNumber:        {"SH", func(o *worklist.Order) string { return o.AccessionNumber }, func(f *worklist.Filter, v string) error { f.AccessionNumber = v; return nil }},
		tagReferringPhysician:     {"PN", func(o *worklist.Order) string { return o.ReferringPhysicianName }, func(f *worklist.Filter, v string) error { f.ReferringPhysicianName = v; return nil }},
		tagPatientName:            {"PN", func(o *worklist.Order) string { return o.PatientName }, func(f *worklist.Filter, v string) error { f.PatientName = v; return nil }},
		tagPatientIDTag:           {"LO", func(o *worklist.Order) string { return o.PatientID }, func(f *worklist.Filter, v string) error { f.PatientID = v; return nil }},
		tagIssuerOfPatientIDTag:   {"LO", func(o *worklist.Order) string { return o.IssuerOfPatientID }, func(f *worklist.Filter, v string) error { f.IssuerOfPatientID = v; return nil }},
		tagPatientBirthDate:       {"DA", func(o *worklist.Order) string { return o.PatientBirthDate }, nil},
		tagPatientSex:             {"CS", func(o *worklist.Order) string { return o.PatientSex }, nil},
		tagStudyInstanceUIDTag:    {"UI", func(o *worklist.Order) string { return o.StudyInstanceUID }, func(f *worklist.Filter, v string) error { f.StudyInstanceUID = v; return nil }},
		tagRequestedProcedureDesc: {"LO", func(o *worklist.Order) string { return o.RequestedProcedureDescription }, func(f *worklist.Filter, v string) error { f.RequestedProcedureDescription = v; return nil }},
		tagRequestedProcedureID:   {"SH", func(o *worklist.Order) string { return o.RequestedProcedureID }, func(f *worklist.Filter, v string) error { f.RequestedProcedureID = v; return nil }},
		tagPlacerOrderNumber:      {"LO", func(o *worklist.Order) string { return o.PlacerOrder }, nil},
		tagFillerOrderNumber:      {"LO", func(o *worklist.Order) string { return o.FillerOrder }, nil},
	}
	mwlStep = map[uint32]mwlAttr{
		tagModalityTag:        {"CS", func(o *worklist.Order) string { return o.Modality }, func(f *worklist.Filter, v string) error { f.Modality = v; return nil }},
		tagScheduledStationAE: {"AE", func(o *worklist.Order) string { return o.StationAETitle }, func(f *worklist.Filter, v string) error { f.StationAETitle = v; return nil }},
		tagSPSStartDate: {"DA", func(o *worklist.Order) string { return o.StartDate }, func(f *worklist.Filter, v string) (err error) {
			f.StartDateLow, f.StartDateHigh, err = worklist.ParseDateRange(v)
			return err
		}},
		tagSPSStartTime: {"TM", func(o *worklist.Order) string { return o.StartTime }, func(f *worklist.Filter, v string) error {
			low, high, isRange := strings.Cut(v, "-")
			if !isRange {
				high = low
			}
			f.StartTimeLow, f.StartTimeHigh = low, high
			return nil
		}},
		tagPerformingPhysician:     {"PN", func(o *worklist.Order) string { return o.PerformingPhysicianName }, func(f *worklist.Filter, v string) error { f.PerformingPhysicianName = v; return nil }},
		tagSPSDescription:          {"LO", func(o *worklist.Order) string { return o.StepDescription }, func(f *worklist.Filter, v string) error { f.StepDescription = v; return nil }},
		tagSPSID:                   {"SH", func(o *worklist.Order) string { return o.StepID }, func(f *worklist.Filter, v string) error { f.StepID = v; return nil }},
		tagSPSStatus:               {"CS", func(o *worklist.Order) string { return o.Status }, func(f *worklist.Filter, v string) error { f.Statuses = strings.Split(v, `\`); return nil }},
		tagScheduledStationNameTag: {"SH", func(*worklist.Order) string { return "" }, nil},
	}
)

// mwlRequest is a decoded worklist identifier: the filter, and the return
// keys asked at the top level and in the step item (in tag order).
type mwlRequest struct {
	filter  worklist.Filter
	top     []uint32
	step    []uint32
	seq     bool // the Scheduled Procedure Step Sequence was asked for
	charset []string
}

// decodeWorklist reads a Modality Worklist C-FIND identifier. Unknown keys
// are answered zero-length (top level) or left out (step item).
func decodeWorklist(b []byte, ts string) (*mwlRequest, error) {
	f, err := parseDataSet(b, ts)
	if err != nil {
		return nil, err
	}
	dec, _ := charset.New(f.CharacterSet)
	req := &mwlRequest{}
	if f.DataSet.Find(part10.TagSpecificCharacterSet) != nil {
		req.charset = f.CharacterSet
	}
	value := func(e *part10.Element) string { return strings.Join(dicomjson.Values(f, dec, e), `\`) }
	apply := func(attrs map[uint32]mwlAttr, tag uint32, e *part10.Element) error {
		if a, ok := attrs[tag]; ok && a.set != nil {
			if v := value(e); v != "" && !onlyWildcards(v) {
				return a.set(&req.filter, v)
			}
		}
		return nil
	}
	for _, e := range f.DataSet.Elements {
		tag := uint32(e.Tag)
		switch {
		case e.Tag.Group() == 0x0000 || e.Tag.Group() == 0x0002 || e.Tag.Element() == 0 || tag == tagSpecificCharacterSet:
			continue
		case tag == tagSPSSequence:
			req.seq = true
			if len(e.Items) == 0 {
				continue
			}
			for _, se := range e.Items[0].Elements {
				st := uint32(se.Tag)
				if se.Tag.Element() == 0 {
					continue
				}
				req.step = append(req.step, st)
				if err := apply(mwlStep, st, se); err != nil {
					return nil, err
				}
			}
			continue
		}
		req.top = append(req.top, tag)
		if err := apply(mwlTop, tag, e); err != nil {
			return nil, err
		}
	}
	slices.Sort(req.top)
	slices.Sort(req.step)
	return req, nil
}

func onlyWildcards(v string) bool { return strings.Trim(v, "*") == "" }

// encodeWorkitem is the identifier of one worklist answer.
func encodeWorkitem(o *worklist.Order, req *mwlRequest, ts string) []byte {
	w := dsWriter{explicit: ts != part10.ImplicitVRLittleEndian}
	item := dsWriter{explicit: w.explicit}
	ascii := true
	check := func(s string) string {
		for i := 0; i < len(s); i++ {
			if s[i] >= 0x80 {
				ascii = false
			}
		}
		return s
	}
	for _, t := range req.step {
		if a, ok := mwlStep[t]; ok {
			item.str(t, a.vr, check(a.get(o)))
		}
	}
	type el struct {
		tag uint32
		vr  string
		v   string
	}
	var top []el
	for _, t := range req.top {
		a, ok := mwlTop[t]
		if !ok {
			top = append(top, el{t, "", ""})
			continue
		}
		top = append(top, el{t, a.vr, check(a.get(o))})
	}
	// SpecificCharacterSet first: what the values need.
	switch {
	case !ascii:
		w.str(tagSpecificCharacterSet, "CS", "ISO_IR 192")
	case req.charset != nil:
		w.str(tagSpecificCharacterSet, "CS", strings.Join(req.charset, `\`))
	}
	wroteSeq := false
	writeSeq := func() {
		if req.seq && !wroteSeq {
			wroteSeq = true
			w.seq(tagSPSSequence, [][]byte{item.b})
		}
	}
	for _, e := range top {
		if e.tag > tagSPSSequence {
			writeSeq()
		}
		if e.vr == "" {
			w.b = appendAnswerElement(w.b, w.explicit, e.tag, dictVROr(e.tag), nil)
			continue
		}
		w.str(e.tag, e.vr, e.v)
	}
	writeSeq()
	return w.b
}

// dictVROr is the dictionary VR of tag, UN when unknown.
func dictVROr(tag uint32) string {
	if vr := part10.DictionaryVR(part10.Tag(tag)); vr != "" {
		return vr
	}
	return "UN"
}

// worklistFind runs a Modality Worklist C-FIND: a pending answer per
// scheduled procedure step that matches.
func (a *assoc) worklistFind(ctx context.Context, op *operation, cmd *Command, id byte, pc *acceptedContext, data []byte) (*Command, []byte) {
	if a.s.cfg.Worklist == nil {
		return failure(StatusUnableToProcess, "worklist not available"), nil
	}
	req, err := decodeWorklist(data, pc.transferSyntax)
	if err != nil {
		return failure(StatusIdentifierMismatch, clip("identifier: "+err.Error())), nil
	}
	matches := 0
	lastFlush := time.Now()
	err = a.s.cfg.Worklist.Find(ctx, req.filter, func(o *worklist.Order) error {
		matches++
		return a.sendPending(id, cmd, encodeWorkitem(o, req, pc.transferSyntax), &lastFlush)
	})
	a.s.auditQuery(ctx, QueryEvent{CallingAE: a.callingAE, Remote: a.remote, SOPClassUID: pc.abstractSyntax, Level: "WORKLIST",
		Matches: matches, Identifier: data, Failed: err != nil && ctx.Err() == nil})
	switch {
	case ctx.Err() != nil && a.opCancelled(op):
		return &Command{Status: StatusCancel}, nil
	case err != nil:
		a.log.Warn("worklist C-FIND failed", "err", err)
		if isNetErr(err) {
			return nil, nil
		}
		return failure(StatusUnableToProcess, "search failed"), nil
	}
	return &Command{Status: StatusSuccess}, nil
}
