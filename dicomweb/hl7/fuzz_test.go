package hl7

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func seedMessages(f *testing.F) [][]byte {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.hl7"))
	var out [][]byte
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, bytes.ReplaceAll(b, []byte("\n"), []byte("\r")))
	}
	return out
}

// FuzzParse: Parse never panics; what it parses, every accessor reads,
// and the ACK built from it parses again with the same control ID.
func FuzzParse(f *testing.F) {
	for _, b := range seedMessages(f) {
		f.Add(b)
	}
	f.Add([]byte("MSH|^~\\&|A|F|||1||ADT^A01|1|P|2.5\rPID|\\X\\|\\"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parser{MaxBytes: 64 << 10}.Parse(b)
		if err != nil {
			var he *Error
			if !errors.As(err, &he) {
				t.Fatalf("error not an *Error: %v", err)
			}
			pm, _ := Parser{MaxBytes: 64 << 10}.parse(b)
			BuildACK(pm, Ack{Code: AE, Error: he.Code, Text: he.Msg, ControlID: "X"})
			return
		}
		for _, s := range m.All() {
			for i := 0; i <= s.NumFields()+1; i++ {
				for _, r := range s.Repetitions(i) {
					r.Text()
					r.Component(2)
					r.Subcomponent(1, 2)
				}
				s.Field(i)
				s.Component(i, 3)
			}
		}
		m.Type()
		m.Sender()
		m.Version()
		for _, code := range []AckCode{AA, AE} {
			ack := BuildACK(m, Ack{Code: code, Error: CodeInternal, Text: "t", App: "MINIPACS", ControlID: "X"})
			a, err := Parse(ack)
			if err != nil {
				t.Fatalf("ACK %q of %q: %v", ack, b, err)
			}
			if got := a.Segment("MSA").Field(2); got != m.ControlID() {
				t.Fatalf("MSA-2 %q, control ID %q", got, m.ControlID())
			}
		}
	})
}

// FuzzMLLP: the frame reader never panics, never returns more than the
// limit, and every frame it returns was framed in the input.
func FuzzMLLP(f *testing.F) {
	for _, b := range seedMessages(f) {
		f.Add(append(frame(b), frame(b)...))
	}
	f.Add([]byte{startBlock, 'M', endBlock})
	f.Add([]byte{startBlock, startBlock, endBlock, carriageRt})
	f.Fuzz(func(t *testing.T, in []byte) {
		const max = 512
		r := &frameReader{br: bufio.NewReaderSize(bytes.NewReader(in), 16), max: max}
		for range len(in) + 1 {
			b, err := r.next()
			var big *errFrameTooLarge
			switch {
			case errors.As(err, &big):
				if len(big.head) > headBytes || big.size <= max {
					t.Fatalf("too large: head %d, size %d", len(big.head), big.size)
				}
				continue
			case err != nil:
				if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && err != errOutsideFrame && err != errBadFrame {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if len(b) > max || bytes.IndexByte(b, endBlock) >= 0 || bytes.IndexByte(b, startBlock) >= 0 {
				t.Fatalf("frame %q", b)
			}
			if !bytes.Contains(in, frame(b)) {
				t.Fatalf("frame %q not in the input", b)
			}
		}
	})
}
