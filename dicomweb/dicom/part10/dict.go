package part10

import (
	"sync"

	"github.com/suyashkumar/dicom/pkg/tag"
)

// dictTag maps t to the tag under which the data dictionary lists it:
// repeating groups 50xx, 60xx and 7Fxx are listed as 5000, 6000 and 7F00.
func dictTag(t Tag) tag.Tag {
	g, e := t.Group(), t.Element()
	switch {
	case g >= 0x5000 && g <= 0x50FF && g%2 == 0:
		g = 0x5000
	case g >= 0x6000 && g <= 0x60FF && g%2 == 0:
		g = 0x6000
	case g >= 0x7F00 && g <= 0x7FFF && g%2 == 0 && g != 0x7FE0:
		g = 0x7F00
	}
	return tag.Tag{Group: g, Element: e}
}

func lookup(t Tag) (tag.Info, bool) {
	if t.Group()%2 == 1 {
		return tag.Info{}, false
	}
	info, err := tag.Find(dictTag(t))
	if err != nil || len(info.VRs) == 0 {
		return tag.Info{}, false
	}
	return info, true
}

// DictionaryVR returns the data dictionary's VR for t: the first choice
// for multi-VR tags ("US" for "US or SS", "OB" for "OB or OW"), "UL" for
// group lengths, "LO" for private creators, "" for item and delimiter tags
// and "UN" for private or unknown tags.
func DictionaryVR(t Tag) string {
	g, e := t.Group(), t.Element()
	switch {
	case g == 0xFFFE:
		return ""
	case e == 0x0000:
		return "UL"
	case g%2 == 1 && e >= 0x0010 && e <= 0x00FF:
		return "LO"
	}
	info, ok := lookup(t)
	if !ok {
		return "UN"
	}
	vr := info.VRs[0]
	if vr == "NA" {
		return ""
	}
	return vr
}

// implicitVR resolves the VR of an element read in an implicit VR transfer
// syntax following PS3.5 A.1: OB-or-OW values are OW, US-or-SS values are
// SS when PixelRepresentation is 1.
func implicitVR(t Tag, pixelRep int) string {
	info, ok := lookup(t)
	if !ok || len(info.VRs) < 2 {
		return DictionaryVR(t)
	}
	for _, vr := range info.VRs {
		if vr == "OW" {
			return "OW"
		}
	}
	if info.VRs[0] == "US" && info.VRs[1] == "SS" && pixelRep == 1 {
		return "SS"
	}
	return info.VRs[0]
}

// Keyword returns the dictionary keyword of t ("PatientName"), or "" for
// private and unknown tags.
func Keyword(t Tag) string {
	info, ok := lookup(t)
	if !ok {
		return ""
	}
	return info.Keyword
}

// keywordCache memoises TagForKeyword hits (the dictionary package only
// offers a linear search by keyword). Misses are not cached, so arbitrary
// query keys cannot grow it.
var keywordCache sync.Map // string -> Tag

// TagForKeyword returns the tag whose dictionary keyword is kw
// ("PatientName" -> 00100010).
func TagForKeyword(kw string) (Tag, bool) {
	if kw == "" {
		return 0, false
	}
	if t, ok := keywordCache.Load(kw); ok {
		return t.(Tag), true
	}
	info, err := tag.FindByKeyword(kw)
	if err != nil || info.Keyword != kw {
		return 0, false
	}
	t := Tag(info.Tag.Uint32())
	keywordCache.Store(kw, t)
	return t, true
}
