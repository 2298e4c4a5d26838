package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/minipacs/minipacs/dicomweb"
	"github.com/minipacs/minipacs/dicomweb/archive/ingest"
	"github.com/minipacs/minipacs/dicomweb/archive/retrieve"
	"github.com/minipacs/minipacs/dicomweb/archive/worklist"
	"github.com/minipacs/minipacs/dicomweb/dimse"
	"github.com/minipacs/minipacs/dicomweb/security/audit"
	"github.com/minipacs/minipacs/dicomweb/security/transport"
	"github.com/minipacs/minipacs/index"
)

// defaultDIMSEListen is where serve accepts DIMSE associations unless told
// otherwise.
const defaultDIMSEListen = "127.0.0.1:11112"

// dimseConfig holds the flags of the DIMSE front door (package dimse).
type dimseConfig struct {
	listen    string
	aet       string
	peers     string
	acceptAny bool
	// DICOM TLS (PS3.15 B.9, BCP 195): server certificate, and the CA
	// whose client certificates are required when set.
	tlsCert, tlsKey, tlsCA string
	// Limits and policy of the front door.
	maxAssociations int
	maxPDU          uint
	idleTimeout     time.Duration
	acceptPrivate   bool
}

func (c *dimseConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.listen, "dimse-listen", defaultDIMSEListen, `address of the DICOM (DIMSE) listener: C-ECHO, C-STORE, C-FIND, C-MOVE, C-GET, storage commitment; "" turns it off`)
	fs.StringVar(&c.aet, "dimse-aet", "MINIPACS", "our DICOM AE title (the called AE title peers must use)")
	fs.StringVar(&c.peers, "dimse-peers", "", "file of the DICOM peers allowed to associate: per line AE title, host (IP, CIDR or *), port (or -), operations (echo,store,find,move,get,commit or all)")
	fs.BoolVar(&c.acceptAny, "dimse-accept-any", false, "accept DICOM associations from any calling AE title and address")
	fs.StringVar(&c.tlsCert, "dimse-tls-cert", "", "PEM certificate chain of the DIMSE listener: DICOM TLS (TLS 1.2 or later, BCP 195); reloaded on SIGHUP")
	fs.StringVar(&c.tlsKey, "dimse-tls-key", "", "PEM private key of --dimse-tls-cert")
	fs.IntVar(&c.maxAssociations, "dimse-max-associations", 32, "most concurrent DIMSE associations; beyond, A-ASSOCIATE-RJ (transient, local limit exceeded)")
	fs.UintVar(&c.maxPDU, "dimse-max-pdu", 128<<10, "maximum PDU length advertised and accepted (1024 to 16777216 bytes)")
	fs.DurationVar(&c.idleTimeout, "dimse-idle-timeout", 5*time.Minute, "silence after which an association is aborted")
	fs.BoolVar(&c.acceptPrivate, "dimse-accept-private-sop-classes", false, "accept C-STORE of SOP classes outside the DICOM UID root (private ones)")
	fs.StringVar(&c.tlsCA, "dimse-tls-ca", "", "PEM CA certificates: with DICOM TLS, require a client certificate signed by one of them")
}

// policy loads the association policy. A listener that is not on
// loopback needs a peers file or an explicit --dimse-accept-any, as HTTP
// needs authentication.
func (c *dimseConfig) policy() (*dimse.Policy, error) {
	switch {
	case c.peers != "" && c.acceptAny:
		return nil, errors.New("--dimse-peers and --dimse-accept-any: choose one")
	case c.peers != "":
		return dimse.LoadPeers(c.peers)
	case c.acceptAny || transport.IsLoopback(c.listen):
		return &dimse.Policy{AcceptAny: true}, nil
	}
	return nil, fmt.Errorf("--dimse-listen %s is not loopback: give --dimse-peers FILE (or --dimse-accept-any), or --dimse-listen \"\" to turn DIMSE off", c.listen)
}

