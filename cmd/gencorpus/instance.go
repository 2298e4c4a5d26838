package main

import (
	"fmt"

	"github.com/minipacs/minipacs/cmd/gencorpus/dcmwriter"
)

// SOP classes used by the corpus.
const (
	ctImageStorage = "1.2.840.10008.5.1.4.1.1.2"
	mrImageStorage = "1.2.840.10008.5.1.4.1.1.4"
	crImageStorage = "1.2.840.10008.5.1.4.1.1.1"
)

// implementationClassUID identifies this generator in the file meta group.
var implementationClassUID = uid(0, "implementation-class")

const implementationVersion = "MINIPACS_GEN_1"

// study holds the attributes shared by every instance of one study.
type study struct {
	Index       int
	UID         string
	Patient     patient
	Date, Time  string
	Accession   string
	ID          string
	Description string
	Referring   string
	Institution string
	Maker       string
	FrameOfRef  string
}

func makeStudy(seed uint64, kind string, idx int, p patient) study {
	h := hash64(seed, kind, "study", idx)
	date, tm := studyDateTime(h)
	return study{
		Index:       idx,
		UID:         uid(seed, kind, "study", idx),
		Patient:     p,
		Date:        date,
		Time:        tm,
		Accession:   fmt.Sprintf("A%s%07d", kindLetter(kind), idx),
		ID:          fmt.Sprintf("%d", 1000+idx),
		Referring:   physicians[(h>>40)%uint64(len(physicians))],
		Institution: institutions[(h>>44)%uint64(len(institutions))],
		Maker:       manufacturers[(h>>48)%uint64(len(manufacturers))],
		FrameOfRef:  uid(seed, kind, "frame-of-reference", idx),
	}
}

func kindLetter(kind string) string {
	if kind == "ct" {
		return "C"
	}
	return "T"
}

// image describes one instance's pixel module and geometry.
type image struct {
	Modality, SOPClass       string
	SeriesUID, SOPUID        string
	SeriesNumber, Instance   int
	SeriesDesc               string
	Rows, Cols               int
	PixelSpacing, Thickness  float64
	Z                        float64
	WindowCenter, WindowWide float64
	Pixels                   []byte // rows*cols*2 bytes
	SeriesTime               string
	ImageType                []string
	BodyPart                 string
	Laterality               []string // (0020,0060): one value, or none for an empty attribute
}

