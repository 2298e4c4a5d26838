package query

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/minipacs/minipacs/dicomweb/kind"

	"github.com/minipacs/minipacs/dicomweb/dicom/part10"

	"github.com/minipacs/minipacs/index"
)

// Error is a request the client got wrong (HTTP 400). Msg names at most the
// offending keyword or tag, never a value.
type Error struct {
	Msg string
}

func (e *Error) Error() string { return e.Msg }

// Unwrap makes every Error of kind Invalid.
func (e *Error) Unwrap() error { return kind.Invalid }

func errorf(format string, a ...any) error {
	return &Error{Msg: fmt.Sprintf(format, a...)}
}

// Options are the server's policy for a search.
type Options struct {
	// MaxLimit caps limit (0: no cap). A larger limit is clamped with a
	// warning; with no limit given, MaxLimit applies.
	MaxLimit int
	// DefaultLimit is the limit when the request gives none (0: none, then
	// MaxLimit applies).
	DefaultLimit int
}

// Request is a parsed QIDO-RS search.
type Request struct {
	Query   index.Query
	Include Selection
	// Warnings are texts for "Warning: 299" headers: the limit was clamped,
	// an option was not applied, a key was translated. They hold no request
	// input other than validated keywords.
	Warnings []string
	// ServerLimited is true when Query.Limit is the server's cap rather
	// than what the client asked for: if that many results come back, PS3.18
	// wants the warning MoreResultsWarning.
	ServerLimited bool
	// Accept and Charset are the values of the accept and charset query
	// parameters (PS3.18 §8.3.3), for the caller's content negotiation.
	Accept, Charset []string
}

// MoreResultsWarning is the PS3.18 §8.3.4.4 warning text for a search whose
// results were cut at the server's maximum.
const MoreResultsWarning = "The number of results exceeded the maximum supported by the server. Additional results can be requested."

// Limits on the raw query.
const (
	maxQueryLen  = 64 << 10
	maxParams    = 256
	maxKeyLen    = 256
	maxPathDepth = 8
)

// attrKey is a resolved attribute query key.
type attrKey struct {
	tag  uint32
	vr   string // "" for unknown or private tags
	name string // keyword, or 8 hex digits for tags the dictionary lacks
	seq  bool   // dotted path into a sequence
}

// pendingKey gathers the values of one attribute key, in request order.
type pendingKey struct {
	key    attrKey
	values []string
}

// Parse validates a QIDO-RS search: level and the UIDs fixed by the path
// (studyUID for /studies/{s}/series and /studies/{s}/instances, both for
// /studies/{s}/series/{r}/instances), and the raw (still percent-encoded)
// query string. Client mistakes are returned as *Error; an inconsistent
// level and path (a programming error of the caller) as another error.
func Parse(level index.Level, studyUID, seriesUID string, rawQuery string, opt Options) (*Request, error) {
	switch {
	case level < index.LevelStudy || level > index.LevelInstance:
		return nil, fmt.Errorf("qido: parse: invalid level %d", level)
	case level == index.LevelStudy && (studyUID != "" || seriesUID != ""),
		level == index.LevelSeries && seriesUID != "",
		seriesUID != "" && studyUID == "":
		return nil, fmt.Errorf("qido: parse: path UIDs do not fit a %s search", levelName(level))
	}
	if studyUID != "" && !part10.ValidUID(studyUID) {
		return nil, errorf("invalid study UID in path")
	}
	if seriesUID != "" && !part10.ValidUID(seriesUID) {
		return nil, errorf("invalid series UID in path")
	}
	if len(rawQuery) > maxQueryLen {
		return nil, errorf("query string too long")
	}
	r := newRequest(level, studyUID, seriesUID)
	s, err := r.parseURL(rawQuery)
	if err != nil {
		return nil, err
	}

	// Defaults of the returned levels and the parents' UIDs.
	fields := fieldSet{}
	for _, l := range r.Include.Levels {
		for _, f := range DefaultFields(l) {
			fields.add(f)
		}
	}
	if level >= index.LevelSeries {
		fields.add(Field{tagStudyInstanceUID, "UI"})
	}
	if level == index.LevelInstance {
		fields.add(Field{tagSeriesInstanceUID, "UI"})
	}
	if err := r.build(s, fields, opt); err != nil {
		return nil, err
	}
	return r, nil
}

