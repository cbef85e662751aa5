import Foundation
import Hummingbird
import JobQueue
import ModelKit
import Runners

/// The admin API (admin API keys only):
/// - `GET /admin/models`: every served model's runtime settings.
/// - `GET /admin/models/{endpoint}/settings`: one model's settings in force and its overrides.
/// - `PATCH /admin/models/{endpoint}/settings`: changes settings at once and persists them
///   (`keep_alive`, `startup_timeout` in seconds; `min_concurrency`, `max_concurrency`,
///   `concurrency_buffer`; `null` restores the default), and `result_cache` (`true`/`false`:
///   whether this model's results are cached and shared; `null`: the model's own declaration).
/// - `GET /admin/requests`, `GET /admin/requests/{id}`, `GET /admin/residency`: see
///   `AdminRoutes+Requests.swift`.
enum AdminRoutes {
    static func handle(_ call: APICall, services: APIServices) async throws -> Response {
        let s = call.segments
        if s.count >= 2, s[1] == "requests" { return try await requests(call, services: services) }
        if s == ["admin", "residency"] { return try residency(call, services: services) }
        guard s.count >= 2, s[1] == "models" else { throw APIError.detail(.notFound, "Not Found") }
        guard let pool = services.pool, let store = services.modelSettings else {
            throw APIError.typed(.serviceUnavailable, "No runner pool in this process", type: "runner_scheduling_failure")
        }
        if s.count == 2 {
            try call.allow(.get)
            let overrides = try await store.allOverrides()
            let models: [JSONValue] = services.registry.endpointIDs.compactMap { id in
                pool.settings(for: id).map { ModelSettingsPatch.json(endpointID: id, settings: $0, override: overrides[id] ?? ModelSettingsOverride()) }
            }
            return JSON.response(JSONValue.object(["models": .array(models)]).encoded())
        }
        guard s.count >= 5, s.last == "settings" else { throw APIError.detail(.notFound, "Not Found") }
        let endpoint = s[2..<(s.count - 1)].joined(separator: "/")
        guard services.registry.entry(for: endpoint) != nil, let defaults = pool.defaultSettings(for: endpoint) else {
            throw APIError.detail(.notFound, "Endpoint '\(endpoint)' not found")
        }
        try call.allow(.get, .patch)
        var override = try await store.override(for: endpoint)
        if call.method == .patch {
            let buffer = try await call.body(limit: 64 << 10)
            let body: JSONValue
            do { body = try JSONValue(parsing: Data(buffer.readableBytesView)) } catch {
                throw APIError.validation([.key("body")], "invalid JSON", type: "value_error.jsondecode")
            }
            let (settingsBody, cacheSwitch) = try ResultCacheSwitch.split(body)
            override = try ModelSettingsPatch(parsing: settingsBody).applied(to: override)
            try ModelSettingsPatch.validate(defaults.applying(override))
            try await store.setOverride(override, for: endpoint, now: Date())
            if let cacheSwitch, let cache = services.submitter.resultCache {
                try await cache.index.setEnabled(cacheSwitch, endpointID: endpoint, now: Date())
            }
            pool.apply(override, to: endpoint)
            services.logger.info("model settings changed", metadata: ["endpoint": "\(endpoint)"])
        }
        let settings = pool.settings(for: endpoint) ?? defaults.applying(override)
        var answer = ModelSettingsPatch.json(endpointID: endpoint, settings: settings, override: override)
        if let cache = services.submitter.resultCache, let entry = services.registry.entry(for: endpoint) {
            answer = ResultCacheSwitch.adding(await cache.isEnabled(for: entry), to: answer)
        }
        return JSON.response(answer.encoded())
    }
}
