//! The SQL of one cache table, with its (checked, quoted) name filled in once.

use reqcache::storage::{StorageError, StorageErrorKind};

/// The columns a write sets, in order.
const COLUMNS: &str = "key, method, url, status, size, created_at, expires, retain_until, deadline, value, kind, accessed, bytes, body, groups";

/// The columns of the first version's table: one that has them is
/// brought up to date when opened.
const FIRST_COLUMNS: &str =
    "key, method, url, status, size, created_at, expires, retain_until, deadline, value";

/// The bytes a row counts for against the bound: its value, key and URL,
/// and 64 bytes of other columns: the write binds the same sum,
/// [`counted_bytes`](reqcache::storage::backend::counted_bytes).
const ROW_BYTES: &str = "octet_length(value) + octet_length(key) + octet_length(url) + 64";

/// The metadata columns, in the order [`entry_info`](crate::storage) reads.
const INFO_COLUMNS: &str =
    "key, method, url, status, size, created_at, expires, retain_until, kind, groups";

/// How many rows one sweep statement deletes, so that a sweep of a large
/// backlog never holds many row locks in one transaction.
pub(crate) const SWEEP_BATCH: i64 = 10_000;

/// The most rows one eviction round deletes.
const EVICTION_ROUND: u32 = 1024;

/// PostgreSQL's longest identifier is 63 bytes; the indexes add a suffix.
const MAX_TABLE_NAME: usize = 50;

#[derive(Debug)]
pub(crate) struct Queries {
    pub(crate) table: String,
    pub(crate) read: String,
    pub(crate) write: String,
    pub(crate) remove: String,
    pub(crate) remove_url: String,
    pub(crate) remove_all: String,
    pub(crate) count: String,
    pub(crate) total_size: String,
    pub(crate) list: String,
    pub(crate) purge_expired: String,
    pub(crate) sweep: String,
    pub(crate) probe: String,
    /// Whether an existing table is one of an older version's.
    pub(crate) probe_older: String,
    /// Stamps the keys `$1` read at `$2`, unless stamped later.
    pub(crate) touch: String,
    /// The bytes counted and the evictions made.
    pub(crate) usage: String,
    /// One eviction round: deletes rows past their deadline at `$1` first,
    /// then the least recently read, until `$2` bytes are gone (at most
    /// 1,024 rows), counts them as evictions, and returns how many, in
    /// one statement.
    pub(crate) evict: String,
    /// The advisory lock one evicting process holds.
    pub(crate) eviction_lock: i64,
    /// Writes chunk `$2` of body `$1`, written at `$3`.
    pub(crate) put_chunk: String,
    /// Chunk `$2` of body `$1`.
    pub(crate) get_chunk: String,
    /// The chunks of body `$1`.
    pub(crate) discard_chunks: String,
    /// Every chunk.
    pub(crate) clear_chunks: String,
    /// At most 10,000 chunks written before `$1` that no row names.
    pub(crate) sweep_orphan_chunks: String,
    /// The keys of the rows in group `$1`.
    pub(crate) group_keys: String,
    /// Deletes the rows in group `$1`.
    pub(crate) remove_group: String,
}

