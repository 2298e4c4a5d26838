package ingest

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/minipacs/minipacs/dicomweb/dicom/part10"
)

// reencoded is a case of TestSameInstanceReencoded: an object stored,
// another sent with the same SOP Instance UID, and whether it is the same
// instance.
type reencoded struct {
	name         string
	stored, sent []byte
	same         bool
}

// TestSameInstanceReencoded: a stored instance sent again re-encoded (by
// another toolkit, DCMTK dcmconv, or edited here: group lengths, string
// padding, transfer syntax, sequence lengths, trailing padding) is the
// same instance, "already stored"; one changed value or one element less
// is other content and fails with 0x0111.
func TestSameInstanceReencoded(t *testing.T) {
	mr := sharedFile(t, "test_files/MR_small.dcm")
	ct := sharedFile(t, "test_files/CT_small.dcm")
	rtplan := sharedFile(t, "test_files/rtplan.dcm")
	cases := []reencoded{
		// Real files of other toolkits, same instance, other encodings.
		{"explicit LE vs implicit LE (no trailing padding)", mr, sharedFile(t, "test_files/MR_small_implicit.dcm"), true},
		{"explicit LE vs explicit BE", mr, sharedFile(t, "test_files/MR_small_bigendian.dcm"), true},
		{"implicit LE vs explicit BE", sharedFile(t, "test_files/MR_small_implicit.dcm"), sharedFile(t, "test_files/MR_small_expb.dcm"), true},
		{"explicit LE vs explicit BE, 32-bit pixels", sharedFile(t, "test_files/rtdose_1frame.dcm"), sharedFile(t, "test_files/rtdose_expb_1frame.dcm"), true},
		{"explicit BE vs explicit LE, multi-frame", sharedFile(t, "test_files/liver_expb_1frame.dcm"), sharedFile(t, "test_files/liver_1frame.dcm"), true},
		{"other pixel data value length", mr, sharedFile(t, "test_files/MR_small_padded.dcm"), false},
		// Edited here.
		{"group lengths added", ct, addGroupLengths(t, ct), true},
		{"group lengths removed", addGroupLengths(t, ct), ct, true},
		{"string padding: two more spaces", ct, setValue(t, ct, 0x00100010, append(bytes.Clone(value(t, ct, 0x00100010)), "  "...)), true},
		{"UID padding: space for NUL", mr, spacePaddedUID(t, mr), true},
		{"implicit LE re-encoded as explicit LE, undefined-length sequences", rtplan, explicitLE(t, rtplan), true},
		{"one letter of PatientName", ct, setValue(t, ct, 0x00100010, changeLetter(value(t, ct, 0x00100010))), false},
		{"one letter of PatientName and group lengths", ct, addGroupLengths(t, setValue(t, ct, 0x00100010, changeLetter(value(t, ct, 0x00100010)))), false},
		{"PatientName padding turned into a letter", ct, setValue(t, ct, 0x00100010, append(bytes.Clone(value(t, ct, 0x00100010)), "X "...)), false},
		{"element removed", ct, removeElement(t, ct, 0x00081030), false},
		{"one pixel byte of a big endian re-encoding", mr, flipPixelByte(t, sharedFile(t, "test_files/MR_small_bigendian.dcm")), false},
		{"element removed, re-encoded", rtplan, explicitLE(t, removeElement(t, explicitLE(t, rtplan), 0x00100020)), false},
	}
	cases = append(cases, dcmtkCases(t, mr, ct, rtplan)...)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if bytes.Equal(c.stored, c.sent) {
				t.Fatal("the variant is the same bytes: the test would test nothing")
			}
			g, _, _, _ := setup(t)
			if r := storeOne(t, g, c.stored); r.Failure != 0 || r.Existed {
				t.Fatalf("first store: %+v", r)
			}
			r := storeOne(t, g, c.sent)
			switch {
			case c.same && (r.Failure != 0 || !r.Existed):
				t.Errorf("re-encoded: failure %#x existed %v (%v), want already stored", r.Failure, r.Existed, r.Err)
			case !c.same && r.Failure != FailureDuplicate:
				t.Errorf("other content: failure %#x existed %v, want 0x0111", r.Failure, r.Existed)
			}
		})
	}
}

