import Foundation
import Hummingbird
import JobQueue
import ModelKit
import Platform

/// The `X-Fal-*` request headers honoured on submit, parsed strictly: a malformed value is a 422
/// naming the header, never silently ignored.
extension SubmitOptions {
    /// Parses the headers of `request`.
    /// - Throws: `APIError` 422 with `loc: ["header", name]`.
    init(headers: HTTPFields, limits: Limits = Limits()) throws {
        self.init()
        func invalid(_ name: String, _ msg: String, _ type: String = "value_error") -> APIError {
            APIError.validation([.key("header"), .key(name.lowercased())], msg, type: type)
        }
        if let raw = headers[.falQueuePriority] {
            switch raw.trimmingCharacters(in: .whitespaces).lowercased() {
            case "normal": priority = .normal
            case "low": priority = .low
            default:
                throw invalid("X-Fal-Queue-Priority", "value is not a valid enumeration member; permitted: 'normal', 'low'", "type_error.enum")
            }
        }
        if let raw = headers[.falRequestTimeout] {
            guard let seconds = Double(raw.trimmingCharacters(in: .whitespaces)), seconds.isFinite else {
                throw invalid("X-Fal-Request-Timeout", "value is not a valid float", "type_error.float")
            }
            guard seconds > 0 else {
                throw invalid("X-Fal-Request-Timeout", "ensure this value is greater than 0", "value_error.number.not_gt")
            }
            guard seconds <= limits.maxRequestTimeout else {
                throw invalid(
                    "X-Fal-Request-Timeout", "ensure this value is less than or equal to \(Self.format(limits.maxRequestTimeout))",
                    "value_error.number.not_le")
            }
            startTimeout = seconds
        }
        if let raw = headers[.falNoRetry] {
            guard let flag = Self.flag(raw) else {
                throw invalid("X-Fal-No-Retry", "value could not be parsed to a boolean", "type_error.bool")
            }
            noRetry = flag
        }
        if let raw = headers[.falStoreIO] {
            guard let flag = Self.flag(raw) else {
                throw invalid("X-Fal-Store-IO", "value could not be parsed to a boolean", "type_error.bool")
            }
            storeIO = flag
        }
        if let raw = headers[.falRunnerHint] {
            let hint = raw.trimmingCharacters(in: .whitespaces)
            guard hint.utf8.count <= 256 else {
                throw invalid("X-Fal-Runner-Hint", "ensure this value has at most 256 characters", "value_error.any_str.max_length")
            }
            runnerHint = hint.isEmpty ? nil : hint
        }
        if let raw = headers[.falObjectLifecycle] {
            objectLifetime = try Self.lifetime(raw, header: "X-Fal-Object-Lifecycle-Preference", max: limits.maxObjectLifetime)
        }
    }

    /// Parses `{"expiration_duration_seconds": N}` (N a positive integer of at most `max`).
    /// - Throws: `APIError` 422 naming the header and the field.
    static func lifetime(_ raw: String, header: String, max: TimeInterval) throws -> TimeInterval {
        let loc: [LocationComponent] = [.key("header"), .key(header.lowercased())]
        guard let value = try? JSONValue(parsing: Data(raw.utf8)), case .object(let o) = value else {
            throw APIError.validation(loc, "value is not a valid JSON object", type: "value_error.jsondecode")
        }
        guard let n = o["expiration_duration_seconds"] else {
            throw APIError.validation(loc + [.key("expiration_duration_seconds")], "field required", type: "value_error.missing")
        }
        guard case .int(let seconds) = n else {
            throw APIError.validation(loc + [.key("expiration_duration_seconds")], "value is not a valid integer", type: "type_error.integer")
        }
        guard seconds > 0 else {
            throw APIError.validation(
                loc + [.key("expiration_duration_seconds")], "ensure this value is greater than 0", type: "value_error.number.not_gt")
        }
        guard TimeInterval(seconds) <= max else {
            throw APIError.validation(
                loc + [.key("expiration_duration_seconds")], "ensure this value is less than or equal to \(format(max))",
                type: "value_error.number.not_le")
        }
        return TimeInterval(seconds)
    }

    /// A limit in seconds as a message shows it (`2592000`, `0.5`).
    static func format(_ seconds: TimeInterval) -> String {
        if let whole = Int64(exactly: seconds) { return String(whole) }
        return String(seconds)
    }

    /// `1|true|yes` and `0|false|no`, any case.
    static func flag(_ raw: String) -> Bool? {
        switch raw.trimmingCharacters(in: .whitespaces).lowercased() {
        case "1", "true", "yes": return true
        case "0", "false", "no": return false
        default: return nil
        }
    }
}
