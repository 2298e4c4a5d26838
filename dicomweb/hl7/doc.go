// Package hl7 is the HL7 v2 front door of minipacs: the EHR's and RIS's
// ADT, order and report messages received over MLLP and answered with
// original mode acknowledgments. It is the protocol layer only: what a
// message does to the archive (patients, merges, orders, reports) is the
// Applier's business, an interface this package defines and the server
// wiring implements, with the Journal of duplicate control and the
// Auditor.
//
// # Room
//
// A front door beside the DICOMweb handlers and dicomweb/dimse: it may
// import dicomweb/archive/..., dicomweb/dicom/..., dicomweb/kind,
// dicomweb/security/..., index and storage; not net/http, echo, web, cmd,
// dicomweb/dimse or dicomweb/fhir (dicomweb/rooms_test.go). Only cmd
// imports it.
//
// # Messages (message.go)
//
// Parse reads ER7 (v2.3 to v2.5.1): segments end with CR, LF or CRLF;
// MSH-1 and MSH-2 give the delimiters (any, such as MSH#$%@!; a fifth,
// the v2.7 truncation character, is ignored); MSH-18 gives the character
// set: empty, ASCII and 8859/1 are read as ISO 8859-1, UNICODE UTF-8 as
// UTF-8 (invalid UTF-8 is error 102), any other is read as ISO 8859-1 and
// Message.Charset says so (the server logs it). Values are kept as sent
// and decoded when read (Field, Component, Subcomponent, Repetitions):
// \F\ \S\ \T\ \R\ \E\, \.br\ as a line feed, \Xhh..\ as bytes in the
// message's character set; highlighting and formatting sequences are
// dropped. The HL7 null ("") is returned as is (Null). Limits: the
// message size (1 MiB), segments (10000), fields per segment (1000).
// Errors are *Error, with the HL7 error code of table 0357.
//
// # Acknowledgments (ack.go, errors.go)
//
// BuildACK makes the original mode ACK: MSH with sender and receiver
// swapped and our own control ID, MSH-9 ACK^<event>^ACK, the incoming
// message's delimiters, version, processing ID and character set; MSA
// with AA, AE or AR and the message's control ID; for AE and AR an ERR
// segment (ERR-2 location, ERR-3 code^text^HL70357, ERR-4 E, ERR-8 text;
// before v2.5 also ERR-1, segment^sequence^field^code&text&HL70357).
//
// Outcome is the one table from errors to answers. An *Error in the
// chain gives its code; otherwise the kind (dicomweb/kind) does:
//
//	nil                 AA
//	kind.Invalid        AE 207 (the message breaks a rule; *Error for 100-103)
//	kind.NotFound       AE 204 unknown key identifier
//	kind.Conflict       AE 205 duplicate key identifier
//	kind.Unsupported    AR 200 (an *Error says 201 unsupported event, 203 version)
//	kind.Unavailable    AR 207 (transient: the sender keeps it and retries)
//	kind.Full           AR 207 (also a message over the limits)
//	kind.Forbidden      AR 207 (facility or address not in the allow list)
//	no kind             AR 207 (an internal failure: do not let the sender drop it)
//
// The server itself answers: parse errors with their code (AE; when no
// MSH could be read, AR 100 or 102 with the default delimiters and an
// empty MSA-2); versions not in
// Config.Versions AR 203; an ACK sent to us AR 200.
//
// # Durability and duplicates (server.go)
//
// For each message: Journal.Lookup(JournalKey) — a hit is answered with the
// recorded ACK, nothing applied; else Applier.Apply, which returns only
// once the effect is durable; then, for AA only, Journal.Record; then the
// ACK is sent. A crash after Apply and before Record re-applies the
// message when the sender re-sends it (it got no ACK): never lost, maybe
// applied twice, so Apply must be idempotent (an A01 for a known visit
// updates it, an A40 already done is a success). AE and AR are not
// recorded: a re-send is tried again. A journal that cannot be read is
// AR 207 (transient); one that cannot record still answers AA (applied).
// Two connections sending the same message at once may both apply it.
//
// # MLLP (mllp.go, server.go)
//
// Frames are <VT> message <FS><CR>. A connection carries one message at
// a time, each answered before the next is read. Bytes outside a frame,
// a start block inside one, <FS> not followed by <CR> or a frame cut by
// the close: the connection is closed without an answer. A frame over
// Limits.MaxMessageBytes is read to its end and answered AR 207 when its
// MSH can be read, else the connection is closed. Limits.IdleTimeout
// bounds the wait for a message, ReadTimeout its reading, WriteTimeout the
// ACK's; beyond Limits.MaxConnections connections are closed at once.
//
// The AllowList (a file of lines "FACILITY ADDRESS-or-CIDR-or-*") says
// who may send: a connection from an address no entry allows is closed at
// once, a message from a facility not allowed at that address is AR 207.
// CheckExposure (and Serve) refuse a non-loopback listener without one.
//
// Shutdown (Serve's context ends): the listener closes, idle connections
// close at once, a message being applied may go on for
// Limits.ShutdownGrace (then the Applier's context is cancelled, and the
// answer is AR); Serve returns when every connection is over.
package hl7
