import ModelKit

/// The `result_cache` member of an admin settings body: kept apart from the runner settings
/// (`ModelSettingsPatch`), since the cache index, not the model settings store, persists it.
enum ResultCacheSwitch {
    /// `body` without `result_cache`, and what it asked for: `.some(true/false)` to set the
    /// switch, `.some(nil)` to clear it, `nil` when the member is absent.
    /// - Throws: `APIError` 422 when `result_cache` is neither a boolean nor `null`.
    static func split(_ body: JSONValue) throws -> (JSONValue, Bool??) {
        guard var members = body.objectValue, let value = members.removeValue(forKey: "result_cache") else { return (body, nil) }
        switch value {
        case .bool(let flag): return (.object(members), .some(flag))
        case .null: return (.object(members), .some(nil))
        default:
            throw APIError.validation([.key("body"), .key("result_cache")], "value could not be parsed to a boolean", type: "type_error.bool")
        }
    }

    /// `settings` (a settings answer) with `result_cache` added.
    static func adding(_ enabled: Bool, to settings: JSONValue) -> JSONValue {
        guard var members = settings.objectValue else { return settings }
        members["result_cache"] = .bool(enabled)
        return .object(members)
    }
}
