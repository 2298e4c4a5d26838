package main_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minipacs/minipacs/dicomweb/testkit/certtest"
	"github.com/minipacs/minipacs/dicomweb/testkit/exectest"
	"github.com/minipacs/minipacs/dicomweb/testkit/testcorpus"
)

// mllpSend sends the messages (ER7, CR-separated segments) with
// python-hl7's mllp_send, a real MLLP peer, and returns the MSA-1 of each
// acknowledgment.
func mllpSend(t *testing.T, addr string, msgs ...string) []string {
	t.Helper()
	tool := exectest.LookTool(t, "mllp_send")
	python := exectest.LookTool(t, "/usr/bin/python3")
	var in bytes.Buffer
	for _, m := range msgs {
		in.WriteString(m)
		in.WriteByte(0x1c)
	}
	path := filepath.Join(t.TempDir(), "in.hl7")
	if err := os.WriteFile(path, in.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(addr)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, python, tool, "--port", port, "--file", path, host).CombinedOutput()
	if err != nil {
		t.Fatalf("mllp_send: %v\n%s", err, out)
	}
	var codes []string
	for _, seg := range strings.FieldsFunc(string(out), func(r rune) bool { return r == '\r' || r == '\n' || r == 0x1c || r == 0x0b }) {
		if f := strings.Split(seg, "|"); f[0] == "MSA" && len(f) > 1 {
			codes = append(codes, f[1])
		}
	}
	return codes
}

// hl7Msg builds a message from segments.
func hl7Msg(segs ...string) string { return strings.Join(segs, "\r") + "\r" }

