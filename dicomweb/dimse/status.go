package dimse

import "github.com/minipacs/minipacs/dicomweb/archive/ingest"

// DIMSE status codes used by the services here (PS3.7 C, PS3.4 B.2.3).
const (
	StatusSuccess             uint16 = 0x0000
	StatusWarningCoercion     uint16 = 0xB000
	StatusWarningDiscarded    uint16 = 0xB006
	StatusWarningSOPClass     uint16 = 0xB007
	StatusOutOfResources      uint16 = 0xA700
	StatusDataSetMismatch     uint16 = 0xA900
	StatusCannotUnderstand    uint16 = 0xC000
	StatusDuplicateInstance   uint16 = 0x0111
	StatusProcessingFailure   uint16 = 0x0110
	StatusSOPClassUnsupported uint16 = 0x0122
	StatusUnrecognizedOp      uint16 = 0x0211
)

// storeStatuses maps ingest's failure reasons (PS3.4 / PS3.18 codes) to
// C-STORE statuses: the one table of this front door.
var storeStatuses = map[uint16]struct {
	status  uint16
	comment string // Error Comment (LO, at most 64 characters, no patient data)
}{
	ingest.FailureOutOfResources:   {StatusOutOfResources, "out of resources"},
	ingest.FailureDataSetMismatch:  {StatusDataSetMismatch, "data set does not match SOP class"},
	ingest.FailureMissingAttribute: {StatusDataSetMismatch, "missing SOP, study or series UID"},
	ingest.FailureEmptyAttribute:   {StatusDataSetMismatch, "empty SOP, study or series UID"},
	ingest.FailureCannotUnderstand: {StatusCannotUnderstand, "cannot understand the data set"},
	ingest.FailureTransferSyntax:   {StatusCannotUnderstand, "transfer syntax not supported"},
	ingest.FailureDuplicate:        {StatusDuplicateInstance, "SOP instance already stored with other content"},
	ingest.FailureProcessing:       {StatusProcessingFailure, "processing failure"},
}

// storeWarnings maps ingest's warning reasons to C-STORE warnings (the
// codes are the same in PS3.4 B.2.3); any other warning is a coercion.
var storeWarnings = map[uint16]uint16{
	ingest.WarningCoercion:        StatusWarningCoercion,
	ingest.WarningElementsDropped: StatusWarningDiscarded,
	ingest.WarningSOPClass:        StatusWarningSOPClass,
}

// storeStatus is the C-STORE-RSP status and error comment for an ingest
// result. An identical instance already stored is a success.
func storeStatus(res ingest.Result) (uint16, string) {
	if res.Failure != 0 {
		if s, ok := storeStatuses[res.Failure]; ok {
			return s.status, s.comment
		}
		return StatusCannotUnderstand, "cannot understand the data set"
	}
	if res.Warning != 0 {
		if s, ok := storeWarnings[res.Warning]; ok {
			return s, ""
		}
		return StatusWarningCoercion, ""
	}
	return StatusSuccess, ""
}
