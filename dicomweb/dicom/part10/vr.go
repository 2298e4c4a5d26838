package part10

// vrInfo is one value representation: its name and whether explicit VR
// encodes it with a 4-byte length (PS3.5 Table 7.1-1).
type vrInfo struct {
	name string
	long bool
}

// vrTable is indexed by the two VR letters, (c0-'A')*26 + (c1-'A').
var vrTable = func() [26 * 26]vrInfo {
	var t [26 * 26]vrInfo
	short := []string{"AE", "AS", "AT", "CS", "DA", "DS", "DT", "FL", "FD", "IS", "LO", "LT", "PN",
		"SH", "SL", "SS", "ST", "TM", "UI", "UL", "US"}
	long := []string{"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"}
	for _, s := range short {
		t[int(s[0]-'A')*26+int(s[1]-'A')] = vrInfo{name: s}
	}
	for _, s := range long {
		t[int(s[0]-'A')*26+int(s[1]-'A')] = vrInfo{name: s, long: true}
	}
	return t
}()

// lookupVR returns the VR named by two bytes ("" if there is none) and
// whether it has a 4-byte length field. It allocates nothing.
func lookupVR(c0, c1 byte) (string, bool) {
	if c0 < 'A' || c0 > 'Z' || c1 < 'A' || c1 > 'Z' {
		return "", false
	}
	v := vrTable[int(c0-'A')*26+int(c1-'A')]
	return v.name, v.long
}

// isBinaryVR: values that are opaque bytes and may be Bulk.
func isBinaryVR(vr string) bool {
	switch vr {
	case "OB", "OD", "OF", "OL", "OV", "OW", "UN":
		return true
	}
	return false
}

// isNumericVR: binary numbers and attribute tags.
func isNumericVR(vr string) bool {
	switch vr {
	case "US", "SS", "UL", "SL", "FL", "FD", "SV", "UV", "AT":
		return true
	}
	return false
}

// IsStringVR reports whether values of vr are character strings.
func IsStringVR(vr string) bool {
	switch vr {
	case "AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI", "UR", "UT":
		return true
	}
	return false
}

// isSingleValuedText: string VRs whose value may contain backslashes.
func isSingleValuedText(vr string) bool {
	switch vr {
	case "LT", "ST", "UT", "UR":
		return true
	}
	return false
}
