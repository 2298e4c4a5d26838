package dimse

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minipacs/minipacs/dicomweb/archive/ingest"
	"github.com/minipacs/minipacs/dicomweb/archive/retrieve"
	"github.com/minipacs/minipacs/index"
)

// Ingester is what the C-STORE SCP needs of the archive's ingest service
// (*ingest.Ingester): a batch per received instance.
type Ingester interface {
	Begin(ctx context.Context, studyUID string) *ingest.Batch
}

// Index is what the Query/Retrieve and commitment services read of the
// archive's index (*index.Index): searches for C-FIND and for the
// instances a C-MOVE or C-GET names, lookups by SOP Instance UID for
// storage commitment.
type Index interface {
	Search(ctx context.Context, q index.Query, fn func(*index.Result) error) error
	Lookup(ctx context.Context, sopInstanceUID string) (*index.Ref, error)
}

// Retriever reads stored instances (*retrieve.Service): the C-STORE
// sub-operations of C-MOVE and C-GET.
type Retriever interface {
	Ref(ctx context.Context, study, series, sop string) (*index.Ref, error)
	Instance(ctx context.Context, ref *index.Ref, want string) (*retrieve.Body, error)
	// Stored is the object byte for byte (storage commitment hashes it).
	Stored(ctx context.Context, ref *index.Ref) (*retrieve.Body, error)
}

// Outcome is how an association ended, or whether it was refused.
type Outcome uint8

const (
	Accepted Outcome = iota + 1 // A-ASSOCIATE-AC sent
	Rejected                    // A-ASSOCIATE-RJ sent
	Released                    // A-RELEASE-RQ/RP done
	Aborted                     // A-ABORT sent or received, or the connection broke
)

func (o Outcome) String() string {
	switch o {
	case Accepted:
		return "accepted"
	case Rejected:
		return "rejected"
	case Released:
		return "released"
	case Aborted:
		return "aborted"
	}
	return "unknown"
}

// AssociationEvent describes an association accepted, refused or ended.
type AssociationEvent struct {
	Outcome   Outcome
	CallingAE string
	CalledAE  string
	Remote    string // source address, host:port
	Reason    string // for Rejected and Aborted
}

// StoreEvent describes a C-STORE answered (stored or not).
type StoreEvent struct {
	CallingAE      string
	Remote         string
	SOPClassUID    string
	SOPInstanceUID string
	StudyUID       string // empty when the object was not understood
	Status         uint16 // the C-STORE-RSP status
	Existed        bool   // the identical instance was already stored
}

// QueryEvent describes a C-FIND answered.
type QueryEvent struct {
	CallingAE   string
	Remote      string
	SOPClassUID string // the information model
	Level       string // QueryRetrieveLevel
	Matches     int
	Identifier  []byte // the request's identifier as received
	Failed      bool   // refused or failed (not cancelled)
}

// RetrieveEvent describes the sub-operations of a C-MOVE or C-GET.
type RetrieveEvent struct {
	CallingAE   string
	Remote      string
	SOPClassUID string // the information model
	Destination string // C-MOVE destination AE ("" for C-GET)
	Completed   int
	Failed      int
	Warning     int
	Studies     []string
}

// CommitEvent describes a storage commitment request answered.
type CommitEvent struct {
	CallingAE      string
	Remote         string
	TransactionUID string
	Committed      int
	Failed         int
	Delivered      bool // the N-EVENT-REPORT was acknowledged
}

// Auditor receives the audit events of the DIMSE front door (the server
// wires it to the audit trail). Calls are made from the association's
// goroutine: they must not block for long.
type Auditor interface {
	Association(ctx context.Context, ev AssociationEvent)
	Stored(ctx context.Context, ev StoreEvent)
	Queried(ctx context.Context, ev QueryEvent)
	Retrieved(ctx context.Context, ev RetrieveEvent)
	Committed(ctx context.Context, ev CommitEvent)
}

