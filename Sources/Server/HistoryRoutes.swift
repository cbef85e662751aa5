import APITypes
import Foundation
import Hummingbird
import JobQueue
import ModelKit
import Platform

/// fal's platform API for request history under `/v1`:
/// `GET /v1/models/requests/by-endpoint` lists an API key's requests of some endpoints, newest
/// first, with status, timings, filters and cursor pagination; `expand=payloads` adds each
/// request's input and output while they are stored. Admin keys (and everyone with auth off)
/// see every key's requests, other keys only their own.
enum HistoryRoutes {
    /// Longest accepted `cursor`, `request_id`, endpoint id and date value, in bytes.
    static let maxCursorBytes = 1024
    static let maxRequestIDBytes = 64
    static let maxEndpointIDBytes = 256
    static let maxDateBytes = 64
    /// How long a cursor stays valid.
    static let cursorLifetime: TimeInterval = 24 * 3600
    /// Default start: fal's last 24 hours, widened to 90 days when one request is asked for.
    static let defaultWindow: TimeInterval = 24 * 3600
    static let requestIDWindow: TimeInterval = 90 * 24 * 3600

    static func handle(_ call: APICall, services: APIServices) async throws -> Response {
        let rest = Array(call.segments.dropFirst())
        guard rest == ["models", "requests", "by-endpoint"] else { throw APIError.detail(.notFound, "Not Found") }
        try call.allow(.get)
        let caller = try call.authorizedCaller()
        guard let history = services.store as? any RequestHistoryStore else {
            throw APIError.detail(.notImplemented, "This server's job store keeps no request history")
        }
        let now = Date()
        let query = try parse(call, caller: caller, tokens: services.tokens, now: now)
        let page = try await history.requestHistory(query)
        let items = page.jobs.map { item($0, payloads: query.includePayloads) }
        let cursor = page.next.map { issueCursor($0, caller: caller, tokens: services.tokens, now: now) }
        return JSON.response(RequestHistoryResponse(items: items, nextCursor: cursor))
    }

    /// A job as a history item.
    static func item(_ job: Job, payloads: Bool) -> RequestHistoryItem {
        let status: QueueStatusKind = switch job.state {
        case .queued: .inQueue
        case .running: .inProgress
        case .completed, .failed, .cancelled: .completed
        }
        var item = RequestHistoryItem(
            requestID: job.id, endpointID: job.endpointID, sentAt: job.enqueuedAt, startedAt: job.startedAt,
            endedAt: job.finishedAt, statusCode: job.state.isTerminal ? job.result?.status : nil, status: status)
        if payloads {
            // `null` once dropped (`X-Fal-Store-IO: 0` after delivery) or while not produced yet.
            item.jsonInput = job.input.flatMap { try? JSONValue(parsing: $0) } ?? .null
            item.jsonOutput = job.result.flatMap { $0.body.isEmpty ? nil : try? JSONValue(parsing: $0.body) } ?? .null
        }
        return item
    }

    /// The query string as a bounded history query.
    /// - Throws: `APIError` 422 naming the parameter.
    static func parse(_ call: APICall, caller: Caller, tokens: TokenSigner, now: Date) throws -> RequestHistoryQuery {
        func invalid(_ name: String, _ msg: String, _ type: String = "value_error") -> APIError {
            APIError.validation([.key("query"), .key(name)], msg, type: type)
        }
        func values(_ name: String) -> [String] {
            call.request.uri.queryParameters[values: Substring(name)]
                .flatMap { ($0.removingPercentEncoding ?? String($0)).split(separator: ",") }
                .map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { !$0.isEmpty }
        }
        let endpoints = values("endpoint_id")
        guard !endpoints.isEmpty else { throw invalid("endpoint_id", "field required", "value_error.missing") }
        guard endpoints.count <= RequestHistoryQuery.maxEndpoints else {
            throw invalid("endpoint_id", "ensure at most \(RequestHistoryQuery.maxEndpoints) endpoint ids", "value_error.list.max_items")
        }
        guard endpoints.allSatisfy({ $0.utf8.count <= maxEndpointIDBytes }) else {
            throw invalid("endpoint_id", "ensure each value has at most \(maxEndpointIDBytes) characters", "value_error.any_str.max_length")
        }

        var limit = 50
        if let raw = call.query("limit") {
            guard let n = Int(raw), (1...RequestHistoryQuery.maxLimit).contains(n) else {
                throw invalid("limit", "ensure this value is an integer from 1 to \(RequestHistoryQuery.maxLimit)", "value_error.number.not_le")
            }
            limit = n
        }

        var requestID: String?
        if let raw = call.query("request_id") {
            guard !raw.isEmpty, raw.utf8.count <= maxRequestIDBytes else {
                throw invalid("request_id", "ensure this value has 1 to \(maxRequestIDBytes) characters", "value_error.any_str.max_length")
            }
            requestID = raw
        }

        let end = try call.query("end").map { try date($0, name: "end") } ?? now
        let start = try call.query("start").map { try date($0, name: "start") }
            ?? end.addingTimeInterval(-(requestID == nil ? defaultWindow : requestIDWindow))
        guard start < end else { throw invalid("start", "start must be before end") }

        var statuses: Set<RequestHistoryStatus>?
        let statusValues = values("status")
        if !statusValues.isEmpty {
            statuses = try Set(statusValues.map { raw in
                guard let status = RequestHistoryStatus(rawValue: raw.lowercased()) else {
                    let permitted = RequestHistoryStatus.allCases.map { "'\($0.rawValue)'" }.joined(separator: ", ")
                    throw invalid("status", "value is not a valid enumeration member; permitted: \(permitted)", "type_error.enum")
                }
                return status
            })
        }

        var includePayloads = false
        for value in values("expand") {
            guard value == "payloads" else {
                throw invalid("expand", "value is not a valid enumeration member; permitted: 'payloads'", "type_error.enum")
            }
            includePayloads = true
        }

        let after = try call.query("cursor").map { raw in
            guard let position = readCursor(raw, caller: caller, tokens: tokens, now: now) else {
                throw invalid("cursor", "invalid or expired cursor: pass next_cursor from a previous page unchanged")
            }
            return position
        }

        let owner: RequestHistoryOwner = caller.keyID.map { caller.isAdmin ? .everyone : .key($0) } ?? .everyone
        return RequestHistoryQuery(
            endpointIDs: endpoints, owner: owner, start: start, end: end, statuses: statuses, requestID: requestID,
            after: after, limit: limit, includePayloads: includePayloads)
    }

