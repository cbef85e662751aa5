import Crypto
import Foundation
import JobQueue
import Platform
import Tensor
import Testing

@testable import Server

@Suite("History cursors and dates")
struct HistoryCursorTests {
    let tokens = TokenSigner(key: SymmetricKey(size: .bits256))
    let now = Date(timeIntervalSince1970: 1_800_000_000)
    let alice = Caller(keyID: "pk_alice")

    @Test("a cursor reads back its position for its caller only, until it expires")
    func roundTrip() {
        let position = RequestHistoryPosition(enqueuedAtMilliseconds: 1_800_000_000_123, sequence: 42)
        let cursor = HistoryRoutes.issueCursor(position, caller: alice, tokens: tokens, now: now)
        #expect(HistoryRoutes.readCursor(cursor, caller: alice, tokens: tokens, now: now) == position)
        #expect(HistoryRoutes.readCursor(cursor, caller: Caller(keyID: "pk_bob"), tokens: tokens, now: now) == nil)
        #expect(HistoryRoutes.readCursor(cursor, caller: Caller(keyID: nil), tokens: tokens, now: now) == nil)
        let later = now.addingTimeInterval(HistoryRoutes.cursorLifetime + 1)
        #expect(HistoryRoutes.readCursor(cursor, caller: alice, tokens: tokens, now: later) == nil)
        // Another server's key, or a storage token of the same key, is no cursor.
        let other = TokenSigner(key: SymmetricKey(size: .bits256))
        #expect(HistoryRoutes.readCursor(cursor, caller: alice, tokens: other, now: now) == nil)
        let storage = tokens.issue(subject: "pk_alice", scope: "storage", expiresAt: now.addingTimeInterval(60))
        #expect(HistoryRoutes.readCursor(storage, caller: alice, tokens: tokens, now: now) == nil)
    }

    @Test("every single-byte change of a cursor, and random text, is rejected without a trap", arguments: 0..<8)
    func mutationsAreRejected(seed: Int) {
        var rng = SplitMix64(seed: UInt64(seed))
        let position = RequestHistoryPosition(enqueuedAtMilliseconds: Int64(rng.next() >> 20), sequence: Int64(rng.next() >> 40))
        let cursor = Array(HistoryRoutes.issueCursor(position, caller: alice, tokens: tokens, now: now).utf8)
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/%:".utf8)
        for i in cursor.indices {
            var mutated = cursor
            repeat { mutated[i] = alphabet[Int(rng.next() % UInt64(alphabet.count))] } while mutated[i] == cursor[i]
            let text = String(decoding: mutated, as: UTF8.self)
            // A change in the base64 padding bits can decode to the same bytes; anything read
            // back must then be the original position.
            let read = HistoryRoutes.readCursor(text, caller: alice, tokens: tokens, now: now)
            #expect(read == nil || read == position, "byte \(i)")
        }
        for _ in 0..<200 {
            let length = Int(rng.next() % 300)
            let text = String(decoding: (0..<length).map { _ in UInt8(truncatingIfNeeded: rng.next()) }, as: UTF8.self)
            #expect(HistoryRoutes.readCursor(text, caller: alice, tokens: tokens, now: now) == nil)
            _ = try? HistoryRoutes.date(text, name: "start")
        }
    }

    @Test("dates: ISO-8601 instants and plain dates as fal takes them; anything else is a 422")
    func dates() throws {
        #expect(try HistoryRoutes.date("2025-01-01", name: "start") == Date(timeIntervalSince1970: 1_735_689_600))
        #expect(try HistoryRoutes.date("2025-01-01T00:00:00Z", name: "start") == Date(timeIntervalSince1970: 1_735_689_600))
        #expect(try HistoryRoutes.date("2025-01-01T01:00:00+01:00", name: "start") == Date(timeIntervalSince1970: 1_735_689_600))
        #expect(try HistoryRoutes.date("2025-01-01T00:00:00.500Z", name: "end") == Date(timeIntervalSince1970: 1_735_689_600.5))
        for bad in [
            "", "2025", "yesterday", "2025-02-30", "2025-02-30T00:00:00Z", "2025-01-01junk", "2025-01-01 00:00:00Z",
            "2025-13-01", "1735689600", String(repeating: "2", count: 100),
        ] {
            #expect(throws: APIError.self, "\(bad)") { try HistoryRoutes.date(bad, name: "start") }
        }
    }
}
