package jpeg

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/minipacs/minipacs/dicomweb/dicom/pixels/codec"
	"github.com/minipacs/minipacs/dicomweb/dicom/pixels/internal/pixeltest"
)

// baselineStream writes a baseline JPEG of the given quantised
// coefficients (blocks[c][i] in natural order, blocks in MCU order) with a
// restart interval of ri MCUs. Small Huffman tables cover the symbols the
// test uses (4-bit codes): DC categories 0-8, AC EOB, ZRL and runs 0-1
// of sizes 1-4.
func baselineStream(w, h int, sampling []byte, blocks [][][64]int32, ri int) []byte {
	b := []byte{0xFF, 0xD8}
	seg := func(m byte, p ...byte) {
		b = append(b, 0xFF, m, byte((len(p)+2)>>8), byte(len(p)+2))
		b = append(b, p...)
	}
	seg(0xE0, 'J', 'F', 'I', 'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0)
	dqt := []byte{0}
	for k := 0; k < 64; k++ {
		dqt = append(dqt, byte(2+k%5))
	}
	seg(0xDB, dqt...)
	nc := len(sampling)
	sof := []byte{8, byte(h >> 8), byte(h), byte(w >> 8), byte(w), byte(nc)}
	for i, s := range sampling {
		sof = append(sof, byte(i+1), s, 0)
	}
	seg(0xC0, sof...)
	dcSyms := []byte{0, 1, 2, 3, 4, 5, 6, 7, 8}
	acSyms := []byte{0x00, 0x01, 0x02, 0x03, 0x04, 0x11, 0x12, 0x13, 0x14, 0xF0}
	seg(0xC4, append([]byte{0x00, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, dcSyms...)...)
	seg(0xC4, append([]byte{0x10, 0, 0, 0, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, acSyms...)...)
	if ri > 0 {
		seg(0xDD, byte(ri>>8), byte(ri))
	}
	sos := []byte{byte(nc)}
	for i := range sampling {
		sos = append(sos, byte(i+1), 0)
	}
	seg(0xDA, append(sos, 0, 63, 0)...)
	bw := &bitWriter{}
	code := func(syms []byte, s byte, n uint) {
		i := bytes.IndexByte(syms, s)
		bw.put(uint32(i), n)
	}
	extra := func(v int32, s int) {
		if v < 0 {
			v += 1<<s - 1
		}
		bw.put(uint32(v), uint(s))
	}
	perMCU := 0
	for _, s := range sampling {
		perMCU += int(s>>4) * int(s&15)
	}
	nMCU := len(blocks[0]) / (int(sampling[0]>>4) * int(sampling[0]&15))
	next := make([]int, nc)
	pred := make([]int32, nc)
	rst := 0
	for m := 0; m < nMCU; m++ {
		if ri > 0 && m > 0 && m%ri == 0 {
			bw.flush()
			bw.out = append(bw.out, 0xFF, byte(0xD0+rst%8))
			rst++
			clear(pred)
		}
		for c, s := range sampling {
			for k := 0; k < int(s>>4)*int(s&15); k++ {
				blk := &blocks[c][next[c]]
				next[c]++
				diff := blk[0] - pred[c]
				pred[c] = blk[0]
				cat := bitsFor(diff)
				code(dcSyms, byte(cat), 4)
				extra(diff, cat)
				run := 0
				for z := 1; z < 64; z++ {
					v := blk[unzig[z]]
					if v == 0 {
						run++
						continue
					}
					for run > 1 {
						code(acSyms, 0xF0, 4) // not reached with runs ≤ 1
						run -= 16
					}
					cat := bitsFor(v)
					code(acSyms, byte(run<<4|cat), 4)
					extra(v, cat)
					run = 0
				}
				if run > 0 {
					code(acSyms, 0x00, 4)
				}
			}
		}
	}
	bw.flush()
	b = append(b, bw.out...)
	return append(b, 0xFF, 0xD9)
}

// randomBlocks makes n blocks whose nonzero AC coefficients come in runs
// of at most one zero, with small values.
func randomBlocks(rng *rand.Rand, n int) [][64]int32 {
	blocks := make([][64]int32, n)
	for i := range blocks {
		blocks[i][0] = int32(rng.Intn(200) - 100)
		z := 1
		for z < 64 && rng.Intn(6) != 0 {
			z += rng.Intn(2)
			if z < 64 {
				blocks[i][unzig[z]] = int32(rng.Intn(31) - 15)
				if blocks[i][unzig[z]] == 0 {
					blocks[i][unzig[z]] = 1
				}
				z++
			}
		}
	}
	return blocks
}

// TestDCTRestart checks restart intervals in sequential DCT scans: the
// same coefficients with and without RST markers decode identically, and
// match dcmdjpeg.
func TestDCTRestart(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	for _, tc := range []struct {
		name     string
		w, h     int
		sampling []byte
	}{
		{"gray", 40, 24, []byte{0x11}},
		{"ycbcr420", 40, 24, []byte{0x22, 0x11, 0x11}},
		{"ycbcr422_odd", 37, 9, []byte{0x21, 0x11, 0x11}},
	} {
		hmax, vmax := int(tc.sampling[0]>>4), int(tc.sampling[0]&15)
		mcus := ((tc.w + 8*hmax - 1) / (8 * hmax)) * ((tc.h + 8*vmax - 1) / (8 * vmax))
		blocks := make([][][64]int32, len(tc.sampling))
		for c, s := range tc.sampling {
			blocks[c] = randomBlocks(rng, mcus*int(s>>4)*int(s&15))
		}
		p := codec.Params{Rows: tc.h, Columns: tc.w, Samples: len(tc.sampling), BitsAllocated: 8, BitsStored: 8}
		want, err := Decode(baselineStream(tc.w, tc.h, tc.sampling, blocks, 0), p, nil)
		if err != nil {
			t.Fatalf("%s without restarts: %v", tc.name, err)
		}
		for _, ri := range []int{1, 2, 5} {
			t.Run(fmt.Sprintf("%s_ri%d", tc.name, ri), func(t *testing.T) {
				src := baselineStream(tc.w, tc.h, tc.sampling, blocks, ri)
				got, err := Decode(src, p, nil)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Fatal("restart interval changes the decoded pixels")
				}
				if ri != 2 {
					return
				}
				dir := t.TempDir()
				jp, dcm := filepath.Join(dir, "in.jpg"), filepath.Join(dir, "in.dcm")
				if err := os.WriteFile(jp, src, 0o644); err != nil {
					t.Fatal(err)
				}
				pixeltest.Run(t, "img2dcm", jp, dcm)
				checkFrames(t, pixeltest.Load(t, dcm), dcmdjpegRef(t, dcm), 0)
			})
		}
	}
}
