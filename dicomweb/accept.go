package dicomweb

import (
	"sort"
	"strconv"
	"strings"

	"github.com/minipacs/minipacs/dicomweb/dicom/part10"
)

// Accept negotiation (PS3.18 §8.7.3). A request without a transfer-syntax
// parameter asks for Explicit VR Little Endian; "*" asks for the stored
// syntax; lossy-only data may go as stored when no syntax is named. Native
// objects are re-encoded to Explicit VR Little Endian on the way out; until
// decompression exists, other syntaxes we cannot produce are refused with
// 406.

const explicitVRLittleEndian = "1.2.840.10008.1.2.1"

// mediaRange is one element of an Accept header.
type mediaRange struct {
	typ    string // "type/subtype", lower case
	params map[string]string
	q      float64
}

// parseAccept splits an Accept header into media ranges ordered by
// preference (q descending, then as written). Ranges with q=0 are dropped.
// Commas and semicolons inside quoted strings are respected.
func parseAccept(h string) []mediaRange {
	var out []mediaRange
	for _, item := range splitQuoted(h, ',') {
		parts := splitQuoted(item, ';')
		typ := strings.ToLower(strings.TrimSpace(parts[0]))
		if typ == "" {
			continue
		}
		mr := mediaRange{typ: typ, params: map[string]string{}, q: 1}
		for _, p := range parts[1:] {
			k, v, ok := strings.Cut(p, "=")
			if !ok {
				continue
			}
			k = strings.ToLower(strings.TrimSpace(k))
			v = strings.TrimSpace(v)
			if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
				v = v[1 : len(v)-1]
			}
			if k == "q" {
				if f, err := strconv.ParseFloat(v, 64); err == nil && f >= 0 && f <= 1 {
					mr.q = f
				}
				continue
			}
			if k == "type" {
				v = strings.ToLower(v)
			}
			mr.params[k] = v
		}
		if mr.q > 0 {
			out = append(out, mr)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].q > out[j].q })
	return out
}