// newRequest starts the Request of a search at level, with the UIDs the
// path fixes.
func newRequest(level index.Level, studyUID, seriesUID string) *Request {
	// Write reads the encoded form of results (index.Query.Encoded).
	r := &Request{Query: index.Query{Level: level, StudyUID: studyUID, SeriesUID: seriesUID, Encoded: true}}
	r.Include.Levels = returnedLevels(&r.Query)
	return r
}

// keyForm is how the values of a search's keys are written.
type keyForm int

const (
	// formURL is a QIDO-RS query parameter: ',' separates the values of
	// CS and UI keys too, and `""` asks for empty value matching.
	formURL keyForm = iota
	// formDataSet is one DICOM value of a C-FIND identifier: only ''
	// separates values, `""` is two quotes, and a key of a level below the
	// query level is ignored when it has no value.
	formDataSet
)

// search is a search as the client gave it, before it is checked against
// the level: its attribute keys with their values in request order, the
// includefield items and the limit asked for.
type search struct {
	form     keyForm
	keys     []*pendingKey
	byTag    map[uint32]*pendingKey
	includes []string
	limit    int // 0: not given; -1: beyond any cap
}

// add records one value of an attribute key; a key given again adds to
// its value list.
func (s *search) add(k attrKey, val string) error {
	if s.byTag == nil {
		s.byTag = map[uint32]*pendingKey{}
	}
	p := s.byTag[k.tag]
	if p == nil {
		p = &pendingKey{key: k}
		s.byTag[k.tag] = p
		s.keys = append(s.keys, p)
	} else if p.key.seq != k.seq {
		return errorf("%s given both as attribute and sequence path", k.name)
	}
	p.values = append(p.values, val)
	return nil
}

// parseURL splits a raw QIDO-RS query string into its attribute keys and
// options; the options other than limit and includefield are applied to r
// at once.
func (r *Request) parseURL(rawQuery string) (*search, error) {
	s := &search{form: formURL}
	var limitSeen, offsetSeen, fuzzSeen bool
	nparams := 0
	for part := range strings.SplitSeq(rawQuery, "&") {
		if part == "" {
			continue
		}
		if nparams++; nparams > maxParams {
			return nil, errorf("too many query parameters")
		}
		rawKey, rawVal, _ := strings.Cut(part, "=")
		if len(rawKey) > maxKeyLen {
			return nil, errorf("query parameter name too long")
		}
		key, err := url.QueryUnescape(rawKey)
		if err != nil {
			return nil, errorf("malformed percent-encoding in a query parameter name")
		}
		val, err := url.QueryUnescape(rawVal)
		if err != nil {
			return nil, errorf("malformed percent-encoding in the value of %s", safeName(key))
		}
		switch opt := strings.ToLower(key); opt {
		case "limit":
			if limitSeen {
				return nil, errorf("limit given more than once")
			}
			limitSeen = true
			n, clamped, err := parseCount("limit", val)
			if err != nil {
				return nil, err
			}
			s.limit = n
			if clamped {
				s.limit = -1 // larger than any cap
			}
		case "offset":
			if offsetSeen {
				return nil, errorf("offset given more than once")
			}
			offsetSeen = true
			n, clamped, err := parseCount("offset", val)
			if err != nil {
				return nil, err
			}
			if clamped {
				return nil, errorf("offset out of range")
			}
			r.Query.Offset = n
		case "fuzzymatching":
			if fuzzSeen {
				return nil, errorf("fuzzymatching given more than once")
			}
			fuzzSeen = true
			b, err := parseBool(opt, val)
			if err != nil {
				return nil, err
			}
			r.Query.Fuzzy = b
		case "emptyvaluematching":
			b, err := parseBool(opt, val)
			if err != nil {
				return nil, err
			}
			if b {
				r.warn("The emptyvaluematching parameter is not supported. Empty Value Matching has not been performed.")
			}
		case "multiplevaluematching":
			// Value lists are always matched as "any value matches".
			if _, err := parseBool(opt, val); err != nil {
				return nil, err
			}
		case "includefield":
			items := strings.Split(val, ",")
			if len(s.includes)+len(items) > maxListValues {
				return nil, errorf("too many includefield values")
			}
			s.includes = append(s.includes, items...)
		case "accept":
			r.Accept = append(r.Accept, val)
		case "charset":
			r.Charset = append(r.Charset, val)
		default:
			k, err := resolveKey(key)
			if err != nil {
				return nil, err
			}
			if err := s.add(k, val); err != nil {
				return nil, err
			}
		}
	}
	return s, nil
}

