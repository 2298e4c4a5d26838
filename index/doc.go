// Package index is the metadata index of minipacs: an embedded bbolt
// database that knows every stored instance, its place in the
// study/series/instance hierarchy, its QIDO-RS attributes and its DICOM JSON
// metadata. The objects themselves live in the object store (package
// storage); the index only records their keys, so it can be rebuilt from the
// objects.
//
// Engine (engine.go) is the index as the archive uses it; *Index, the
// bbolt engine, is the default, and package index/postgres is the
// PostgreSQL engine for several nodes. engine.go also exports what the
// engines share so that they answer alike: validation and derived values
// (Prepare), packed attribute lists and metadata, the matcher of QIDO
// filters, computed attributes, patient updates and overlays. Package
// index/indextest runs one conformance suite and a differential test on
// any engine.
//
// # Writes
//
// Put uses group commit: concurrent Put calls are queued to one committer
// goroutine, which applies every queued request (up to 256 instances or
// 8 MiB) in one read-write transaction, hence one fsync for the group. There
// is no artificial delay: the committer takes whatever is queued when the
// previous commit finishes. Each request is validated (every read and check)
// before its first write, so a rejected instance (ErrConflict, bad input)
// does not touch the transaction; if the transaction itself fails, the
// members are retried one transaction each. Put returns after its group is
// durably committed. The encoding of records and index keys is done by the
// calling goroutine before queueing, so the committer only does bbolt work.
//
// Delete runs in its own transaction and returns the object keys that the
// caller deletes from the object store after the index commit.
//
// # Reads
//
// bbolt values are only valid inside their transaction: every read method
// copies what it returns. Metadata and ForEachObject call their callback
// outside any transaction, in batches, so a slow consumer never holds a read
// transaction open (which would stall the writer when the file grows).
// Search collects its (copied) results in batches of about 64, each in a
// read transaction, and calls its callback between them; the next batch
// resumes after the last study evaluated (a date index key or a candidate
// in result order). Candidates from a secondary index are kept in a
// bounded top-K heap (candset.go), rescanned in rounds when too few match,
// so a search's memory does not grow with the index.
//
// # Invariants
//
//   - Study, series and patient records exist exactly while they have at
//     least one instance (resp. study). Counts in them and in the meta
//     bucket are maintained in the same transaction as the change.
//   - A study keeps the patient and study attributes of its first instance;
//     a later instance with other patient identity or demographics is stored
//     and reported with PutResult.PatientMismatch.
//   - A study's attributes never change while it exists, so the sort key
//     stored in its secondary index entries never goes stale.
//   - UIDs never contain NUL (Put rejects them), so "\x00" separates the
//     parts of composite keys and the study UID of an index key is the part
//     after its last NUL.
//
// # Buckets
//
// All buckets are top-level. "\x00" is a NUL byte; "|" in the value
// descriptions only separates fields (no byte). Strings inside records are
// uvarint-length-prefixed ("str"); integers are uvarints ("uv") or zig-zag
// varints ("sv"); every record starts with a format version byte: 1, or
// for instance, study, series and patient records written since schema 3,
// 2, which differs only in that the record's attr list field is packed
// ("packed attrs" below). Both versions are read.
//
// Page fill: bbolt splits pages at Bucket.FillPercent of a page, which is
// not persisted. Each write transaction sets 0.9 on the buckets whose new
// keys have mostly been appended after recently written ones (ascending
// keys, or ascending streams interleaved), else bbolt's default 0.5,
// which leaves pages about 69% full under random keys where 0.9 leaves
// them 36-40% full; see fill.go.
//
//	meta       "schema" -> decimal schema version ("3"); Open refuses others
//	           with ErrSchema, except schema 2 (all records of version 1),
//	           which it reads as is and marks "3". Schema 1 (before
//	           metadata compression) has no migration: move the file aside
//	           and rebuild the index from the objects with
//	           `minipacs reindex`.
//	           "studies", "series", "instances" -> 8-byte big-endian counts
//
//	instances  SOPInstanceUID ->
//	           v | str StudyUID | str SeriesUID | str SOPClassUID |
//	           str TransferSyntaxUID | 32-byte SHA-256 | objkey |
//	           uv Size | sv Stored (Unix ns) |
//	           byte hasInstanceNumber | sv InstanceNumber |
//	           str Layout | str instance-level attrs (packed attrs)
//	           (the SOPInstanceUID is the key only). objkey is the
//	           ObjectKey with the lowercase hex SHA-256 cut out when it
//	           contains it: uv position of the hash + 1 | str the rest; or
//	           uv 0 | str ObjectKey.
//
//	hier       StudyUID \x00 SeriesUID \x00 order(8) SOPInstanceUID -> ""
//	           order is InstanceNumber as a sortable big-endian int64 (sign
//	           bit flipped; missing number = max), so a prefix scan of
//	           "study\x00series\x00" lists a series in instance order, ties
//	           broken by SOP UID.
//
//	series     StudyUID \x00 SeriesUID ->
//	           v | byte hasSeriesNumber | sv SeriesNumber | str Modality |
//	           uv NumberOfSeriesRelatedInstances | str series attrs (packed
//	           attrs) (prefix "study\x00" lists the series of a study)
//
//	seriesuid  SeriesUID -> StudyUID (finds a series without its study)
//
//	studies    StudyUID ->
//	           v | str PatientID | str IssuerOfPatientID | str demographics
//	           (encoded PatientID, Issuer, PatientName, BirthDate, Sex values,
//	           compared bytewise to detect patient mismatches) |
//	           sortkey(21) | uv series count | uv instance count |
//	           uv n | n × (str Modality | uv series with it) |
//	           uv n | n × (str SOPClassUID | uv instances of it) |
//	           sv created (Unix ns) | str study attrs (packed attrs)
//
//	patients   PatientID \x00 IssuerOfPatientID ->
//	           v | uv number of studies | str patient attrs (packed attrs:
//	           group 0010 of the first study)
//
//	metadata   SOPInstanceUID -> kind byte | payload (kept apart so that
//	           searching never loads it):
//	           0: the instance's DICOM JSON object as given (objects shorter
//	           than 16 bytes, or when compression would not make it shorter)
//	           1: an S2 block (github.com/klauspost/compress/s2, block
//	           format with dictionary) of the object, encoded with the
//	           dictionary of its series in mdict
//	           2: an S2 block of the object encoded with the built-in JSON
//	           dictionary (dicts/json.v1): the first instance of a series
//	           (since schema 3)
//	           Metadata returns the object byte for byte as given to Put.
//
//	mdict      StudyUID \x00 SeriesUID -> v | S2 block (no dictionary) of
//	           the series' dictionary template: the first (at most 65,536)
//	           bytes of the metadata of the instance that created the
//	           series' dictionary: since schema 3 the first instance with
//	           at least 16 bytes of metadata stored while the series
//	           already had an instance (so a one-instance series has no
//	           dictionary); in schema 2 files also the series' first
//	           instance. The template is used as an S2 dictionary
//	           with repeat offset 0 (s2.MakeDict(template, nil)). It never
//	           changes while the series exists (deleting that instance keeps
//	           it) and is deleted with the series. Most of a series' JSON is
//	           the same in every instance, so an instance's value holds
//	           little more than its own UIDs and numbers.
//
//	objects    ObjectKey -> SOPInstanceUID (crash recovery, gc)
//
//	x_padt     StudyUID -> sv time (Unix ns) of the last change: the
//	           study's patient attributes come from a patient record (HL7
//	           ADT: UpdatePatient, or Instance.PatientFromRecord at Put),
//	           not from its objects; Metadata gives the study record's
//	           group 0010 attributes in place of each object's, and
//	           PatientVersion the time for ETags
//
// Records (record.go): what the hospital's systems told the archive, not
// derived from stored objects, so `minipacs reindex` copies them from the
// index it replaces (CopyRecords). Values are opaque to the index (JSON
// written by their archive service):
//
//	r_order    order key (dicomweb/archive/worklist: placer order number
//	           \x00 scheduled procedure step ID) -> JSON worklist.Order
//	r_report   report key -> JSON report
//	r_journal  HL7 sending application^facility \x00 message control ID
//	           -> the acknowledgement sent (duplicate messages are answered
//	           with it, not applied again)
//	r_patient  PatientID \x00 IssuerOfPatientID -> JSON patient.Record
//	           (dicomweb/archive/patient: demographics from HL7 ADT, the
//	           record it was merged into, the history of earlier values)
//	r_share    share id (22 characters base64url, 128 random bits) -> JSON
//	           share.Record (dicomweb/security/share: study, creator,
//	           created, expires, revoked, and the SHA-256 of the link's
//	           secret, never the secret)
//	r_grant    break-glass grant id -> JSON breakglass.Grant
//	           (dicomweb/security/breakglass), written only when nodes
//	           share the index (PostgreSQL): every node reads them, so a
//	           grant made through one node opens the patient on all
//
// Secondary study indexes (value = the study's 21-byte sort key, so that
// candidates can be ordered without loading study records):
//
//	x_date     StudyDate(8) StudyTime(13) StudyUID -> "" — every study, also
//	           those without a date ("00000000"); reverse order is the
//	           result order, so an unfiltered search stops after Limit
//	x_pid      PatientID \x00 StudyUID -> sortkey
//	x_acc      AccessionNumber \x00 StudyUID -> sortkey
//	x_pn       normalised name group \x00 StudyUID -> sortkey, one entry per
//	           distinct Alphabetic, Ideographic and Phonetic group
//	x_pnc      normalised name component \x00 StudyUID -> sortkey (fuzzy
//	           matching); components are split at '^' and spaces
//	x_mod      Modality \x00 StudyUID -> sortkey (ModalitiesInStudy)
//
// Index values are the attribute values trimmed as for matching (leading
// and trailing spaces for CS/SH/LO/...); index keys longer than 1024 bytes
// are truncated, which only widens candidate sets (every filter is applied
// to every candidate).
//
// The sort key is StudyDate as YYYYMMDD ("00000000" when missing or
// invalid) followed by StudyTime normalised to "HHMMSS.ffffff".
//
// Packed attrs (records of version 2): a kind byte, then 0: the attr list
// as is; 1: an S2 block of the attr list encoded with the built-in
// dictionary dicts/attrs.v1 (see packed.go and dicts/README.md), used
// when shorter. Both dictionaries are fixed forever: a new one would be a
// new kind.
//
// An attr list ("attrs" above) is: uv count, then per attribute, in tag
// order: tag (4 bytes big-endian) | VR (2 bytes) | uv length of the rest |
// uv number of values | values (str each) | str DICOM JSON. The length
// lets matching skip attributes without decoding them.
//
// Patient names are normalised for indexing and matching: split into
// groups at '=', decomposed (NFD), Latin/Greek/Cyrillic combining accents
// removed (kana voicing marks and the like are kept), recomposed (NFC),
// upper-cased,
// spaces around components trimmed, trailing empty components removed.
//
// # Search
//
// Studies are planned from the most selective usable index: the study UID
// of the path or a StudyInstanceUID list, then (series/instance queries)
// SOPInstanceUID or SeriesInstanceUID lists, PatientID, AccessionNumber,
// PatientName (exact, 'ABC*' prefix or fuzzy), StudyDate, PatientName with
// other wildcards (scanning x_pn keys only), Modality/ModalitiesInStudy,
// and finally x_date in reverse. All filters are then applied to every
// candidate, except that at study level a filter is not re-checked on a
// candidate whose index entry already proves it: a PN exact or 'ABC*' key
// (whole normalised group in x_pn, not truncated), a PatientID or
// AccessionNumber exact, prefix or key-scan match, and a StudyDate single,
// list or range match from x_date when the study has a valid date. Series
// and instance queries descend from the candidate studies through the
// series and hier buckets.
//
// Candidates from a secondary index come in key order, not result order:
// they are read through a bounded top-K heap (candset.go: the first
// Offset+64 in result order, at most 8192), and the index is rescanned for
// the next ones, after the last evaluated, when those did not fill the
// page; so a search's memory is bounded by its batch, not by the index.
//
// Results are copied out of the transaction into a per-search arena
// (arena.go) in a few chunked allocations, reused from batch to batch when
// Query.Reuse says the caller does not keep them. A Query.Encoded search copies
// each level's attr list entries verbatim, computed attributes merged in,
// instead of building []Attr; Result.Reader reads them in tag order
// without decoding values.
//
// Files: search.go runs a search batch by batch; plan.go picks the index
// and reads its candidates; scan.go walks the date index and evaluates each
// candidate study, its series and instances; emit.go builds the computed
// attributes and copies the results out.
//
// Result order: studies by StudyDate, StudyTime, StudyInstanceUID, all
// descending (newest first); series by SeriesNumber (missing last) then
// SeriesInstanceUID; instances by InstanceNumber (missing last) then
// SOPInstanceUID.
package index
