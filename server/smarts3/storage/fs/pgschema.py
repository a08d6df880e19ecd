"""The PostgreSQL schema: the tables of db.py in PostgreSQL types, applied at start under an advisory lock.

Migrations are a plain list of versioned DDL steps recorded in `smarts3_schema`, applied by
whichever replica starts first while the others wait on the lock. A migration library (e.g.
yoyo-migrations) would add a dependency, its own tables and a second connection path for
what is, so far, one step; the list keeps the upgrade in the transaction that checks it.

Differences from the SQLite schema: keys are `bytea` (ordered bytewise, like SQLite's BLOB,
which is S3's UTF-8 binary order); text that is ordered or compared (bucket names, upload ids)
uses the "C" collation so order never depends on the cluster's locale; the `versions`
primary key ascends (PostgreSQL scans a B-tree backwards as cheaply). Usage counters are kept
by triggers as in SQLite, but sharded per backend: every write of a bucket updating one
counter row would make concurrent writers of a bucket wait for each other's commit.
"""

from __future__ import annotations

import psycopg

# pg_advisory_lock keys (64-bit): schema migration, and the one replica that sweeps orphans.
SCHEMA_LOCK = 0x736D61727473_0001
SWEEP_LOCK = 0x736D61727473_0002
MULTIPART_LOCK = 0x736D61727473_0003  # held for as long as a replica runs the multipart/lifecycle sweeper