// build is what both forms of a search share: it applies the limit,
// checks each key against the level and turns its values into filters,
// and sets the returned fields: those in fields (returned whatever the
// keys), the keys and the includefield attributes.
func (r *Request) build(s *search, fields fieldSet, opt Options) error {
	// Limit: the client's, clamped to the server's cap.
	limit := s.limit
	switch {
	case limit != 0:
		if opt.MaxLimit > 0 && (limit < 0 || limit > opt.MaxLimit) {
			r.warn(fmt.Sprintf("The limit was reduced to the server maximum of %d.", opt.MaxLimit))
			limit = opt.MaxLimit
		} else if limit < 0 {
			return errorf("limit out of range")
		}
		r.Query.Limit = limit
	case opt.DefaultLimit > 0 && (opt.MaxLimit <= 0 || opt.DefaultLimit <= opt.MaxLimit):
		r.Query.Limit = opt.DefaultLimit
	case opt.MaxLimit > 0:
		r.Query.Limit = opt.MaxLimit
		r.ServerLimited = true
	}

	for _, p := range s.keys {
		if err := r.addKey(p, fields, s.form); err != nil {
			return err
		}
	}
	for _, item := range s.includes {
		if err := r.addInclude(strings.TrimSpace(item), fields); err != nil {
			return err
		}
	}
	r.Include.Fields = fields.sorted()
	return nil
}

func (r *Request) warn(msg string) {
	for _, w := range r.Warnings {
		if w == msg {
			return
		}
	}
	r.Warnings = append(r.Warnings, msg)
}

// addKey checks one attribute key against the level and turns its values
// into a filter; the attribute is returned in any case (but for a key of a
// lower level without a value in the data set form, which is ignored).
func (r *Request) addKey(p *pendingKey, fields fieldSet, form keyForm) error {
	k := p.key
	level := r.Query.Level
	if kl := LevelOf(k.tag); kl > level && !anyLevel[k.tag] {
		switch {
		case form == formDataSet:
			if universal(p.values) {
				return nil
			}
			return errorf("%s is not a %s-level attribute", k.name, levelName(level))
		case level == index.LevelStudy && k.tag == tagModality && !k.seq:
			r.warn("Modality is not a study attribute; it was matched against ModalitiesInStudy.")
			k = attrKey{tag: tagModalitiesInStudy, vr: "CS", name: "ModalitiesInStudy"}
		case level == index.LevelStudy && k.tag == tagSOPClassUID && !k.seq:
			r.warn("SOPClassUID is not a study attribute; it was matched against SOPClassesInStudy.")
			k = attrKey{tag: tagSOPClassesInStudy, vr: "UI", name: "SOPClassesInStudy"}
		default:
			return errorf("%s is not a %s-level attribute", k.name, levelName(level))
		}
	}
	fields.add(Field{k.tag, k.vr})

	var vals []string
	for _, v := range p.values {
		if v == `""` && form == formURL {
			r.warn("Empty Value Matching is not supported; the attribute was returned but not matched.")
			continue
		}
		if v != "" {
			vals = append(vals, v)
		}
	}
	if len(vals) == 0 {
		return nil
	}
	if k.seq {
		return errorf("matching inside sequences is not supported (%s)", k.name)
	}
	var merged *index.Filter
	for _, v := range vals {
		f, err := buildFilter(k.tag, k.vr, k.name, v, form)
		if err != nil {
			return err
		}
		if len(vals) == 1 {
			if f != nil {
				r.Query.Filters = append(r.Query.Filters, *f)
			}
			return nil
		}
		if f == nil { // universal matching ORed with anything matches all
			return nil
		}
		if f.Kind != index.MatchSingle && f.Kind != index.MatchList {
			return errorf("%s given more than once with a wildcard or range", k.name)
		}
		if merged == nil {
			merged = f
			continue
		}
		if len(merged.Values)+len(f.Values) > maxListValues {
			return errorf("too many values for %s", k.name)
		}
		merged = listFilter(merged, append(merged.Values, f.Values...))
	}
	r.Query.Filters = append(r.Query.Filters, *merged)
	return nil
}

