import APITypes
import Foundation
import Hummingbird
import HummingbirdTesting
import ModelKit
import Testing

/// `GET /admin/requests`, `GET /admin/requests/{id}` and `GET /admin/residency`: what
/// `peregrine ps` and `peregrine logs` read.
@Suite("Admin API: requests and residency")
struct AdminRequestsTests {
    @Test("running first, then queued with positions; one request with its logs; limit bounded and checked")
    func requests() async throws {
        let h = try Harness.make()
        try await h.test { client in
            let first = try #require(try await client.send(.post, "/queue/test/gated", json: ["name": "a"]).json["request_id"]?.stringValue)
            #expect(try await h.nextStart() == "a")
            let second = try #require(try await client.send(.post, "/queue/test/gated", json: ["name": "b"]).json["request_id"]?.stringValue)

            let list = try await client.send(.get, "/admin/requests")
            #expect(list.status == .ok)
            let decoded = try JSONDecoder().decode(RequestList.self, from: Data(list.body.readableBytesView))
            #expect(decoded.requests.map(\.requestID) == [first, second])
            #expect(decoded.requests.map(\.state) == ["running", "queued"])
            #expect(decoded.requests.map(\.queuePosition) == [nil, 0])
            #expect(decoded.requests.allSatisfy { $0.logs == nil })

            let limited = try JSONDecoder().decode(RequestList.self, from: Data(try await client.send(.get, "/admin/requests?limit=1").body.readableBytesView))
            #expect(limited.requests.count == 1)
            #expect(try await client.send(.get, "/admin/requests?limit=-1").status == .unprocessableContent)
            #expect(try await client.send(.get, "/admin/requests?limit=many").status == .unprocessableContent)
            #expect(try await client.send(.post, "/admin/requests").status == .methodNotAllowed)

            let one = try await client.send(.get, "/admin/requests/\(first)?logs=1")
            let summary = try JSONDecoder().decode(RequestSummary.self, from: Data(one.body.readableBytesView))
            #expect(summary.endpointID == "test/gated")
            #expect(summary.logs?.map(\.message) == ["waiting for the gate"])
            #expect(try await client.send(.get, "/admin/requests/nope").status == .notFound)

            let residency = try JSONDecoder().decode(ResidencyReport.self, from: Data(try await client.send(.get, "/admin/residency").body.readableBytesView))
            #expect(residency.models.first?.endpointID == "test/gated")
            #expect(residency.models.first?.phase == "loaded")
            #expect(residency.models.first?.running == 1)
            h.gate.open()
            _ = try await h.waitForJob(second) { $0.state.isTerminal }
            let empty = try JSONDecoder().decode(RequestList.self, from: Data(try await client.send(.get, "/admin/requests").body.readableBytesView))
            #expect(empty.requests.isEmpty)
        }
    }
}
