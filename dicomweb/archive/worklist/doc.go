// Package worklist is the archive's modality worklist: the scheduled
// procedure steps made from the orders a RIS sends (HL7 v2 ORM^O01,
// OMI^O23, applied by the HL7 front door), kept as index records
// (index.RecordOrder) and searched by the DIMSE Modality Worklist C-FIND
// SCP. It knows nothing of HL7 or DIMSE: a front door builds an Order and
// a Filter, this package stores and matches them.
//
// An order is keyed by its placer order number and scheduled procedure
// step ID. A cancelled or completed order is kept (its status says so) and
// is not answered to a worklist query unless the filter asks for that
// status. An order without a Study Instance UID gets one at its first
// Put (a 2.25 UUID-derived UID, PS3.5 B.2) that later updates keep, so that
// the modality puts every image of the procedure in one study.
//
// Matching (PS3.4 K.2.2.1, C.2.2.2): every non-empty filter field must
// match; '*' and '?' are wildcards in string fields; person names match
// case-insensitively; the scheduled start date is a DA range ("a-b",
// "-b", "a-").
//
// # Imports
//
// Package worklist is an archive service: it may import index,
// dicomweb/kind and dicomweb/dicom; never a front door.
package worklist