// dcmtkCases are variants that DCMTK's dcmconv and dcmodify write, as
// storescu would send them; none when DCMTK is not installed.
func dcmtkCases(t *testing.T, mr, ct, rtplan []byte) []reencoded {
	if _, err := exec.LookPath("dcmconv"); err != nil {
		t.Log("DCMTK dcmconv not installed: no DCMTK variants")
		return nil
	}
	var out []reencoded
	for _, f := range []struct {
		name string
		b    []byte
	}{{"MR_small", mr}, {"CT_small", ct}, {"rtplan", rtplan}} {
		for _, v := range []struct {
			args []string
			same bool
		}{
			{[]string{"+ti"}, true},
			{[]string{"+te"}, true},
			{[]string{"+tb"}, true},
			{[]string{"+te", "+g"}, true},
			{[]string{"+ti", "+g"}, true},
			{[]string{"+te", "-g"}, true},
			{[]string{"+te", "-e"}, true},
			{[]string{"+ti", "-e", "+g"}, true},
			{[]string{"+tb", "-e", "+g"}, true},
			{[]string{"+te", "-p"}, true},
		} {
			out = append(out, reencoded{"dcmconv " + f.name + " " + join(v.args), f.b, dcmconv(t, f.b, v.args...), v.same})
		}
		out = append(out, reencoded{"dcmconv " + f.name + " +tb stored, +ti -e +g sent", dcmconv(t, f.b, "+tb"), dcmconv(t, f.b, "+ti", "-e", "+g"), true})
		changed := dcmtk(t, "dcmodify", dcmconv(t, f.b, "+ti", "+g"), "-nb", "-m", "(0010,0010)=Xy^Zz")
		out = append(out, reencoded{"dcmodify PatientName, " + f.name + " +ti +g", f.b, changed, false})
		removed := dcmtk(t, "dcmodify", dcmconv(t, f.b, "+te", "-e"), "-nb", "-e", "(0008,0020)")
		out = append(out, reencoded{"dcmodify StudyDate removed, " + f.name + " +te -e", f.b, removed, false})
	}
	return out
}

func join(s []string) string {
	var b bytes.Buffer
	for i, x := range s {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(x)
	}
	return b.String()
}

