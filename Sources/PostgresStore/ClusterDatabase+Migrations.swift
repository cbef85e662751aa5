import Foundation
import JobQueue
import PostgresNIO

extension ClusterDatabase {
    /// One released schema change; never edit a registered migration, add a new one.
    struct Migration: Sendable {
        var version: Int
        var name: String
        /// Statements separated by `;` at the end of a line (the extended protocol runs one
        /// statement at a time).
        var sql: String

        var statements: [String] {
            sql.components(separatedBy: ";\n").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
                .map { $0.hasSuffix(";") ? String($0.dropLast()) : $0 }
                .filter { statement in
                    !statement.split(separator: "\n").allSatisfy { $0.trimmingCharacters(in: .whitespaces).hasPrefix("--") }
                }
        }
    }

    /// The key of the session-level advisory lock that serializes migrations: nodes starting at
    /// once take turns, and all but the first find nothing left to do.
    static let migrationLock: Int64 = 0x5065_7265_6772_696E  // "Peregrin"

    /// Brings the schema up to date on a connection of its own, under `pg_advisory_lock`: each
    /// pending migration runs in its own transaction together with its row in `schema_migrations`.
    /// - Returns: the versions this call applied (empty when another node already had).
    /// - Throws: `JobStoreError.storage` when the server cannot be reached or a migration fails.
    @discardableResult
    public func migrate() async throws -> [Int] {
        do {
            let connection = try await PostgresConnection.connect(
                configuration: try configuration.connectionConfiguration(), id: 1, logger: logger)
            do {
                let applied = try await migrate(on: connection)
                try await connection.close()
                return applied
            } catch {
                try? await connection.close()
                throw error
            }
        } catch {
            // The operator reads this at startup: name the server's complaint (never the password).
            throw JobStoreError(
                .storage, "cannot migrate the database \(configuration.database): \(String(reflecting: error))",
                underlying: error)
        }
    }

    private func migrate(on connection: PostgresConnection) async throws -> [Int] {
        try await connection.query("SELECT pg_advisory_lock(\(Self.migrationLock))", logger: logger)
        // Closing the connection releases the lock too (the caller always closes it).
        let applied = try await applyPending(on: connection)
        try await connection.query("SELECT pg_advisory_unlock(\(Self.migrationLock))", logger: logger)
        return applied
    }

    private func applyPending(on connection: PostgresConnection) async throws -> [Int] {
        try await connection.query("""
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version BIGINT PRIMARY KEY,
                name TEXT NOT NULL,
                applied_at BIGINT NOT NULL
            )
            """, logger: logger)
        var done = Set<Int>()
        for try await version in try await connection.query("SELECT version FROM schema_migrations", logger: logger)
            .decode(Int.self)
        {
            done.insert(version)
        }
        var applied: [Int] = []
        for migration in Self.migrations where !done.contains(migration.version) {
            try await connection.query("BEGIN", logger: logger)
            do {
                for statement in migration.statements {
                    // The text is ours, never input.
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                let now = StoredTime.milliseconds(Date())
                try await connection.query("""
                    INSERT INTO schema_migrations (version, name, applied_at)
                    VALUES (\(migration.version), \(migration.name), \(now))
                    """, logger: logger)
                try await connection.query("COMMIT", logger: logger)
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: logger)
                throw error
            }
            applied.append(migration.version)
        }
        return applied
    }

