import Foundation
import Hummingbird
import HummingbirdTesting
@testable import JobQueue
import ModelKit
import Platform
@testable import Runners
import Server
import TestSupport
import Testing

/// Counts the runs of the cached test model.
/// `@unchecked Sendable`: `runs` is only touched under `lock`.
private final class RunCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var runs = 0
    func increment() { lock.withLock { runs += 1 } }
    var count: Int { lock.withLock { runs } }
}

/// A deterministic "upscaler" for the cache tests: reads `image_url`, stores its bytes reversed
/// as the output file, counts its runs and, when given a gate, waits for it after announcing
/// each start.
private struct CachedFileModel: Model {
    var endpointID = "test/cached"
    var version = "1.0.0"
    var determinism: Determinism = .deterministic
    var maxConcurrency = 4
    var path = ""
    let counter: RunCounter
    var gate: Gate? = nil
    var started: AsyncStream<Void>.Continuation? = nil

    var manifest: ModelManifest {
        ModelManifest(
            endpointID: endpointID, version: version, category: "image-to-image", displayName: "Cached",
            description: "Reverses a file, deterministically.",
            inputSchema: [
                "type": "object",
                "properties": [
                    "image_url": ["type": "string"], "seed": ["type": "integer"], "scale": ["type": "integer", "default": 2],
                    "sync_mode": ["type": "boolean", "default": false],
                ],
                "required": ["image_url"],
            ],
            outputSchema: ["type": "object"], schemaName: "Cached", maxConcurrency: maxConcurrency, determinism: determinism)
    }

    var computePath: String { path }

    func load(context: LoadContext) async throws -> any LoadedModel { Loaded(model: self) }

    struct Loaded: LoadedModel {
        let model: CachedFileModel
        var footprintBytes: Int { 0 }
        func run(input: JSONValue, context: any RunContext) async throws -> JSONValue {
            model.counter.increment()
            model.started?.yield()
            if let gate = model.gate { await gate.wait() }
            try context.checkCancellation()
            let file = try await context.fetch(input["image_url"]?.stringValue ?? "", field: "image_url")
            let stored = try await context.store(Data(file.data.reversed()), contentType: "image/png", fileName: "out.png")
            return ["image": stored.json(extra: ["width": 1, "height": 1]), "seed": input["seed"] ?? .null]
        }
    }
}

/// Deterministic bytes of a given length, varied by `salt`.
private func bytes(_ count: Int, salt: UInt8 = 0) -> Data {
    Data((0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31) ^ salt })
}

private func dataURI(_ data: Data) -> String { "data:image/png;base64," + data.base64EncodedString() }

private let cacheHeader = HTTPField.Name("X-Peregrine-Cache")!

