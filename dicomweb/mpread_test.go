package dicomweb

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"strings"
	"testing"
	"testing/iotest"
)

// stdParts reads body with mime/multipart (the reference framing).
func stdParts(body []byte, boundary string) ([]string, error) {
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	var out []string
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		b, err := io.ReadAll(p)
		if err != nil {
			return out, err
		}
		out = append(out, p.Header.Get("Content-Type")+"|"+string(b))
	}
}

// ourParts reads body with stowReader through r's read pattern, with a
// buffer of bufSize and part reads of readSize.
func ourParts(r io.Reader, boundary string, bufSize, readSize int) ([]string, error) {
	m := newStowReader(r, boundary, make([]byte, bufSize))
	var out []string
	for {
		p, ct, err := m.NextPart()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		var b bytes.Buffer
		chunk := make([]byte, readSize)
		for {
			n, err := p.Read(chunk)
			b.Write(chunk[:n])
			if err == io.EOF {
				break
			}
			if err != nil {
				return out, err
			}
		}
		out = append(out, ct+"|"+b.String())
	}
}

func TestStowReaderMatchesMultipart(t *testing.T) {
	const B = "XyZ-b0und"
	cases := map[string]string{
		"two parts":          "--" + B + "\r\nContent-Type: application/dicom\r\n\r\nAAA\r\n--" + B + "\r\n\r\nBB\r\n--" + B + "--\r\n",
		"preamble":           "junk line\r\nmore\r\n--" + B + "\r\n\r\ndata\r\n--" + B + "--",
		"epilogue":           "--" + B + "\r\n\r\ndata\r\n--" + B + "--\r\ntrailing epilogue",
		"blanks after":       "--" + B + "  \t\r\n\r\nd\r\n--" + B + " \r\n\r\ne\r\n--" + B + "-- \r\n",
		"bare LF":            "--" + B + "\n\nline1\nline2\n--" + B + "\n\nx\n--" + B + "--\n",
		"lookalike":          "--" + B + "\r\n\r\n\r\n--" + B + "X not a delimiter\r\n--" + B + "--\r\n",
		"lookalike at end":   "--" + B + "\r\n\r\nabc\r\n--" + B + "x\r\n--" + B + "--\r\n",
		"empty part":         "--" + B + "\r\n\r\n\r\n--" + B + "--\r\n",
		"CR LF inside":       "--" + B + "\r\n\r\n\r\n\r\n--\r\n-" + B + "\r\n--" + B + "--\r\n",
		"truncated part":     "--" + B + "\r\n\r\nabcdef",
		"truncated header":   "--" + B + "\r\nContent-Type: a",
		"no delimiter":       "just some bytes",
		"empty body":         "",
		"bad header line":    "--" + B + "\r\nno colon here\r\n\r\nx\r\n--" + B + "--\r\n",
		"garbage after part": "--" + B + "\r\n\r\nx\r\n--" + B + " junk\r\n\r\ny\r\n--" + B + "--\r\n",
		"no final":           "--" + B + "\r\n\r\nx\r\n--" + B + "\r\n",
		"dash dash inside":   "--" + B + "\r\n\r\n--" + B + "\r\n--" + B + "--\r\n",
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) { compareReaders(t, []byte(body), B) })
	}
}

// compareReaders checks stowReader against mime/multipart on body, for
// several buffer sizes and read patterns: same parts, or both an error.
func compareReaders(t *testing.T, body []byte, boundary string) {
	t.Helper()
	want, werr := stdParts(body, boundary)
	for _, bufSize := range []int{256, 4096, 256 << 10} {
		for pat, wrap := range map[string]func(io.Reader) io.Reader{
			"whole": func(r io.Reader) io.Reader { return r },
			"byte":  iotest.OneByteReader,
			"half":  iotest.HalfReader,
		} {
			for _, readSize := range []int{1, 7, 64 << 10} {
				got, gerr := ourParts(wrap(bytes.NewReader(body)), boundary, bufSize, readSize)
				if (werr != nil) != (gerr != nil) {
					t.Fatalf("buf %d %s read %d: error %v, mime/multipart %v", bufSize, pat, readSize, gerr, werr)
				}
				if werr == nil && fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("buf %d %s read %d:\n got %q\nwant %q", bufSize, pat, readSize, got, want)
				}
			}
		}
	}
}

