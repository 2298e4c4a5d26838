package main_test

// Bad input: a table of malformed requests (multipart framing, truncated
// files at many cut points, huge declared lengths, deep nesting, wrong VRs,
// unknown transfer syntaxes, hostile UIDs in paths and files, duplicates,
// bad QIDO values, wrong media types). The outcome of every case (status
// and STOW failure reasons) is in testdata/reliability/badinput.golden
// (rewrite with -update after review). Beyond the golden file, every case
// must get no 5xx, and after the table: no panic in the server log, no
// spool file left, goroutines back to the baseline and a bounded peak RSS.

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rawElem encodes one Explicit VR Little Endian element with a raw value.
func rawElem(group, elem uint16, vr string, val []byte) []byte {
	var b []byte
	b = binary.LittleEndian.AppendUint16(b, group)
	b = binary.LittleEndian.AppendUint16(b, elem)
	b = append(b, vr...)
	switch vr {
	case "OB", "OW", "SQ", "UN", "UT", "UC", "UR", "OF", "OD", "OL", "OV", "SV", "UV":
		b = append(b, 0, 0)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(val)))
	default:
		b = binary.LittleEndian.AppendUint16(b, uint16(len(val)))
	}
	return append(b, val...)
}

func pad(s string, with byte) []byte {
	b := []byte(s)
	if len(b)%2 == 1 {
		b = append(b, with)
	}
	return b
}

// rawFile builds a Part-10 file with transfer syntax ts and the given
// data set bytes (meta group computed).
func rawFile(ts, sopClass, sop string, ds []byte) []byte {
	var meta []byte
	meta = append(meta, rawElem(0x0002, 0x0001, "OB", []byte{0, 1})...)
	meta = append(meta, rawElem(0x0002, 0x0002, "UI", pad(sopClass, 0))...)
	meta = append(meta, rawElem(0x0002, 0x0003, "UI", pad(sop, 0))...)
	meta = append(meta, rawElem(0x0002, 0x0010, "UI", pad(ts, 0))...)
	var gl []byte
	gl = binary.LittleEndian.AppendUint32(gl, uint32(len(meta)))
	out := make([]byte, 128, 128+4+12+len(meta)+len(ds))
	out = append(out, "DICM"...)
	out = append(out, rawElem(0x0002, 0x0000, "UL", gl)...)
	out = append(out, meta...)
	return append(out, ds...)
}

const (
	evrLE    = "1.2.840.10008.1.2.1"
	ctClass  = "1.2.840.10008.5.1.4.1.1.2"
	badStudy = "1.2.826.0.1.3680043.10.999.1"
)

// minimalDS is a valid little CT data set with the given UIDs; extra
// elements (already encoded, in tag order after (0028,0011)) are appended
// before the pixel data.
func minimalDS(study, series, sop string, rows, cols []byte, extra ...[]byte) []byte {
	var ds []byte
	ds = append(ds, rawElem(0x0008, 0x0016, "UI", pad(ctClass, 0))...)
	ds = append(ds, rawElem(0x0008, 0x0018, "UI", pad(sop, 0))...)
	ds = append(ds, rawElem(0x0008, 0x0060, "CS", pad("CT", ' '))...)
	ds = append(ds, rawElem(0x0010, 0x0020, "LO", pad("BADIN", ' '))...)
	ds = append(ds, rawElem(0x0020, 0x000D, "UI", pad(study, 0))...)
	ds = append(ds, rawElem(0x0020, 0x000E, "UI", pad(series, 0))...)
	ds = append(ds, rawElem(0x0028, 0x0002, "US", []byte{1, 0})...)
	ds = append(ds, rawElem(0x0028, 0x0004, "CS", pad("MONOCHROME2", ' '))...)
	ds = append(ds, rows...)
	ds = append(ds, cols...)
	ds = append(ds, rawElem(0x0028, 0x0100, "US", []byte{16, 0})...)
	ds = append(ds, rawElem(0x0028, 0x0101, "US", []byte{16, 0})...)
	ds = append(ds, rawElem(0x0028, 0x0102, "US", []byte{15, 0})...)
	ds = append(ds, rawElem(0x0028, 0x0103, "US", []byte{0, 0})...)
	for _, e := range extra {
		ds = append(ds, e...)
	}
	return append(ds, rawElem(0x7FE0, 0x0010, "OW", make([]byte, 2*2*2))...)
}

