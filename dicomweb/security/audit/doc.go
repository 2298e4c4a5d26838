// Package audit keeps the audit trail of minipacs: one record for every
// access to patient data and every security event, with the content of an
// IHE ATNA / DICOM PS3.15 A.5 audit message and PS3.16 event codes (CID 400
// event IDs, CID 401 event type codes, CID 402 participant roles).
//
// # Events
//
//	110104 DICOM Instances Transferred  C: STOW-RS receipt; R: WADO-RS retrieval of instances
//	110103 DICOM Instances Accessed     R: metadata, frames, rendered; U/D: changes
//	110105 DICOM Study Deleted          D
//	110112 Query                        E: QIDO-RS (object: SOP Class 1.2.840.10008.5.1.4.1.2.2.1, the query text)
//	110114 User Authentication          E, type 110122 Login / 110123 Logout
//	110113 Security Alert               E, type e.g. 110132 Use of Restricted Function (refused for want of a role),
//	                                    110129 Security Configuration (certificate reload), 110126 Node Authentication,
//	                                    110134 Audit Recording Started (written by Open after cutting a torn tail),
//	                                    110127 Emergency Override Started (a break-glass grant, the reason in the description)
//	110100 Application Activity         E, type 110120 Application Start / 110121 Application Stop
//
// Share links (Trail.Share, package share): creation and revocation are
// 110113 type 110135 Object Security Attributes Changed (objects: the
// study, its patient, share:<id>); opening a link is 110103, action R, by
// the user share:<id>; a refused link is 110113 type 110132, minor
// failure, with the reason in the description. All are durable before the
// response; none holds the link's secret.
//
// Node's methods build these records; Log.Record writes them. Trail is
// the mapping of a running server's operations to them: Access (OpStore,
// OpRetrieve, OpRead, OpQuery, OpDelete, with the user of the request's
// auth.Principal), OnAuth (refused requests: 401/503 as 110114, 403 as
// 110113 Use of Restricted Function), Start and Close (110100); records of
// changes and of security events are durable before the response.
//
// # Record schema (JSON)
//
// A record is the AuditMessage of PS3.15 A.5.1 with the element and
// attribute names of its schema in lower camel case:
//
//	{"eventID": {"code","codeSystemName","displayName"},
//	 "eventActionCode": "C|R|U|D|E",
//	 "eventDateTime": RFC 3339 UTC with nanoseconds,
//	 "eventOutcomeIndicator": 0 success | 4 minor failure | 8 serious failure | 12 major failure,
//	 "eventOutcomeDescription": "...",                 (optional)
//	 "eventTypeCode": [code...],                        (optional)
//	 "activeParticipant": [{"userID","alternativeUserID","userName","userIsRequestor",
//	     "roleIDCode":[code...],"networkAccessPointTypeCode":1 name|2 IP,"networkAccessPointID"}],
//	 "auditSourceIdentification": {"auditSourceID","auditEnterpriseSiteID","auditSourceTypeCode":["4"]},
//	 "participantObjectIdentification": [{"participantObjectTypeCode":1 person|2 system object,
//	     "participantObjectTypeCodeRole":1 patient|3 report|13 security resource,
//	     "participantObjectIDTypeCode": code (110180 Study Instance UID, 110181 SOP Class UID,
//	                                    RFC-3881 2 Patient Number, RFC-3881 12 URI),
//	     "participantObjectID", "participantObjectName" (patient name),
//	     "participantObjectQuery": base64, "participantObjectDetail":[{"type","value"}],
//	     "participantObjectDescription": {"accession":[..],"numberOfInstances":n,"sopInstanceUIDs":[..]}}]}
//
// Records never hold pixel data. Patient names appear here and nowhere
// else in minipacs.
//
// # Log file
//
// The log is a file of JSON lines, opened O_APPEND with mode 0600:
//
//	{"seq":N,"prev":"<hex>","record":{...},"hash":"<hex>"}
//
// seq counts from 1 without gaps; prev is the SHA-256 of the whole
// previous line (64 zeros for seq 1); hash is the SHA-256 of the exact
// bytes of the line before `,"hash":`. Editing a byte breaks that line's
// hash; deleting, inserting or reordering lines breaks seq and prev.
// Verify and VerifyPath name the first broken line (minipacs audit verify).
//
// Rotation: when the active file passes Options.MaxSize it is renamed to
// <path>.000001, .000002, ... (oldest first) and a new file continues the
// chain. On Open the last line is read to continue the chain; bytes after
// the last newline (a write torn by a crash) are cut off and recorded in a
// Security Alert; a damaged last complete line refuses to open.
//
// # Durability
//
// Record returns only when its record is written and fsynced, so a handler
// that records before answering never answers an unaudited access. One
// writer goroutine batches the records that arrive while it syncs (group
// commit): concurrent requests share one fsync. See BenchmarkRecord.
//
// # Forwarding
//
// A Forwarder sends records as RFC 5424 syslog messages over TLS with RFC
// 5425 octet counting (facility 13 log audit, MSGID AUDIT, structured data
// [audit@32473 seq hash], MSG the log line). The log is its spool; the seq
// delivered is kept in <path>.forward. Delivery is at least once.
package audit
