// Package query is the archive's search service: levels, matching rules,
// return fields and the default attribute tables, turned into index
// queries. QIDO-RS (PS3.18 §10.6) and C-FIND (PS3.4 C.4.1) call it; the
// FHIR searches are to call the same rules. Parse turns QIDO-RS search
// requests into index queries and writes the DICOM JSON answer for each
// match; FromKeys does the same for a query given as a data set (a C-FIND
// identifier's keys), with the same matching (see FromKeys for what a
// DICOM value changes: only '\' separates values, no `""`, keys of lower
// levels, the returned fields). Both parse their input and hand it to one
// builder that checks the keys against the level and makes the filters.
//
// It knows nothing of HTTP: Parse takes the query level, the UIDs fixed by
// the path and the raw query string, and returns a Request (the validated
// index.Query, the attributes to return and any warnings) or an *Error,
// which the web layer maps to 400. Error messages never contain request
// input beyond a validated keyword or tag, so no patient data can leak into
// an error body or a log. Write and ArrayWriter stream the answer one
// result at a time.
//
// # Query parameters
//
// The raw query string is split on '&', then on the first '=', and each
// half is percent-decoded with url.QueryUnescape ('+' is a space, so a '+'
// in a value must be sent as %2B). Keys are attribute keywords
// (PatientName, case-sensitive as in PS3.6) or 8 hex digit tags
// (00100010), or the options includefield, limit, offset, fuzzymatching,
// emptyvaluematching, multiplevaluematching, accept and charset (option
// names are case-insensitive).
//
// Matching (PS3.4 C.2.2.2), decided per value and VR:
//   - empty value, or a value of only '*': universal matching; the attribute
//     is returned but does not filter;
//   - UI: one UID (single value matching) or a list separated by ',' or '\'
//     (list of UID matching); every UID is validated (1-64 characters,
//     digits and dots, no empty component; leading zeros accepted);
//   - DA, TM, DT: "a-b", "-b", "a-" range matching, or a single value; values
//     are validated (DA YYYYMMDD; TM HH[MM[SS[.F{1,6}]]]; DT
//     YYYY[MM[DD[HH[MM[SS[.F{1,6}]]]]]][&ZZXX]) and a reversed range is an
//     error. A DT value is read as a single value with a UTC offset when it
//     parses as one ("20240101120000-0500"), else as a range;
//   - AE, CS, LO, PN, SH, UC: '*' and '?' give wildcard matching; '\'
//     separates a value list (any value matches: multiple value matching);
//     for CS, whose values cannot contain ',', a ',' separates the list too.
//     Commas are literal in every other VR (a LO or PN value may contain
//     one). Wildcards inside a value list are refused;
//   - LT, ST, UT, UR: single or wildcard matching; '\' is a literal
//     character of these single-valued VRs;
//   - numbers (IS, DS, US, SS, UL, SL, FL, FD, SV, UV), AT and AS: single
//     value or '\' list, each value validated; no wildcards;
//   - SQ and binary VRs: return key only; a value is refused.
//
// A key given more than once is one value list (its values are ORed);
// repeating a wildcard or range key is refused. Different keys are ANDed.
// Dotted sequence paths (00400275.00401001) are accepted as return keys
// (the whole top-level sequence is returned); matching inside sequences is
// refused with 400.
//
// Levels: a key must belong to the target level or a level above it
// (LevelOf). Keys of the levels above are accepted even when the path fixes
// that level. At study level two lower-level keys are translated, with a
// warning: Modality matches ModalitiesInStudy and SOPClassUID matches
// SOPClassesInStudy. includefield of a lower-level attribute is dropped
// with a warning, except that at study level includefield Modality and
// SOPClassUID stand for ModalitiesInStudy and SOPClassesInStudy, silently
// (OHIF's study list asks for Modality).
//
// limit: a non-negative integer; 0 means "not given"; values above
// Options.MaxLimit are clamped with a warning. offset: a non-negative
// integer. fuzzymatching, emptyvaluematching, multiplevaluematching: true
// or false. emptyvaluematching=true (and a value of "") is not supported
// and gives a warning; multiple value matching is always applied.
//
// # Returned attributes
//
// Each answer holds the default attributes of the target level (PS3.18
// §10.6.3, tables 10.6.3-3 to -5), those of every level above it that the
// path does not fix, every matching key, every includefield attribute (all
// attributes the index holds at those levels for includefield=all), and
// always the UIDs of the parent entities (StudyInstanceUID in series and
// instance answers, SeriesInstanceUID in instance answers) so that a client
// can address the entity. RetrieveURL (0008,1190) is the URL of the target
// entity and InstanceAvailability (0008,0056) is always ONLINE. A
// requested attribute the entity does not have is written without a value
// ({"vr":"LO"}), as C-FIND returns a zero-length return key; unknown
// (private) tags without a value are left out.
package query