    /// The schema. Dates are integer milliseconds since 1970 (`StoredTime`), as in the SQLite
    /// driver; `seq` is the insertion order, breaking ties between jobs enqueued in the same
    /// millisecond so the queue is FIFO.
    static let migrations: [Migration] = [
        Migration(version: 1, name: "jobs, logs, webhook outbox, key turns, api keys, model settings", sql: """
            CREATE TABLE jobs (
                seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                id TEXT NOT NULL UNIQUE,
                endpoint_id TEXT NOT NULL,
                input BYTEA,
                priority BIGINT NOT NULL,
                state TEXT NOT NULL CHECK (state IN ('queued','running','completed','failed','cancelled')),
                attempt BIGINT NOT NULL DEFAULT 0,
                max_attempts BIGINT NOT NULL,
                enqueued_at BIGINT NOT NULL,
                started_at BIGINT,
                finished_at BIGINT,
                start_deadline BIGINT,
                lease_owner TEXT,
                lease_token TEXT,
                lease_expires_at BIGINT,
                cancel_requested BOOLEAN NOT NULL DEFAULT false,
                webhook_url TEXT,
                store_io BOOLEAN NOT NULL,
                runner_hint TEXT,
                api_key_id TEXT,
                object_lifetime DOUBLE PRECISION,
                result_status BIGINT,
                result_body BYTEA,
                error_message TEXT,
                error_type TEXT,
                inference_time DOUBLE PRECISION,
                version BIGINT NOT NULL DEFAULT 1
            );
            -- The lease query: queued jobs of some endpoints in lease order.
            CREATE INDEX jobs_queued ON jobs (endpoint_id, priority, enqueued_at, seq) WHERE state = 'queued';
            -- The rescuer: running jobs by lease expiry.
            CREATE INDEX jobs_running_lease ON jobs (lease_expires_at) WHERE state = 'running';
            -- Start-deadline expiry: queued jobs that have a deadline.
            CREATE INDEX jobs_start_deadline ON jobs (start_deadline) WHERE state = 'queued' AND start_deadline IS NOT NULL;
            -- The sweeper: terminal jobs by finish time.
            CREATE INDEX jobs_finished ON jobs (finished_at) WHERE finished_at IS NOT NULL;
            -- Fairness: each key's queued and running jobs; per-key queue limits.
            CREATE INDEX jobs_key_active ON jobs (api_key_id, state) WHERE state IN ('queued', 'running');

            CREATE TABLE job_logs (
                seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                job_id TEXT NOT NULL,
                message TEXT NOT NULL,
                level TEXT NOT NULL,
                timestamp BIGINT NOT NULL
            );
            CREATE INDEX job_logs_job ON job_logs (job_id, seq);

            CREATE TABLE webhook_outbox (
                id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                request_id TEXT NOT NULL,
                user_id TEXT,
                url TEXT NOT NULL,
                body BYTEA NOT NULL,
                state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending','delivered','dead')),
                attempts BIGINT NOT NULL DEFAULT 0,
                next_attempt_at BIGINT NOT NULL,
                created_at BIGINT NOT NULL,
                delivered_at BIGINT,
                last_error TEXT
            );
            CREATE INDEX webhook_outbox_due ON webhook_outbox (next_attempt_at, id) WHERE state = 'pending';
            CREATE INDEX webhook_outbox_request ON webhook_outbox (request_id);

            -- When each key was last served per endpoint (a lease counter): keys whose turn ties
            -- are served least recently served first.
            CREATE TABLE key_turns (
                endpoint_id TEXT NOT NULL,
                key TEXT NOT NULL,
                last_served BIGINT NOT NULL,
                PRIMARY KEY (endpoint_id, key)
            );

            CREATE TABLE api_keys (
                seq BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                salt BYTEA NOT NULL,
                secret_hash BYTEA NOT NULL,
                created_at BIGINT NOT NULL,
                revoked_at BIGINT,
                admin BOOLEAN NOT NULL DEFAULT false
            );

            -- Per-model overrides of the manifest's runtime settings; NULL keeps the default.
            CREATE TABLE model_settings (
                endpoint_id TEXT PRIMARY KEY,
                keep_alive DOUBLE PRECISION,
                min_concurrency BIGINT,
                max_concurrency BIGINT,
                concurrency_buffer BIGINT,
                startup_timeout DOUBLE PRECISION,
                updated_at BIGINT NOT NULL
            );
            """),
    ]
}
