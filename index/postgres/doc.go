// Package postgres is the PostgreSQL engine of the metadata index
// (index.Engine), for several minipacs nodes sharing one object store and
// one database (`minipacs serve --index-url postgres://…`). It answers
// exactly as the embedded bbolt index does: the same validation
// (index.Prepare), the same matching (index.Matcher), the same result
// order and errors; index/indextest's conformance suite and differential
// test run both engines.
//
// # Writes
//
// PutMany runs one transaction (READ COMMITTED) for its instances: a STOW
// request or a C-STORE group costs one commit. Uniqueness is the
// database's: primary keys on the SOP, series and study UIDs and on
// (PatientID, IssuerOfPatientID), a unique object key. Each instance is
// checked (one statement: the instance, its series' owner, the owner of
// its object key), then inserted with its patient, study and series in one
// statement whose inserts are ON CONFLICT DO NOTHING: two nodes putting
// the same instance at once end with one row, the later one waiting for
// the earlier's commit and then seeing it as Existed. The members of a
// transaction are put in one global order (patient, study, series,
// instance), so transactions of different nodes wait for each other in
// the same order and do not deadlock. Serialization failures, deadlocks, a
// row removed by another node between check and insert (foreign key or
// unique violation) and connections lost before the commit are retried
// inside the engine (up to 8 times, with jittered backoff).
//
// There are no counter rows (which every node would contend on): study
// and series counts, ModalitiesInStudy and SOPClassesInStudy are computed
// in the search statement from the series and instance indexes, Stats
// counts rows.
//
// # Reads
//
// Search reads candidate studies in pages in result order, one statement
// per page (keyset pagination on the sort key and UID, never OFFSET), with
// their series and instances for lower-level queries (one statement per
// level per page): no statement per study. The filters that an index can
// serve are pushed down to SQL: StudyInstanceUID, SeriesInstanceUID and
// SOPInstanceUID lists, PatientID and AccessionNumber (exact, list, LIKE
// prefix: B-tree in C collation), StudyDate (single, list, range on the
// normalised date), Modality / ModalitiesInStudy (series index),
// PatientName (normalised name groups: GIN array index for exact values;
// pg_trgm on the joined groups for wildcards and fuzzy matching). They
// only narrow the candidates: every candidate is checked by
// index.Matcher, so pushing down never changes an answer. pgx prepares and
// caches each statement text, so a query shape is planned once per
// connection.
//
// Metadata reads the instance list in Refs order, then the metadata in
// batches of 64 instances; ForEachObject and ForEachInstance read in
// keyset batches of 1000; callbacks run between queries.
//
// # Availability
//
// Connection failures, a server shutting down or starting, and a
// read-only server (a standby: the multi-host URL with
// target_session_attrs=read-write connects to the primary only) are
// ErrUnavailable (kind Unavailable: HTTP 503 with Retry-After, DIMSE
// 0xA700). The pool checks its connections every 5 s and drops broken
// ones, so a node finds the promoted standby by itself after a failover.
//
// # Object claims
//
// Objects are named by their content, so nodes storing the same instance
// write the same object key. Before it writes an object, a node claims
// its key (object_claims); the claim ends after the index commit or the
// abort. A removal of an unreferenced object (an aborted upload, a
// replaced or deleted instance, recovery after a crash) first checks,
// under a transaction-scoped advisory lock on the key, that no instance
// references the key and no node claims it, and marks the removal; a
// claim of that key waits until the removal is done. Claims of a node that
// died expire after an hour, removal marks after ten minutes.
//
// # Schema
//
// Migrations (schema.go) are numbered and never change once released;
// Open runs the missing ones at start, each in its own transaction under
// an advisory lock (nodes starting together migrate once), and refuses a
// database whose schema is newer than the binary. Text columns use the C
// collation (bytewise order, as bbolt). Version 1:
//
//	schema_version  version — the schema's version
//	patients        (patient_id, issuer) PK, attrs: group 0010 of the
//	                first study (packed attr list, index.PackAttrs)
//	studies         uid PK, (patient_id, issuer) → patients, demo
//	                (demographics, for PatientMismatch), sort_key
//	                (StudyDate YYYYMMDD + StudyTime HHMMSS.ffffff, result
//	                order with uid), study_date (normalised, NULL when
//	                invalid), pid_key and accession (trimmed), names
//	                (normalised PatientName groups), names_text ('|' +
//	                groups joined by '|' + '|', for pg_trgm), attrs
//	                (packed), created, patient_version (Unix ns of the last
//	                patient record change; NULL when the patient
//	                attributes are the objects' own: bbolt's x_padt)
//	                indexes: (sort_key DESC, uid DESC), (patient_id,
//	                issuer), pid_key, accession, study_date, GIN names,
//	                GIN names_text gin_trgm_ops
//	series          uid PK, study_uid → studies, number, modality,
//	                attrs; indexes (study_uid, number, uid),
//	                (modality, study_uid)
//	instances       sop_uid PK, study_uid, series_uid → series, sop_class,
//	                tsuid, sha256, object_key UNIQUE, size, stored,
//	                number, layout, attrs (packed), metadata (packed DICOM
//	                JSON: an S2 block with the built-in JSON dictionary,
//	                index.UnpackMetadata); indexes (series_uid, number,
//	                sop_uid), (study_uid, sop_class)
//	object_claims   (key, claim) PK, deleting, expires — claims of object
//	                keys (see above)
//	turns           name PK, completed — the last completion of a job that
//	                one node runs for all (the background scrub); the turn
//	                itself is a session advisory lock (TakeTurn)
//	records         (kind, key bytea) PK, value — the records of
//	                index.RecordKind (HL7 orders, reports, journal, patient
//	                records, share links), opaque to the index
package postgres