// addInclude adds one includefield item.
func (r *Request) addInclude(item string, fields fieldSet) error {
	switch {
	case item == "":
		return nil
	case strings.EqualFold(item, "all"):
		r.Include.All = true
		return nil
	}
	k, err := resolveKey(item)
	if err != nil {
		return err
	}
	if r.Query.Level == index.LevelStudy && !k.seq {
		// OHIF asks for Modality in its study list: the study-level
		// equivalents are returned anyway.
		switch k.tag {
		case tagModality:
			k = attrKey{tag: tagModalitiesInStudy, vr: "CS", name: "ModalitiesInStudy"}
		case tagSOPClassUID:
			k = attrKey{tag: tagSOPClassesInStudy, vr: "UI", name: "SOPClassesInStudy"}
		}
	}
	if LevelOf(k.tag) > r.Query.Level && !anyLevel[k.tag] {
		r.warn(fmt.Sprintf("includefield %s was ignored: not a %s-level attribute.", k.name, levelName(r.Query.Level)))
		return nil
	}
	fields.add(Field{k.tag, k.vr})
	return nil
}

// resolveKey resolves an attribute key: a keyword, 8 hex digits, or a
// dotted path of those into a sequence (resolved to its top-level
// sequence).
func resolveKey(key string) (attrKey, error) {
	parts := strings.Split(key, ".")
	if len(parts) > maxPathDepth {
		return attrKey{}, errorf("sequence path too deep")
	}
	var top attrKey
	for i, p := range parts {
		k, err := resolveOne(p)
		if err != nil {
			return attrKey{}, err
		}
		if i < len(parts)-1 && k.vr != "SQ" {
			return attrKey{}, errorf("%s is not a sequence", k.name)
		}
		if i == 0 {
			top = k
		}
	}
	top.seq = len(parts) > 1
	return top, nil
}

// resolveOne resolves a keyword or an 8 hex digit tag.
func resolveOne(s string) (attrKey, error) {
	if len(s) == 8 && isHex(s) {
		v, _ := strconv.ParseUint(s, 16, 32)
		t := uint32(v)
		if t>>16 == 0xFFFE || t>>16 == 0x0000 {
			return attrKey{}, errorf("%s is not a data set attribute", strings.ToUpper(s))
		}
		k := attrKey{tag: t, name: strings.ToUpper(s)}
		if kw := part10.Keyword(part10.Tag(t)); kw != "" && isKeyword(kw) {
			k.vr = dictVR(t)
			k.name = kw
		}
		return k, nil
	}
	if !isKeyword(s) {
		return attrKey{}, errorf("unknown query parameter %s", safeName(s))
	}
	t, ok := part10.TagForKeyword(s) // cached: the dictionary search is slow
	if !ok || dictVR(uint32(t)) == "" {
		return attrKey{}, errorf("unknown attribute keyword %s", s)
	}
	return attrKey{tag: uint32(t), vr: dictVR(uint32(t)), name: s}, nil
}

// dictVR is the dictionary VR of a public attribute, "" when it has none.
func dictVR(t uint32) string {
	vr := part10.DictionaryVR(part10.Tag(t))
	if vr == "UN" {
		return ""
	}
	return vr
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// isKeyword reports whether s looks like a PS3.6 keyword (letters and
// digits, starting with a letter, at most 64 characters).
func isKeyword(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// safeName returns s for messages when it is a harmless keyword-like name,
// else nothing that came from the request.
func safeName(s string) string {
	if isKeyword(s) || (len(s) == 8 && isHex(s)) {
		return s
	}
	return "(not shown)"
}

// parseCount parses limit or offset: a non-negative decimal integer.
// Numbers too large for an int report clamped instead of an error.
func parseCount(name, v string) (n int, clamped bool, err error) {
	v = strings.TrimSpace(v)
	if v == "" || !isDigits(v) {
		return 0, false, errorf("%s must be a non-negative integer", name)
	}
	n64, err := strconv.ParseInt(v, 10, 0)
	if errors.Is(err, strconv.ErrRange) {
		return 0, true, nil
	}
	if err != nil {
		return 0, false, errorf("%s must be a non-negative integer", name)
	}
	return int(n64), false, nil
}

func parseBool(name, v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, errorf("%s must be true or false", name)
}