// Limits bound the DIMSE front door.
type Limits struct {
	// MaxAssociations is the most concurrent associations (default 32);
	// beyond, A-ASSOCIATE-RJ 2/3/2 (transient, local limit exceeded).
	MaxAssociations int
	// MaxPDULength is the Maximum Length we advertise, the largest
	// P-DATA-TF variable field we accept (default 128 KiB, at most 16 MiB).
	MaxPDULength uint32
	// ARTIMTimeout bounds the wait for the A-ASSOCIATE-RQ after the TCP
	// connection, and for the close after a release or a refusal
	// (default 30 s).
	ARTIMTimeout time.Duration
	// IdleTimeout bounds the silence of an association (default 5 min):
	// then A-ABORT.
	IdleTimeout time.Duration
	// MaxCommandBytes bounds a command set (default 64 KiB).
	MaxCommandBytes int
	// ShutdownGrace is how long a message in progress may go on after
	// shutdown started (default 10 s); idle associations are aborted at
	// once.
	ShutdownGrace time.Duration
}

func (l Limits) withDefaults() Limits {
	if l.MaxAssociations <= 0 {
		l.MaxAssociations = 32
	}
	if l.MaxPDULength == 0 {
		l.MaxPDULength = 128 << 10
	}
	if l.MaxPDULength < 1024 {
		l.MaxPDULength = 1024
	}
	if l.MaxPDULength > 16<<20 {
		l.MaxPDULength = 16 << 20
	}
	if l.ARTIMTimeout <= 0 {
		l.ARTIMTimeout = 30 * time.Second
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = 5 * time.Minute
	}
	if l.MaxCommandBytes <= 0 {
		l.MaxCommandBytes = 64 << 10
	}
	if l.ShutdownGrace <= 0 {
		l.ShutdownGrace = 10 * time.Second
	}
	return l
}

// Config configures a Server.
type Config struct {
	// Ingester stores the instances received by C-STORE (required).
	Ingester Ingester
	// Index answers C-FIND and finds the instances of C-MOVE, C-GET and
	// storage commitment; Retriever reads them. Without them those
	// services answer "unable to process".
	Index     Index
	Retriever Retriever
	// Worklist answers Modality Worklist C-FIND (nil: "unable to
	// process").
	Worklist Worklist
	// AETitle is our AE title: the called AE title every association must
	// name (default MINIPACS).
	AETitle string
	// Policy says which peers may associate and what they may do
	// (required: use &Policy{AcceptAny: true} to accept any peer).
	Policy *Policy
	// AcceptUnknownSOPClasses accepts storage of SOP classes outside the
	// DICOM UID root (private ones); the standard storage classes are
	// always accepted.
	AcceptUnknownSOPClasses bool
	Limits                  Limits
	Logger                  *slog.Logger
	// Auditor, when set, receives every association and C-STORE.
	Auditor Auditor
}

// Server is the DIMSE front door: an upper-layer acceptor serving C-ECHO
// and C-STORE.
type Server struct {
	cfg     Config
	lim     Limits
	log     *slog.Logger
	active  chan struct{} // one per association (Limits.MaxAssociations)
	opening chan struct{} // one per connection awaiting its A-ASSOCIATE-RQ (as many)

	policy atomic.Pointer[Policy] // Config.Policy, replaced by SetPolicy

	mu     sync.Mutex
	conns  map[*assoc]struct{}
	wg     sync.WaitGroup
	stopAt atomic.Int64 // unix nanoseconds: shutdown deadline of messages in progress
}

// New returns a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Ingester == nil {
		return nil, errors.New("dimse: no ingester")
	}
	if cfg.Policy == nil {
		return nil, errors.New("dimse: no policy (peers, or accept any)")
	}
	if cfg.AETitle == "" {
		cfg.AETitle = "MINIPACS"
	}
	if !validAE(cfg.AETitle) {
		return nil, fmt.Errorf("dimse: invalid AE title %q", cfg.AETitle)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	lim := cfg.Limits.withDefaults()
	s := &Server{
		cfg: cfg, lim: lim, log: cfg.Logger.With("component", "dimse"),
		active:  make(chan struct{}, lim.MaxAssociations),
		opening: make(chan struct{}, lim.MaxAssociations),
		conns:   map[*assoc]struct{}{},
	}
	s.policy.Store(cfg.Policy)
	return s, nil
}

