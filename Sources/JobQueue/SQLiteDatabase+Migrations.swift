import GRDB

extension SQLiteDatabase {
    /// The schema, one migration per released change; never edit a registered migration.
    ///
    /// Dates are integer milliseconds since 1970 (see `StoredTime`). `seq` is the insertion order:
    /// it breaks ties between jobs enqueued in the same millisecond, so the queue is FIFO.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: jobs, logs, webhook outbox, api keys") { db in
            try db.execute(sql: """
                CREATE TABLE jobs (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    id TEXT NOT NULL UNIQUE,
                    endpoint_id TEXT NOT NULL,
                    input BLOB,
                    priority INTEGER NOT NULL,
                    state TEXT NOT NULL CHECK (state IN ('queued','running','completed','failed','cancelled')),
                    attempt INTEGER NOT NULL DEFAULT 0,
                    max_attempts INTEGER NOT NULL,
                    enqueued_at INTEGER NOT NULL,
                    started_at INTEGER,
                    finished_at INTEGER,
                    start_deadline INTEGER,
                    lease_owner TEXT,
                    lease_expires_at INTEGER,
                    cancel_requested INTEGER NOT NULL DEFAULT 0,
                    webhook_url TEXT,
                    store_io INTEGER NOT NULL,
                    runner_hint TEXT,
                    api_key_id TEXT,
                    object_lifetime REAL,
                    result_status INTEGER,
                    result_body BLOB,
                    error_message TEXT,
                    error_type TEXT,
                    inference_time REAL,
                    version INTEGER NOT NULL DEFAULT 1
                );
                -- The lease query: queued jobs of some endpoints in lease order.
                CREATE INDEX jobs_queued ON jobs (endpoint_id, priority, enqueued_at, seq) WHERE state = 'queued';
                -- The rescuer: running jobs by lease expiry.
                CREATE INDEX jobs_running_lease ON jobs (lease_expires_at) WHERE state = 'running';
                -- Start-deadline expiry: queued jobs that have a deadline.
                CREATE INDEX jobs_start_deadline ON jobs (start_deadline) WHERE state = 'queued' AND start_deadline IS NOT NULL;
                -- The sweeper: terminal jobs by finish time.
                CREATE INDEX jobs_finished ON jobs (finished_at) WHERE finished_at IS NOT NULL;

                CREATE TABLE job_logs (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    job_id TEXT NOT NULL,
                    message TEXT NOT NULL,
                    level TEXT NOT NULL,
                    timestamp INTEGER NOT NULL
                );
                CREATE INDEX job_logs_job ON job_logs (job_id, seq);

                CREATE TABLE webhook_outbox (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    request_id TEXT NOT NULL,
                    user_id TEXT,
                    url TEXT NOT NULL,
                    body BLOB NOT NULL,
                    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending','delivered','dead')),
                    attempts INTEGER NOT NULL DEFAULT 0,
                    next_attempt_at INTEGER NOT NULL,
                    created_at INTEGER NOT NULL,
                    delivered_at INTEGER,
                    last_error TEXT
                );
                CREATE INDEX webhook_outbox_due ON webhook_outbox (next_attempt_at, id) WHERE state = 'pending';
                CREATE INDEX webhook_outbox_request ON webhook_outbox (request_id);

                CREATE TABLE api_keys (
                    id TEXT PRIMARY KEY,
                    name TEXT NOT NULL,
                    salt BLOB NOT NULL,
                    secret_hash BLOB NOT NULL,
                    created_at INTEGER NOT NULL,
                    revoked_at INTEGER
                );
                """)
        }
        migrator.registerMigration("v2: fairness between keys") { db in
            // Fair leasing ranks queued jobs by key and counts each key's running jobs; submits
            // count a key's queued jobs against its limit. `key_turns` remembers when each key
            // was last served per endpoint (a lease counter), so keys whose turn ties are served
            // least recently served first: round robin over time, not only within one lease.
            try db.execute(sql: """
                CREATE INDEX jobs_key_active ON jobs (api_key_id, state) WHERE state IN ('queued', 'running');
                CREATE TABLE key_turns (
                    endpoint_id TEXT NOT NULL,
                    key TEXT NOT NULL,
                    last_served INTEGER NOT NULL,
                    PRIMARY KEY (endpoint_id, key)
                ) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("v3: runtime model settings, admin api keys") { db in
            try db.execute(sql: """
                -- Per-model overrides of the manifest's runtime settings; NULL keeps the default.
                CREATE TABLE model_settings (
                    endpoint_id TEXT PRIMARY KEY,
                    keep_alive REAL,
                    min_concurrency INTEGER,
                    max_concurrency INTEGER,
                    concurrency_buffer INTEGER,
                    startup_timeout REAL,
                    updated_at INTEGER NOT NULL
                );
                -- Admin keys may change runtime settings (`/admin/...`).
                ALTER TABLE api_keys ADD COLUMN admin INTEGER NOT NULL DEFAULT 0;
                """)
        }
        migrator.registerMigration("v4: lease tokens") { db in
            // A fresh token per lease guards every transition out of `running`: the owner name
            // alone repeats when the same runner leases the job again after its lease expired.
            // Rows running under an older binary have none; their stale attempts fail the guard
            // and the rescuer re-queues them.
            try db.execute(sql: "ALTER TABLE jobs ADD COLUMN lease_token TEXT")
        }
        migrator.registerMigration("idempotency: keys") { db in
            // One row per (API key, Idempotency-Key): the request's fingerprint and the job it
            // created, written in the job's own transaction. `scope` is '' without auth.
            try db.execute(sql: """
                CREATE TABLE idempotency_keys (
                    scope TEXT NOT NULL,
                    key TEXT NOT NULL,
                    fingerprint BLOB NOT NULL,
                    request_id TEXT NOT NULL,
                    created_at INTEGER NOT NULL,
                    expires_at INTEGER NOT NULL,
                    PRIMARY KEY (scope, key)
                ) WITHOUT ROWID;
                CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);
                """)
        }
        migrator.registerMigration("history: requests by endpoint") { db in
            // The history lists some endpoints' requests newest first: one key's through the key
            // index, everyone's (admin) by time. No index leads with endpoint_id: the planner
            // would take it for the lease query instead of the partial queue index.
            try db.execute(sql: """
                CREATE INDEX jobs_history_key ON jobs (api_key_id, endpoint_id, enqueued_at, seq);
                CREATE INDEX jobs_history_time ON jobs (enqueued_at, seq);
                """)
        }
        migrator.registerMigration("resultCache v1: entries, blob references, pending keys, model switches") { db in
            // Entries by content address, evicted least recently used first; each blob an entry
            // names holds one reference per entry, and keeps the latest lifetime promised to any
            // URL naming it (applied when its last reference goes). Pending keys name the cache
            // key of queued requests that may join an identical computation.
            try db.execute(sql: """
                CREATE TABLE result_cache (
                    key TEXT PRIMARY KEY,
                    endpoint_id TEXT NOT NULL,
                    output BLOB NOT NULL,
                    files BLOB NOT NULL,
                    bytes INTEGER NOT NULL,
                    inference_time REAL,
                    created_at INTEGER NOT NULL,
                    last_used_at INTEGER NOT NULL
                );
                CREATE INDEX result_cache_lru ON result_cache (last_used_at);
                CREATE TABLE result_cache_entry_blobs (
                    key TEXT NOT NULL,
                    blob_id TEXT NOT NULL,
                    PRIMARY KEY (key, blob_id)
                ) WITHOUT ROWID;
                CREATE TABLE result_cache_blobs (
                    blob_id TEXT PRIMARY KEY,
                    refs INTEGER NOT NULL,
                    release_at INTEGER NOT NULL
                ) WITHOUT ROWID;
                CREATE TABLE result_cache_pending (
                    job_id TEXT PRIMARY KEY,
                    key TEXT NOT NULL,
                    created_at INTEGER NOT NULL
                ) WITHOUT ROWID;
                CREATE TABLE result_cache_models (
                    endpoint_id TEXT PRIMARY KEY,
                    enabled INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL
                );
                """)
        }
        return migrator
    }
}
