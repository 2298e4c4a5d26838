package ingest

import (
	"bytes"
	"fmt"
	"sort"

	"github.com/minipacs/minipacs/dicomweb/archive/query"
	"github.com/minipacs/minipacs/dicomweb/dicom/charset"
	"github.com/minipacs/minipacs/dicomweb/dicom/dicomjson"
	"github.com/minipacs/minipacs/dicomweb/dicom/part10"
	"github.com/minipacs/minipacs/index"
)

// The QIDO level of an attribute is query.LevelOf: patient and study
// attributes go to the study record, series (and equipment) attributes to
// the series record, everything else to the instance.

// everyLevel are attributes repeated at every level.
var everyLevel = tagSet(
	0x00080005, // SpecificCharacterSet
	0x00080201, // TimezoneOffsetFromUTC
)

// instanceAttrMax bounds the JSON of one instance-level attribute kept for
// QIDO; larger ones (big sequences) are only in the metadata.
const instanceAttrMax = 4096

func tagSet(tags ...uint32) map[uint32]bool {
	m := make(map[uint32]bool, len(tags))
	for _, t := range tags {
		m[t] = true
	}
	return m
}

const availableTransferSyntaxUID = 0x00083002

// buildInstance makes the index entry of a parsed, validated instance.
func buildInstance(f *part10.File, res Result, key string, p *Part) (*index.Instance, error) {
	dec, _ := charset.New(f.CharacterSet)
	base := "studies/" + res.StudyUID + "/series/" + res.SeriesUID + "/instances/" + res.SOPInstanceUID + "/bulkdata/"
	opt := dicomjson.Options{BulkURI: func(path string) string { return base + path }}

	inst := &index.Instance{
		StudyUID: res.StudyUID, SeriesUID: res.SeriesUID,
		SOPInstanceUID: res.SOPInstanceUID, SOPClassUID: res.SOPClassUID,
		TransferSyntaxUID: f.TransferSyntax.UID,
		ObjectKey:         key, SHA256: p.SHA256, Size: p.Size,
	}
	for _, e := range f.DataSet.Elements {
		t := uint32(e.Tag)
		if e.Tag.Element() == 0 || e.Tag.Group() == 0x0002 || e.Tag.Group() == 0xFFFE || e.Tag.Group() == 0x7FE0 {
			continue
		}
		var lvl *[]index.Attr
		switch {
		case everyLevel[t]:
		case query.LevelOf(t) == index.LevelStudy:
			lvl = &inst.Study
		case query.LevelOf(t) == index.LevelSeries:
			lvl = &inst.Series
		default:
			if e.Tag.Group()&1 == 1 {
				continue // private attributes stay in the metadata only
			}
			lvl = &inst.Instance
		}
		if e.Bulk {
			continue
		}
		js, err := dicomjson.EncodeElement(f, dec, e, "", dicomjson.Options{})
		if err != nil {
			return nil, fmt.Errorf("encode %v: %w", e.Tag, err)
		}
		a := index.Attr{Tag: t, VR: e.VR, JSON: js}
		if e.VR != "SQ" {
			a.Values = dicomjson.Values(f, dec, e)
		}
		if lvl == nil {
			inst.Study = append(inst.Study, a)
			inst.Series = append(inst.Series, a)
			inst.Instance = append(inst.Instance, a)
			continue
		}
		if lvl == &inst.Instance && len(js) > instanceAttrMax {
			continue
		}
		*lvl = append(*lvl, a)
		switch t {
		case uint32(part10.TagPatientID):
			inst.PatientID = first(a.Values)
		case uint32(part10.TagIssuerOfPatientID):
			inst.IssuerOfPatientID = first(a.Values)
		}
	}
	for _, l := range [][]index.Attr{inst.Study, inst.Series, inst.Instance} {
		sort.Slice(l, func(i, j int) bool { return l[i].Tag < l[j].Tag })
	}

	var buf bytes.Buffer
	opt.Extra = []dicomjson.Extra{dicomjson.StringExtra(availableTransferSyntaxUID, "UI", f.TransferSyntax.UID)}
	if err := dicomjson.EncodeDataSet(&buf, f, f.DataSet, opt); err != nil {
		return nil, fmt.Errorf("encode metadata: %w", err)
	}
	inst.Metadata = buf.Bytes()
	lay, err := f.Layout.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("layout: %w", err)
	}
	inst.Layout = lay
	return inst, nil
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}