// SetPolicy replaces the association policy (a peers file read again on
// SIGHUP): new associations, C-MOVE destinations and commitment reports
// follow it; associations already open keep the operations they were
// granted.
func (s *Server) SetPolicy(p *Policy) {
	if p != nil {
		s.policy.Store(p)
	}
}

// Policy returns the association policy in force.
func (s *Server) Policy() *Policy { return s.policy.Load() }

// AETitle is the server's AE title.
func (s *Server) AETitle() string { return s.cfg.AETitle }

// Serve accepts associations on ln until ctx is cancelled or ln fails.
// On cancellation it stops accepting, aborts the idle associations, lets
// the messages in progress end (at most Limits.ShutdownGrace), waits for
// every association and returns nil. ln is closed when Serve returns.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var err error
	for {
		var nc net.Conn
		nc, err = ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				err = nil
				break
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			break
		}
		select {
		case s.opening <- struct{}{}:
		default:
			// As many connections as associations may be negotiating at
			// once (each may hold an A-ASSOCIATE-RQ being read): refuse
			// the others at once, transiently.
			go refuse(nc)
			continue
		}
		a := &assoc{s: s, nc: nc, opening: true}
		s.mu.Lock()
		s.conns[a] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			a.serve(ctx)
			s.mu.Lock()
			delete(s.conns, a)
			s.mu.Unlock()
		}()
	}
	ln.Close()
	s.shutdown()
	return err
}

// refuse answers A-ASSOCIATE-RJ 2/3/1 (temporary congestion) without
// reading the request, then waits a second at most for the peer to close
// (so that it reads the answer rather than a reset).
func refuse(nc net.Conn) {
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(time.Second))
	if _, err := nc.Write(encodeReject(rejectTransient, rejectSourcePresentation, rejectTemporaryCongestion)); err == nil {
		io.Copy(io.Discard, io.LimitReader(nc, 64<<10))
	}
}

// shutdown interrupts every association and waits for them.
func (s *Server) shutdown() {
	now := time.Now()
	s.stopAt.Store(now.Add(s.lim.ShutdownGrace).UnixNano())
	s.mu.Lock()
	for a := range s.conns {
		if a.idle.Load() {
			a.nc.SetReadDeadline(now)
		} else {
			a.nc.SetReadDeadline(now.Add(s.lim.ShutdownGrace))
		}
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// stopping reports whether shutdown started.
func (s *Server) stopping() bool { return s.stopAt.Load() != 0 }

// deadline is now+d, or the shutdown deadline when earlier.
func (s *Server) deadline(d time.Duration) time.Time {
	t := time.Now().Add(d)
	if n := s.stopAt.Load(); n != 0 && n < t.UnixNano() {
		return time.Unix(0, n)
	}
	return t
}

func (s *Server) auditAssociation(ctx context.Context, ev AssociationEvent) {
	if s.cfg.Auditor != nil {
		s.cfg.Auditor.Association(ctx, ev)
	}
}

func (s *Server) auditQuery(ctx context.Context, ev QueryEvent) {
	if s.cfg.Auditor != nil {
		s.cfg.Auditor.Queried(ctx, ev)
	}
}

func (s *Server) auditRetrieve(ctx context.Context, ev RetrieveEvent) {
	if s.cfg.Auditor != nil {
		s.cfg.Auditor.Retrieved(ctx, ev)
	}
}

func (s *Server) auditCommit(ctx context.Context, ev CommitEvent) {
	if s.cfg.Auditor != nil {
		s.cfg.Auditor.Committed(ctx, ev)
	}
}

func (s *Server) auditStored(ctx context.Context, ev StoreEvent) {
	if s.cfg.Auditor != nil {
		s.cfg.Auditor.Stored(ctx, ev)
	}
}