impl Queries {
    /// The queries for `table`, or a [`StorageErrorKind::Config`] error for
    /// a name that is not letters, digits and `_` (not starting with a
    /// digit, at most 50 bytes).
    pub(crate) fn new(table: String) -> Result<Self, StorageError> {
        let valid = !table.is_empty()
            && table.len() <= MAX_TABLE_NAME
            && table
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
            && !table.as_bytes()[0].is_ascii_digit();
        if !valid {
            return Err(StorageError::new(
                StorageErrorKind::Config,
                format!(
                    "invalid table name {table:?}: use letters, digits and _ (at most {MAX_TABLE_NAME}), not starting with a digit"
                ),
            ));
        }
        // Quoted, so that the name is taken as written (case included).
        let t = format!("\"{table}\"");
        Ok(Self {
            read: format!(
                "SELECT value, accessed FROM {t} WHERE key = $1 AND (deadline IS NULL OR deadline > $2)"
            ),
            // A row that names a body (`$13`) is written only when the
            // body's `$14` chunks of `$15` bytes are all there.
            write: format!(
                "INSERT INTO {t} ({COLUMNS}) \
                 SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $6, $12, $13::TEXT, $16::TEXT[] \
                 WHERE $13::TEXT IS NULL OR (SELECT COUNT(*) = $14::BIGINT \
                     AND COALESCE(SUM(octet_length(data)), 0) = $15::BIGINT \
                     FROM \"{table}_chunks\" WHERE body = $13::TEXT) \
                 ON CONFLICT (key) DO UPDATE SET method = EXCLUDED.method, url = EXCLUDED.url, \
                 status = EXCLUDED.status, size = EXCLUDED.size, created_at = EXCLUDED.created_at, \
                 expires = EXCLUDED.expires, retain_until = EXCLUDED.retain_until, \
                 deadline = EXCLUDED.deadline, value = EXCLUDED.value, kind = EXCLUDED.kind, \
                 accessed = EXCLUDED.accessed, bytes = EXCLUDED.bytes, body = EXCLUDED.body, \
                 groups = EXCLUDED.groups"
            ),
            remove: format!("DELETE FROM {t} WHERE key = $1"),
            remove_url: format!("DELETE FROM {t} WHERE url = $1"),
            remove_all: format!("DELETE FROM {t}"),
            count: format!("SELECT COUNT(*) FROM {t} WHERE kind = 0"),
            total_size: format!("SELECT COALESCE(SUM(size), 0)::BIGINT FROM {t}"),
            list: format!("SELECT {INFO_COLUMNS} FROM {t}"),
            purge_expired: format!("DELETE FROM {t} WHERE expires <= $1 OR deadline <= $1"),
            sweep: format!(
                "DELETE FROM {t} WHERE key IN \
                 (SELECT key FROM {t} WHERE deadline <= $1 LIMIT {SWEEP_BATCH})"
            ),
            probe: format!(
                "SELECT {COLUMNS} FROM {t} LIMIT 0; SELECT bytes, evictions FROM \"{table}_usage\" LIMIT 0; \
                 SELECT body, idx, written, data FROM \"{table}_chunks\" LIMIT 0"
            ),
            probe_older: format!("SELECT {FIRST_COLUMNS} FROM {t} LIMIT 0"),
            touch: format!(
                "UPDATE {t} SET accessed = $2 WHERE key = ANY($1) AND (accessed IS NULL OR accessed < $2)"
            ),
            usage: format!("SELECT bytes, evictions FROM \"{table}_usage\" WHERE id = 0"),
            evict: format!(
                "WITH candidates AS (
                    (SELECT key, bytes, 0 AS tier, deadline AS at FROM {t}
                        WHERE deadline <= $1 ORDER BY deadline LIMIT {EVICTION_ROUND})
                    UNION ALL
                    (SELECT key, bytes, 1, accessed FROM {t}
                        ORDER BY accessed ASC NULLS FIRST LIMIT {EVICTION_ROUND})
                ), ranked AS (
                    SELECT key, bytes, SUM(bytes) OVER
                        (ORDER BY tier, at ASC NULLS FIRST, key ROWS UNBOUNDED PRECEDING) AS running
                    FROM candidates
                ), gone AS (
                    DELETE FROM {t} WHERE key IN (SELECT key FROM ranked WHERE running - bytes < $2)
                    RETURNING 1
                )
                UPDATE \"{table}_usage\" SET evictions = evictions + (SELECT COUNT(*) FROM gone)
                WHERE id = 0 RETURNING (SELECT COUNT(*) FROM gone)"
            ),
            eviction_lock: advisory_lock_key(&format!("evict:{table}")),
            put_chunk: format!(
                "INSERT INTO \"{table}_chunks\" (body, idx, written, data) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (body, idx) DO UPDATE SET written = EXCLUDED.written, data = EXCLUDED.data"
            ),
            get_chunk: format!("SELECT data FROM \"{table}_chunks\" WHERE body = $1 AND idx = $2"),
            discard_chunks: format!("DELETE FROM \"{table}_chunks\" WHERE body = $1"),
            clear_chunks: format!("DELETE FROM \"{table}_chunks\""),
            sweep_orphan_chunks: format!(
                "DELETE FROM \"{table}_chunks\" WHERE (body, idx) IN \
                 (SELECT c.body, c.idx FROM \"{table}_chunks\" c WHERE c.written < $1 \
                  AND NOT EXISTS (SELECT 1 FROM {t} WHERE {t}.body = c.body) LIMIT {SWEEP_BATCH})"
            ),
            // The GIN index on `groups` answers `@>`: one index lookup.
            group_keys: format!("SELECT key FROM {t} WHERE groups @> ARRAY[$1::TEXT]"),
            remove_group: format!("DELETE FROM {t} WHERE groups @> ARRAY[$1::TEXT]"),
            table,
        })
    }

    /// The table and its indexes, created when missing, in one transaction
    /// that holds an advisory lock of this table's name first, so that two
    /// processes creating it at once wait for each other instead of
    /// failing. `unlogged`: an UNLOGGED table (no write-ahead log: faster
    /// writes, emptied after a crash, not replicated).
    pub(crate) fn create(&self, unlogged: bool) -> String {
        let name = &self.table;
        let t = format!("\"{name}\"");
        let kind = if unlogged { "UNLOGGED TABLE" } else { "TABLE" };
        let lock = advisory_lock_key(name);
        format!(
            "BEGIN;
            SELECT pg_advisory_xact_lock({lock});
            CREATE {kind} IF NOT EXISTS {t} (
                key TEXT PRIMARY KEY,
                method TEXT NOT NULL,
                url TEXT NOT NULL,
                status SMALLINT NOT NULL,
                size BIGINT NOT NULL,
                created_at BIGINT NOT NULL,
                expires BIGINT,
                retain_until BIGINT,
                deadline BIGINT,
                value BYTEA NOT NULL,
                kind SMALLINT NOT NULL DEFAULT 0
            );
            ALTER TABLE {t} ADD COLUMN IF NOT EXISTS kind SMALLINT NOT NULL DEFAULT 0;
            ALTER TABLE {t} ADD COLUMN IF NOT EXISTS accessed BIGINT;
            ALTER TABLE {t} ADD COLUMN IF NOT EXISTS bytes BIGINT;
            ALTER TABLE {t} ADD COLUMN IF NOT EXISTS body TEXT;
            ALTER TABLE {t} ADD COLUMN IF NOT EXISTS groups TEXT[];
            UPDATE {t} SET bytes = {ROW_BYTES} WHERE bytes IS NULL;
            CREATE INDEX IF NOT EXISTS \"{name}_url\" ON {t} (url);
            CREATE INDEX IF NOT EXISTS \"{name}_expires\" ON {t} (expires) WHERE expires IS NOT NULL;
            CREATE INDEX IF NOT EXISTS \"{name}_deadline\" ON {t} (deadline) WHERE deadline IS NOT NULL;
            CREATE INDEX IF NOT EXISTS \"{name}_accessed\" ON {t} (accessed ASC NULLS FIRST);
            CREATE INDEX IF NOT EXISTS \"{name}_body\" ON {t} (body) WHERE body IS NOT NULL;
            CREATE INDEX IF NOT EXISTS \"{name}_groups\" ON {t} USING GIN (groups) WHERE groups IS NOT NULL;
            {usage}
            {chunks}
            COMMIT;",
            usage = self.usage_ledger(kind),
            chunks = self.chunks_table(kind),
        )
    }

    /// The table of bodies kept in chunks, and the statement triggers that
    /// delete a body's chunks with the row that names it: whatever deletes
    /// the row (a removal, the sweeper, the bound's evictions, a clear) or
    /// gives it another body. A row counts its body's bytes (see `write`),
    /// so the usage ledger and the evictions see them.
    fn chunks_table(&self, kind: &str) -> String {
        let name = &self.table;
        let t = format!("\"{name}\"");
        let chunks = format!("\"{name}_chunks\"");
        let function = format!("\"{name}_drop_bodies\"");
        format!(
            "CREATE {kind} IF NOT EXISTS {chunks} (
                body TEXT NOT NULL,
                idx BIGINT NOT NULL,
                written BIGINT NOT NULL,
                data BYTEA NOT NULL,
                PRIMARY KEY (body, idx)
            );
            ALTER TABLE {chunks} ALTER COLUMN data SET STORAGE EXTERNAL;
            CREATE INDEX IF NOT EXISTS \"{name}_chunks_written\" ON {chunks} (written);
            CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $body$
            BEGIN
                IF TG_OP = 'DELETE' THEN
                    DELETE FROM {chunks} WHERE body IN
                        (SELECT body FROM removed WHERE body IS NOT NULL);
                ELSE
                    DELETE FROM {chunks} WHERE body IN
                        (SELECT r.body FROM removed r WHERE r.body IS NOT NULL
                         AND NOT EXISTS (SELECT 1 FROM added a WHERE a.body = r.body));
                END IF;
                RETURN NULL;
            END
            $body$;
            CREATE OR REPLACE TRIGGER \"{name}_bodies_deleted\" AFTER DELETE ON {t}
                REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION {function}();
            CREATE OR REPLACE TRIGGER \"{name}_bodies_replaced\" AFTER UPDATE ON {t}
                REFERENCING OLD TABLE AS removed NEW TABLE AS added
                FOR EACH STATEMENT EXECUTE FUNCTION {function}();"
        )
    }

    /// The usage row (`{table}_usage`: the bytes of every row, the
    /// evictions made) and the statement triggers that keep its bytes:
    /// each insert, update and delete adds what it wrote and takes off
    /// what it removed, in its own transaction, whichever process runs it.
    fn usage_ledger(&self, kind: &str) -> String {
        let name = &self.table;
        let t = format!("\"{name}\"");
        let usage = format!("\"{name}_usage\"");
        let function = format!("\"{name}_count_bytes\"");
        format!(
            "CREATE {kind} IF NOT EXISTS {usage} (
                id SMALLINT PRIMARY KEY CHECK (id = 0),
                bytes BIGINT NOT NULL,
                evictions BIGINT NOT NULL
            );
            INSERT INTO {usage} (id, bytes, evictions)
                SELECT 0, COALESCE(SUM(bytes), 0), 0 FROM {t}
                ON CONFLICT (id) DO NOTHING;
            CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $body$
            DECLARE delta BIGINT;
            BEGIN
                IF TG_OP = 'INSERT' THEN
                    SELECT COALESCE(SUM(bytes), 0) INTO delta FROM added;
                ELSIF TG_OP = 'DELETE' THEN
                    SELECT -COALESCE(SUM(bytes), 0) INTO delta FROM removed;
                ELSE
                    SELECT COALESCE((SELECT SUM(bytes) FROM added), 0)
                         - COALESCE((SELECT SUM(bytes) FROM removed), 0) INTO delta;
                END IF;
                IF delta <> 0 THEN
                    UPDATE {usage} SET bytes = bytes + delta WHERE id = 0;
                END IF;
                RETURN NULL;
            END
            $body$;
            CREATE OR REPLACE TRIGGER \"{name}_bytes_inserted\" AFTER INSERT ON {t}
                REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION {function}();
            CREATE OR REPLACE TRIGGER \"{name}_bytes_updated\" AFTER UPDATE ON {t}
                REFERENCING OLD TABLE AS removed NEW TABLE AS added
                FOR EACH STATEMENT EXECUTE FUNCTION {function}();
            CREATE OR REPLACE TRIGGER \"{name}_bytes_deleted\" AFTER DELETE ON {t}
                REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION {function}();"
        )
    }
}

