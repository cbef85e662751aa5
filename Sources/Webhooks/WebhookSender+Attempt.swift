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
    /// POSTs one delivery. The URL is checked against the policy on every attempt, and the
    /// connection goes to the address that was checked (`dnsOverride`), so a receiver whose name
    /// later resolves to an internal address is never reached. Redirects are not followed.
    func attempt(_ delivery: WebhookDelivery) async -> DeliveryOutcome {
        let checked: CheckedURL
        do {
            checked = try await urlPolicy.check(delivery.url)
        } catch let error as OutboundURLError {
            return .failed(error.message, permanent: error.code != .resolutionFailed)
        } catch {
            return .failed("\(error)", permanent: false)
        }

        let timestamp = Int64(now().timeIntervalSince1970)
        var request = HTTPClientRequest(url: delivery.url)
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
        let outcome: DeliveryOutcome
        do {
            let response = try await client.execute(request, timeout: .init(configuration.requestTimeout))
            // The answer's body is not used; read a little of it so the connection ends cleanly.
            _ = try? await response.body.collect(upTo: 64 * 1024)
            outcome = (200..<300).contains(response.status.code)
                ? .delivered : .failed("HTTP \(response.status.code)", permanent: false)
        } catch {
            outcome = .failed("\(error)", permanent: false)
        }
        try? await client.shutdown()
        return outcome
    }
}

extension TimeAmount {
    /// The same span as a `Duration`, at nanosecond precision.
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
