package query

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/minipacs/minipacs/index"
)

// Field is one attribute to return: its tag and the VR used when the entity
// has no value for it ("" for unknown private tags, which are then left
// out).
type Field struct {
	Tag uint32
	VR  string
}

// Selection is the set of attributes each answer holds.
type Selection struct {
	// Fields in ascending tag order, without duplicates: the defaults,
	// matching keys and includefield attributes.
	Fields []Field
	// All is set by includefield=all: every attribute the index holds at
	// the returned levels is written too.
	All bool
	// Levels are the levels whose attributes are returned: the target
	// level and those above it that the path does not fix.
	Levels []index.Level
}

// Default return attributes, PS3.18 §10.6.3 tables 10.6.3-3 (study), -4
// (series) and -5 (instance).
var (
	studyDefaults = []Field{
		{0x00080005, "CS"}, // SpecificCharacterSet
		{0x00080020, "DA"}, // StudyDate
		{0x00080030, "TM"}, // StudyTime
		{0x00080050, "SH"}, // AccessionNumber
		{0x00080056, "CS"}, // InstanceAvailability
		{0x00080061, "CS"}, // ModalitiesInStudy
		{0x00080090, "PN"}, // ReferringPhysicianName
		{0x00080201, "SH"}, // TimezoneOffsetFromUTC
		{0x00081190, "UR"}, // RetrieveURL
		{0x00100010, "PN"}, // PatientName
		{0x00100020, "LO"}, // PatientID
		{0x00100030, "DA"}, // PatientBirthDate
		{0x00100040, "CS"}, // PatientSex
		{0x0020000D, "UI"}, // StudyInstanceUID
		{0x00200010, "SH"}, // StudyID
		{0x00201206, "IS"}, // NumberOfStudyRelatedSeries
		{0x00201208, "IS"}, // NumberOfStudyRelatedInstances
	}
	seriesDefaults = []Field{
		{0x00080005, "CS"}, // SpecificCharacterSet
		{0x00080060, "CS"}, // Modality
		{0x00080201, "SH"}, // TimezoneOffsetFromUTC
		{0x0008103E, "LO"}, // SeriesDescription
		{0x00081190, "UR"}, // RetrieveURL
		{0x0020000E, "UI"}, // SeriesInstanceUID
		{0x00200011, "IS"}, // SeriesNumber
		{0x00201209, "IS"}, // NumberOfSeriesRelatedInstances
		{0x00400244, "DA"}, // PerformedProcedureStepStartDate
		{0x00400245, "TM"}, // PerformedProcedureStepStartTime
		{0x00400275, "SQ"}, // RequestAttributesSequence
	}
	instanceDefaults = []Field{
		{0x00080005, "CS"}, // SpecificCharacterSet
		{0x00080016, "UI"}, // SOPClassUID
		{0x00080018, "UI"}, // SOPInstanceUID
		{0x00080056, "CS"}, // InstanceAvailability
		{0x00080201, "SH"}, // TimezoneOffsetFromUTC
		{0x00081190, "UR"}, // RetrieveURL
		{0x00200013, "IS"}, // InstanceNumber
		{0x00280008, "IS"}, // NumberOfFrames
		{0x00280010, "US"}, // Rows
		{0x00280011, "US"}, // Columns
		{0x00280100, "US"}, // BitsAllocated
	}
)

// DefaultFields returns the PS3.18 §10.6.3 default attributes of one level
// (a copy).
func DefaultFields(l index.Level) []Field {
	switch l {
	case index.LevelStudy:
		return slices.Clone(studyDefaults)
	case index.LevelSeries:
		return slices.Clone(seriesDefaults)
	}
	return slices.Clone(instanceDefaults)
}

// returnedLevels lists the target level and the levels above it that the
// path leaves open, from the highest.
func returnedLevels(q *index.Query) []index.Level {
	switch q.Level {
	case index.LevelStudy:
		return []index.Level{index.LevelStudy}
	case index.LevelSeries:
		if q.StudyUID == "" {
			return []index.Level{index.LevelStudy, index.LevelSeries}
		}
		return []index.Level{index.LevelSeries}
	}
	switch {
	case q.StudyUID == "":
		return []index.Level{index.LevelStudy, index.LevelSeries, index.LevelInstance}
	case q.SeriesUID == "":
		return []index.Level{index.LevelSeries, index.LevelInstance}
	}
	return []index.Level{index.LevelInstance}
}

// fieldSet collects fields; the first VR given for a tag wins.
type fieldSet map[uint32]string

func (s fieldSet) add(f Field) {
	if _, ok := s[f.Tag]; !ok {
		s[f.Tag] = f.VR
	}
}

func (s fieldSet) sorted() []Field {
	out := make([]Field, 0, len(s))
	for t, vr := range s {
		out = append(out, Field{t, vr})
	}
	slices.SortFunc(out, func(a, b Field) int { return cmp.Compare(a.Tag, b.Tag) })
	return out
}

// Hex is the field's tag as DICOM JSON writes it.
func (f Field) Hex() string { return fmt.Sprintf("%08X", f.Tag) }
