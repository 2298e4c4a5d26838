package audit

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
)

// MaxLine is the longest line of an audit log, newline excluded.
const MaxLine = 1 << 20

// zeroHash is the prev of the first record of a chain.
var zeroHash = make([]byte, sha256.Size)

const hashSuffixLen = len(`,"hash":"`) + 2*sha256.Size + len(`"}`)

// encodeLine builds the line for one record (without the newline):
//
//	{"seq":N,"prev":"<hex>","record":{...},"hash":"<hex>"}
//
// hash is the SHA-256 of every byte before `,"hash":`; prev is the SHA-256
// of the whole previous line.
func encodeLine(seq uint64, prev []byte, record []byte) []byte {
	b := make([]byte, 0, len(record)+200)
	b = append(b, `{"seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `,"prev":"`...)
	b = hex.AppendEncode(b, prev)
	b = append(b, `","record":`...)
	b = append(b, record...)
	sum := sha256.Sum256(b)
	b = append(b, `,"hash":"`...)
	b = hex.AppendEncode(b, sum[:])
	b = append(b, `"}`...)
	return b
}

// lineHead is the part of a line before the hash.
type lineHead struct {
	Seq    uint64          `json:"seq"`
	Prev   string          `json:"prev"`
	Record json.RawMessage `json:"record"`
}

// parseLine checks one line's own integrity (its hash) and returns its seq
// and prev. It does not check the link to the previous line.
func parseLine(line []byte) (seq uint64, prev []byte, err error) {
	if len(line) > MaxLine {
		return 0, nil, errors.New("line too long")
	}
	if len(line) < hashSuffixLen+2 || !bytes.HasPrefix(line[len(line)-hashSuffixLen:], []byte(`,"hash":"`)) || !bytes.HasSuffix(line, []byte(`"}`)) {
		return 0, nil, errors.New("no hash field at the end of the line")
	}
	head := line[:len(line)-hashSuffixLen]
	want, err := hex.DecodeString(string(line[len(head)+len(`,"hash":"`) : len(line)-2]))
	if err != nil {
		return 0, nil, errors.New("hash is not hex")
	}
	got := sha256.Sum256(head)
	if !bytes.Equal(want, got[:]) {
		return 0, nil, errors.New("hash mismatch: the record was altered")
	}
	var h lineHead
	dec := json.NewDecoder(bytes.NewReader(append(head[:len(head):len(head)], '}')))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil {
		return 0, nil, fmt.Errorf("not a valid record line: %w", err)
	}
	if h.Record == nil || h.Seq == 0 {
		return 0, nil, errors.New("seq or record missing")
	}
	if prev, err = hex.DecodeString(h.Prev); err != nil || len(prev) != sha256.Size {
		return 0, nil, errors.New("prev is not a SHA-256 in hex")
	}
	var r Record
	if err := json.Unmarshal(h.Record, &r); err != nil {
		return 0, nil, fmt.Errorf("record: %w", err)
	}
	return h.Seq, prev, nil
}

func lineHash(line []byte) []byte {
	s := sha256.Sum256(line)
	return s[:]
}

// Broken names the first record that breaks the chain.
type Broken struct {
	File   string // the file, when verifying files
	Line   int    // 1-based line number in that file
	Seq    uint64 // the seq the line claims, 0 when unreadable
	Reason string
}

func (b *Broken) Error() string {
	s := ""
	if b.File != "" {
		s = b.File + ": "
	}
	seq := "seq unknown"
	if b.Seq != 0 {
		seq = "seq " + strconv.FormatUint(b.Seq, 10)
	}
	return fmt.Sprintf("%sline %d (%s): %s", s, b.Line, seq, b.Reason)
}

// Result is the outcome of a verification.
type Result struct {
	Records  int
	FirstSeq uint64 // seq of the first record, 0 if none
	LastSeq  uint64
	// StartChecked is true when the chain was checked from its genesis
	// (seq 1 with a zero prev); false when the first file verified starts
	// in the middle of a chain (an earlier file was rotated away).
	StartChecked bool
	Broken       *Broken // the first broken record, or nil
}

// Verifier checks a hash chain fed to it in order, possibly across files.
type Verifier struct {
	res      Result
	prevHash []byte
	started  bool
	// Genesis demands that the chain starts at seq 1 with a zero prev.
	Genesis bool
}

// Feed verifies the lines of r, continuing the chain of earlier calls. It
// stops at the first broken record (Result().Broken); err is for read
// errors only.
func (v *Verifier) Feed(name string, r io.Reader) error {
	if v.res.Broken != nil {
		return nil
	}
	br := bufio.NewReaderSize(r, 64<<10)
	for n := 1; ; n++ {
		line, err := readLine(br)
		if err == io.EOF {
			return nil
		}
		bad := func(seq uint64, reason string) error {
			v.res.Broken = &Broken{File: name, Line: n, Seq: seq, Reason: reason}
			return nil
		}
		if errors.Is(err, errTorn) {
			return bad(0, "torn line: no newline at the end of the file")
		}
		if errors.Is(err, errTooLong) {
			return bad(0, "line too long")
		}
		if err != nil {
			return fmt.Errorf("audit verify %s: %w", name, err)
		}
		seq, prev, perr := parseLine(line)
		if perr != nil {
			return bad(claimedSeq(line), perr.Error())
		}
		switch {
		case !v.started:
			if v.Genesis && seq != 1 {
				return bad(seq, "the chain does not start at seq 1 (records before it were removed)")
			}
			if seq == 1 && !bytes.Equal(prev, zeroHash) {
				return bad(seq, "seq 1 with a non-zero prev")
			}
			v.res.FirstSeq = seq
			v.res.StartChecked = seq == 1
			v.started = true
		case seq != v.res.LastSeq+1:
			return bad(seq, fmt.Sprintf("seq %d follows seq %d (records removed, duplicated or reordered)", seq, v.res.LastSeq))
		case !bytes.Equal(prev, v.prevHash):
			return bad(seq, "prev does not match the previous record (a record was removed, replaced or reordered)")
		}
		v.res.LastSeq = seq
		v.res.Records++
		v.prevHash = lineHash(line)
	}
}

// Result returns the outcome so far.
func (v *Verifier) Result() Result { return v.res }

// claimedSeq reads the seq a damaged line claims, for the report.
func claimedSeq(line []byte) uint64 {
	rest, ok := bytes.CutPrefix(line, []byte(`{"seq":`))
	if !ok {
		return 0
	}
	i := 0
	for i < len(rest) && i < 20 && rest[i] >= '0' && rest[i] <= '9' {
		i++
	}
	n, err := strconv.ParseUint(string(rest[:i]), 10, 64)
	if err != nil {
		return 0
	}
	return n
}

var (
	errTorn    = errors.New("torn line")
	errTooLong = errors.New("line too long")
)

// readLine reads one '\n'-terminated line without the newline, bounded by
// MaxLine. A last line without a newline is errTorn.
func readLine(br *bufio.Reader) ([]byte, error) {
	var buf []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(buf)+len(chunk) > MaxLine+1 {
			return nil, errTooLong
		}
		buf = append(buf, chunk...)
		switch {
		case err == nil:
			return buf[:len(buf)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err == io.EOF && len(buf) == 0:
			return nil, io.EOF
		case err == io.EOF:
			return nil, errTorn
		default:
			return nil, err
		}
	}
}

// Verify checks one stream of audit lines. A stream starting at seq 1
// must have a zero prev; one starting later is checked from there on.
// n is the number of intact records before the first broken one.
func Verify(r io.Reader) (n int, bad *Broken, err error) {
	var v Verifier
	err = v.Feed("", r)
	res := v.Result()
	return res.Records, res.Broken, err
}

// VerifyPath checks a log file, or a directory holding a log and its
// rotated predecessors (checked as one chain, which must start at seq 1).
func VerifyPath(path string) (Result, error) {
	st, err := os.Stat(path)
	if err != nil {
		return Result{}, fmt.Errorf("audit verify: %w", err)
	}
	var files []string
	v := Verifier{}
	if st.IsDir() {
		files, err = logFilesInDir(path)
		if err != nil {
			return Result{}, err
		}
		if len(files) == 0 {
			return Result{}, fmt.Errorf("audit verify: no audit log in %s", path)
		}
		v.Genesis = true
	} else {
		files = []string{path}
	}
	for _, f := range files {
		if err := verifyFile(&v, f); err != nil {
			return v.Result(), err
		}
	}
	return v.Result(), nil
}

func verifyFile(v *Verifier, name string) error {
	f, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("audit verify: %w", err)
	}
	defer f.Close()
	return v.Feed(name, f)
}

// logFilesInDir finds the logs of dir: every base name with rotated files
// base.NNNNNN, oldest first, the active file last. A directory must hold
// one log.
func logFilesInDir(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("audit verify: %w", err)
	}
	bases := map[string]bool{}
	for _, e := range ents {
		n := e.Name()
		if !e.Type().IsRegular() || filepath.Ext(n) == ".tmp" || filepath.Ext(n) == ".forward" {
			continue
		}
		if b, _, ok := rotatedName(n); ok {
			bases[b] = true
		} else if filepath.Ext(n) == ".log" {
			bases[n] = true
		}
	}
	if len(bases) > 1 {
		return nil, fmt.Errorf("audit verify: %s holds more than one log; name the file", dir)
	}
	for b := range bases {
		return logFiles(filepath.Join(dir, b))
	}
	return nil, nil
}