// splitQuoted splits s at sep outside double-quoted strings.
func splitQuoted(s string, sep byte) []string {
	var out []string
	start, inQuote := 0, false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if inQuote {
				i++
			}
		case '"':
			inQuote = !inQuote
		case sep:
			if !inQuote {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

// choice is one acceptable representation: a transfer syntax ("" = the
// default for the media type, "*" = as stored) and whether the client wants
// a single-part body.
type choice struct {
	ts         string
	singlePart bool
	media      string // for frames: the requested part media type
}

// acceptDICOM returns the acceptable choices for application/dicom
// resources (study, series and instance retrieve). single reports whether
// the resource is a single instance, for which a bare application/dicom is
// allowed too.
func acceptDICOM(header string, single bool) []choice {
	if strings.TrimSpace(header) == "" {
		return []choice{{ts: ""}}
	}
	var out []choice
	for _, mr := range parseAccept(header) {
		switch mr.typ {
		case "*/*", "multipart/*":
			out = append(out, choice{ts: mr.params["transfer-syntax"]})
		case "multipart/related":
			if t := mr.params["type"]; t != "" && t != "application/dicom" && t != "application/*" && t != "*/*" {
				continue
			}
			out = append(out, choice{ts: mr.params["transfer-syntax"]})
		case "application/dicom":
			if single {
				out = append(out, choice{ts: mr.params["transfer-syntax"], singlePart: true})
			}
		}
	}
	return out
}

// pickSyntax returns the transfer syntax in which an instance stored in
// syntax stored can be sent under choice c, or false when it cannot. An
// instance stored natively in another syntax than Explicit VR Little Endian
// (Implicit VR LE, Explicit VR BE, Deflated) is re-encoded to Explicit VR
// Little Endian (part10.WriteExplicitLE) when that is what c asks for, by
// naming it or by naming no syntax; the caller recognises that case by the
// returned syntax differing from stored.UID. Compressed instances are sent
// as stored only.
//
// decodable says whether this build can decode stored's frames, so that an
// encapsulated object can be sent as Explicit VR Little Endian.
func pickSyntax(c choice, stored part10.TransferSyntax, decodable bool) (string, bool) {
	if c.ts == "*" {
		return stored.UID, true
	}
	if stored.UID == "" {
		return "", false
	}
	switch c.ts {
	case "", explicitVRLittleEndian:
		switch {
		case stored.UID == explicitVRLittleEndian:
			return stored.UID, true
		case !stored.Encapsulated:
			return explicitVRLittleEndian, true
		case c.ts == "" && stored.Lossy:
			return stored.UID, true
		case decodable:
			return explicitVRLittleEndian, true
		}
		return "", false
	}
	return stored.UID, c.ts == stored.UID
}

// frameMediaTypes are the single-frame media types of PS3.18 Table 8.7.3-2
// with their default transfer syntax.
var frameDefaultSyntax = map[string]string{
	"application/octet-stream": explicitVRLittleEndian,
	"image/jpeg":               "1.2.840.10008.1.2.4.50",
	"image/jls":                "1.2.840.10008.1.2.4.80",
	"image/jp2":                "1.2.840.10008.1.2.4.90",
	"image/jpx":                "1.2.840.10008.1.2.4.92",
	"image/jphc":               "1.2.840.10008.1.2.4.201",
	"image/dicom-rle":          "1.2.840.10008.1.2.5",
}

// acceptFrames returns the acceptable choices for frames and bulk data.
func acceptFrames(header string) []choice {
	if strings.TrimSpace(header) == "" {
		return []choice{{ts: "", media: "application/octet-stream"}}
	}
	var out []choice
	for _, mr := range parseAccept(header) {
		switch mr.typ {
		case "*/*", "multipart/*":
			out = append(out, choice{ts: mr.params["transfer-syntax"], media: "application/octet-stream"})
		case "multipart/related":
			t := mr.params["type"]
			if t == "" || t == "*/*" {
				t = "application/octet-stream"
			}
			out = append(out, choice{ts: mr.params["transfer-syntax"], media: t})
		case "application/octet-stream":
			out = append(out, choice{ts: mr.params["transfer-syntax"], media: mr.typ, singlePart: true})
		}
	}
	return out
}

// pickFrameSyntax decides how frames of an instance stored in syntax stored
// go out under choice c: the part media type and transfer syntax, or false.
// Native frames are always sent little endian (big endian ones are swapped,
// deflated ones inflated), so they are Explicit VR Little Endian frames.
//
// decodable says whether this build can decode stored's frames: then
// application/octet-stream with no syntax, or Explicit VR Little Endian,
// gets decoded frames (for lossy data only when the client asked for a
// single part or named the syntax; a multipart request without one gets
// the lossy frames as stored, PS3.18 §8.7.3.5.2).
func pickFrameSyntax(c choice, stored part10.TransferSyntax, decodable bool) (media, ts string, ok bool) {
	if !stored.Encapsulated {
		if c.media != "application/octet-stream" {
			return "", "", false
		}
		if c.ts == "" || c.ts == "*" || c.ts == explicitVRLittleEndian || c.ts == stored.UID && !stored.BigEndian {
			return "application/octet-stream", explicitVRLittleEndian, true
		}
		return "", "", false
	}
	if decodable && c.media == "application/octet-stream" && (c.ts == explicitVRLittleEndian || c.ts == "" && (c.singlePart || !stored.Lossy)) {
		return "application/octet-stream", explicitVRLittleEndian, true
	}
	if c.singlePart {
		// A bare application/octet-stream body can only hold native
		// frames: compressed ones would go out under a media type the
		// client did not accept (PS3.18 §8.7.3).
		return "", "", false
	}
	switch {
	case c.ts == "*":
		return stored.MediaType, stored.UID, true
	case c.ts == stored.UID:
		return stored.MediaType, stored.UID, true
	case c.ts != "":
		return "", "", false
	case c.media == "application/octet-stream":
		// No syntax named: Explicit VR Little Endian, i.e. decoded pixels,
		// except that lossy-only data may go as stored.
		if stored.Lossy {
			return stored.MediaType, stored.UID, true
		}
		return "", "", false
	case c.media == stored.MediaType && frameDefaultSyntax[c.media] == stored.UID:
		return stored.MediaType, stored.UID, true
	}
	return "", "", false
}
