// Package dimse is the DIMSE front door of minipacs: the DICOM upper layer
// (PS3.8) over TCP and the DIMSE messages (PS3.7) that devices which never
// learned DICOMweb use to send images. It is a sibling of the DICOMweb
// handlers: a thin adapter that parses the protocol, calls the archive
// services (ingest) through small interfaces, and maps their outcomes to
// DIMSE status codes in one table (status.go).
//
// What it serves today: C-ECHO (Verification) and C-STORE SCP for the
// storage SOP classes, in every transfer syntax that part10 parses.
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
// ("-" for none) is where C-MOVE will send to. A calling AE title may have
// several lines (several hosts). Policy{AcceptAny: true} lets any peer do
// anything.
//
// # Imports
//
// Package dimse may import dicomweb/archive, dicomweb/dicom, dicomweb/kind,
// dicomweb/security, index and storage; nothing imports it except cmd
// (TestRooms in package dicomweb checks it).
package dimse