// check validates the flags before anything is opened.
func (c *dimseConfig) check() error {
	if c.listen == "" {
		return nil
	}
	switch {
	case (c.tlsCert == "") != (c.tlsKey == ""):
		return errors.New("--dimse-tls-cert and --dimse-tls-key go together")
	case c.tlsCA != "" && c.tlsCert == "":
		return errors.New("--dimse-tls-ca needs --dimse-tls-cert and --dimse-tls-key")
	case c.maxAssociations < 0:
		return errors.New("--dimse-max-associations must be positive")
	case c.maxPDU != 0 && (c.maxPDU < 1024 || c.maxPDU > 16<<20):
		return errors.New("--dimse-max-pdu must be between 1024 and 16777216")
	case c.idleTimeout != 0 && c.idleTimeout < time.Second:
		return errors.New("--dimse-idle-timeout must be at least 1s")
	}
	_, err := c.policy()
	return err
}

// tlsConfig is the DICOM TLS configuration (nil without a certificate)
// and the reload of its certificate.
func (c *dimseConfig) tlsConfig() (*tls.Config, func() error, error) {
	return listenerTLS("--dimse-tls", c.tlsCert, c.tlsKey, c.tlsCA)
}

// listenerTLS is the TLS configuration of a protocol listener (DIMSE,
// MLLP) from its certificate, key and optional client CA files (nil
// without a certificate), and the reload of its certificate. flag names
// the flags in errors.
func listenerTLS(flag, certFile, keyFile, caFile string) (*tls.Config, func() error, error) {
	if certFile == "" {
		return nil, nil, nil
	}
	cert, err := transport.NewCertificate(certFile, keyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("%s-cert: %w", flag, err)
	}
	cfg := cert.ServerConfig()
	cfg.NextProtos = nil
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, nil, fmt.Errorf("%s-ca: %w", flag, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, nil, fmt.Errorf("%s-ca %s: no PEM certificate", flag, caFile)
		}
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return cfg, cert.Reload, nil
}

// startDIMSE starts the DIMSE listener (unless --dimse-listen is empty)
// and returns a function that stops it (the associations in progress end,
// see dimse.Server.Serve) and waits for it. When
// the default address is taken (another minipacs on this host), DIMSE
// stays off with a warning; an address given explicitly must be free.
// dimseServices are the archive services the DIMSE front door calls.
type dimseServices struct {
	ing *ingest.Ingester
	idx index.Engine
	ret *retrieve.Service
	wl  *worklist.Service
}

// reloads are what SIGHUP reloads: the peers file and the TLS certificate.
func startDIMSE(ctx context.Context, c *dimseConfig, svc dimseServices, trail *audit.Trail, log *slog.Logger) (wait func(), reloads []func() error, err error) {
	nop := func() {}
	if c.listen == "" {
		return nop, nil, nil
	}
	pol, err := c.policy()
	if err != nil {
		return nil, nil, err
	}
	tlsCfg, reloadCert, err := c.tlsConfig()
	if err != nil {
		return nil, nil, err
	}
	var aud dimse.Auditor
	if trail != nil {
		aud = dimseAuditor{trail, svc.idx}
	}
	srv, err := dimse.New(dimse.Config{
		Ingester: svc.ing, Index: svc.idx, Retriever: svc.ret, Worklist: svc.wl,
		AETitle: c.aet, Policy: pol, Logger: log, Auditor: aud,
		AcceptUnknownSOPClasses: c.acceptPrivate,
		Limits:                  dimse.Limits{MaxAssociations: c.maxAssociations, MaxPDULength: uint32(c.maxPDU), IdleTimeout: c.idleTimeout},
	})
	if err != nil {
		return nil, nil, err
	}
	ln, err := net.Listen("tcp", c.listen)
	if errors.Is(err, syscall.EADDRINUSE) && c.listen == defaultDIMSEListen {
		log.Warn("DIMSE off: the default address is in use (set --dimse-listen)", "addr", c.listen)
		return nop, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("--dimse-listen: %w", err)
	}
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
		reloads = append(reloads, reloadCert)
	}
	if c.peers != "" {
		reloads = append(reloads, func() error {
			p, err := dimse.LoadPeers(c.peers)
			if err != nil {
				return err
			}
			srv.SetPolicy(p)
			return nil
		})
	}
	log.Info("DIMSE listening", "addr", ln.Addr().String(), "aet", c.aet, "tls", tlsCfg != nil, "accept_any", pol.AcceptAny, "peers", len(pol.Peers))
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ctx, ln); err != nil {
			log.Error("DIMSE listener", "err", err)
		}
	}()
	return func() { cancel(); <-done }, reloads, nil
}