extension TestClientProtocol {
    /// Submits to the queue; answers the request id and the cache header.
    fileprivate func submit(_ endpoint: String, _ input: JSONValue, headers: HTTPFields = [:]) async throws -> (id: String, cache: String?) {
        let response = try await send(.post, "/queue/\(endpoint)", json: input, headers: headers)
        #expect(response.status == .ok)
        return (try #require(try response.json["request_id"]?.stringValue), response.headers[cacheHeader])
    }

    /// The result body of a finished request.
    fileprivate func result(_ app: String, _ id: String) async throws -> JSONValue {
        try await send(.get, "/queue/\(app)/requests/\(id)").json
    }

    /// The bytes behind an output file URL.
    fileprivate func fileBytes(_ output: JSONValue) async throws -> Data {
        let url = try #require(output["image"]?["url"]?.stringValue)
        let response = try await send(.get, pathOf(url))
        #expect(response.status == .ok)
        return Data(response.body.readableBytesView)
    }
}

@Suite("Result cache")
struct ResultCacheTests {
    @Test("a repeated upscale is a hit: no run, its own file URL, the same bytes, a log line")
    func repeatedUpscaleHits() async throws {
        let counter = RunCounter()
        let h = try Harness.make(extraModels: [CachedFileModel(counter: counter)])
        try await h.test { client in
            let input: JSONValue = ["image_url": .string(dataURI(bytes(3000)))]
            let first = try await client.send(.post, "/run/test/cached", json: input)
            #expect(first.status == .ok)
            #expect(first.headers[cacheHeader] == "miss")
            let second = try await client.send(.post, "/run/test/cached", json: input)
            #expect(second.status == .ok)
            #expect(second.headers[cacheHeader] == "hit")
            #expect(counter.count == 1, "a hit runs nothing")
            let a = try first.json
            let b = try second.json
            #expect(a["image"]?["url"] != b["image"]?["url"], "each request gets its own URL")
            let firstBytes = try await client.fileBytes(a)
            #expect(firstBytes == Data(bytes(3000).reversed()))
            #expect(try await client.fileBytes(b) == firstBytes)

            // The streaming run says so too, and its last event is the stored output.
            let streamed = try await client.send(.post, "/run/test/cached/stream", json: input, headers: [.accept: "text/event-stream"])
            #expect(streamed.headers[cacheHeader] == "hit")
            #expect(streamed.text.contains("out.png"))

            // Through the queue: answered COMPLETED at once, with a log line saying so.
            let queued = try await client.submit("test/cached", input)
            #expect(queued.cache == "hit")
            let status = try await client.send(.get, "/queue/test/cached/requests/\(queued.id)/status?logs=1")
            #expect(status.status == .ok)
            let logs = try status.json["logs"]?.arrayValue ?? []
            #expect(logs.contains { $0["message"]?.stringValue?.hasPrefix("Result cache hit") == true })
            #expect(try await client.fileBytes(try await client.result("test/cached", queued.id)) == firstBytes)
            #expect(counter.count == 1)
            // /metrics counts them: one miss, then three hits (run, streaming run, queue).
            let metrics = try await client.send(.get, "/metrics").text
            #expect(metrics.contains(#"peregrine_result_cache_requests_total{model="test/cached",verdict="miss"} 1"#), "\(metrics)")
            #expect(metrics.contains(#"peregrine_result_cache_requests_total{model="test/cached",verdict="hit"} 3"#), "\(metrics)")
        }
    }

    @Test("a changed input byte, a changed seed or a request without a seed to a seeded model is a miss")
    func changesMiss() async throws {
        let counter = RunCounter()
        let seeded = RunCounter()
        let h = try Harness.make(extraModels: [
            CachedFileModel(counter: counter),
            CachedFileModel(endpointID: "test/seeded", determinism: .seeded, counter: seeded),
        ])
        try await h.test { client in
            let original = bytes(2000)
            var changed = original
            changed[1234] ^= 1
            #expect(try await client.send(.post, "/run/test/cached", json: ["image_url": .string(dataURI(original))]).headers[cacheHeader] == "miss")
            #expect(try await client.send(.post, "/run/test/cached", json: ["image_url": .string(dataURI(changed))]).headers[cacheHeader] == "miss")
            #expect(try await client.send(.post, "/run/test/cached", json: ["image_url": .string(dataURI(changed))]).headers[cacheHeader] == "hit")
            // Another option value is another request.
            #expect(try await client.send(.post, "/run/test/cached", json: ["image_url": .string(dataURI(original)), "scale": 4]).headers[cacheHeader] == "miss")
            // Canonical numbers: 4.0 is the same request as 4.
            #expect(try await client.send(.post, "/run/test/cached", json: ["image_url": .string(dataURI(original)), "scale": 4.0]).headers[cacheHeader] == "hit")
            #expect(counter.count == 3)

            let image = JSONValue.string(dataURI(original))
            #expect(try await client.send(.post, "/run/test/seeded", json: ["image_url": image, "seed": 1]).headers[cacheHeader] == "miss")
            #expect(try await client.send(.post, "/run/test/seeded", json: ["image_url": image, "seed": 1]).headers[cacheHeader] == "hit")
            #expect(try await client.send(.post, "/run/test/seeded", json: ["image_url": image, "seed": 2]).headers[cacheHeader] == "miss")
            // No explicit seed: a fresh random result is asked for, never a stored one.
            _ = try await client.send(.post, "/run/test/seeded", json: ["image_url": image])
            _ = try await client.send(.post, "/run/test/seeded", json: ["image_url": image])
            #expect(seeded.count == 4)
        }
    }

