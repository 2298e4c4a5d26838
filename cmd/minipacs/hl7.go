package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"syscall"

	"github.com/minipacs/minipacs/dicomweb/archive/patient"
	"github.com/minipacs/minipacs/dicomweb/archive/report"
	"github.com/minipacs/minipacs/dicomweb/archive/worklist"
	"github.com/minipacs/minipacs/dicomweb/hl7"
	"github.com/minipacs/minipacs/dicomweb/security/audit"
	"github.com/minipacs/minipacs/index"
)

// defaultHL7Listen is where serve accepts HL7 v2 (MLLP) unless told
// otherwise.
const defaultHL7Listen = "127.0.0.1:2575"

// hl7Config holds the flags of the HL7 v2 front door (package hl7).
type hl7Config struct {
	listen                 string
	allow                  string
	tlsCert, tlsKey, tlsCA string
}

func (c *hl7Config) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.listen, "hl7-listen", defaultHL7Listen, `address of the HL7 v2 (MLLP) listener: patients (ADT), orders (ORM^O01, OMI^O23) to the modality worklist, results (ORU^R01) to reports; "" turns it off`)
	fs.StringVar(&c.allow, "hl7-allow", "", "file of the HL7 senders allowed: per line sending facility (or *) and address (IP, CIDR or *); required on a non-loopback listener; reloaded on SIGHUP")
	fs.StringVar(&c.tlsCert, "hl7-tls-cert", "", "PEM certificate chain of the MLLP listener (MLLP over TLS 1.2 or later); reloaded on SIGHUP")
	fs.StringVar(&c.tlsKey, "hl7-tls-key", "", "PEM private key of --hl7-tls-cert")
	fs.StringVar(&c.tlsCA, "hl7-tls-ca", "", "PEM CA certificates: with TLS, require a client certificate signed by one of them")
}

// allowList loads --hl7-allow (nil without it).
func (c *hl7Config) allowList() (*hl7.AllowList, error) {
	if c.allow == "" {
		return nil, nil
	}
	return hl7.LoadAllowList(c.allow)
}

// check validates the flags before anything is opened: a listener that is
// not on loopback needs an allow list, as HTTP needs authentication.
func (c *hl7Config) check() error {
	if c.listen == "" {
		return nil
	}
	switch {
	case (c.tlsCert == "") != (c.tlsKey == ""):
		return errors.New("--hl7-tls-cert and --hl7-tls-key go together")
	case c.tlsCA != "" && c.tlsCert == "":
		return errors.New("--hl7-tls-ca needs --hl7-tls-cert and --hl7-tls-key")
	}
	allow, err := c.allowList()
	if err != nil {
		return err
	}
	if err := hl7.CheckExposure(c.listen, allow); err != nil {
		return fmt.Errorf("--hl7-listen %s: %w (give --hl7-allow FILE, or --hl7-listen \"\" to turn HL7 off)", c.listen, err)
	}
	return nil
}

// hl7Services are the archive services the HL7 front door applies
// messages to.
type hl7Services struct {
	idx      index.Engine
	wl       *worklist.Service
	reports  *report.Service
	patients *patient.Service
}

// startHL7 starts the MLLP listener (unless --hl7-listen is empty) and
// returns a function that stops it and waits, and the reloads for SIGHUP
// (allow list, TLS certificate). When the default address is taken, HL7
// stays off with a warning; an address given explicitly must be free.
func startHL7(ctx context.Context, c *hl7Config, svc hl7Services, trail *audit.Trail, log *slog.Logger) (wait func(), reloads []func() error, err error) {
	nop := func() {}
	if c.listen == "" {
		return nop, nil, nil
	}
	allow, err := c.allowList()
	if err != nil {
		return nil, nil, err
	}
	tlsCfg, reloadCert, err := listenerTLS("--hl7-tls", c.tlsCert, c.tlsKey, c.tlsCA)
	if err != nil {
		return nil, nil, err
	}
	var aud hl7.Auditor
	if trail != nil {
		aud = hl7Auditor{trail}
	}
	srv, err := hl7.New(hl7.Config{
		Applier: &hl7.Records{Orders: svc.wl, Reports: svc.reports, Patients: svc.patients},
		Journal: hl7.IndexJournal{Index: svc.idx},
		Allow:   allow,
		Logger:  log,
		Auditor: aud,
	})
	if err != nil {
		return nil, nil, err
	}
	ln, err := net.Listen("tcp", c.listen)
	if errors.Is(err, syscall.EADDRINUSE) && c.listen == defaultHL7Listen {
		log.Warn("HL7 off: the default address is in use (set --hl7-listen)", "addr", c.listen)
		return nop, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("--hl7-listen: %w", err)
	}
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
		reloads = append(reloads, reloadCert)
	}
	if c.allow != "" {
		reloads = append(reloads, func() error {
			a, err := hl7.LoadAllowList(c.allow)
			if err != nil {
				return err
			}
			srv.SetAllow(a)
			return nil
		})
	}
	log.Info("HL7 listening", "addr", ln.Addr().String(), "tls", tlsCfg != nil, "allow_list", c.allow != "")
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ctx, ln); err != nil {
			log.Error("HL7 listener", "err", err)
		}
	}()
	return func() { cancel(); <-done }, reloads, nil
}

// hl7Auditor writes each message answered to the audit trail.
type hl7Auditor struct{ trail *audit.Trail }

// Received implements hl7.Auditor.
func (a hl7Auditor) Received(ctx context.Context, ev hl7.MessageEvent) {
	sender := audit.Peer(ev.SendingApp+"^"+ev.SendingFacility, ev.Remote)
	sender.Method = "hl7-mllp"
	a.trail.HL7Received(ctx, sender, audit.HL7Message{Code: ev.Code, Event: ev.Event, ControlID: ev.ControlID,
		Ack: string(ev.Ack), Text: ev.Text, Duplicate: ev.Duplicate})
}