// TestE2EHL7: through the binary, an ORM^O01 sent by a real MLLP peer
// (python-hl7) is acknowledged AA and offered to findscu -W; a re-send
// of the same control ID is answered from the journal (AA, applied once);
// an order cancel removes it from the worklist; an ORU^R01 is a report;
// a message without PID is AE; an ADT A08 is applied; the audit trail has
// an Order Record per order or result message and a Patient Record per
// ADT.
func TestE2EHL7(t *testing.T) {
	hl7Addr, dimseAddr := freeAddr(t), freeAddr(t)
	s := startServerDir(t, t.TempDir(), []string{"--hl7-listen", hl7Addr, "--dimse-listen", dimseAddr}, nil)
	msh := func(typ, id string) string {
		return "MSH|^~\\&|RIS|GENHOSP|MINIPACS|RADIOLOGY|20261206120000||" + typ + "|" + id + "|P|2.3"
	}
	pid := "PID|1||4711^^^GENHOSP^MR||Müller^Jürgen||19700101|M"
	orm := hl7Msg(msh("ORM^O01", "M1"), pid, "ORC|NW|PLC9^RIS|FIL9^PACS||SC", "OBR|1|PLC9^RIS|FIL9^PACS|CTH^CT HEAD|||20261207083000|||||||||||ACC9|RP9|||||CT")
	codes := mllpSend(t, hl7Addr, orm, orm)
	if strings.Join(codes, ",") != "AA,AA" {
		t.Fatalf("ACKs %v, want AA twice", codes)
	}
	host, port, _ := net.SplitHostPort(dimseAddr)
	worklist := func() string {
		out, err := dcmtk(t, "findscu", "-v", "-W", "-aec", "MINIPACS", "-k", "AccessionNumber", "-k", "PatientName",
			"-k", "ScheduledProcedureStepSequence[0].Modality", "-k", "ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartDate", host, port)
		if err != nil {
			t.Fatalf("findscu -W: %v\n%s", err, out)
		}
		return out
	}
	out := worklist()
	if strings.Count(out, "ACC9") != 1 || !strings.Contains(out, "20261207") || !strings.Contains(out, "CT") {
		t.Errorf("worklist after ORM (want ACC9 once, CT, 20261207):\n%s", out)
	}

	oru := hl7Msg(msh("ORU^R01", "R1"), pid, "OBR|1|PLC9^RIS|FIL9^PACS|CTH^CT HEAD|||20261207083000|||||||||||ACC9||||20261207100000|||F",
		"OBX|1|TX|CTH^CT HEAD||No acute intracranial abnormality.||||||F")
	noPID := hl7Msg(msh("ORM^O01", "M2"), "ORC|NW|PLC10^RIS")
	adt := hl7Msg(msh("ADT^A08", "A1"), "EVN|A08|20261206120000", pid)
	cancel := hl7Msg(msh("ORM^O01", "M3"), pid, "ORC|CA|PLC9^RIS|FIL9^PACS||CA")
	codes = mllpSend(t, hl7Addr, oru, noPID, adt, cancel)
	if strings.Join(codes, ",") != "AA,AE,AA,AA" {
		t.Errorf("ACKs %v, want AA,AE,AA,AA", codes)
	}
	if out := worklist(); strings.Contains(out, "ACC9") {
		t.Errorf("a cancelled order is still offered:\n%s", out)
	}
	// The ORU is a FHIR DiagnosticReport, the order a revoked ServiceRequest.
	base := strings.TrimSuffix(s.url(""), "/dicomweb")
	r := get(t, base+"/fhir/DiagnosticReport?identifier=ACC9", "application/fhir+json")
	if r.status != 200 || !bytes.Contains(r.body, []byte(`"total":1`)) || !bytes.Contains(r.body, []byte(`"final"`)) {
		t.Errorf("DiagnosticReport search: %d %s", r.status, r.body)
	}
	r = get(t, base+"/fhir/ServiceRequest?identifier=ACC9", "application/fhir+json")
	if r.status != 200 || !bytes.Contains(r.body, []byte(`"revoked"`)) {
		t.Errorf("ServiceRequest search: %d %s", r.status, r.body)
	}

	// The audit trail: one Order Record (110109) per order message
	// answered (M1 twice, R1, M2, M3) and a Patient Record (110110) for the ADT.
	deadline := time.Now().Add(10 * time.Second)
	for {
		raw, _ := os.ReadFile(filepath.Join(s.dataDir, "audit", "audit.log"))
		orders, patients := 0, 0
		for _, line := range bytes.Split(raw, []byte("\n")) {
			switch {
			case bytes.Contains(line, []byte(`"110109"`)):
				orders++
			case bytes.Contains(line, []byte(`"110110"`)):
				patients++
			}
		}
		if orders == 5 && patients == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("audit: %d order records (want 5), %d patient records (want 1)", orders, patients)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestE2EHL7Patients: through the binary, HL7 ADT changes what searches
// answer for a stored study without touching the object: A08 renames the
// patient (QIDO-RS and FHIR find the new name; WADO-RS returns the bytes
// as stored), A40 merges it into another identifier (the study moves; a
// later image of the old identifier is filed under the survivor; an order
// for the old identifier is refused AE).
func TestE2EHL7Patients(t *testing.T) {
	hl7Addr := freeAddr(t)
	s := startServerDir(t, t.TempDir(), []string{"--hl7-listen", hl7Addr}, nil)
	ctPath := filepath.Join(testcorpus.DirT(t), "test_files", "CT_small.dcm")
	ct, err := os.ReadFile(ctPath)
	if err != nil {
		t.Fatal(err)
	}
	const study, sop = "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322", "1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322"
	if r, _ := stow(t, s.url("/studies"), ct); r.status != 200 {
		t.Fatalf("STOW: %d", r.status)
	}
	msh := func(typ, id string) string {
		return "MSH|^~\\&|EHR|GENHOSP|MINIPACS|RADIOLOGY|20261206120000||" + typ + "|" + id + "|P|2.5"
	}
	qido := func(q string) []map[string]jsonAttr {
		r := get(t, s.url("/studies?"+q), "application/dicom+json")
		var out []map[string]jsonAttr
		if r.status == 200 {
			if err := json.Unmarshal(r.body, &out); err != nil {
				t.Fatal(err)
			}
		}
		return out
	}
	codes := mllpSend(t, hl7Addr, hl7Msg(msh("ADT^A08^ADT_A01", "A1"), "EVN|A08|20261206120000", "PID|1||1CT1||Renamed^Patient||19500101|O"))
	if strings.Join(codes, ",") != "AA" {
		t.Fatalf("A08: %v", codes)
	}
	if got := qido("PatientName=Renamed*"); len(got) != 1 || got[0]["00100010"].pn(0) != "Renamed^Patient" || got[0]["00100030"].str(0) != "19500101" {
		t.Errorf("QIDO after A08: %v", got)
	}
	if got := qido("PatientName=CompressedSamples*"); len(got) != 0 {
		t.Errorf("the old name still finds %d studies", len(got))
	}
	base := strings.TrimSuffix(s.url(""), "/dicomweb")
	if r := get(t, base+"/fhir/Patient?identifier=1CT1", "application/fhir+json"); !bytes.Contains(r.body, []byte(`"Renamed"`)) {
		t.Errorf("FHIR Patient after A08: %s", r.body)
	}
	// /metadata gives the record's values (and a new ETag).
	md := get(t, s.url("/studies/"+study+"/metadata"), "application/dicom+json")
	if md.status != 200 || !bytes.Contains(md.body, []byte(`"Renamed^Patient"`)) || bytes.Contains(md.body, []byte("CompressedSamples")) {
		t.Errorf("metadata after A08: %d %.300s", md.status, md.body)
	}
	// The retrieved object carries the record's name; the stored one keeps
	// its own.
	r := get(t, s.url("/studies/"+study+"/series/1.3.6.1.4.1.5962.1.3.1.1.20040119072730.12322/instances/"+sop), acceptDICOM)
	if parts := readMultipart(t, r, "application/dicom"); len(parts) != 1 || !bytes.Contains(parts[0].data, []byte("Renamed^Patient")) ||
		bytes.Contains(parts[0].data, []byte("CompressedSamples^CT1")) {
		t.Errorf("the retrieved object does not carry the record's PatientName")
	}
	kept := false
	filepath.WalkDir(filepath.Join(s.dataDir, "objects"), func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if b, err := os.ReadFile(path); err == nil && bytes.Contains(b, []byte("CompressedSamples^CT1")) {
				kept = true
			}
		}
		return nil
	})
	if !kept {
		t.Errorf("the stored object lost its original PatientName")
	}

	// A40: 1CT1 merged into NEW1.
	codes = mllpSend(t, hl7Addr, hl7Msg(msh("ADT^A40^ADT_A39", "A2"), "EVN|A40|20261206120000", "PID|1||NEW1||Merged^Patient||19500101|O", "MRG|1CT1"))
	if strings.Join(codes, ",") != "AA" {
		t.Fatalf("A40: %v", codes)
	}
	if got := qido("PatientID=NEW1"); len(got) != 1 || got[0]["0020000D"].str(0) != study {
		t.Errorf("QIDO PatientID=NEW1 after A40: %v", got)
	}
	// A later image of 1CT1 (a new instance of the study) is filed under NEW1.
	ct2 := replaceUID(t, ct, sop, sameLengthUID(sop, 1))
	if r, _ := stow(t, s.url("/studies"), ct2); r.status != 200 && r.status != 202 {
		t.Fatalf("STOW of a later image: %d", r.status)
	}
	if md2 := get(t, s.url("/studies/"+study+"/metadata"), "application/dicom+json"); !bytes.Contains(md2.body, []byte(`"NEW1"`)) ||
		md2.header.Get("ETag") == md.header.Get("ETag") {
		t.Errorf("metadata after A40 (ETag %s, before %s): %.300s", md2.header.Get("ETag"), md.header.Get("ETag"), md2.body)
	}
	if got := qido("PatientID=1CT1"); len(got) != 0 {
		t.Errorf("1CT1 still has %d studies after the merge", len(got))
	}
	if got := qido("PatientID=NEW1&includefield=00201208"); len(got) != 1 || got[0]["00201208"].num(0) != 2 {
		t.Errorf("NEW1 after a later image: %v", got)
	}
	orm := hl7Msg(msh("ORM^O01", "O1"), "PID|1||1CT1", "ORC|NW|PLC1", "OBR|1|PLC1||X")
	if codes := mllpSend(t, hl7Addr, orm); strings.Join(codes, ",") != "AE" {
		t.Errorf("an order for the merged identifier: %v, want AE", codes)
	}
}

