package dimse

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"reflect"
	"strings"
	"testing"

	"github.com/minipacs/minipacs/dicomweb/archive/ingest"
	"github.com/minipacs/minipacs/dicomweb/dicom/part10"
)

func TestCommandRoundTrip(t *testing.T) {
	for _, c := range []*Command{
		{Field: CEchoRQ, MessageID: 1, AffectedSOPClass: VerificationSOPClass},
		{Field: CStoreRQ, MessageID: 65535, Priority: 2, AffectedSOPClass: ctImage, AffectedSOPInstance: "1.2.3", HasDataSet: true},
		{Field: CStoreRSP, RespondedTo: 9, Status: 0xA700, ErrorComment: "out of resources", AffectedSOPClass: ctImage, AffectedSOPInstance: "1.22"},
		{Field: CMoveRQ, MessageID: 3, MoveDestination: "DEST", AffectedSOPClass: "1.2.840.10008.5.1.4.1.2.2.2", HasDataSet: true},
	} {
		b := c.Encode()
		if len(b)%2 != 0 {
			t.Errorf("odd command length %d", len(b))
		}
		got, err := DecodeCommand(b)
		if err != nil {
			t.Fatalf("%+v: %v", c, err)
		}
		got.Raw = nil
		if !reflect.DeepEqual(got, c) {
			t.Errorf("round trip: got %+v, want %+v", got, c)
		}
	}
}

func TestDecodeCommandErrors(t *testing.T) {
	good := (&Command{Field: CEchoRQ, MessageID: 1, AffectedSOPClass: VerificationSOPClass}).Encode()
	wrongLen := append([]byte(nil), good...)
	wrongLen[8]++
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"short", good[:7]},
		{"truncated", good[:len(good)-1]},
		{"group length off", wrongLen},
		{"no group length", good[12:]},
		{"other group", append(append([]byte(nil), good...), 8, 0, 0, 0, 0, 0, 0, 0)},
		{"element beyond the end", append([]byte{0, 0, 0, 0, 4, 0, 0, 0, 8, 0, 0, 0}, 0, 0, 0, 1, 0xFF, 0xFF, 0, 0)},
		{"no command field", (&Command{}).Encode()[:12]},
	} {
		if _, err := DecodeCommand(tc.b); err == nil {
			t.Errorf("%s: decoded", tc.name)
		}
	}
}

func TestParsePeers(t *testing.T) {
	p, err := ParsePeers(strings.NewReader(`
# comment
CT1      192.168.10.21   104    echo,store   # the CT
WS       10.1.0.0/16     11112  all
LAB      *               -      echo
`))
	if err != nil {
		t.Fatal(err)
	}
	addr := func(ip string) net.Addr { return &net.TCPAddr{IP: net.ParseIP(ip), Port: 5000} }
	for _, tc := range []struct {
		ae, ip string
		ops    Op
		ok     bool
	}{
		{"CT1", "192.168.10.21", OpEcho | OpStore, true},
		{"CT1", "192.168.10.22", 0, false},
		{"WS", "10.1.200.3", OpAll, true},
		{"WS", "10.2.0.1", 0, false},
		{"LAB", "8.8.8.8", OpEcho, true},
		{"lab", "8.8.8.8", 0, false},
		{"NOBODY", "127.0.0.1", 0, false},
	} {
		ops, ok := p.Allow(tc.ae, addr(tc.ip))
		if ops != tc.ops || ok != tc.ok {
			t.Errorf("Allow(%s, %s) = %v %v, want %v %v", tc.ae, tc.ip, ops, ok, tc.ops, tc.ok)
		}
	}
	if peer, ok := p.Peer("CT1"); !ok || peer.Port != 104 {
		t.Errorf("Peer(CT1) = %+v %v", peer, ok)
	}
	if ops, ok := (&Policy{AcceptAny: true}).Allow("ANY", addr("1.2.3.4")); !ok || ops != OpAll {
		t.Errorf("accept any: %v %v", ops, ok)
	}
	for _, bad := range []string{
		"CT1 1.2.3.4 104",
		"CT1 1.2.3.4 104 echo extra",
		"WAYTOOLONGAETITLE17 1.2.3.4 104 echo",
		"CT1 host.example 104 echo",
		"CT1 1.2.3.4/40 104 echo",
		"CT1 1.2.3.4 70000 echo",
		"CT1 1.2.3.4 104 echo,print",
		`BACK\SLASH 1.2.3.4 104 echo`,
	} {
		if _, err := ParsePeers(strings.NewReader(bad)); err == nil {
			t.Errorf("%q: parsed", bad)
		}
	}
}

