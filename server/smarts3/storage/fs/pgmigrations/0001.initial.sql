-- smarts3's metadata schema, first version: the tables of storage/fs/db.py in PostgreSQL types
-- (see pgschema.py). Released: never edit; add a new file for a change.
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