// dimseAuditor writes the DIMSE front door's events to the audit trail
// (the ATNA mapping is audit.Trail's), naming the patient of each study
// from the index.
type dimseAuditor struct {
	trail *audit.Trail
	idx   index.Engine
}

// study is the audit reference of a study: its patient and accession
// from the index (only the UID when the index does not know it).
func (d dimseAuditor) study(ctx context.Context, uid string) audit.StudyRef {
	ref := audit.StudyRef{StudyUID: uid}
	if uid == "" || d.idx == nil {
		return ref
	}
	d.idx.Search(ctx, index.Query{Level: index.LevelStudy, StudyUID: uid, Limit: 1}, func(r *index.Result) error {
		sa := dicomweb.StudyOf(r)
		ref.PatientID, ref.PatientName, ref.Accession = sa.PatientID, sa.PatientName, sa.AccessionNumber
		return nil
	})
	return ref
}

// associationOutcomes names each dimse outcome in the audit package's
// terms (one to one).
var associationOutcomes = map[dimse.Outcome]audit.AssociationOutcome{
	dimse.Accepted: audit.AssociationAccepted,
	dimse.Rejected: audit.AssociationRejected,
	dimse.Released: audit.AssociationReleased,
	dimse.Aborted:  audit.AssociationAborted,
}

// Association implements dimse.Auditor.
func (d dimseAuditor) Association(ctx context.Context, ev dimse.AssociationEvent) {
	d.trail.Association(ctx, audit.Peer(ev.CallingAE, ev.Remote), ev.CalledAE, associationOutcomes[ev.Outcome], ev.Reason)
}

// Stored implements dimse.Auditor.
func (d dimseAuditor) Stored(ctx context.Context, ev dimse.StoreEvent) {
	study := d.study(ctx, ev.StudyUID)
	study.Instances, study.SOPInstance = 1, []string{ev.SOPInstanceUID}
	d.trail.Stored(ctx, audit.Peer(ev.CallingAE, ev.Remote), study, ev.SOPClassUID, ev.Status)
}

// Queried implements dimse.Auditor.
func (d dimseAuditor) Queried(ctx context.Context, ev dimse.QueryEvent) {
	d.trail.Queried(ctx, audit.Peer(ev.CallingAE, ev.Remote), ev.SOPClassUID, ev.Level, ev.Identifier, ev.Matches, ev.Failed)
}

// Retrieved implements dimse.Auditor.
func (d dimseAuditor) Retrieved(ctx context.Context, ev dimse.RetrieveEvent) {
	studies := make([]audit.StudyRef, len(ev.Studies))
	for i, uid := range ev.Studies {
		studies[i] = d.study(ctx, uid)
	}
	d.trail.Retrieved(ctx, audit.Peer(ev.CallingAE, ev.Remote), ev.Destination, studies, ev.Completed+ev.Warning, ev.Failed)
}

// Committed implements dimse.Auditor.
func (d dimseAuditor) Committed(ctx context.Context, ev dimse.CommitEvent) {
	d.trail.Committed(ctx, audit.Peer(ev.CallingAE, ev.Remote), ev.TransactionUID, ev.Committed, ev.Failed, ev.Delivered)
}
