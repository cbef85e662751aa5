import Foundation
import JobQueue
import ModelKit
import Platform
import Runners

/// A `PATCH /admin/models/{endpoint}/settings` body: each field present sets that setting, a
/// field set to `null` returns it to its default, an absent field is left as it is.
public struct ModelSettingsPatch: Sendable {
    /// The settings a body may name, with their accepted ranges.
    static let integerFields: [String: ClosedRange<Int64>] = [
        "min_concurrency": 0...64, "max_concurrency": 1...64, "concurrency_buffer": 0...64,
    ]
    /// Seconds-valued settings and their accepted ranges.
    static let secondsFields: [String: ClosedRange<Double>] = [
        "keep_alive": 0...604_800, "startup_timeout": 1...86_400,
    ]

    private var changes: [String: JSONValue] = [:]

    /// Parses and range-checks a body.
    /// - Throws: `APIError` 422 naming each bad field.
    init(parsing body: JSONValue) throws {
        guard let members = body.objectValue else {
            throw APIError.validation([.key("body")], "expected a JSON object", type: "type_error.dict")
        }
        var issues: [ValidationIssue] = []
        for (key, value) in members.sorted(by: { $0.key < $1.key }) {
            let loc: [LocationComponent] = [.key("body"), .key(key)]
            if case .null = value {
                changes[key] = .null
                if Self.integerFields[key] == nil && Self.secondsFields[key] == nil {
                    issues.append(ValidationIssue(loc: loc, msg: "extra fields not permitted", type: "value_error.extra"))
                }
            } else if let range = Self.integerFields[key] {
                guard case .int(let v) = value else {
                    issues.append(ValidationIssue(loc: loc, msg: "value is not a valid integer", type: "type_error.integer"))
                    continue
                }
                guard range.contains(v) else {
                    issues.append(ValidationIssue(
                        loc: loc, msg: "ensure this value is between \(range.lowerBound) and \(range.upperBound)",
                        type: "value_error.number.not_in_range"))
                    continue
                }
                changes[key] = value
            } else if let range = Self.secondsFields[key] {
                guard let v = value.doubleValue, v.isFinite else {
                    issues.append(ValidationIssue(loc: loc, msg: "value is not a valid number", type: "type_error.float"))
                    continue
                }
                guard range.contains(v) else {
                    issues.append(ValidationIssue(
                        loc: loc, msg: "ensure this value is between \(Int(range.lowerBound)) and \(Int(range.upperBound)) seconds",
                        type: "value_error.number.not_in_range"))
                    continue
                }
                changes[key] = .double(v)
            } else {
                issues.append(ValidationIssue(loc: loc, msg: "extra fields not permitted", type: "value_error.extra"))
            }
        }
        guard issues.isEmpty else { throw APIError.validation(issues) }
    }

    /// `override` with this patch applied.
    func applied(to override: ModelSettingsOverride) -> ModelSettingsOverride {
        var o = override
        for (key, value) in changes {
            switch key {
            case "keep_alive": o.keepAlive = value.doubleValue
            case "startup_timeout": o.startupTimeout = value.doubleValue
            case "min_concurrency": o.minConcurrency = value.intValue.map { Int($0) }
            case "max_concurrency": o.maxConcurrency = value.intValue.map { Int($0) }
            case "concurrency_buffer": o.concurrencyBuffer = value.intValue.map { Int($0) }
            default: break
            }
        }
        return o
    }

    /// `override` with the patch `body` applied, checked against the settings it would put in
    /// force over `defaults` (for tools that edit the store without the HTTP API).
    /// - Throws: `ConfigurationError` with the 422 body's text when the body is invalid.
    public static func applying(_ body: JSONValue, to override: ModelSettingsOverride, defaults: ResidencySettings) throws -> ModelSettingsOverride {
        do {
            let result = try ModelSettingsPatch(parsing: body).applied(to: override)
            try validate(defaults.applying(result))
            return result
        } catch let error as APIError {
            throw ConfigurationError(String(decoding: error.body, as: UTF8.self))
        }
    }

    /// Checks the combination that would be in force.
    /// - Throws: `APIError` 422 when `min_concurrency` exceeds `max_concurrency`.
    static func validate(_ settings: ResidencySettings) throws {
        guard settings.minConcurrency <= settings.maxConcurrency else {
            throw APIError.validation(
                [.key("body"), .key("min_concurrency")],
                "min_concurrency (\(settings.minConcurrency)) must not exceed max_concurrency (\(settings.maxConcurrency))",
                type: "value_error")
        }
    }

    /// The JSON form of a model's settings: those in force, and which of them are overridden.
    public static func json(endpointID: String, settings: ResidencySettings, override: ModelSettingsOverride) -> JSONValue {
        var overrides: [String: JSONValue] = [:]
        if let v = override.keepAlive { overrides["keep_alive"] = .double(v) }
        if let v = override.minConcurrency { overrides["min_concurrency"] = .int(Int64(v)) }
        if let v = override.maxConcurrency { overrides["max_concurrency"] = .int(Int64(v)) }
        if let v = override.concurrencyBuffer { overrides["concurrency_buffer"] = .int(Int64(v)) }
        if let v = override.startupTimeout { overrides["startup_timeout"] = .double(v) }
        return [
            "endpoint_id": .string(endpointID),
            "keep_alive": .double(settings.keepAliveSeconds),
            "min_concurrency": .int(Int64(settings.minConcurrency)),
            "max_concurrency": .int(Int64(settings.maxConcurrency)),
            "concurrency_buffer": .int(Int64(settings.concurrencyBuffer)),
            "startup_timeout": settings.startupTimeoutSeconds.map { .double($0) } ?? .null,
            "overrides": .object(overrides),
        ]
    }
}
