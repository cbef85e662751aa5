import ArgumentParser
import Client
import Foundation
import Kernels
import Media
import ModelKit
import Models
import Platform
import Server

extension BenchCommand {
    /// `peregrine bench cache`: what the result cache saves and costs, through the server over
    /// loopback HTTPS with a real upscaler (realesr-animevideov3 ×4 on 512² inputs).
    struct Cache: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "cache",
            abstract: "Result cache: end-to-end latency of a hit against a miss (512² ×4 upscale), and the lookup cost on a miss.")

        @Option(help: "Distinct inputs upscaled (misses).")
        var misses = 6
        @Option(help: "Repeated requests answered from the cache (hits).")
        var hits = 200
        @Option(help: "Key computations and lookups timed directly (lookup overhead on a miss).")
        var lookups = 200
        @Option(help: "Compute threads.")
        var threads = 2
        @Option(name: .customLong("models-dir"), help: "The weights cache holding realesr-animevideov3 (default $PEREGRINE_HOME/models).")
        var modelsDirectory: String?

        func run() async throws {
            let home = FileManager.default.temporaryDirectory.appendingPathComponent("peregrine-bench-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: home) }
            var configuration = ServerConfiguration()
            configuration.home = home
            configuration.port = 0
            configuration.authEnabled = false
            configuration.computeThreads = threads
            let endpoint = "peregrine/realesr-animevideov3"
            let model = ManifestUpscaler(try Gallery.upscaler(endpoint))
            let platform = try EmbeddedPlatform(
                configuration: configuration, models: [model],
                modelsDirectory: modelsDirectory.map { URL(fileURLWithPath: $0) } ?? ServerConfiguration().modelsDirectory)
            let report = try await BenchCommand.serving(platform, configuration: configuration, key: "") { client in
                try await measure(platform: platform, client: client, endpoint: endpoint, model: model)
            }
            print(String(decoding: report.encoded(pretty: true), as: UTF8.self))
        }

        /// A 512² RGB PNG, varied by `seed`.
        private func png(seed: Int) throws -> Data {
            let side = 512
            var bytes = [UInt8](repeating: 0, count: side * side * 3)
            for i in 0..<bytes.count { bytes[i] = UInt8(truncatingIfNeeded: ((i &+ seed &* 7919) &* 2_654_435_761) >> 13) }
            return Data(try Image(width: side, height: side, channels: 3, samples: .uint8(bytes)).encoded(as: .png()))
        }

        private func measure(platform: EmbeddedPlatform, client: PeregrineClient, endpoint: String, model: ManifestUpscaler) async throws -> JSONValue {
            let clock = ContinuousClock()
            // Inputs are uploaded once, as users re-upscale an asset they refer to by URL.
            var urls: [String] = []
            for seed in 0...misses { urls.append(try await client.upload(try png(seed: seed), contentType: "image/png", fileName: "in.png")) }
            // Warm up: the model load and one upscale, kept out of the numbers.
            _ = try await client.run(endpoint, input: ["image_url": .string(urls[misses]), "scale": 4], headers: ["X-Peregrine-Cache": "bypass"])

            var miss: [Double] = []
            for url in urls.prefix(misses) {
                let t0 = clock.now
                _ = try await client.run(endpoint, input: ["image_url": .string(url), "scale": 4])
                miss.append(ms(clock.now - t0))
            }
            var hit: [Double] = []
            for i in 0..<hits {
                let t0 = clock.now
                _ = try await client.run(endpoint, input: ["image_url": .string(urls[i % misses]), "scale": 4])
                hit.append(ms(clock.now - t0))
            }

            // The cache's own work on a miss, timed directly: the key (canonical input, the
            // input file's digest) and the index lookup, for a file URL and for a 512² data URI.
            let entry = try require(platform.registry.entry(for: endpoint), "model entry")
            let cache = try require(platform.resultCache, "result cache")
            let dataURI = JSONValue.string("data:image/png;base64," + (try png(seed: 10_000)).base64EncodedString())
            func lookupCost(_ image: JSONValue) async throws -> [Double] {
                var times: [Double] = []
                for i in 0..<lookups {
                    let input: JSONValue = ["image_url": image, "scale": 4, "noise_level": .int(Int64(i))]
                    let t0 = clock.now
                    guard let key = await cache.key(for: entry, submitted: input, validated: input) else {
                        throw ValidationError("input not cacheable")
                    }
                    if await cache.output(for: key, lifetime: nil) != nil { throw ValidationError("unexpected hit") }
                    times.append(ms(clock.now - t0) * 1000)
                }
                return times
            }
            let urlLookup = try await lookupCost(.string(urls[0]))
            let uriLookup = try await lookupCost(dataURI)

            return [
                "benchmark": "result-cache",
                "cpu": .string(CPUFeatures.current.modelName),
                "threads": .int(Int64(threads)),
                "transport": "https loopback, keep-alive, POST /run (sync)",
                "model": .string("\(endpoint) x4, 512x512 PNG input (file URL), \(model.computePath)"),
                "miss_end_to_end_ms": summary(miss, count: misses),
                "hit_end_to_end_ms": summary(hit, count: hits),
                "lookup_on_miss_us": [
                    "file_url_input": summary(urlLookup, count: lookups),
                    "data_uri_512_png_input": summary(uriLookup, count: lookups),
                ],
            ]
        }

        private func ms(_ d: Duration) -> Double {
            (Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18) * 1000
        }

        private func summary(_ values: [Double], count: Int) -> JSONValue {
            let sorted = values.sorted()
            func q(_ p: Double) -> Double {
                guard !sorted.isEmpty else { return 0 }
                return sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * p).rounded()))]
            }
            func r(_ x: Double) -> JSONValue { .double((x * 1000).rounded() / 1000) }
            return ["n": .int(Int64(count)), "p50": r(q(0.5)), "p99": r(q(0.99)), "min": r(sorted.first ?? 0), "max": r(sorted.last ?? 0)]
        }
    }
}

/// `#require` for a command: the value, or a validation error naming what was missing.
private func require<T>(_ value: T?, _ what: String = "value") throws -> T {
    guard let value else { throw ValidationError("missing \(what)") }
    return value
}
