import Foundation
import Testing
import Tensor
@testable import Media

/// A lock-protected log that tile callbacks on several threads append to.
final class SharedLog: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [Int] = []
    func append(_ value: Int) { lock.withLock { values.append(value) } }
    var all: [Int] { lock.withLock { values } }
}

@Suite("Tiling on several threads")
struct ConcurrentTilerTests {
    @Test("concurrent tiles stitch to the untiled result", arguments: [1, 2, 4])
    func exact(workers: Int) throws {
        let x = TilerTests.input(n: 2, h: 21, w: 30, seed: 8)
        let model: @Sendable (Tensor) -> Tensor = { TilerTests.nearest(TilerTests.blur($0), 2) }
        let tiler = try Tiler(tileSize: 6, overlap: 2, scale: 2)
        let log = SharedLog()
        let tiled = try tiler.runConcurrently(x, workers: workers, progress: { log.append($0.completed); return .proceed }, body: model)
        #expect(tiled.toArray() == model(x).toArray())
        let count = tiler.plan(height: 21, width: 30).count
        #expect(log.all.sorted() == Array(1...count))
    }

    @Test("stop and errors end the run without taking new tiles")
    func stopAndErrors() throws {
        let x = TilerTests.input(h: 24, w: 24)
        let tiler = try Tiler(tileSize: 4, overlap: 1)
        let calls = SharedLog()
        #expect {
            try tiler.runConcurrently(x, workers: 2, progress: { $0.completed == 3 ? .stop : .proceed }) {
                calls.append(1)
                return TilerTests.pointwise($0)
            }
        } throws: { ($0 as? MediaError)?.code == .cancelled }
        #expect(calls.all.count < 36 && calls.all.count >= 3)

        struct Boom: Error {}
        #expect(throws: Boom.self) { try tiler.runConcurrently(x, workers: 3) { _ in throw Boom() } }
        #expect { try tiler.runConcurrently(x, workers: 0) { $0 } } throws: { ($0 as? MediaError)?.code == .invalidArgument }
    }
}
