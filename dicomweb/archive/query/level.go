package query

import "github.com/minipacs/minipacs/index"

// Tags this package treats specially.
const (
	tagSpecificCharacterSet  uint32 = 0x00080005
	tagSOPClassUID           uint32 = 0x00080016
	tagSOPInstanceUID        uint32 = 0x00080018
	tagRetrieveAETitle       uint32 = 0x00080054
	tagInstanceAvailability  uint32 = 0x00080056
	tagModality              uint32 = 0x00080060
	tagModalitiesInStudy     uint32 = 0x00080061
	tagSOPClassesInStudy     uint32 = 0x00080062
	tagTimezoneOffsetFromUTC uint32 = 0x00080201
	tagRetrieveURL           uint32 = 0x00081190
	tagStudyInstanceUID      uint32 = 0x0020000D
	tagSeriesInstanceUID     uint32 = 0x0020000E
)

// anyLevel are attributes that PS3.18 returns at every level (SOP Common
// attributes and the computed retrieval attributes): they are accepted as
// keys at every level.
var anyLevel = map[uint32]bool{
	tagSpecificCharacterSet:  true,
	tagRetrieveAETitle:       true,
	tagInstanceAvailability:  true,
	tagTimezoneOffsetFromUTC: true,
	tagRetrieveURL:           true,
}

// studyTags are the Study IE (and Patient IE) attributes outside the groups
// that are study level as a whole (0010, 0012, 0032, 0038).
var studyTags = map[uint32]bool{
	0x00080020: true, // StudyDate
	0x00080030: true, // StudyTime
	0x00080050: true, // AccessionNumber
	0x00080051: true, // IssuerOfAccessionNumberSequence
	0x00080061: true, // ModalitiesInStudy
	0x00080062: true, // SOPClassesInStudy
	0x00080063: true, // AnatomicRegionsInStudyCodeSequence
	0x00080090: true, // ReferringPhysicianName
	0x00080092: true, // ReferringPhysicianAddress
	0x00080094: true, // ReferringPhysicianTelephoneNumbers
	0x00080096: true, // ReferringPhysicianIdentificationSequence
	0x0008009C: true, // ConsultingPhysicianName
	0x0008009D: true, // ConsultingPhysicianIdentificationSequence
	0x00081030: true, // StudyDescription
	0x00081032: true, // ProcedureCodeSequence
	0x00081048: true, // PhysiciansOfRecord
	0x00081049: true, // PhysiciansOfRecordIdentificationSequence
	0x00081060: true, // NameOfPhysiciansReadingStudy
	0x00081062: true, // PhysiciansReadingStudyIdentificationSequence
	0x00081080: true, // AdmittingDiagnosesDescription
	0x00081084: true, // AdmittingDiagnosesCodeSequence
	0x00081110: true, // ReferencedStudySequence
	0x00081120: true, // ReferencedPatientSequence
	0x0020000D: true, // StudyInstanceUID
	0x00200010: true, // StudyID
	0x00201070: true, // OtherStudyNumbers
	0x00201200: true, // NumberOfPatientRelatedStudies
	0x00201202: true, // NumberOfPatientRelatedSeries
	0x00201204: true, // NumberOfPatientRelatedInstances
	0x00201206: true, // NumberOfStudyRelatedSeries
	0x00201208: true, // NumberOfStudyRelatedInstances
	0x00401012: true, // ReasonForPerformedProcedureCodeSequence
}

// seriesTags are the Series IE attributes (General Series, Clinical Trial
// Series, General Equipment, Frame of Reference, Performed Procedure Step
// and request attributes) outside group 0040's procedure step range.
var seriesTags = map[uint32]bool{
	0x00080021: true, // SeriesDate
	0x00080031: true, // SeriesTime
	0x00080060: true, // Modality
	0x00080064: true, // ConversionType
	0x00080070: true, // Manufacturer
	0x00080080: true, // InstitutionName
	0x00080081: true, // InstitutionAddress
	0x00080082: true, // InstitutionCodeSequence
	0x00081010: true, // StationName
	0x0008103E: true, // SeriesDescription
	0x0008103F: true, // SeriesDescriptionCodeSequence
	0x00081040: true, // InstitutionalDepartmentName
	0x00081041: true, // InstitutionalDepartmentTypeCodeSequence
	0x00081050: true, // PerformingPhysicianName
	0x00081052: true, // PerformingPhysicianIdentificationSequence
	0x00081070: true, // OperatorsName
	0x00081072: true, // OperatorIdentificationSequence
	0x00081090: true, // ManufacturerModelName
	0x00081111: true, // ReferencedPerformedProcedureStepSequence
	0x00081250: true, // RelatedSeriesSequence
	0x00102210: true, // AnatomicalOrientationType
	0x00120060: true, // ClinicalTrialCoordinatingCenterName
	0x00120071: true, // ClinicalTrialSeriesID
	0x00120072: true, // ClinicalTrialSeriesDescription
	0x00180015: true, // BodyPartExamined
	0x00181000: true, // DeviceSerialNumber
	0x00181002: true, // DeviceUID
	0x00181008: true, // GantryID
	0x00181020: true, // SoftwareVersions
	0x00181030: true, // ProtocolName
	0x00181050: true, // SpatialResolution
	0x00181200: true, // DateOfLastCalibration
	0x00181201: true, // TimeOfLastCalibration
	0x00185100: true, // PatientPosition
	0x0020000E: true, // SeriesInstanceUID
	0x00200011: true, // SeriesNumber
	0x00200052: true, // FrameOfReferenceUID
	0x00200060: true, // Laterality
	0x00200200: true, // SynchronizationFrameOfReferenceUID
	0x00201040: true, // PositionReferenceIndicator
	0x00201209: true, // NumberOfSeriesRelatedInstances
	0x00280108: true, // SmallestPixelValueInSeries
	0x00280109: true, // LargestPixelValueInSeries
	0x00401001: true, // RequestedProcedureID
	0x00402016: true, // PlacerOrderNumberImagingServiceRequest
	0x00402017: true, // FillerOrderNumberImagingServiceRequest
}

// LevelOf tells at which QIDO level (the Study Root information model of
// PS3.4 C.6.2, patient attributes counting as study attributes) an
// attribute lives: patient and study attributes at LevelStudy, series,
// equipment, frame of reference and procedure step attributes at
// LevelSeries, everything else at LevelInstance.
//
// SpecificCharacterSet, TimezoneOffsetFromUTC, InstanceAvailability,
// RetrieveAETitle and RetrieveURL are SOP Common / computed attributes
// reported as LevelInstance; PS3.18 returns them at every level, so they
// are accepted as keys at every level, and whoever fills index.Instance
// should copy the first two into the study and series lists as well.
//
// Ingest should split attributes with this function so that a key accepted
// by Parse at a level is found by the index at that level.
func LevelOf(tag uint32) index.Level {
	group, elem := tag>>16, tag&0xFFFF
	switch {
	case seriesTags[tag]:
		return index.LevelSeries
	case studyTags[tag], group == 0x0010, group == 0x0012, group == 0x0032, group == 0x0038:
		return index.LevelStudy
	case group == 0x0040 && elem >= 0x0001 && elem <= 0x034F:
		// Scheduled and performed procedure step, request attributes.
		return index.LevelSeries
	}
	return index.LevelInstance
}

func levelName(l index.Level) string {
	switch l {
	case index.LevelStudy:
		return "study"
	case index.LevelSeries:
		return "series"
	}
	return "instance"
}