_V1 = """
CREATE TABLE buckets (
    name text COLLATE "C" PRIMARY KEY,
    created double precision NOT NULL,
    region text NOT NULL,
    tags text NOT NULL DEFAULT '{}',
    extra text NOT NULL DEFAULT '{}',
    versioning text NOT NULL DEFAULT ''
);
CREATE TABLE objects (
    bucket text COLLATE "C" NOT NULL,
    key bytea NOT NULL,
    size bigint NOT NULL,
    etag text NOT NULL,
    last_modified double precision NOT NULL,
    meta text NOT NULL,
    checksum_algos text NOT NULL DEFAULT '',
    checksum_type text,
    part_checksums text NOT NULL DEFAULT '[]',
    segments text NOT NULL,
    version_id text COLLATE "C" NOT NULL DEFAULT 'null',
    seq bigint NOT NULL DEFAULT 0,
    body bytea,
    PRIMARY KEY (bucket, key)
);
CREATE TABLE versions (
    bucket text COLLATE "C" NOT NULL,
    key bytea NOT NULL,
    seq bigint NOT NULL,
    version_id text COLLATE "C" NOT NULL,
    marker integer NOT NULL DEFAULT 0,
    size bigint NOT NULL,
    etag text NOT NULL,
    last_modified double precision NOT NULL,
    meta text NOT NULL,
    checksum_algos text NOT NULL DEFAULT '',
    checksum_type text,
    part_checksums text NOT NULL DEFAULT '[]',
    segments text NOT NULL,
    body bytea,
    PRIMARY KEY (bucket, key, seq)
);
CREATE UNIQUE INDEX versions_by_id ON versions (bucket, key, version_id);
CREATE TABLE uploads (
    upload_id text COLLATE "C" PRIMARY KEY,
    bucket text COLLATE "C" NOT NULL,
    key bytea NOT NULL,
    initiated double precision NOT NULL,
    meta text NOT NULL
);
CREATE UNIQUE INDEX uploads_by_key ON uploads (bucket, key, upload_id);
CREATE TABLE parts (
    upload_id text COLLATE "C" NOT NULL,
    part_number integer NOT NULL,
    size bigint NOT NULL,
    etag text NOT NULL,
    checksums text NOT NULL,
    body text NOT NULL,
    last_modified double precision NOT NULL,
    PRIMARY KEY (upload_id, part_number)
);
CREATE TABLE completed_uploads (
    upload_id text COLLATE "C" PRIMARY KEY,
    bucket text COLLATE "C" NOT NULL,
    key bytea NOT NULL,
    completed double precision NOT NULL,
    parts text NOT NULL,
    result text NOT NULL
);
CREATE INDEX completed_uploads_by_time ON completed_uploads (completed);
CREATE TABLE bucket_usage (
    bucket text COLLATE "C" NOT NULL,
    shard integer NOT NULL,
    objects bigint NOT NULL DEFAULT 0,
    bytes bigint NOT NULL DEFAULT 0,
    uploads bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (bucket, shard)
);
CREATE FUNCTION smarts3_usage_add(b text, o bigint, n bigint, u bigint) RETURNS void LANGUAGE sql AS $$
    INSERT INTO bucket_usage (bucket, shard, objects, bytes, uploads)
    VALUES (b, pg_backend_pid() % 64, o, n, u)
    ON CONFLICT (bucket, shard) DO UPDATE SET objects = bucket_usage.objects + EXCLUDED.objects,
        bytes = bucket_usage.bytes + EXCLUDED.bytes, uploads = bucket_usage.uploads + EXCLUDED.uploads
$$;
CREATE FUNCTION smarts3_usage_buckets() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO bucket_usage (bucket, shard) VALUES (NEW.name, 0) ON CONFLICT DO NOTHING;
    ELSE
        DELETE FROM bucket_usage WHERE bucket = OLD.name;
    END IF;
    RETURN NULL;
END $$;
CREATE FUNCTION smarts3_usage_objects() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM smarts3_usage_add(NEW.bucket, 1, NEW.size, 0);
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM smarts3_usage_add(OLD.bucket, -1, -OLD.size, 0);
    ELSIF NEW.bucket = OLD.bucket THEN
        PERFORM smarts3_usage_add(NEW.bucket, 0, NEW.size - OLD.size, 0);
    ELSE
        PERFORM smarts3_usage_add(OLD.bucket, -1, -OLD.size, 0);
        PERFORM smarts3_usage_add(NEW.bucket, 1, NEW.size, 0);
    END IF;
    RETURN NULL;
END $$;
CREATE FUNCTION smarts3_usage_versions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM smarts3_usage_add(NEW.bucket, 0, NEW.size, 0);
    ELSE
        PERFORM smarts3_usage_add(OLD.bucket, 0, -OLD.size, 0);
    END IF;
    RETURN NULL;
END $$;
CREATE FUNCTION smarts3_usage_uploads() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM smarts3_usage_add(NEW.bucket, 0, 0, 1);
    ELSE
        PERFORM smarts3_usage_add(OLD.bucket, 0, 0, -1);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER usage_buckets AFTER INSERT OR DELETE ON buckets
    FOR EACH ROW EXECUTE FUNCTION smarts3_usage_buckets();
CREATE TRIGGER usage_objects AFTER INSERT OR DELETE OR UPDATE OF bucket, size ON objects
    FOR EACH ROW EXECUTE FUNCTION smarts3_usage_objects();
CREATE TRIGGER usage_versions AFTER INSERT OR DELETE ON versions
    FOR EACH ROW EXECUTE FUNCTION smarts3_usage_versions();
CREATE TRIGGER usage_uploads AFTER INSERT OR DELETE ON uploads
    FOR EACH ROW EXECUTE FUNCTION smarts3_usage_uploads();
"""

# Version n is reached by running MIGRATIONS[n - 1]; append, never edit a released step.
MIGRATIONS: tuple[str, ...] = (_V1,)
SCHEMA_VERSION = len(MIGRATIONS)


def ensure_schema(dsn: str) -> None:
    """Create or upgrade the schema; concurrent starts wait on the lock, and each step commits
    with its version number, so a replica that dies halfway leaves a consistent version."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK,))
        try:
            conn.execute("CREATE TABLE IF NOT EXISTS smarts3_schema (version integer NOT NULL)")
            row = conn.execute("SELECT max(version) FROM smarts3_schema").fetchone()
            version = row[0] if row is not None and row[0] is not None else 0
            if version > SCHEMA_VERSION:
                raise RuntimeError(f"metadata schema {version} is newer than this server ({SCHEMA_VERSION})")
            for n in range(version, SCHEMA_VERSION):
                with conn.transaction():
                    conn.execute(MIGRATIONS[n].encode())
                    conn.execute("INSERT INTO smarts3_schema (version) VALUES (%s)", (n + 1,))
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (SCHEMA_LOCK,))