func TestChooseTransferSyntax(t *testing.T) {
	const (
		il   = part10.ImplicitVRLittleEndian
		el   = part10.ExplicitVRLittleEndian
		eb   = part10.ExplicitVRBigEndian
		jpeg = "1.2.840.10008.1.2.4.50"
		jls  = "1.2.840.10008.1.2.4.80"
		dfl  = part10.DeflatedExplicitVRLittleEndian
	)
	for _, tc := range []struct {
		proposed []string
		want     string
	}{
		{[]string{il}, il},
		{[]string{il, el}, el},
		{[]string{eb, il}, il},
		{[]string{eb}, eb},
		{[]string{jpeg, el, il}, jpeg},
		{[]string{el, jpeg}, el},
		{[]string{"1.2.3.4", jls}, jls},
		{[]string{dfl, el}, dfl},
		{[]string{"1.2.3.4"}, ""},
	} {
		if got := chooseTransferSyntax(tc.proposed); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.proposed, got, tc.want)
		}
	}
}

func TestNegotiate(t *testing.T) {
	rq := &associateRQ{contexts: []presentationContext{
		{1, VerificationSOPClass, []string{part10.ImplicitVRLittleEndian}},
		{3, ctImage, []string{part10.ExplicitVRLittleEndian}},
		{5, "1.2.840.10008.5.1.4.1.2.2.1", []string{part10.ImplicitVRLittleEndian}}, // Study Root FIND
		{7, ctImage, []string{"1.2.3.4.5"}},
		{9, "1.3.6.1.4.1.9590.100.1.2.1", []string{part10.ImplicitVRLittleEndian}}, // private
	}}
	for _, tc := range []struct {
		ops     Op
		unknown bool
		want    []byte
	}{
		{OpAll, false, []byte{resultAcceptance, resultAcceptance, resultAcceptance, resultTransferNotSupported, resultAbstractNotSupported}},
		{OpStore, true, []byte{resultUserRejection, resultAcceptance, resultUserRejection, resultTransferNotSupported, resultAcceptance}},
		{OpEcho, false, []byte{resultAcceptance, resultUserRejection, resultUserRejection, resultUserRejection, resultAbstractNotSupported}},
	} {
		results, accepted, _ := negotiate(rq, tc.ops, tc.unknown)
		var got []byte
		for _, r := range results {
			got = append(got, r.result)
			if (r.result == resultAcceptance) != (accepted[r.id] != nil) {
				t.Errorf("context %d: result %d, accepted %v", r.id, r.result, accepted[r.id])
			}
		}
		if string(got) != string(tc.want) {
			t.Errorf("ops %v: results %v, want %v", tc.ops, got, tc.want)
		}
	}
}

