import AsyncHTTPClient
import Foundation
import JobQueue
import NIOCore

/// The result of one delivery attempt.
enum DeliveryOutcome: Sendable, Equatable {
    case delivered
    /// `permanent`: retrying cannot help (the URL is refused by policy).
    case failed(String, permanent: Bool)
}

extension WebhookSender {
    /// POSTs one delivery, all of it (lookup, connect, send, response) within `requestTimeout`.
    /// The URL is checked against the policy on every attempt: its name is resolved here, not
    /// at submit, and the connection goes to the address that was checked (`dnsOverride`), so
    /// a receiver whose name later resolves to an internal address is never reached. Redirects
    /// are not followed, and at most `maxResponseBytes` of the answer are read.
    func attempt(_ delivery: WebhookDelivery) async -> DeliveryOutcome {
        do {
            return try await withDeadline(configuration.requestTimeout) { try await exchange(delivery) }
        } catch let error as OutboundURLError {
            return .failed(error.message, permanent: error.code != .resolutionFailed)
        } catch let error as DeadlineExceeded {
            return .failed("the receiver \(error)", permanent: false)
        } catch {
            return .failed("\(error)", permanent: false)
        }
    }

    private func exchange(_ delivery: WebhookDelivery) async throws -> DeliveryOutcome {
        let checked = try await urlPolicy.check(delivery.url)

        let timestamp = Int64(now().timeIntervalSince1970)
        var request = HTTPClientRequest(url: checked.requestURL)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: configuration.userAgent)
        do {
            for (name, value) in try signer.headers(
                requestID: delivery.requestID, userID: delivery.userID ?? configuration.defaultUserID,
                timestamp: timestamp, body: delivery.body)
            {
                request.headers.add(name: name, value: value)
            }
        } catch {
            return .failed("signing failed: \(error)", permanent: false)
        }
        request.body = .bytes(ByteBuffer(bytes: delivery.body))

        // One client per attempt: its `dnsOverride` pins this receiver's checked address.
        var clientConfiguration = HTTPClient.Configuration()
        clientConfiguration.redirectConfiguration = .disallow
        clientConfiguration.timeout = .init(
            connect: .init(configuration.connectTimeout), read: .init(configuration.requestTimeout))
        clientConfiguration.dnsOverride = checked.dnsOverride
        let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: clientConfiguration)
        let outcome: Result<DeliveryOutcome, any Error>
        do {
            let response = try await client.execute(request, timeout: .init(configuration.requestTimeout))
            // The answer's body is not used; read a little of it so the connection ends cleanly.
            // An answer cut off (by the deadline or the receiver) fails the attempt, whichever
            // of the client's timeout and the attempt's deadline fires first; a long one does not.
            do {
                _ = try await response.body.collect(upTo: configuration.maxResponseBytes)
            } catch is NIOTooManyBytesError {
                // Only the status counts.
            }
            try Task.checkCancellation()
            outcome = .success(
                (200..<300).contains(response.status.code) ? .delivered : .failed("HTTP \(response.status.code)", permanent: false))
        } catch {
            outcome = .failure(error)
        }
        try? await client.shutdown()
        return try outcome.get()
    }
}

extension TimeAmount {
    /// The same span as a `Duration`, at nanosecond precision.
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