// TestStowReaderRandom builds bodies of random parts whose data are full
// of delimiter lookalikes and checks every part comes out whole.
func TestStowReaderRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const B = "bnd"
	pieces := []string{"\r", "\n", "\r\n", "-", "--", "--" + B, "\r\n--" + B + "x", "\r\n--" + B[:2], "a", "zzzz"}
	for i := range 300 {
		var body strings.Builder
		nparts := rng.IntN(4)
		if rng.IntN(3) == 0 {
			body.WriteString("preamble\r\n")
		}
		for range nparts {
			body.WriteString("--" + B + "\r\nContent-Type: application/dicom\r\n\r\n")
			for range rng.IntN(40) {
				body.WriteString(pieces[rng.IntN(len(pieces))])
			}
			body.WriteString("\r\n")
		}
		body.WriteString("--" + B + "--\r\n")
		t.Run(fmt.Sprint(i), func(t *testing.T) { compareReaders(t, []byte(body.String()), B) })
	}
}

func FuzzStowReader(f *testing.F) {
	f.Add([]byte("--b\r\n\r\nabc\r\n--b--\r\n"), 16)
	f.Add([]byte("pre\n--b\n\nx\n--b\n\ny\n--b--"), 5)
	f.Add([]byte("--b\r\nContent-Type: application/dicom\r\n\r\n\r\n--bx\r\n--b--"), 300)
	f.Fuzz(func(t *testing.T, body []byte, bufSize int) {
		bufSize = 4096 + bufSize&0xffff // at least a line window, as in the server
		want, werr := stdParts(body, "b")
		got, gerr := ourParts(iotest.HalfReader(bytes.NewReader(body)), "b", bufSize, 100)
		if (werr != nil) != (gerr != nil) {
			t.Fatalf("error %v, mime/multipart %v", gerr, werr)
		}
		if werr == nil && fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("got %q, want %q", got, want)
		}
	})
}

// FuzzIndexDelim: indexDelim finds what bytes.Index finds.
func FuzzIndexDelim(f *testing.F) {
	f.Add([]byte("ab\r\n--xyz\r\n--xy"), []byte("\r\n--xy"))
	f.Add([]byte("\r\n--b"), []byte("\r\n--b"))
	f.Add([]byte("xx"), []byte("\r\n--b"))
	f.Fuzz(func(t *testing.T, buf, delim []byte) {
		if len(delim) == 0 {
			return
		}
		if got, want := indexDelim(buf, delim), bytes.Index(buf, delim); got != want {
			t.Fatalf("indexDelim(%q, %q) = %d, bytes.Index = %d", buf, delim, got, want)
		}
	})
}

// ctLike is 12-bit pixel data in 16-bit little-endian samples, as CT
// stores it: the high bytes are below 0x10, so '\r' (0x0D) is frequent.
func ctLike(n int) []byte {
	rng := rand.New(rand.NewPCG(3, 4))
	b := make([]byte, n)
	for i := 0; i+1 < n; i += 2 {
		v := uint16(rng.IntN(4096))
		b[i], b[i+1] = byte(v), byte(v>>8)
	}
	return b
}

// TestIndexDelimCT: on CT-like data with delimiters placed in it,
// indexDelim agrees with bytes.Index at every start.
func TestIndexDelimCT(t *testing.T) {
	buf := ctLike(1 << 16)
	delim := []byte("\r\n--" + "0123456789abcdef0123456789abcdef")
	for _, at := range []int{100, 30000, len(buf) - len(delim)} {
		copy(buf[at:], delim)
	}
	// Data made of the delimiter's last byte, with a delimiter late in it
	// (the search hands over to bytes.Index).
	same := bytes.Repeat(delim[len(delim)-1:], 1<<14)
	copy(same[12345:], delim)
	for _, b := range [][]byte{buf, same} {
		for i := 0; i < len(b); i += 97 {
			if got, want := indexDelim(b[i:], delim), bytes.Index(b[i:], delim); got != want {
				t.Fatalf("from %d: indexDelim = %d, bytes.Index = %d", i, got, want)
			}
		}
	}
}

// BenchmarkIndexDelim: the delimiter search over 256 KiB of CT-like pixel
// data without a delimiter, against bytes.Index.
func BenchmarkIndexDelim(b *testing.B) {
	buf := ctLike(256 << 10)
	delim := []byte("\r\n--" + "0123456789abcdef0123456789abcdef")
	for _, c := range []struct {
		name string
		fn   func(s, sep []byte) int
	}{{"bytes.Index", bytes.Index}, {"indexDelim", indexDelim}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(buf)))
			for range b.N {
				if c.fn(buf, delim) >= 0 {
					b.Fatal("found")
				}
			}
		})
	}
}