    @Test("another model version, weights or compute path gives another key; an uploaded file is keyed by its bytes")
    func modelIdentityInKey() async throws {
        let counter = RunCounter()
        let h = try Harness.make(extraModels: [CachedFileModel(counter: counter)])
        let cache = try #require(h.platform.resultCache)
        let input: JSONValue = ["image_url": .string(dataURI(bytes(100))), "scale": 2, "sync_mode": false]
        func key(_ model: CachedFileModel) async throws -> String? {
            let entry = try #require(try ModelRegistry([model]).entry(for: model.endpointID))
            return await cache.key(for: entry, submitted: input, validated: input)
        }
        let base = try #require(try await key(CachedFileModel(counter: counter)))
        #expect(try await key(CachedFileModel(counter: counter)) == base, "keys are stable")
        #expect(try await key(CachedFileModel(version: "1.0.1", counter: counter)) != base)
        #expect(try await key(CachedFileModel(path: "avx512/bf16", counter: counter)) != base)
        #expect(try await key(CachedFileModel(determinism: .none, counter: counter)) == nil)

        // A file of this server is keyed by the bytes it holds, like the same bytes inline.
        let blob = try await h.platform.blobs.put(bytes(100), contentType: "image/png", fileName: "in.png", expiresAt: nil)
        let url = FileNames.url(base: h.platform.configuration.publicBaseURL, id: blob.id, name: "in.png")
        var byURL = input
        if case .object(var o) = byURL { o["image_url"] = .string(url); byURL = .object(o) }
        let entry = try #require(h.platform.registry.entry(for: "test/cached"))
        #expect(await cache.key(for: entry, submitted: byURL, validated: byURL) == base)
        // A remote file's bytes are unknown before the run: not cached.
        var remote = input
        if case .object(var o) = remote { o["image_url"] = "https://example.com/a.png"; remote = .object(o) }
        #expect(await cache.key(for: entry, submitted: remote, validated: remote) == nil)
        try? FileManager.default.removeItem(at: h.platform.configuration.home)
    }

    @Test("entries survive a restart; a new model version on the same home is a miss")
    func restartAndVersion() async throws {
        let counter = RunCounter()
        let input: JSONValue = ["image_url": .string(dataURI(bytes(900)))]
        let first = try Harness.make(extraModels: [CachedFileModel(counter: counter)])
        let home = first.platform.configuration.home
        defer { try? FileManager.default.removeItem(at: home) }
        try await first.test(keepHome: true) { client in
            let computed = try await client.send(.post, "/run/test/cached", json: input)
            #expect(computed.headers[cacheHeader] == "miss")
        }
        let sameVersion = try Harness.make(extraModels: [CachedFileModel(counter: counter)]) { $0.home = home }
        try await sameVersion.test(keepHome: true) { client in
            let again = try await client.send(.post, "/run/test/cached", json: input)
            #expect(again.headers[cacheHeader] == "hit")
            #expect(try await client.fileBytes(try again.json) == Data(bytes(900).reversed()))
        }
        let newVersion = try Harness.make(extraModels: [CachedFileModel(version: "1.1.0", counter: counter)]) { $0.home = home }
        try await newVersion.test(keepHome: true) { client in
            let computed = try await client.send(.post, "/run/test/cached", json: input)
            #expect(computed.headers[cacheHeader] == "miss")
        }
        #expect(counter.count == 2)
    }