// TestNegotiateRoles: a storage context with SCP/SCU role selection is
// accepted for the roles the peer may take (SCP: it receives C-GET
// sub-operations; SCU: it stores), refused when it may take neither, and
// the roles are answered once per SOP class.
func TestNegotiateRoles(t *testing.T) {
	rq := &associateRQ{
		contexts: []presentationContext{
			{1, ctImage, []string{part10.ExplicitVRLittleEndian}},
			{3, ctImage, []string{part10.ImplicitVRLittleEndian}},
			{5, StudyRootGet, []string{part10.ImplicitVRLittleEndian, "1.2.840.10008.1.2.4.50"}},
			{7, StudyRootMove, []string{"1.2.840.10008.1.2.4.50"}},
		},
		roles: []roleSelection{{sopClass: ctImage, scu: false, scp: true}},
	}
	for _, tc := range []struct {
		ops              Op
		want             []byte
		peerSCU, peerSCP bool
	}{
		{OpGet, []byte{resultAcceptance, resultAcceptance, resultAcceptance, resultUserRejection}, false, true},
		{OpStore, []byte{resultUserRejection, resultUserRejection, resultUserRejection, resultUserRejection}, false, false},
		{OpAll, []byte{resultAcceptance, resultAcceptance, resultAcceptance, resultTransferNotSupported}, false, true},
	} {
		results, accepted, roles := negotiate(rq, tc.ops, false)
		var got []byte
		for _, r := range results {
			got = append(got, r.result)
		}
		if string(got) != string(tc.want) {
			t.Errorf("ops %v: results %v, want %v", tc.ops, got, tc.want)
		}
		if pc := accepted[1]; pc != nil && (pc.peerSCU != tc.peerSCU || pc.peerSCP != tc.peerSCP) {
			t.Errorf("ops %v: roles scu=%v scp=%v, want %v %v", tc.ops, pc.peerSCU, pc.peerSCP, tc.peerSCU, tc.peerSCP)
		}
		if len(roles) != 1 || roles[0].scp != tc.peerSCP || roles[0].scu != tc.peerSCU {
			t.Errorf("ops %v: role answers %+v", tc.ops, roles)
		}
		if pc := accepted[5]; pc != nil && pc.transferSyntax != part10.ImplicitVRLittleEndian {
			t.Errorf("ops %v: C-GET context in %s", tc.ops, pc.transferSyntax)
		}
	}
}

func TestStoreStatusTable(t *testing.T) {
	for _, tc := range []struct {
		res  ingest.Result
		want uint16
	}{
		{ingest.Result{}, 0x0000},
		{ingest.Result{Existed: true}, 0x0000},
		{ingest.Result{Warning: ingest.WarningElementsDropped}, 0xB006},
		{ingest.Result{Warning: 0xB123}, 0xB000},
		{ingest.Result{Failure: ingest.FailureOutOfResources}, 0xA700},
		{ingest.Result{Failure: ingest.FailureDataSetMismatch}, 0xA900},
		{ingest.Result{Failure: ingest.FailureMissingAttribute}, 0xA900},
		{ingest.Result{Failure: ingest.FailureCannotUnderstand}, 0xC000},
		{ingest.Result{Failure: ingest.FailureDuplicate}, 0x0111},
		{ingest.Result{Failure: 0x0999}, 0xC000},
	} {
		got, comment := storeStatus(tc.res)
		if got != tc.want {
			t.Errorf("%+v: 0x%04x, want 0x%04x", tc.res, got, tc.want)
		}
		if len(comment) > 64 {
			t.Errorf("error comment %q beyond 64 characters", comment)
		}
	}
}

func TestFileMeta(t *testing.T) {
	b := part10.FileMeta(ctImage, "1.2.3", part10.ExplicitVRLittleEndian, ImplementationClassUID, ImplementationVersionName)
	if len(b)%2 != 0 || string(b[128:132]) != "DICM" {
		t.Fatalf("file meta of %d bytes", len(b))
	}
	// A whole object made of it parses, with the meta values given.
	meta := part10.FileMeta(ctImage, "1.2.3", part10.ImplicitVRLittleEndian, ImplementationClassUID, ImplementationVersionName)
	obj := append(meta, implicitDataSet("1.2.3")...)
	f, err := part10.Parse(context.Background(), bytes.NewReader(obj), int64(len(obj)), part10.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	for tag, want := range map[part10.Tag]string{
		0x00020002: ctImage, 0x00020003: "1.2.3", 0x00020010: part10.ImplicitVRLittleEndian,
		0x00020012: ImplementationClassUID, 0x00020013: ImplementationVersionName,
	} {
		if got := strings.TrimRight(f.Meta.String(tag), "\x00 "); got != want {
			t.Errorf("%v: %q, want %q", tag, got, want)
		}
	}
	if f.DataSetOffset != int64(len(meta)) || f.Meta.Find(0x00020000) == nil {
		t.Errorf("data set at %d, meta of %d bytes", f.DataSetOffset, len(meta))
	}
	// MetaEnd finds the same offset from the group length alone.
	if off, err := part10.MetaEnd(bufio.NewReader(bytes.NewReader(obj))); err != nil || off != f.DataSetOffset {
		t.Errorf("MetaEnd = %d, %v; want %d", off, err, f.DataSetOffset)
	}
}
