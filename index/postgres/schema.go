package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// migrations are the schema versions, in order: migrations[i] brings the
// schema from version i to i+1. A released migration never changes; a
// new one is appended. Open runs the missing ones under an advisory lock,
// each in its own transaction with the version bump, so nodes starting
// together migrate once.
var migrations = []string{
	// 1: the first schema (doc.go).
	`
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE patients (
	patient_id text COLLATE "C" NOT NULL,
	issuer     text COLLATE "C" NOT NULL,
	attrs      bytea NOT NULL,
	PRIMARY KEY (patient_id, issuer)
);

CREATE TABLE studies (
	uid             text COLLATE "C" PRIMARY KEY,
	patient_id      text COLLATE "C" NOT NULL,
	issuer          text COLLATE "C" NOT NULL,
	demo            bytea NOT NULL,
	sort_key        text COLLATE "C" NOT NULL,
	study_date      text COLLATE "C",
	pid_key         text COLLATE "C" NOT NULL,
	accession       text COLLATE "C" NOT NULL,
	description     text COLLATE "C" NOT NULL,
	names           text[] COLLATE "C" NOT NULL,
	names_text      text COLLATE "C" NOT NULL,
	attrs           bytea NOT NULL,
	created         timestamptz NOT NULL,
	patient_version bigint,
	FOREIGN KEY (patient_id, issuer) REFERENCES patients
);
CREATE INDEX studies_order ON studies (sort_key DESC, uid DESC);
CREATE INDEX studies_patient ON studies (patient_id, issuer);
CREATE INDEX studies_pid ON studies (pid_key);
CREATE INDEX studies_accession ON studies (accession);
CREATE INDEX studies_date ON studies (study_date);
CREATE INDEX studies_pid_trgm ON studies USING gin (pid_key gin_trgm_ops);
CREATE INDEX studies_accession_trgm ON studies USING gin (accession gin_trgm_ops);
CREATE INDEX studies_description_trgm ON studies USING gin (description gin_trgm_ops);
CREATE INDEX studies_names ON studies USING gin (names);
CREATE INDEX studies_names_trgm ON studies USING gin (names_text gin_trgm_ops);

CREATE TABLE series (
	uid       text COLLATE "C" PRIMARY KEY,
	study_uid text COLLATE "C" NOT NULL REFERENCES studies,
	number    bigint,
	modality  text COLLATE "C" NOT NULL,
	attrs     bytea NOT NULL
);
CREATE INDEX series_study ON series (study_uid, number, uid);
CREATE INDEX series_modality ON series (modality, study_uid);

CREATE TABLE instances (
	sop_uid    text COLLATE "C" PRIMARY KEY,
	study_uid  text COLLATE "C" NOT NULL,
	series_uid text COLLATE "C" NOT NULL REFERENCES series,
	sop_class  text COLLATE "C" NOT NULL,
	tsuid      text COLLATE "C" NOT NULL,
	sha256     bytea NOT NULL,
	object_key text COLLATE "C" NOT NULL UNIQUE,
	size       bigint NOT NULL,
	stored     timestamptz NOT NULL,
	number     bigint,
	layout     bytea NOT NULL,
	attrs      bytea NOT NULL,
	metadata   bytea NOT NULL
);
CREATE INDEX instances_series ON instances (series_uid, number, sop_uid);
CREATE INDEX instances_study ON instances (study_uid, sop_class);

CREATE TABLE object_claims (
	key      text COLLATE "C" NOT NULL,
	claim    text COLLATE "C" NOT NULL,
	deleting boolean NOT NULL,
	expires  timestamptz NOT NULL,
	PRIMARY KEY (key, claim)
);

CREATE TABLE turns (
	name      text COLLATE "C" PRIMARY KEY,
	completed timestamptz NOT NULL
);

CREATE TABLE records (
	kind  text COLLATE "C" NOT NULL,
	key   bytea NOT NULL,
	value bytea NOT NULL,
	PRIMARY KEY (kind, key)
);
`,
}

// migrateLock is the advisory lock key of migrations ("minipacs" in
// ASCII).
const migrateLock = 0x6d696e6970616373

// migrate brings the schema to len(migrations).
func (ix *Index) migrate(ctx context.Context) error {
	conn, err := ix.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", int64(migrateLock)); err != nil {
		return err
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", int64(migrateLock))
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version int NOT NULL)`); err != nil {
		return err
	}
	var v int
	err = conn.QueryRow(ctx, "SELECT version FROM schema_version").Scan(&v)
	switch {
	case err == pgx.ErrNoRows:
		if _, err := conn.Exec(ctx, "INSERT INTO schema_version VALUES (0)"); err != nil {
			return err
		}
	case err != nil:
		return err
	}
	if v > len(migrations) {
		return fmt.Errorf("schema version %d is newer than this minipacs knows (%d): upgrade minipacs", v, len(migrations))
	}
	for ; v < len(migrations); v++ {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, migrations[v]); err != nil {
				return fmt.Errorf("migration %d: %w", v+1, err)
			}
			_, err := tx.Exec(ctx, "UPDATE schema_version SET version = $1", v+1)
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// SchemaVersion is the schema version this package writes.
func SchemaVersion() int { return len(migrations) }
