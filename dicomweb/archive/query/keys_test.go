package query

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/minipacs/minipacs/index"
)

// Tags of the keys used below.
const (
	tPatientName       = 0x00100010
	tPatientID         = 0x00100020
	tPatientBirthDate  = 0x00100030
	tStudyDate         = 0x00080020
	tStudyTime         = 0x00080030
	tAccessionNumber   = 0x00080050
	tModality          = 0x00080060
	tModalitiesInStudy = 0x00080061
	tAcquisitionDT     = 0x0008002A
	tSeriesDescription = 0x0008103E
	tSeriesNumber      = 0x00200011
	tInstanceNumber    = 0x00200013
	tRetrieveAETitle   = 0x00080054
	tProcedureCodeSeq  = 0x00081032
	tStudyUID          = 0x0020000D
	tSeriesUID         = 0x0020000E
	tSOPInstanceUID    = 0x00080018
	tPrivateCreator    = 0x00091010
)

func key(tag uint32, vr, v string) Key { return Key{Tag: tag, VR: vr, Value: v} }

func TestFromKeys(t *testing.T) {
	uids := make([]string, 300) // 300 UIDs: well beyond a QIDO value's 4096 bytes
	for i := range uids {
		uids[i] = fmt.Sprintf("1.2.826.0.1.3680043.8.498.%d", 1000000+i)
	}
	tests := []struct {
		name    string
		level   index.Level
		keys    []Key
		filters []index.Filter // nil: none
		fields  []Field        // the exact Include.Fields
	}{
		{name: "findscu study query: return keys only",
			keys: []Key{key(0x00080005, "CS", "ISO_IR 100"), key(0x00080052, "CS", "STUDY"),
				key(tPatientName, "PN", ""), key(tPatientID, "LO", ""), key(tStudyDate, "DA", ""), key(tStudyUID, "UI", "")},
			fields: []Field{{tStudyDate, "DA"}, {tPatientName, "PN"}, {tPatientID, "LO"}, {tStudyUID, "UI"}}},
		{name: "group 0000 and 0002 and group lengths are not keys",
			keys:   []Key{key(0x00000900, "US", "0"), key(0x00020010, "UI", "1.2.840.10008.1.2"), key(0x00100000, "UL", "8")},
			fields: []Field{{tStudyUID, "UI"}}},
		{name: "PN wildcard", keys: []Key{key(tPatientName, "PN", "Doe^J*")},
			filters: []index.Filter{wildcard(tPatientName, "PN", "Doe^J*")},
			fields:  []Field{{tPatientName, "PN"}, {tStudyUID, "UI"}}},
		{name: "PN question mark", keys: []Key{key(tPatientName, "PN", "D?e")},
			filters: []index.Filter{wildcard(tPatientName, "PN", "D?e")},
			fields:  []Field{{tPatientName, "PN"}, {tStudyUID, "UI"}}},
		{name: "PN star is universal", keys: []Key{key(tPatientName, "PN", "*")},
			fields: []Field{{tPatientName, "PN"}, {tStudyUID, "UI"}}},
		{name: "PN UTF-8", keys: []Key{key(tPatientName, "PN", "Müller^Jürgen")},
			filters: []index.Filter{single(tPatientName, "PN", "Müller^Jürgen")},
			fields:  []Field{{tPatientName, "PN"}, {tStudyUID, "UI"}}},
		{name: "PN comma literal", keys: []Key{key(tPatientName, "PN", "Doe,John")},
			filters: []index.Filter{single(tPatientName, "PN", "Doe,John")},
			fields:  []Field{{tPatientName, "PN"}, {tStudyUID, "UI"}}},
		{name: "two quotes are a value, not empty value matching", keys: []Key{key(tPatientName, "PN", `""`)},
			filters: []index.Filter{single(tPatientName, "PN", `""`)},
			fields:  []Field{{tPatientName, "PN"}, {tStudyUID, "UI"}}},
		{name: "PN value list", keys: []Key{key(tPatientName, "PN", `Doe^John\Roe^Jane`)},
			filters: []index.Filter{single(tPatientName, "PN", "Doe^John", "Roe^Jane")},
			fields:  []Field{{tPatientName, "PN"}, {tStudyUID, "UI"}}},
		{name: "CS list", keys: []Key{key(tModalitiesInStudy, "CS", `CT\MR`)},
			filters: []index.Filter{single(tModalitiesInStudy, "CS", "CT", "MR")},
			fields:  []Field{{tModalitiesInStudy, "CS"}, {tStudyUID, "UI"}}},
		{name: "CS comma is literal", keys: []Key{key(tModalitiesInStudy, "CS", `CT,MR`)},
			filters: []index.Filter{single(tModalitiesInStudy, "CS", "CT,MR")},
			fields:  []Field{{tModalitiesInStudy, "CS"}, {tStudyUID, "UI"}}},
		{name: "UID list", keys: []Key{key(tStudyUID, "UI", `1.2.3\1.2.4`)},
			filters: []index.Filter{single(tStudyUID, "UI", "1.2.3", "1.2.4")},
			fields:  []Field{{tStudyUID, "UI"}}},
		{name: "long UID list", level: index.LevelInstance, keys: []Key{key(tSOPInstanceUID, "UI", strings.Join(uids, `\`))},
			filters: []index.Filter{single(tSOPInstanceUID, "UI", uids...)},
			fields:  []Field{{tSOPInstanceUID, "UI"}, {tStudyUID, "UI"}, {tSeriesUID, "UI"}}},
		{name: "date range", keys: []Key{key(tStudyDate, "DA", "20240101-20240131")},
			filters: []index.Filter{rng(tStudyDate, "DA", "20240101", "20240131")},
			fields:  []Field{{tStudyDate, "DA"}, {tStudyUID, "UI"}}},
		{name: "date open range", keys: []Key{key(tPatientBirthDate, "DA", "-19700101")},
			filters: []index.Filter{rng(tPatientBirthDate, "DA", "", "19700101")},
			fields:  []Field{{tPatientBirthDate, "DA"}, {tStudyUID, "UI"}}},
		{name: "date list", keys: []Key{key(tStudyDate, "DA", `20240101\20240102`)},
			filters: []index.Filter{single(tStudyDate, "DA", "20240101", "20240102")},
			fields:  []Field{{tStudyDate, "DA"}, {tStudyUID, "UI"}}},
		{name: "time range", keys: []Key{key(tStudyTime, "TM", "0800-1200")},
			filters: []index.Filter{rng(tStudyTime, "TM", "0800", "1200")},
			fields:  []Field{{tStudyTime, "TM"}, {tStudyUID, "UI"}}},
		{name: "datetime range with offset", level: index.LevelInstance, keys: []Key{key(tAcquisitionDT, "DT", "20240101120000-0500-20240102")},
			filters: []index.Filter{rng(tAcquisitionDT, "DT", "20240101120000-0500", "20240102")},
			fields:  []Field{{tSOPInstanceUID, "UI"}, {tAcquisitionDT, "DT"}, {tStudyUID, "UI"}, {tSeriesUID, "UI"}}},
		{name: "number", level: index.LevelSeries, keys: []Key{key(tSeriesNumber, "IS", "5")},
			filters: []index.Filter{single(tSeriesNumber, "IS", "5")},
			fields:  []Field{{tStudyUID, "UI"}, {tSeriesUID, "UI"}, {tSeriesNumber, "IS"}}},
		{name: "keys of levels above", level: index.LevelSeries,
			keys:    []Key{key(tPatientID, "LO", "PAT1"), key(tModality, "CS", "CT"), key(tStudyUID, "UI", "1.2.3")},
			filters: []index.Filter{single(tPatientID, "LO", "PAT1"), single(tModality, "CS", "CT"), single(tStudyUID, "UI", "1.2.3")},
			fields:  []Field{{tModality, "CS"}, {tPatientID, "LO"}, {tStudyUID, "UI"}, {tSeriesUID, "UI"}}},
		{name: "empty keys of a lower level are ignored",
			keys: []Key{key(tModality, "CS", ""), key(tSeriesDescription, "LO", "*"), key(tInstanceNumber, "IS", ""),
				key(tAccessionNumber, "SH", "")},
			fields: []Field{{tAccessionNumber, "SH"}, {tStudyUID, "UI"}}},
		{name: "retrieve AE title at every level", keys: []Key{key(tRetrieveAETitle, "AE", "")},
			fields: []Field{{tRetrieveAETitle, "AE"}, {tStudyUID, "UI"}}},
		{name: "sequence return key", keys: []Key{{Tag: tProcedureCodeSeq, VR: "SQ", Sequence: true}},
			fields: []Field{{tProcedureCodeSeq, "SQ"}, {tStudyUID, "UI"}}},
		{name: "private return key keeps its VR", level: index.LevelInstance, keys: []Key{key(tPrivateCreator, "LO", "")},
			fields: []Field{{tSOPInstanceUID, "UI"}, {tPrivateCreator, "LO"}, {tStudyUID, "UI"}, {tSeriesUID, "UI"}}},
		{name: "implicit VR keys take the dictionary VR", keys: []Key{key(tPatientID, "UN", "PAT1")},
			filters: []index.Filter{single(tPatientID, "LO", "PAT1")},
			fields:  []Field{{tPatientID, "LO"}, {tStudyUID, "UI"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := FromKeys(tc.level, tc.keys, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(r.Query.Filters, tc.filters) {
				t.Errorf("filters\n got %+v\nwant %+v", r.Query.Filters, tc.filters)
			}
			if !reflect.DeepEqual(r.Include.Fields, tc.fields) {
				t.Errorf("fields\n got %v\nwant %v", r.Include.Fields, tc.fields)
			}
			if len(r.Warnings) != 0 || r.Query.Limit != 0 || r.Query.Fuzzy || r.Include.All {
				t.Errorf("warnings %q, limit %d, fuzzy %v, all %v", r.Warnings, r.Query.Limit, r.Query.Fuzzy, r.Include.All)
			}
			if r.Query.StudyUID != "" || r.Query.SeriesUID != "" || len(r.Include.Levels) != int(tc.level)+1 {
				t.Errorf("path UIDs %q %q, levels %v", r.Query.StudyUID, r.Query.SeriesUID, r.Include.Levels)
			}
		})
	}
}

func TestFromKeysErrors(t *testing.T) {
	secret := "Sensitive^Patient"
	tests := []struct {
		name  string
		level index.Level
		keys  []Key
		inMsg string
	}{
		{name: "bad UID", keys: []Key{key(tStudyUID, "UI", "1.2.abc")}, inMsg: "UID"},
		{name: "UID list with comma", keys: []Key{key(tStudyUID, "UI", "1.2.3,1.2.4")}, inMsg: "UID"},
		{name: "wildcard UID", keys: []Key{key(tStudyUID, "UI", "1.2.*")}, inMsg: "wildcard"},
		{name: "reversed range", keys: []Key{key(tStudyDate, "DA", "20240131-20240101")}, inMsg: "reversed"},
		{name: "bad date", keys: []Key{key(tStudyDate, "DA", "2024.01.01")}, inMsg: "StudyDate"},
		{name: "wildcard in a value list", keys: []Key{key(tPatientName, "PN", `Doe*\`+secret)}, inMsg: "wildcard"},
		{name: "series key with a value at study level", keys: []Key{key(tModality, "CS", "CT")}, inMsg: "Modality"},
		{name: "instance key with a value at series level", level: index.LevelSeries,
			keys: []Key{key(tInstanceNumber, "IS", "1")}, inMsg: "InstanceNumber"},
		{name: "instance UID at study level", keys: []Key{key(tSOPInstanceUID, "UI", "1.2.3")}, inMsg: "SOPInstanceUID"},
		{name: "sequence matching", keys: []Key{{Tag: tProcedureCodeSeq, VR: "SQ", Value: secret, Sequence: true}}, inMsg: "sequence"},
		{name: "matching on a private tag", level: index.LevelInstance, keys: []Key{key(tPrivateCreator, "LO", secret)}, inMsg: "00091010"},
		{name: "control character", keys: []Key{key(tPatientName, "PN", "Doe\x1b$B")}, inMsg: "control"},
		{name: "bad number", level: index.LevelSeries, keys: []Key{key(tSeriesNumber, "IS", "five")}, inMsg: "SeriesNumber"},
		{name: "item tag", keys: []Key{key(0xFFFEE000, "", "")}, inMsg: "FFFEE000"},
		{name: "too many keys", keys: make([]Key, maxKeys+1), inMsg: "too many"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := FromKeys(tc.level, tc.keys, Options{})
			var qe *Error
			if !errors.As(err, &qe) {
				t.Fatalf("err = %v, want *Error", err)
			}
			if !strings.Contains(qe.Msg, tc.inMsg) || strings.Contains(qe.Msg, "Sensitive") {
				t.Errorf("message %q: want %q and no request value", qe.Msg, tc.inMsg)
			}
		})
	}
	if _, err := FromKeys(index.Level(7), nil, Options{}); err == nil || errors.As(err, new(*Error)) {
		t.Errorf("invalid level: err = %v, want a caller error", err)
	}
}

func TestFromKeysLimit(t *testing.T) {
	r, err := FromKeys(index.LevelStudy, nil, Options{MaxLimit: 500})
	if err != nil {
		t.Fatal(err)
	}
	if r.Query.Limit != 500 || !r.ServerLimited {
		t.Errorf("limit %d, server limited %v", r.Query.Limit, r.ServerLimited)
	}
}

// TestFromKeysMatchesParse: the key form and the QIDO URL form of the same
// query make the same index filters.
func TestFromKeysMatchesParse(t *testing.T) {
	tests := []struct {
		level index.Level
		query string
		keys  []Key
	}{
		{query: "PatientName=Doe%5EJ*&StudyDate=20240101-20240131",
			keys: []Key{key(tPatientName, "PN", "Doe^J*"), key(tStudyDate, "DA", "20240101-20240131")}},
		{query: "StudyInstanceUID=1.2.3,1.2.4&ModalitiesInStudy=CT,MR",
			keys: []Key{key(tStudyUID, "UI", `1.2.3\1.2.4`), key(tModalitiesInStudy, "CS", `CT\MR`)}},
		{query: "PatientID=PAT-001&AccessionNumber=&PatientBirthDate=-19700101&StudyTime=08-1730",
			keys: []Key{key(tPatientID, "LO", "PAT-001"), key(tAccessionNumber, "SH", ""),
				key(tPatientBirthDate, "DA", "-19700101"), key(tStudyTime, "TM", "08-1730")}},
		{level: index.LevelSeries, query: "Modality=MR&SeriesNumber=1%5C2&SeriesDescription=*T2*&PatientName=*",
			keys: []Key{key(tModality, "CS", "MR"), key(tSeriesNumber, "IS", `1\2`),
				key(tSeriesDescription, "LO", "*T2*"), key(tPatientName, "PN", "*")}},
		{level: index.LevelInstance, query: "SOPInstanceUID=1.2.3.4&AcquisitionDateTime=2024-202406&InstanceNumber=7",
			keys: []Key{key(tSOPInstanceUID, "UI", "1.2.3.4"), key(tAcquisitionDT, "DT", "2024-202406"),
				key(tInstanceNumber, "IS", "7")}},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			want, err := Parse(tc.level, "", "", tc.query, Options{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := FromKeys(tc.level, tc.keys, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if len(want.Query.Filters) == 0 {
				t.Fatal("the query has no filter: nothing compared")
			}
			if !reflect.DeepEqual(got.Query.Filters, want.Query.Filters) {
				t.Errorf("FromKeys filters\n %+v\nParse filters\n %+v", got.Query.Filters, want.Query.Filters)
			}
			gq, wq := got.Query, want.Query
			gq.Filters, wq.Filters = nil, nil
			if !reflect.DeepEqual(gq, wq) {
				t.Errorf("queries differ beyond filters: %+v vs %+v", gq, wq)
			}
		})
	}
}
