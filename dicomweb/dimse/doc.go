// Package dimse is the DIMSE front door of minipacs: the DICOM upper layer
// (PS3.8) over TCP and the DIMSE messages (PS3.7) that devices which never
// learned DICOMweb use to send images. It is a sibling of the DICOMweb
// handlers: a thin adapter that parses the protocol, calls the archive
// services (ingest, query, retrieve) through small interfaces, and maps
// their outcomes to DIMSE status codes (status.go, qr.go).
//
// What it serves: C-ECHO (Verification); C-STORE SCP for the storage SOP
// classes, in every transfer syntax that part10 parses; C-FIND, C-MOVE
// and C-GET SCP of the Patient Root and Study Root Query/Retrieve
// information models; Storage Commitment Push Model SCP. DICOM TLS is the
// caller's listener (cmd wraps it in crypto/tls).
//
// # Upper layer (pdu.go, assoc.go, conn.go)
//
// Every PDU is read with its declared length checked before anything is
// allocated: an A-ASSOCIATE-RQ may not exceed maxAssociatePDU, a P-DATA-TF
// may not exceed the Maximum Length we advertise (Limits.MaxPDULength),
// A-RELEASE and A-ABORT are exactly 4 bytes. A P-DATA-TF is never read
// whole: its PDVs are walked one by one, command fragments collected (at
// most Limits.MaxCommandBytes), data fragments copied straight to the
// object being spooled. A protocol error answers A-ABORT (source 2, with
// the PS3.8 reason) and closes the connection.
//
// Association negotiation: the called AE title must be ours (else
// A-ASSOCIATE-RJ 1/1/7); the calling AE title and source address must be
// allowed by the Policy (else 1/1/3); the application context must be the
// DICOM one (1/1/2); beyond Limits.MaxAssociations concurrent associations
// the answer is 2/3/2 (transient, local limit exceeded), and as many
// connections may be negotiating at once (others get 2/3/1, temporary
// congestion, without being read). Each presentation
// context (odd ID, at most 128) gets one result: 0 acceptance, 1 user
// rejection (the peer may not do that operation), 3 abstract syntax not
// supported, 4 transfer syntaxes not supported. Among the proposed transfer
// syntaxes that part10 knows, the first the peer proposes wins, except
// that a native one (Implicit/Explicit VR Little/Big Endian) is answered
// with Explicit VR Little Endian when that was proposed too, else Implicit
// VR Little Endian: compressed objects are stored as received, never
// transcoded. Outgoing P-DATA is fragmented to the peer's Maximum Length.
// The ARTIM timer bounds the wait for the A-ASSOCIATE-RQ and for the close
// after a release or a rejection; Limits.IdleTimeout bounds the silence of
// an established association (then A-ABORT). On Linux the acceptor asks
// for immediate ACKs (TCP_QUICKACK) before each PDU: DCMTK leaves Nagle's
// algorithm on and waits for the ACK of the small command PDU before
// sending the data set, which a delayed ACK turns into 40 ms per C-STORE
// (storescu of 200 small CT instances: 20/s without, about 170/s with).
//
// Shutdown (Serve's context ends): the listener closes, idle associations
// get A-ABORT at once, a message in progress may go on for
// Limits.ShutdownGrace; Serve returns when every association is over.
//
// # C-STORE (store.go)
//
// Each C-STORE-RQ becomes one ingest batch: the Part-10 object is built on
// the fly (a zero 128-byte preamble, "DICM", a File Meta group made from
// the command's Affected SOP Class and Instance UIDs, the presentation
// context's transfer syntax, our implementation class UID and version
// name, then the data set bytes exactly as received) and piped into
// Batch.Add while the P-DATA fragments arrive: no object is held in
// memory. The File Meta group depends on nothing else (no calling AE, no
// time), so the same instance sent again by any peer is the same object,
// which ingest answers as already stored (success). The C-STORE-RSP
// is sent only after Batch.Commit returned, that is once the instance is
// durable and indexed. We do not negotiate asynchronous operations, so a
// peer waits for each response before its next request: one batch per
// C-STORE costs nothing in concurrency.
//
// # Operations in progress (qr.go)
//
// C-FIND, C-MOVE and C-GET run in a goroutine of their own (an operation)
// while the association's reader goes on: a C-CANCEL-RQ for the
// operation's message ID cancels it (final status 0xFE00), the C-STORE-RSPs
// of C-GET sub-operations reach it, and a new request waits for its end
// (no asynchronous operations window is negotiated). While an operation
// runs, silence from the peer is not idleness. Writes are serialised by
// pduWriter (message.go).
//
// # C-FIND (qr.go, identifier.go)
//
// The identifier (at most 1 MiB, Implicit or Explicit VR Little Endian) is
// decoded with its SpecificCharacterSet to UTF-8 keys, which
// query.FromKeys turns into the same index query as QIDO-RS builds
// (wildcards, ranges, UID lists, case-insensitive PN). Every match is a
// pending response (0xFF00) sent as the index finds it; the answer holds
// exactly the requested keys (zero length when the entity lacks one; SQ
// return keys are zero length), the unique keys of the level and above,
// QueryRetrieveLevel and RetrieveAETitle, in the request's character set
// when it can hold every value (ASCII, ISO_IR 100), else ISO_IR 192. The
// PATIENT level of Patient Root is a study-level search answered once per
// PatientID and issuer. A key of a lower level with a value, an invalid
// level or an unparsable identifier is 0xA900; a failed search 0xC000.
//
// # C-MOVE and C-GET (qr.go, client.go)
//
// The identifier's unique keys (UID lists at the level itself; PatientID
// at PATIENT level) select the instances through the same query service.
// C-MOVE opens a new association as requestor to the destination, which
// must be in the peers file with one host address and a port (else
// 0xA801), proposing per SOP class the native syntaxes (Explicit, Implicit
// VR Little Endian) and each stored syntax; an instance goes as stored
// when its syntax was accepted, else re-encoded or decoded by the retrieve
// service (a deflated stream of odd length is padded with one NUL, PS3.5
// A.5). C-GET sends on the requestor's own association, on the storage
// contexts for which it took the SCP role (role selection answered in the
// A-ASSOCIATE-AC). A pending response with the four counters follows each
// sub-operation; the final one is 0x0000, 0xB000 (some failed or warned,
// FailedSOPInstanceUIDList in the identifier), 0xA702 (all failed) or
// 0xFE00 (cancelled).
//
// # Storage commitment (commit.go)
//
// N-ACTION-RQ (action 1) on the Storage Commitment Push Model SOP class
// is answered at once when its data set is understood and the requestor
// has an address in the peers file; then, in the background, every
// referenced instance is looked up and its stored object read back whole
// and compared with the SHA-256 the index recorded. The result goes as
// N-EVENT-REPORT-RQ (event 1 all committed, 2 with failures, reasons
// 0x0112 no such instance, 0x0119 class clash, 0x0110 unreadable or
// changed) on a new association to the requestor, in which we take the
// SCP role by role selection. A report that cannot be delivered is logged
// and audited, not retried (the requestor asks again).
//
// # Peers (policy.go)
//
// The peers file (--dimse-peers) has one peer per line, fields separated
// by blanks; '#' starts a comment:
//
//	# AE title   host (IP, CIDR or *)   port   operations
//	CT1          192.168.10.21          104    echo,store
//	WS           10.1.0.0/16            11112  echo,find,move,get
//	ANY_LAB      *                      -      all
//
// Operations are echo, store, find, move, get, commit, or all. The port
// ("-" for none) is where C-MOVE sends to and where storage commitment
// reports go; a C-MOVE destination needs a single host address and a
// port. A calling AE title may have several lines (several hosts).
// Policy{AcceptAny: true} lets any peer do anything. Server.SetPolicy
// replaces the policy (cmd reads the file again on SIGHUP).
//
// # Imports
//
// Package dimse may import dicomweb/archive, dicomweb/dicom, dicomweb/kind,
// dicomweb/security, index and storage; nothing imports it except cmd
// (TestRooms in package dicomweb checks it).
package dimse