/// The advisory lock of a table's creation: FNV-1a of its name, tagged, so
/// that it never meets the locks of other applications by chance.
fn advisory_lock_key(table: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in b"reqcache-postgres:".iter().chain(table.as_bytes()) {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    i64::from_ne_bytes(hash.to_ne_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names() {
        for good in ["http_cache", "Cache2", "_x", &"a".repeat(50)] {
            assert!(Queries::new(good.to_owned()).is_ok(), "{good}");
        }
        for bad in [
            "",
            "2cache",
            "a-b",
            "a b",
            "x\"; DROP TABLE y; --",
            "caché",
            &"a".repeat(51),
        ] {
            let error = Queries::new(bad.to_owned()).unwrap_err();
            assert_eq!(error.kind(), StorageErrorKind::Config, "{bad}");
        }
    }

    #[test]
    fn names_are_quoted_everywhere() {
        let queries = Queries::new("Mixed_Case".to_owned()).unwrap();
        assert!(queries.read.contains("FROM \"Mixed_Case\" WHERE"));
        let create = queries.create(true);
        assert!(create.contains("CREATE UNLOGGED TABLE IF NOT EXISTS \"Mixed_Case\""));
        assert!(create.contains("\"Mixed_Case_url\" ON \"Mixed_Case\" (url)"));
        assert!(!queries.create(false).contains("UNLOGGED"));
        assert_ne!(advisory_lock_key("a"), advisory_lock_key("b"));
        assert!(create.contains(&format!(
            "pg_advisory_xact_lock({})",
            advisory_lock_key("Mixed_Case")
        )));
    }
}