    @Test("10 concurrent identical submits run the model once; each has its own id and URL")
    func concurrentIdenticalRunOnce() async throws {
        let counter = RunCounter()
        let gate = Gate()
        let (started, start) = AsyncStream<Void>.makeStream()
        let h = try Harness.make(extraModels: [CachedFileModel(counter: counter, gate: gate, started: start)])
        try await h.test { client in
            let input: JSONValue = ["image_url": .string(dataURI(bytes(1500)))]
            let submitted = try await withThrowingTaskGroup(of: (id: String, cache: String?).self) { group in
                for _ in 0..<10 { group.addTask { try await client.submit("test/cached", input) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(submitted.allSatisfy { $0.cache == "miss" })
            #expect(Set(submitted.map(\.id)).count == 10)
            var iterator = started.makeAsyncIterator()
            _ = await iterator.next()
            gate.open()
            var outputs: [JSONValue] = []
            for s in submitted {
                let job = try await h.waitForJob(s.id) { $0.state.isTerminal }
                #expect(job.state == .completed)
                outputs.append(try await client.result("test/cached", s.id))
            }
            #expect(counter.count == 1, "one computation for ten requests")
            #expect(Set(outputs.compactMap { $0["image"]?["url"]?.stringValue }).count == 10)
            for output in outputs { #expect(try await client.fileBytes(output) == Data(bytes(1500).reversed())) }
        }
    }

    @Test("cancelling waiters, the one that started the computation included, leaves the others' result intact")
    func cancellingOneWaiter() async throws {
        let counter = RunCounter()
        let gate = Gate()
        let (started, start) = AsyncStream<Void>.makeStream()
        let h = try Harness.make(extraModels: [CachedFileModel(counter: counter, gate: gate, started: start)])
        try await h.test { client in
            let input: JSONValue = ["image_url": .string(dataURI(bytes(800)))]
            let a = try await client.submit("test/cached", input)
            var iterator = started.makeAsyncIterator()
            _ = await iterator.next()
            let b = try await client.submit("test/cached", input)
            let c = try await client.submit("test/cached", input)
            let key = try #require(await h.platform.resultCache?.pendingKey(jobID: a.id))
            // Both later requests joined the computation in flight.
            let joined = try await withHangGuard {
                while h.platform.pool.sharedRuns.waiters(of: key) < 3 { try await Task.sleep(for: .milliseconds(5)) }
                return true
            }
            #expect(joined == true)
            #expect(try await client.send(.put, "/queue/test/cached/requests/\(a.id)/cancel").status == .accepted)
            #expect(try await h.waitForJob(a.id) { $0.state.isTerminal }.state == .cancelled)
            #expect(try await client.send(.put, "/queue/test/cached/requests/\(b.id)/cancel").status == .accepted)
            #expect(try await h.waitForJob(b.id) { $0.state.isTerminal }.state == .cancelled)
            #expect(h.platform.pool.sharedRuns.waiters(of: key) == 1, "the computation goes on for the last waiter")
            gate.open()
            let finished = try await h.waitForJob(c.id) { $0.state.isTerminal }
            #expect(finished.state == .completed, "\(String(decoding: finished.result?.body ?? Data(), as: UTF8.self))")
            #expect(try await client.fileBytes(try await client.result("test/cached", c.id)) == Data(bytes(800).reversed()))
            #expect(counter.count == 1)
        }
    }

    @Test("bypass and X-Fal-Store-IO: 0 are never cached; a bad header value is a 422")
    func bypassAndStoreIO() async throws {
        let counter = RunCounter()
        let h = try Harness.make(extraModels: [CachedFileModel(counter: counter)])
        try await h.test { client in
            let input: JSONValue = ["image_url": .string(dataURI(bytes(700)))]
            let bypass: HTTPFields = [cacheHeader: "bypass"]
            let noStore: HTTPFields = [HTTPField.Name("X-Fal-Store-IO")!: "0"]
            #expect(try await client.send(.post, "/run/test/cached", json: input, headers: bypass).headers[cacheHeader] == "bypass")
            #expect(try await client.send(.post, "/run/test/cached", json: input, headers: noStore).headers[cacheHeader] == "miss")
            #expect(try await client.send(.post, "/run/test/cached", json: input, headers: noStore).headers[cacheHeader] == "miss")
            #expect(try await client.send(.post, "/run/test/cached", json: input).headers[cacheHeader] == "miss", "nothing was stored so far")
            #expect(try await client.send(.post, "/run/test/cached", json: input, headers: bypass).headers[cacheHeader] == "bypass")
            #expect(counter.count == 5)
            #expect(try await client.send(.post, "/run/test/cached", json: input).headers[cacheHeader] == "hit")
            #expect(counter.count == 5)
            let bad = try await client.send(.post, "/run/test/cached", json: input, headers: [cacheHeader: "sometimes"])
            #expect(bad.status == .unprocessableContent)
            #expect(try bad.json["detail"]?.arrayValue?.first?["loc"] == ["header", "x-peregrine-cache"])
        }
    }

    @Test("the admin switch turns one model's cache off and back on")
    func adminSwitch() async throws {
        let counter = RunCounter()
        let h = try Harness.make(extraModels: [CachedFileModel(counter: counter)])
        try await h.test { client in
            let input: JSONValue = ["image_url": .string(dataURI(bytes(600)))]
            let off = try await client.send(.patch, "/admin/models/test/cached/settings", json: ["result_cache": false])
            #expect(off.status == .ok)
            #expect(try off.json["result_cache"] == false)
            _ = try await client.send(.post, "/run/test/cached", json: input)
            #expect(try await client.send(.post, "/run/test/cached", json: input).headers[cacheHeader] == nil)
            #expect(counter.count == 2)
            #expect(try await client.send(.patch, "/admin/models/test/cached/settings", json: ["result_cache": .null]).json["result_cache"] == true)
            _ = try await client.send(.post, "/run/test/cached", json: input)
            #expect(try await client.send(.post, "/run/test/cached", json: input).headers[cacheHeader] == "hit")
            #expect(try await client.send(.patch, "/admin/models/test/cached/settings", json: ["result_cache": "yes"]).status == .unprocessableContent)
        }
    }

    @Test("the LRU budget evicts the least recently used entry and never deletes a blob an entry still references")
    func lruBudget() async throws {
        let counter = RunCounter()
        // Two entries of about 4.4 kB fit, a third does not.
        let h = try Harness.make(extraModels: [CachedFileModel(counter: counter)]) { $0.resultCacheBytes = 10_000 }
        try await h.test { client in
            let inputs: [JSONValue] = (0..<3).map { ["image_url": .string(dataURI(bytes(4000, salt: UInt8($0 + 1))))] }
            let a = try await client.send(.post, "/run/test/cached", json: inputs[0]).json
            let b = try await client.send(.post, "/run/test/cached", json: inputs[1]).json
            // A used again: B is now the least recently used.
            #expect(try await client.send(.post, "/run/test/cached", json: inputs[0]).headers[cacheHeader] == "hit")
            _ = try await client.send(.post, "/run/test/cached", json: inputs[2])
            #expect(try await h.platform.resultCache?.index.totalBytes() ?? .max <= 10_000)

            // The sweeper runs far in the future: B's file (no longer referenced) goes once its
            // promised lifetime passed; A's and C's (referenced) stay.
            let swept = try await h.platform.blobs.sweepExpired(now: Date().addingTimeInterval(400 * 86_400))
            func blobID(_ output: JSONValue) throws -> String {
                let url = try #require(output["image"]?["url"]?.stringValue)
                let id = try #require(URL(string: url)?.pathComponents.dropFirst(2).first)
                // Each request's URL names the shared blob through its own id.
                return h.platform.uploads.blobID(for: id) ?? id
            }
            #expect(swept.contains(try blobID(b)))
            #expect(!swept.contains(try blobID(a)))
            #expect(try await client.send(.post, "/run/test/cached", json: inputs[0]).headers[cacheHeader] == "hit")
            #expect(try await client.send(.post, "/run/test/cached", json: inputs[2]).headers[cacheHeader] == "hit")
            #expect(try await client.send(.post, "/run/test/cached", json: inputs[1]).headers[cacheHeader] == "miss")
            #expect(counter.count == 4)
            #expect(try await client.fileBytes(a) == Data(bytes(4000, salt: 1).reversed()))
        }
    }

    @Test("a failure between pinning the files and committing the index row leaves no entry: the next request computes")
    func faultBeforeIndexCommit() async throws {
        let counter = RunCounter()
        let h = try Harness.make(extraModels: [CachedFileModel(counter: counter)])
        let p = h.platform
        let cache = try #require(p.resultCache)
        let database = try #require(p.store as? SQLiteJobStore).database
        struct InjectedFault: Error {}
        let faulty = ResultCache(
            index: SQLiteResultCacheIndex(database: database, beforeCommit: { _ in throw InjectedFault() }),
            blobs: p.blobs, uploads: p.uploads, files: p.files, registry: p.registry, configuration: p.configuration,
            logger: p.logger)
        let stored = try await p.files.store(Data("output bytes".utf8), contentType: "image/png", fileName: "o.png", lifetime: nil)
        let output: JSONValue = ["image": stored.json()]
        await faulty.record(key: "k", endpointID: "test/cached", output: output, inferenceTime: 1, lifetime: nil)
        #expect(await faulty.output(for: "k", lifetime: nil) == nil, "no partial entry")
        #expect(await cache.output(for: "k", lifetime: nil) == nil)
        #expect(try await cache.index.totalBytes() == 0)
        // The same write without the fault is whole.
        await cache.record(key: "k", endpointID: "test/cached", output: output, inferenceTime: 1, lifetime: nil)
        let hit = try #require(await cache.output(for: "k", lifetime: nil))
        let url = try #require(hit.output["image"]?["url"]?.stringValue)
        #expect(url != stored.url)
        #expect(try await p.files.storedFile(at: url)?.data == Data("output bytes".utf8))
        try? FileManager.default.removeItem(at: p.configuration.home)
    }
}