    /// An ISO-8601 instant (`2025-01-01T00:00:00Z`, with fractional seconds or an offset) or a
    /// date (`2025-01-01`, midnight UTC), as fal accepts them.
    /// - Throws: `APIError` 422 naming the parameter.
    static func date(_ raw: String, name: String) throws -> Date {
        let text = raw.trimmingCharacters(in: .whitespaces)
        // The formatter rolls impossible days over (02-30 reads as 03-02) and ignores what
        // follows a date: the calendar date is checked here, and a time must follow a `T`.
        if text.utf8.count <= maxDateBytes, hasValidCalendarDate(text) {
            let dateOnly = text.utf8.count == 10
            let choices: [ISO8601DateFormatter.Options] =
                dateOnly ? [[.withFullDate]] : [[.withInternetDateTime, .withFractionalSeconds], [.withInternetDateTime]]
            for options in choices where dateOnly || Array(text.utf8)[10] == UInt8(ascii: "T") {
                let formatter = ISO8601DateFormatter()
                formatter.formatOptions = options
                formatter.timeZone = TimeZone(identifier: "UTC")
                if let date = formatter.date(from: text) { return date }
            }
        }
        throw APIError.validation(
            [.key("query"), .key(name)], "invalid date: use ISO-8601, e.g. 2025-01-01T00:00:00Z or 2025-01-01",
            type: "value_error.datetime")
    }

    /// Whether `text` starts with `YYYY-MM-DD` naming a day that exists.
    static func hasValidCalendarDate(_ text: String) -> Bool {
        let b = Array(text.utf8.prefix(10))
        guard b.count == 10, b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-") else { return false }
        func number(_ range: Range<Int>) -> Int? {
            guard b[range].allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) else { return nil }
            return b[range].reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
        }
        guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10) else { return false }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return DateComponents(calendar: calendar, year: year, month: month, day: day).isValidDate
    }

    /// The subject a cursor is bound to: a cursor works only for the caller it was issued to.
    static func subject(of caller: Caller) -> String { caller.keyID ?? "anonymous" }

    static let cursorScopePrefix = "history:"

    /// An opaque cursor: the position, signed (HMAC, the storage-token key) and bound to the
    /// caller, so it cannot be forged or altered, and expiring. Its scope (`history:...`) is
    /// never `storage`, so the authenticator never takes a cursor for a credential.
    static func issueCursor(_ position: RequestHistoryPosition, caller: Caller, tokens: TokenSigner, now: Date) -> String {
        tokens.issue(
            subject: subject(of: caller), scope: "\(cursorScopePrefix)\(position.enqueuedAtMilliseconds):\(position.sequence)",
            expiresAt: now.addingTimeInterval(cursorLifetime))
    }

    /// The position of a cursor this server issued to `caller`, or `nil` (forged, altered,
    /// expired, another caller's, or not a cursor at all).
    static func readCursor(_ raw: String, caller: Caller, tokens: TokenSigner, now: Date) -> RequestHistoryPosition? {
        guard raw.utf8.count <= maxCursorBytes, let claims = tokens.verify(raw, now: now), claims.subject == subject(of: caller),
            claims.scope.hasPrefix(cursorScopePrefix)
        else { return nil }
        let parts = claims.scope.dropFirst(cursorScopePrefix.count).split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let ms = Int64(parts[0]), let seq = Int64(parts[1]) else { return nil }
        return RequestHistoryPosition(enqueuedAtMilliseconds: ms, sequence: seq)
    }
}