// buildDataset assembles the data set of one instance in ascending tag order
// (the writer sorts anyway; the order here keeps the listing readable).
func buildDataset(st study, im image) *dcmwriter.Dataset {
	T := dcmwriter.T
	ds := dcmwriter.NewDataset(dcmwriter.Latin1)
	ds.Strings(T(0x0008, 0x0005), "CS", "ISO_IR 100")
	ds.Strings(T(0x0008, 0x0008), "CS", im.ImageType...)
	ds.UID(T(0x0008, 0x0016), im.SOPClass)
	ds.UID(T(0x0008, 0x0018), im.SOPUID)
	ds.Strings(T(0x0008, 0x0020), "DA", st.Date)
	ds.Strings(T(0x0008, 0x0021), "DA", st.Date)
	ds.Strings(T(0x0008, 0x0023), "DA", st.Date)
	ds.Strings(T(0x0008, 0x0030), "TM", st.Time)
	ds.Strings(T(0x0008, 0x0031), "TM", im.SeriesTime)
	ds.Strings(T(0x0008, 0x0033), "TM", addSeconds(im.SeriesTime, im.Instance/10))
	ds.Strings(T(0x0008, 0x0050), "SH", st.Accession)
	ds.Strings(T(0x0008, 0x0060), "CS", im.Modality)
	ds.Strings(T(0x0008, 0x0070), "LO", st.Maker)
	ds.Strings(T(0x0008, 0x0080), "LO", st.Institution)
	ds.Strings(T(0x0008, 0x0090), "PN", st.Referring)
	ds.Strings(T(0x0008, 0x1030), "LO", st.Description)
	ds.Strings(T(0x0008, 0x103E), "LO", im.SeriesDesc)
	ds.Strings(T(0x0010, 0x0010), "PN", st.Patient.Name)
	ds.Strings(T(0x0010, 0x0020), "LO", st.Patient.ID)
	ds.Strings(T(0x0010, 0x0030), "DA", st.Patient.BirthDate)
	ds.Strings(T(0x0010, 0x0040), "CS", st.Patient.Sex)
	switch im.Modality {
	case "CT":
		ds.Strings(T(0x0018, 0x0015), "CS", im.BodyPart)
		ds.DS(T(0x0018, 0x0050), im.Thickness)
		ds.DS(T(0x0018, 0x0060), 120)
		ds.Strings(T(0x0018, 0x1210), "SH", "B30f")
		ds.Strings(T(0x0018, 0x5100), "CS", "HFS")
	case "MR":
		ds.Strings(T(0x0018, 0x0015), "CS", im.BodyPart)
		ds.Strings(T(0x0018, 0x0020), "CS", "SE")
		ds.Strings(T(0x0018, 0x0021), "CS", "NONE")
		ds.Strings(T(0x0018, 0x0022), "CS")
		ds.Strings(T(0x0018, 0x0023), "CS", "2D")
		ds.DS(T(0x0018, 0x0050), im.Thickness)
		ds.DS(T(0x0018, 0x0080), 500)
		ds.DS(T(0x0018, 0x0081), 15)
		ds.IS(T(0x0018, 0x0091), 1)
		ds.DS(T(0x0018, 0x0087), 1.5)
		ds.Strings(T(0x0018, 0x5100), "CS", "HFS")
	case "CR":
		ds.Strings(T(0x0018, 0x0015), "CS", im.BodyPart)
		ds.DS(T(0x0018, 0x1164), im.PixelSpacing, im.PixelSpacing)
		ds.Strings(T(0x0018, 0x5101), "CS", "PA")
	}
	ds.UID(T(0x0020, 0x000D), st.UID)
	ds.UID(T(0x0020, 0x000E), im.SeriesUID)
	ds.Strings(T(0x0020, 0x0010), "SH", st.ID)
	ds.IS(T(0x0020, 0x0011), im.SeriesNumber)
	if len(im.Laterality) > 0 {
		ds.Strings(T(0x0020, 0x0060), "CS", im.Laterality...)
	}
	ds.IS(T(0x0020, 0x0012), 1)
	ds.IS(T(0x0020, 0x0013), im.Instance)
	if im.Modality == "CR" {
		ds.Strings(T(0x0020, 0x0020), "CS", "L", "F")
	} else {
		half := float64(im.Cols) * im.PixelSpacing / 2
		ds.DS(T(0x0020, 0x0032), -half, -half, im.Z)
		ds.DS(T(0x0020, 0x0037), 1, 0, 0, 0, 1, 0)
		ds.UID(T(0x0020, 0x0052), st.FrameOfRef)
		ds.Strings(T(0x0020, 0x1040), "LO")
		ds.DS(T(0x0020, 0x1041), im.Z)
	}
	ds.US(T(0x0028, 0x0002), 1)
	ds.Strings(T(0x0028, 0x0004), "CS", "MONOCHROME2")
	ds.US(T(0x0028, 0x0010), uint16(im.Rows))
	ds.US(T(0x0028, 0x0011), uint16(im.Cols))
	if im.Modality != "CR" {
		ds.DS(T(0x0028, 0x0030), im.PixelSpacing, im.PixelSpacing)
	}
	ds.US(T(0x0028, 0x0100), 16)
	ds.US(T(0x0028, 0x0101), 12)
	ds.US(T(0x0028, 0x0102), 11)
	ds.US(T(0x0028, 0x0103), 0)
	ds.DS(T(0x0028, 0x1050), im.WindowCenter)
	ds.DS(T(0x0028, 0x1051), im.WindowWide)
	if im.Modality == "CT" {
		ds.DS(T(0x0028, 0x1052), rescaleIntercept)
		ds.DS(T(0x0028, 0x1053), 1)
		ds.Strings(T(0x0028, 0x1054), "LO", "HU")
	}
	ds.Binary(T(0x7FE0, 0x0010), "OW", im.Pixels)
	return ds
}

// meta returns the file meta information for an instance.
func meta(im image) dcmwriter.FileMeta {
	return dcmwriter.FileMeta{
		MediaStorageSOPClassUID:    im.SOPClass,
		MediaStorageSOPInstanceUID: im.SOPUID,
		ImplementationClassUID:     implementationClassUID,
		ImplementationVersionName:  implementationVersion,
	}
}