// dcmconv converts in with DCMTK's dcmconv and the given options.
func dcmconv(t *testing.T, in []byte, args ...string) []byte {
	t.Helper()
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "in.dcm"), filepath.Join(dir, "out.dcm")
	if err := os.WriteFile(src, in, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("dcmconv", append(append([]string{}, args...), src, dst)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("dcmconv %v: %v\n%s", args, err, b)
	}
	out, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// dcmtk runs a DCMTK tool that modifies a file in place (dcmodify).
func dcmtk(t *testing.T, tool string, in []byte, args ...string) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "f.dcm")
	if err := os.WriteFile(path, in, 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command(tool, append(append([]string{}, args...), path)...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", tool, args, err, b)
	}
	out, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// parsed parses a test object.
func parsed(t *testing.T, b []byte) *part10.File {
	t.Helper()
	f, err := part10.Parse(context.Background(), bytes.NewReader(b), int64(len(b)), part10.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// topElement finds the top level element tag of an Explicit VR Little
// Endian object and the offset of its header.
func topElement(t *testing.T, b []byte, tag part10.Tag) (*part10.Element, int64) {
	t.Helper()
	f := parsed(t, b)
	if f.TransferSyntax.UID != part10.ExplicitVRLittleEndian {
		t.Fatalf("edits need Explicit VR Little Endian, not %s", f.TransferSyntax.UID)
	}
	el := f.DataSet.Find(tag)
	if el == nil {
		t.Fatalf("no %v in the test object", tag)
	}
	return el, el.Offset - headerLen(el.VR)
}

func headerLen(vr string) int64 {
	switch vr {
	case "OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV":
		return 12
	}
	return 8
}

// value returns the value of a top level short element.
func value(t *testing.T, b []byte, tag part10.Tag) []byte {
	t.Helper()
	el, _ := topElement(t, b, tag)
	return el.Value
}

// setValue replaces the value of a top level element of short VR (the
// object must have no group length of that group).
func setValue(t *testing.T, b []byte, tag part10.Tag, v []byte) []byte {
	t.Helper()
	el, _ := topElement(t, b, tag)
	if headerLen(el.VR) != 8 || len(v) > 0xFFFF {
		t.Fatalf("setValue: %v is %s", tag, el.VR)
	}
	out := append(bytes.Clone(b[:el.Offset]), v...)
	out = append(out, b[el.Offset+int64(el.Length):]...)
	binary.LittleEndian.PutUint16(out[el.Offset-2:], uint16(len(v)))
	return out
}

// removeElement removes a top level element.
func removeElement(t *testing.T, b []byte, tag part10.Tag) []byte {
	t.Helper()
	el, start := topElement(t, b, tag)
	return append(bytes.Clone(b[:start]), b[el.Offset+int64(el.Length):]...)
}

// addGroupLengths inserts a correct group length (gggg,0000) before every
// top level group of an Explicit VR Little Endian object that has none.
func addGroupLengths(t *testing.T, b []byte) []byte {
	t.Helper()
	f := parsed(t, b)
	if f.TransferSyntax.UID != part10.ExplicitVRLittleEndian {
		t.Fatalf("addGroupLengths needs Explicit VR Little Endian")
	}
	els := f.DataSet.Elements
	out := bytes.Clone(b[:f.DataSetOffset])
	for i := 0; i < len(els); {
		g := els[i].Tag.Group()
		start := els[i].Offset - headerLen(els[i].VR)
		j := i
		for j < len(els) && els[j].Tag.Group() == g {
			j++
		}
		end := int64(len(b))
		if j < len(els) {
			end = els[j].Offset - headerLen(els[j].VR)
		}
		if els[i].Tag.Element() != 0 {
			out = binary.LittleEndian.AppendUint16(out, g)
			out = append(out, 0, 0, 'U', 'L', 4, 0)
			out = binary.LittleEndian.AppendUint32(out, uint32(end-start))
		}
		out = append(out, b[start:end]...)
		i = j
	}
	return out
}

// explicitLE re-encodes a native object with part10.WriteExplicitLE:
// sequences and items get undefined lengths.
func explicitLE(t *testing.T, b []byte) []byte {
	t.Helper()
	f := parsed(t, b)
	var out bytes.Buffer
	if err := part10.WriteExplicitLE(context.Background(), &out, f, readerAtOpener(bytes.NewReader(b), int64(len(b)))); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// spacePaddedUID pads the first NUL-padded top level UID with a space
// instead.
func spacePaddedUID(t *testing.T, b []byte) []byte {
	t.Helper()
	for _, el := range parsed(t, b).DataSet.Elements {
		if el.VR == "UI" && len(el.Value) > 0 && el.Value[len(el.Value)-1] == 0 {
			out := bytes.Clone(b)
			out[el.Offset+int64(len(el.Value))-1] = ' '
			return out
		}
	}
	t.Fatal("no NUL-padded UID in the test object")
	return nil
}

// changeLetter changes the first letter of a name.
func changeLetter(v []byte) []byte {
	out := bytes.Clone(v)
	for i, c := range out {
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' {
			out[i] = c ^ 0x20
			break
		}
	}
	return out
}

// flipPixelByte changes the last byte of the top level pixel data.
func flipPixelByte(t *testing.T, b []byte) []byte {
	t.Helper()
	px := parsed(t, b).DataSet.Find(part10.TagPixelData)
	if px == nil || px.Length == part10.UndefinedLength {
		t.Fatal("no native pixel data in the test object")
	}
	out := bytes.Clone(b)
	out[px.Offset+int64(px.Length)-1] ^= 0xFF
	return out
}

// TestSamePrivateSequence: a private sequence of defined length in
// Implicit VR (which part10 can only read as UN) is the same as that
// sequence with an undefined length (read as SQ): its value is read as
// the items it is. A changed value inside an item is other content.
func TestSamePrivateSequence(t *testing.T) {
	ctx := context.Background()
	orig := sharedFile(t, "test_files/priv_SQ.dcm")
	f := parsed(t, orig)
	el := f.DataSet.Find(0x3F031001)
	if el == nil || el.VR != "UN" || el.Bulk || el.Offset+int64(el.Length) != int64(len(orig)) {
		t.Fatalf("priv_SQ.dcm: want (3F03,1001) as the last element, inline UN: %+v", el)
	}
	// The same sequence with an undefined length and a delimiter.
	undef := bytes.Clone(orig)
	binary.LittleEndian.PutUint32(undef[el.Offset-4:], part10.UndefinedLength)
	undef = append(undef, 0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0)
	if u := parsed(t, undef).DataSet.Find(0x3F031001); u == nil || u.VR != "SQ" || len(u.Items) != 1 {
		t.Fatalf("undefined-length variant not read as a sequence: %+v", u)
	}
	changed := bytes.Clone(undef)
	changed[len(changed)-9] ^= 0x01 // the last value byte of the item
	sideOf := func(b []byte) (*side, []*part10.Element) {
		f := parsed(t, b)
		return &side{lay: &f.Layout, open: readerAtOpener(bytes.NewReader(b), int64(len(b))), implicit: !f.TransferSyntax.ExplicitVR}, f.DataSet.Elements
	}
	for _, c := range []struct {
		name string
		b    []byte
		same bool
	}{{"undefined length", undef, true}, {"a value changed in the item", changed, false}} {
		a, as := sideOf(orig)
		b, bs := sideOf(c.b)
		for _, dir := range []bool{false, true} {
			var got bool
			var err error
			if dir {
				got, err = sameElements(ctx, b, bs, a, as, true)
			} else {
				got, err = sameElements(ctx, a, as, b, bs, true)
			}
			if err != nil || got != c.same {
				t.Errorf("%s (reversed %v): same %v (%v), want %v", c.name, dir, got, err, c.same)
			}
		}
	}
}