func us(v uint16) []byte { return binary.LittleEndian.AppendUint16(nil, v) }

// badCase is one malformed request.
type badCase struct {
	name   string
	method string
	path   string
	header map[string]string
	body   []byte
}

func TestReliabilityBadInput(t *testing.T) {
	start := time.Now()
	pprofAddr := freeAddr(t)
	s := startServer(t, diskStore, "--pprof-listen", pprofAddr, "--max-part-bytes", "8388608", "--log-level", "debug")
	corpus := genCorpus(t, "-mode", "tiny", "-n", "4", "-seed", "62")
	files := loadCorpus(t)
	var realFiles [][]byte
	for _, rel := range []string{"test_files/CT_small.dcm", "test_files/MR_small.dcm", "test_files/rtplan.dcm", "test_files/JPEG2000.dcm"} {
		for _, f := range files {
			if f.rel == rel {
				realFiles = append(realFiles, f.data)
			}
		}
	}
	realFiles = append(realFiles, corpus[0].data, corpus[1].data)

	// Store two instances first: duplicates across requests refer to them.
	for _, in := range corpus[:2] {
		if st, body, err := postBatch(t.Context(), httpClient, s.base, []*synthInstance{in}); err != nil || st != 200 {
			t.Fatalf("seed upload: %d %v %s", st, err, body)
		}
	}
	time.Sleep(200 * time.Millisecond)
	baseGoroutines := goroutines(t, pprofAddr)

	cases := badInputCases(t, corpus, realFiles)
	if len(cases) < 300 {
		t.Fatalf("only %d cases", len(cases))
	}
	var golden strings.Builder
	fmt.Fprintf(&golden, "# %d malformed requests: name | request | status | STOW failure reasons (decimal, hex)\n", len(cases))
	for _, tc := range cases {
		h := http.Header{}
		for k, v := range tc.header {
			h.Set(k, v)
		}
		var r *response
		if tc.body != nil {
			r = do(t, tc.method, s.url("")+tc.path, h, bytes.NewReader(tc.body))
		} else {
			r = do(t, tc.method, s.url("")+tc.path, h, nil)
		}
		if r.status >= 500 {
			t.Errorf("%s: status %d: %s", tc.name, r.status, r)
		}
		reasons := ""
		if strings.HasPrefix(r.header.Get("Content-Type"), "application/dicom+json") && tc.method == "POST" {
			res, err := parseStow(r.body)
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			var rs []string
			for _, f := range res.failed {
				rs = append(rs, fmt.Sprintf("%d(0x%04X)", f.failure, f.failure))
			}
			for range res.referenced {
				rs = append(rs, "stored")
			}
			reasons = strings.Join(rs, ",")
		} else if r.status >= 400 && !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") && len(r.body) > 0 {
			t.Errorf("%s: error body with Content-Type %q", tc.name, r.header.Get("Content-Type"))
		}
		path := tc.path
		if len(path) > 90 {
			path = path[:90] + "..."
		}
		fmt.Fprintf(&golden, "%s | %s %s | %d | %s\n", tc.name, tc.method, strconv.QuoteToASCII(path), r.status, reasons)
	}
	checkGolden(t, "reliability/badinput.golden", []byte(golden.String()))

	// Client disconnects mid-upload: the server must release everything.
	for i := range 20 {
		abortedUpload(t, s, realFiles[i%len(realFiles)], i)
	}

	// Resources after the storm.
	deadline := time.Now().Add(10 * time.Second)
	var left []string
	var g int
	for {
		left = spoolFiles(s.dataDir)
		g = goroutines(t, pprofAddr)
		if (len(left) == 0 && g <= baseGoroutines+5) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(left) > 0 {
		t.Errorf("spool files left: %v", left)
	}
	if g > baseGoroutines+5 {
		t.Errorf("goroutines: %d after, %d before", g, baseGoroutines)
	}
	hwm := vmHWM(t, s.cmd.Process.Pid)
	const rssLimit = 512 << 20
	if hwm > rssLimit {
		t.Errorf("peak RSS %d MiB > %d MiB", hwm>>20, rssLimit>>20)
	}
	s.stop(15)
	if strings.Contains(s.stderr.String(), "panic") {
		t.Errorf("the server log mentions a panic:\n%s", tail(s.stderr.String(), 40))
	}
	fmt.Printf("bad input: cases=%d goroutines %d->%d peakRSS=%dMiB (%v)\n", len(cases), baseGoroutines, g, hwm>>20, time.Since(start).Round(time.Millisecond))
}