// TestE2EHL7Kill: `kill -9` while a real MLLP peer sends 300 orders: every
// order whose ACK (AA) reached the peer is in the worklist after a
// restart.
func TestE2EHL7Kill(t *testing.T) {
	tool := exectest.LookTool(t, "mllp_send")
	python := exectest.LookTool(t, "/usr/bin/python3")
	hl7Addr, dimseAddr := freeAddr(t), freeAddr(t)
	dataDir := t.TempDir()
	args := []string{"--hl7-listen", hl7Addr, "--dimse-listen", dimseAddr}
	s := startServerDir(t, dataDir, args, nil)
	var in bytes.Buffer
	for i := range 300 {
		id := fmt.Sprintf("K%03d", i)
		in.WriteString(hl7Msg("MSH|^~\\&|RIS|GENHOSP|MINIPACS|RADIOLOGY|20261206120000||ORM^O01|"+id+"|P|2.3",
			"PID|1||P"+id, "ORC|NW|PL"+id, "OBR|1|PL"+id+"||CTH^CT HEAD|||20261207083000|||||||||||ACC"+id+"||||||CT"))
		in.WriteByte(0x1c)
	}
	path := filepath.Join(t.TempDir(), "orders.hl7")
	if err := os.WriteFile(path, in.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(hl7Addr)
	cmd := exec.Command(python, "-u", tool, "--port", port, "--file", path, host)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	var acked []string
	sc := bufio.NewScanner(stdout)
	sc.Split(func(data []byte, atEOF bool) (int, []byte, error) {
		for i, b := range data {
			if b == '\r' || b == '\n' || b == 0x1c {
				return i + 1, data[:i], nil
			}
		}
		if atEOF && len(data) > 0 {
			return len(data), data, nil
		}
		return 0, nil, nil
	})
	for sc.Scan() {
		f := strings.Split(strings.Trim(sc.Text(), "\x0b"), "|")
		if f[0] == "MSA" && len(f) > 2 && f[1] == "AA" {
			acked = append(acked, f[2])
			if len(acked) == 60 {
				s.stop(syscall.SIGKILL)
				break
			}
		}
	}
	if len(acked) < 60 {
		t.Fatalf("only %d ACKs before the kill", len(acked))
	}
	io.Copy(io.Discard, stdout)
	cmd.Wait()

	s = startServerDir(t, dataDir, args, nil)
	base := strings.TrimSuffix(s.url(""), "/dicomweb")
	for _, id := range acked {
		r := get(t, base+"/fhir/ServiceRequest?identifier=ACC"+id, "application/fhir+json")
		if r.status != 200 || !bytes.Contains(r.body, []byte(`"total":1`)) {
			t.Errorf("order %s acknowledged but lost: %d %s", id, r.status, r.body)
		}
	}
}

// TestE2EHL7TLS: with --hl7-tls-cert/--hl7-tls-key the MLLP listener
// speaks TLS: a message over TLS is acknowledged AA; plain TCP gets no
// ACK.
func TestE2EHL7TLS(t *testing.T) {
	dir := t.TempDir()
	cert, key := certtest.Write(t, dir, "minipacs-hl7")
	hl7Addr := freeAddr(t)
	startServerDir(t, t.TempDir(), []string{"--hl7-listen", hl7Addr, "--hl7-tls-cert", cert, "--hl7-tls-key", key}, nil)
	pem, err := os.ReadFile(cert)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	msg := hl7Msg("MSH|^~\\&|RIS|GENHOSP|MINIPACS|RADIOLOGY|20261206120000||ORM^O01|T1|P|2.3",
		"PID|1||TLS1", "ORC|NW|PLT1", "OBR|1|PLT1||X|||20261207083000|||||||||||ACCT1||||||CT")
	frame := append(append([]byte{0x0b}, msg...), 0x1c, 0x0d)
	send := func(c net.Conn) (string, error) {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write(frame); err != nil {
			return "", err
		}
		ack, err := bufio.NewReader(c).ReadString(0x1c)
		return ack, err
	}
	c, err := tls.Dial("tcp", hl7Addr, &tls.Config{RootCAs: roots, ServerName: "localhost"})
	if err != nil {
		t.Fatalf("TLS dial: %v", err)
	}
	ack, err := send(c)
	c.Close()
	if err != nil || !strings.Contains(ack, "MSA|AA|T1") {
		t.Fatalf("over TLS: %q %v", ack, err)
	}
	plain, err := net.Dial("tcp", hl7Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if ack, err := send(plain); err == nil && strings.Contains(ack, "MSA|") {
		t.Fatalf("plain TCP was acknowledged: %q", ack)
	}
}