// abortedUpload starts a STOW whose body stops in the middle and closes
// the connection.
func abortedUpload(t *testing.T, s *server, file []byte, i int) {
	body, ct := multipartBody(file, file)
	cut := len(body) * (i%9 + 1) / 10
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "POST /dicomweb/studies HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n", ct, len(body))
	conn.Write(body[:cut])
	time.Sleep(20 * time.Millisecond)
	conn.Close()
}

var goroutineTotal = regexp.MustCompile(`goroutine profile: total (\d+)`)

// goroutines reads the server's goroutine count from its pprof listener.
func goroutines(t *testing.T, addr string) int {
	t.Helper()
	var r *response
	for range 50 {
		req, _ := http.NewRequest("GET", "http://"+addr+"/debug/pprof/goroutine?debug=1", nil)
		resp, err := httpClient.Do(req)
		if err == nil {
			var b bytes.Buffer
			b.ReadFrom(resp.Body)
			resp.Body.Close()
			r = &response{status: resp.StatusCode, body: b.Bytes()}
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if r == nil {
		t.Fatal("pprof listener does not answer")
	}
	m := goroutineTotal.FindSubmatch(r.body)
	if m == nil {
		t.Fatalf("no goroutine total in %.200s", r.body)
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// vmHWM is the peak resident set size of a process, in bytes.
func vmHWM(t *testing.T, pid int) int64 {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		t.Logf("no /proc: %v", err)
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			f := strings.Fields(v)
			n, _ := strconv.ParseInt(f[0], 10, 64)
			return n << 10
		}
	}
	return 0
}

func badInputCases(t *testing.T, corpus []*synthInstance, realFiles [][]byte) []badCase {
	mp := func(name string, parts ...[]byte) badCase {
		body, ct := multipartBody(parts...)
		return badCase{name: name, method: "POST", path: "/studies", header: map[string]string{"Content-Type": ct}, body: body}
	}
	bare := func(name string, file []byte) badCase {
		return badCase{name: name, method: "POST", path: "/studies", header: map[string]string{"Content-Type": "application/dicom"}, body: file}
	}
	var cases []badCase
	good := corpus[2].data
	goodBody, goodCT := multipartBody(good)
	boundary := goodCT[strings.LastIndex(goodCT, "=")+1:]
	rel := func(b string) map[string]string {
		return map[string]string{"Content-Type": `multipart/related; type="application/dicom"; boundary=` + b}
	}
	// --- multipart framing
	framing := []struct {
		name string
		h    map[string]string
		body []byte
	}{
		{"no boundary parameter", map[string]string{"Content-Type": `multipart/related; type="application/dicom"`}, goodBody},
		{"empty boundary", rel(`""`), goodBody},
		{"wrong boundary", rel("nope"), goodBody},
		{"boundary differs in case", rel(strings.ToUpper(boundary)), goodBody},
		{"no closing delimiter", rel(boundary), bytes.TrimSuffix(goodBody, []byte("--"+boundary+"--\r\n"))},
		{"closing delimiter only", rel(boundary), []byte("--" + boundary + "--\r\n")},
		{"empty body", rel(boundary), []byte{}},
		{"junk preamble", rel(boundary), append([]byte("junk junk junk\r\n"), goodBody...)},
		{"LF-only line ends", rel(boundary), bytes.ReplaceAll(goodBody[:bytes.Index(goodBody, []byte("\r\n\r\n"))+4], []byte("\r\n"), []byte("\n"))},
		{"part without header/body separator", rel(boundary), []byte("--" + boundary + "\r\nContent-Type: application/dicom\r\n")},
		{"truncated inside part header", rel(boundary), []byte("--" + boundary + "\r\nContent-Ty")},
		{"empty part", rel(boundary), []byte("--" + boundary + "\r\nContent-Type: application/dicom\r\n\r\n\r\n--" + boundary + "--\r\n")},
		{"part of type text/plain", rel(boundary), []byte("--" + boundary + "\r\nContent-Type: text/plain\r\n\r\nhello\r\n--" + boundary + "--\r\n")},
		{"boundary of 71 chars", rel(strings.Repeat("b", 71)), []byte("--" + strings.Repeat("b", 71) + "\r\n\r\nx\r\n--" + strings.Repeat("b", 71) + "--\r\n")},
		{"garbage body", rel(boundary), bytes.Repeat([]byte("garbage\r\n"), 100)},
		{"header line too long", rel(boundary), []byte("--" + boundary + "\r\nX: " + strings.Repeat("a", 20000) + "\r\n\r\nx\r\n--" + boundary + "--\r\n")},
		{"type=application/dicom+json", map[string]string{"Content-Type": `multipart/related; type="application/dicom+json"; boundary=` + boundary}, goodBody},
		{"multipart/mixed", map[string]string{"Content-Type": `multipart/mixed; boundary=` + boundary}, goodBody},
		{"multipart/form-data", map[string]string{"Content-Type": `multipart/form-data; boundary=` + boundary}, goodBody},
		{"no Content-Type", map[string]string{}, goodBody},
		{"Content-Type application/json", map[string]string{"Content-Type": "application/json"}, []byte("{}")},
		{"Content-Type application/octet-stream", map[string]string{"Content-Type": "application/octet-stream"}, good},
		{"malformed Content-Type", map[string]string{"Content-Type": `multipart/related; boundary="unterminated`}, goodBody},
		{"Content-Encoding gzip", map[string]string{"Content-Type": goodCT, "Content-Encoding": "gzip"}, gz(goodBody)},
		{"Content-Encoding deflate", map[string]string{"Content-Type": goodCT, "Content-Encoding": "deflate"}, goodBody},
		{"Content-Encoding br", map[string]string{"Content-Type": goodCT, "Content-Encoding": "br"}, goodBody},
		{"Accept XML only", map[string]string{"Content-Type": goodCT, "Accept": "application/dicom+xml"}, goodBody},
		{"Accept image/png", map[string]string{"Content-Type": goodCT, "Accept": "image/png"}, goodBody},
	}
	for _, f := range framing {
		cases = append(cases, badCase{name: "framing: " + f.name, method: "POST", path: "/studies", header: f.h, body: f.body})
	}
	// --- truncated files: each file cut at 30 offsets
	for fi, f := range realFiles {
		for k := range 30 {
			cut := 1 + (len(f)-2)*k/29
			if k == 29 {
				cut = len(f) - 1
			}
			cases = append(cases, mp(fmt.Sprintf("truncated: file %d (%d bytes) cut at %d", fi, len(f), cut), f[:cut]))
		}
	}
	// bare application/dicom truncations of one file
	for k := range 10 {
		f := realFiles[0]
		cut := 132 + (len(f)-133)*k/9
		cases = append(cases, bare(fmt.Sprintf("truncated bare: cut at %d", cut), f[:cut]))
	}
	// --- lengths, nesting, VRs, transfer syntaxes, built from scratch
	uid := func(n int) string { return fmt.Sprintf("1.2.826.0.1.3680043.10.777.%d", n) }
	rows, cols := rawElem(0x0028, 0x0010, "US", us(2)), rawElem(0x0028, 0x0011, "US", us(2))
	n := 0
	next := func() (string, string, string) { n++; return uid(1000 + n), uid(2000 + n), uid(3000 + n) }
	build := func(ts string, rowsE, colsE []byte, extra ...[]byte) []byte {
		st, se, so := next()
		return rawFile(ts, ctClass, so, minimalDS(st, se, so, rowsE, colsE, extra...))
	}
	cases = append(cases, mp("control: valid minimal file", build(evrLE, rows, cols)))
	hugeLen := func(vr string, l uint32) []byte {
		b := rawElem(0x0029, 0x1010, vr, nil)
		if len(b) == 12 {
			binary.LittleEndian.PutUint32(b[8:], l)
		} else {
			binary.LittleEndian.PutUint16(b[6:], uint16(l))
		}
		return b
	}
	for _, l := range []uint32{0x7FFFFFFF, 0xFFFFFFF0, 1 << 30, 100000} {
		cases = append(cases, mp(fmt.Sprintf("huge declared length OB %d", l), build(evrLE, rows, cols, hugeLen("OB", l))))
		cases = append(cases, mp(fmt.Sprintf("huge declared length UT %d", l), build(evrLE, rows, cols, hugeLen("UT", l))))
	}
	for _, l := range []uint32{0xFFFF, 5000} {
		cases = append(cases, mp(fmt.Sprintf("declared length past the end LO %d", l), build(evrLE, rows, cols, hugeLen("LO", l))))
	}
	// Pixel data length larger than the file.
	{
		f := build(evrLE, rows, cols)
		binary.LittleEndian.PutUint32(f[len(f)-8-4:], 0x10000000)
		cases = append(cases, mp("pixel data length past the end", f))
	}
	// Rows x Columns x frames overflowing.
	cases = append(cases, mp("rows*cols*frames overflow", build(evrLE, rawElem(0x0028, 0x0010, "US", us(65535)), rawElem(0x0028, 0x0011, "US", us(65535)))))
	// Deep nesting.
	for _, depth := range []int{10, 40, 200, 2000} {
		item := []byte{}
		for range depth {
			inner := append([]byte{0xFE, 0xFF, 0x00, 0xE0}, binary.LittleEndian.AppendUint32(nil, uint32(len(item)+12))...)
			inner = append(inner, rawElem(0x0029, 0x1011, "SQ", item)...)
			item = inner
		}
		cases = append(cases, mp(fmt.Sprintf("sequence nesting depth %d", depth), build(evrLE, rows, cols, rawElem(0x0029, 0x1011, "SQ", item))))
	}
	// Undefined-length sequences never closed.
	{
		sq := rawElem(0x0029, 0x1012, "SQ", nil)
		binary.LittleEndian.PutUint32(sq[8:], 0xFFFFFFFF)
		for range 500 {
			sq = append(sq, 0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF)
			sq = append(sq, rawElem(0x0029, 0x1012, "SQ", nil)[:8]...)
			sq = append(sq, 0xFF, 0xFF, 0xFF, 0xFF)
		}
		st, se, so := next()
		ds := minimalDS(st, se, so, rows, cols)
		cases = append(cases, mp("unterminated undefined-length sequences", rawFile(evrLE, ctClass, so, append(ds[:len(ds)-len(rawElem(0x7FE0, 0x0010, "OW", make([]byte, 8)))], sq...))))
	}
	// Wrong VRs on Rows/Columns/SpecificCharacterSet.
	for _, vr := range []string{"SS", "UL", "OB", "SQ", "CS", "DS", "FD", "UN"} {
		cases = append(cases, mp("Rows with VR "+vr, build(evrLE, rawElem(0x0028, 0x0010, vr, []byte{2, 0, 0, 0}), cols)))
		cases = append(cases, mp("Columns with VR "+vr, build(evrLE, rows, rawElem(0x0028, 0x0011, vr, []byte{2, 0}))))
	}
	cases = append(cases, mp("Rows of 1 byte", build(evrLE, rawElem(0x0028, 0x0010, "US", []byte{2}), cols)))
	cases = append(cases, mp("Rows of 0 bytes", build(evrLE, rawElem(0x0028, 0x0010, "US", nil), cols)))
	for _, vr := range []string{"US", "SQ", "OB", "UL", "FD", "PN"} {
		st, se, so := next()
		ds := append(rawElem(0x0008, 0x0005, vr, []byte("ISO_IR 100")), minimalDS(st, se, so, rows, cols)...)
		cases = append(cases, mp("SpecificCharacterSet with VR "+vr, rawFile(evrLE, ctClass, so, ds)))
	}
	for _, cs := range []string{"ISO_IR 999", "\x1b$B", strings.Repeat("ISO 2022 IR 87\\", 50), "\xff\xfe"} {
		st, se, so := next()
		ds := append(rawElem(0x0008, 0x0005, "CS", pad(cs, ' ')), minimalDS(st, se, so, rows, cols)...)
		cases = append(cases, mp("SpecificCharacterSet "+strconv.QuoteToASCII(cs[:min(len(cs), 16)]), rawFile(evrLE, ctClass, so, ds)))
	}
	// Transfer syntaxes.
	for _, ts := range []string{"1.2.3.4.5", "1.2.840.10008.1.2.4.999", "", "1.2.840.10008.1.2.1.99", "not-a-uid", "1.2.840.10008.1.2.4.100"} {
		cases = append(cases, mp("transfer syntax "+strconv.Quote(ts), build(ts, rows, cols)))
	}
	// --- hostile UIDs in files (SOP Instance UID, study UID)
	hostile := []string{"1..2", "1.2.", ".1.2", "1.2.abc", "1.2.3\x00.4", "1.2.3/../4", "..%2f..%2f", "1.2.\xc0\xae.3", "1.2.3\u00e9", strings.Repeat("1", 65), "1." + strings.Repeat("2", 63), " ", "1.2 .3", "-1.2", "1.2.+3"}
	for i, h := range hostile {
		st, se, _ := next()
		cases = append(cases, mp(fmt.Sprintf("file SOP UID hostile %d %s", i, strconv.QuoteToASCII(h)), rawFile(evrLE, ctClass, uid(9000+i), minimalDS(st, se, h, rows, cols))))
		_, se2, so2 := next()
		cases = append(cases, mp(fmt.Sprintf("file study UID hostile %d %s", i, strconv.QuoteToASCII(h)), rawFile(evrLE, ctClass, so2, minimalDS(h, se2, so2, rows, cols))))
	}
	// Missing and empty required attributes.
	{
		st, se, so := next()
		ds := minimalDS(st, se, so, rows, cols)
		noSOP := bytes.Replace(ds, rawElem(0x0008, 0x0018, "UI", pad(so, 0)), nil, 1)
		cases = append(cases, mp("missing SOPInstanceUID", rawFile(evrLE, ctClass, so, noSOP)))
		emptySOP := bytes.Replace(ds, rawElem(0x0008, 0x0018, "UI", pad(so, 0)), rawElem(0x0008, 0x0018, "UI", nil), 1)
		cases = append(cases, mp("empty SOPInstanceUID", rawFile(evrLE, ctClass, so, emptySOP)))
		noStudy := bytes.Replace(ds, rawElem(0x0020, 0x000D, "UI", pad(st, 0)), nil, 1)
		cases = append(cases, mp("missing StudyInstanceUID", rawFile(evrLE, ctClass, so, noStudy)))
	}
	// Study in the URL differs from the file's.
	{
		body, ct := multipartBody(build(evrLE, rows, cols))
		cases = append(cases, badCase{name: "study URL differs from the file", method: "POST", path: "/studies/" + badStudy, header: map[string]string{"Content-Type": ct}, body: body})
	}
	// --- duplicates
	c0 := corpus[0].data
	changed := bytes.Clone(c0)
	changed[len(changed)-1] ^= 0xFF
	cases = append(cases,
		mp("duplicate: identical re-send of a stored instance", c0),
		mp("duplicate: same UID, other content, across requests", changed),
		mp("duplicate: identical instance twice in one request", corpus[3].data, corpus[3].data),
		mp("duplicate: same UID twice in one request, other content", corpus[1].data, func() []byte { b := bytes.Clone(corpus[1].data); b[len(b)-1] ^= 1; return b }()),
		mp("mixed: one good, one garbage part", build(evrLE, rows, cols), []byte("garbage")),
	)
	// --- hostile UIDs in paths
	pathUIDs := []string{"..%2f..%2fetc%2fpasswd", "%2e%2e", "1.2.3%00", "1.2.3%2500", "%c0%ae%c0%ae", "1..2", "1.2.", "abc", strings.Repeat("1", 65), "1.2.3;rm", "1.2.3%0d%0aX:1", "%ff", "1.2.3%20", "-1", "1.2.3'", "1.2.3%22"}
	for _, u := range pathUIDs {
		cases = append(cases,
			badCase{name: "path study UID " + u, method: "GET", path: "/studies/" + u, header: map[string]string{"Accept": acceptDICOM}},
			badCase{name: "path study UID metadata " + u, method: "GET", path: "/studies/" + u + "/metadata", header: map[string]string{"Accept": acceptJSON}},
			badCase{name: "path series UID " + u, method: "GET", path: "/studies/1.2.3/series/" + u + "/instances", header: nil},
			badCase{name: "path instance UID " + u, method: "GET", path: "/studies/1.2.3/series/1.2.4/instances/" + u, header: map[string]string{"Accept": acceptDICOM}},
			badCase{name: "STOW to study UID " + u, method: "POST", path: "/studies/" + u, header: map[string]string{"Content-Type": goodCT}, body: goodBody},
		)
	}
	// --- QIDO values
	qido := []string{
		"StudyDate=2024-13-45", "StudyDate=20241345", "StudyDate=20240230", "StudyDate=20240201-20240101", "StudyDate=2024",
		"StudyDate=abc", "StudyDate=--", "StudyTime=25", "StudyTime=1261", "StudyDate=20240101-20240102-20240103",
		"limit=ten", "limit=-1", "limit=1e3", "limit=99999999999999999999", "offset=-5", "offset=x", "limit=",
		"NoSuchKeyword=1", "0010001=1", "ZZZZZZZZ=1", "00100010.00100020=1", "includefield=NoSuchAttr", "includefield=0010",
		"fuzzymatching=maybe", "fuzzymatching=", "fuzzymatching=TRUE", "PatientName=" + strings.Repeat("a", 5000),
		"StudyInstanceUID=1..2", "StudyInstanceUID=abc", "StudyInstanceUID=1.2.*", "SOPInstanceUID=%00",
		"PatientName=%ff%fe", "PatientName=\\\\\\", "Modality=" + strings.Repeat("CT\\", 300),
		"NumberOfStudyRelatedInstances=abc", "StudyDate=20240101&StudyDate=20240102",
	}
	for _, q := range qido {
		for _, level := range []string{"/studies", "/instances"} {
			cases = append(cases, badCase{name: "QIDO " + level + "?" + q[:min(len(q), 40)], method: "GET", path: level + "?" + q})
		}
	}
	cases = append(cases,
		badCase{name: "QIDO Accept XML", method: "GET", path: "/studies", header: map[string]string{"Accept": `multipart/related; type="application/dicom+xml"`}},
		badCase{name: "QIDO Accept image/png", method: "GET", path: "/studies", header: map[string]string{"Accept": "image/png"}},
		badCase{name: "WADO Accept text/html", method: "GET", path: "/studies/" + corpus[0].study, header: map[string]string{"Accept": "text/html"}},
		badCase{name: "WADO unknown transfer syntax", method: "GET", path: "/studies/" + corpus[0].study, header: map[string]string{"Accept": `multipart/related; type="application/dicom"; transfer-syntax=1.2.3.4`}},
		badCase{name: "metadata Accept XML", method: "GET", path: "/studies/" + corpus[0].study + "/metadata", header: map[string]string{"Accept": "application/dicom+xml"}},
		badCase{name: "frames list bad", method: "GET", path: corpus[0].path() + "/frames/1,,2", header: map[string]string{"Accept": acceptFrames}},
		badCase{name: "frames list negative", method: "GET", path: corpus[0].path() + "/frames/-1", header: map[string]string{"Accept": acceptFrames}},
		badCase{name: "frames list huge", method: "GET", path: corpus[0].path() + "/frames/99999999999999999999", header: map[string]string{"Accept": acceptFrames}},
		badCase{name: "DELETE on /studies", method: "DELETE", path: "/studies"},
		badCase{name: "PUT on /studies", method: "PUT", path: "/studies"},
		badCase{name: "PATCH instance", method: "PATCH", path: corpus[0].path()},
	)
	sort.SliceStable(cases, func(i, j int) bool { return false })
	return cases
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}
