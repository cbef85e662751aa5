import Foundation
import Hummingbird
import HummingbirdTesting
import ModelKit
@testable import Models
import NIOConcurrencyHelpers
import NIOCore
import Platform
import Runners
import Server
import TestSupport
import Testing
import Weights
@testable import peregrine

/// Stable Diffusion endpoints: `peregrine models add` (local folders, downloads with resume and
/// verification), the manifests it writes, and fal's text-to-image schemas through the API.
@Suite("text-to-image endpoints")
struct TextToImageEndpointTests {
    static func add(_ arguments: [String], home: URL) async throws -> (manifest: StableDiffusionManifest, file: URL) {
        try await ModelsCommand.Add.parse(arguments + ["--home", home.path]).register { _ in }
    }

    static func message(_ body: () async throws -> Void) async -> String {
        do {
            try await body()
            return ""
        } catch {
            return "\(error)"
        }
    }

    @Test("models add registers a local diffusers folder as three endpoints the manifests directory serves")
    func addLocalFolder() async throws {
        let root = try TinyDiffusionFolder.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let folder = root.appendingPathComponent("tiny-sd")
        try TinyDiffusionFolder.write(folder)
        let home = root.appendingPathComponent("home")

        // The tiny UNet's cross-attention (16 wide) is none of the three families: the error says
        // so and how to go on.
        let undetected = await Self.message { _ = try await Self.add(["local/tiny-sd", "--checkpoint", folder.path], home: home) }
        #expect(undetected.contains("could not be detected") && undetected.contains("--family"), "\(undetected)")

        let added = try await Self.add(["local/tiny-sd", "--checkpoint", folder.path, "--family", "sd1"], home: home)
        #expect(added.manifest.family == .sd1)
        #expect(added.manifest.checkpoint == folder.standardizedFileURL.path)
        #expect(added.file.lastPathComponent == "local--tiny-sd.json")

        let scan = try ManifestDirectory.scan(directory: home.appendingPathComponent("models.d"))
        #expect(scan.errors.isEmpty, "\(scan.errors)")
        #expect(scan.all.map(\.manifest.endpointID) == ["local/tiny-sd", "local/tiny-sd/image-to-image", "local/tiny-sd/inpainting"])
        #expect(scan.all.map(\.manifest.category) == ["text-to-image", "image-to-image", "inpainting"])
        let reread = try #require(try StableDiffusionModel.manifest(at: added.file))
        #expect(reread == added.manifest)

        let again = await Self.message { _ = try await Self.add(["local/tiny-sd", "--checkpoint", folder.path, "--family", "sd1"], home: home) }
        #expect(again.contains("already registered") && again.contains("--force"), "\(again)")
        _ = try await Self.add(["local/tiny-sd", "--checkpoint", folder.path, "--family", "sd1", "--force"], home: home)

        let cases: [([String], String)] = [
            (["bad id", "--checkpoint", folder.path], "must look like owner/alias"),
            (["local/x", "--checkpoint", root.appendingPathComponent("absent").path], "does not exist"),
            (["local/x", "--checkpoint", folder.path, "--family", "sd3"], "--family 'sd3' is not one of sd1, sd2, sdxl"),
            (["local/x", "--checkpoint", folder.path, "--sha256", "abc"], "64 hexadecimal digits"),
            (["local/x", "--checkpoint", folder.path, "--sha256", String(repeating: "a", count: 64)], "applies to a single file"),
            (["local/x", "--checkpoint", folder.path, "--family", "sd1", "--prediction-type", "sample"], "is not epsilon or v_prediction"),
            (["local/x", "--checkpoint", "ftp://example.com/a.safetensors"], "only https URLs"),
            (["local/x", "--checkpoint", "http://example.com/a.safetensors"], "only to loopback"),
            (["local/x", "--checkpoint", "https://example.com/folder/"], "single .safetensors file"),
        ]
        for (arguments, expected) in cases {
            let text = await Self.message { _ = try await Self.add(arguments, home: home) }
            #expect(text.contains(expected), "\(arguments): \(text)")
        }
        // A model_index.json naming a component whose folder is missing: the error names it.
        try FileManager.default.removeItem(at: folder.appendingPathComponent("vae"))
        let broken = await Self.message { _ = try await Self.add(["local/y", "--checkpoint", folder.path, "--family", "sd1"], home: home) }
        #expect(broken.contains("vae"), "\(broken)")
    }

    @Test("models add detects the family of single-file SD 1.x, 2.x and XL checkpoints and checks --sha256", arguments: ["sd1", "sd2", "sdxl"])
    func addSingleFile(family: String) async throws {
        let root = try TinyDiffusionFolder.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let file = root.appendingPathComponent("\(family).safetensors")
        try TinyDiffusionFolder.writeSingleFile(golden: "checkpoint_\(family).json", to: file)
        let digest = try FileDigest.sha256(ofFile: file)
        let home = root.appendingPathComponent("home")
        let added = try await Self.add(["local/\(family)", "--checkpoint", file.path, "--sha256", digest.uppercased()], home: home)
        #expect(added.manifest.family.rawValue == family)
        #expect(added.manifest.sha256 == digest && added.manifest.source == nil)
        let wrong = String(repeating: "f", count: 64)
        let text = await Self.message { _ = try await Self.add(["local/other", "--checkpoint", file.path, "--sha256", wrong], home: home) }
        #expect(text.contains("sha256 is \(digest), expected \(wrong)"), "\(text)")
    }

    @Test("a manifest with a bad field is skipped with its file and field named; others still register")
    func manifestErrors() throws {
        let dir = try TinyDiffusionFolder.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let good = StableDiffusionManifest(endpointID: "local/a", checkpoint: "/nonexistent/a.safetensors", family: .sdxl)
        try JSONEncoder().encode(good.json).write(to: dir.appendingPathComponent("a.json"))
        var bad = good.json.objectValue!
        bad["endpoint_id"] = "local/b"
        bad["family"] = "sd9"
        try JSONEncoder().encode(JSONValue.object(bad)).write(to: dir.appendingPathComponent("b.json"))
        bad["family"] = "sd1"
        bad["steps"] = 3
        try JSONEncoder().encode(JSONValue.object(bad)).write(to: dir.appendingPathComponent("c.json"))
        let scan = try ManifestDirectory.scan(directory: dir)
        #expect(scan.all.map(\.manifest.endpointID) == ["local/a", "local/a/image-to-image", "local/a/inpainting"])
        #expect(scan.errors.map(\.description) == [
            "b.json: family: unknown value 'sd9'; allowed: sd1, sd2, sdxl", "c.json: steps: unknown field",
        ])
    }

    @Test("downloads resume from a .partial file with an HTTP range, and a wrong sha256 removes the download")
    func downloadResumesAndVerifies() async throws {
        let payload = Data((0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 13) })
        let digest = FileDigest.sha256(of: payload)
        let ranges = NIOLockedValueBox<[String]>([])
        let router = Router()
        router.get("/weights/model.safetensors") { request, _ -> Response in
            let range = request.headers[.range]
            ranges.withLockedValue { $0.append(range ?? "none") }
            var start = 0
            if let range, range.hasPrefix("bytes="), range.hasSuffix("-"), let from = Int(range.dropFirst(6).dropLast()) {
                start = from
            }
            guard start < payload.count else { return Response(status: .rangeNotSatisfiable) }
            var headers = HTTPFields()
            headers[.contentLength] = "\(payload.count - start)"
            if start > 0 { headers[.contentRange] = "bytes \(start)-\(payload.count - 1)/\(payload.count)" }
            return Response(status: start > 0 ? .partialContent : .ok, headers: headers,
                            body: .init(byteBuffer: ByteBuffer(bytes: payload[start...])))
        }
        let root = try TinyDiffusionFolder.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let single = root.appendingPathComponent("sd1.safetensors")
        try TinyDiffusionFolder.writeSingleFile(golden: "checkpoint_sd1.json", to: single)
        let checkpoint = try Data(contentsOf: single)
        router.get("/weights/sd1.safetensors") { _, _ in
            Response(status: .ok, headers: [.contentLength: "\(checkpoint.count)"], body: .init(byteBuffer: ByteBuffer(bytes: checkpoint)))
        }
        let (ports, portContinuation) = AsyncStream<Int>.makeStream()
        let remote = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { portContinuation.yield($0.localAddress?.port ?? 0) })
        try await remote.test(.live) { _ in
            var iterator = ports.makeAsyncIterator()
            let port = try #require(await iterator.next())
            let url = try #require(URL(string: "http://127.0.0.1:\(port)/weights/model.safetensors"))
            let destination = root.appendingPathComponent("cache/model.safetensors")
            try FileManager.default.createDirectory(at: destination.deletingLastPathComponent(), withIntermediateDirectories: true)
            // An interrupted earlier attempt left the first 100,000 bytes.
            try payload.prefix(100_000).write(to: URL(fileURLWithPath: destination.path + ".partial"))
            let got = try await CheckpointDownload().fetch(url, to: destination, sha256: digest) { _ in }
            #expect(got == digest)
            #expect(try Data(contentsOf: destination) == payload)
            #expect(!FileManager.default.fileExists(atPath: destination.path + ".partial"))
            #expect(ranges.withLockedValue { $0 } == ["bytes=100000-"])

            // Present and verified: nothing is fetched again.
            _ = try await CheckpointDownload().fetch(url, to: destination, sha256: digest) { _ in }
            #expect(ranges.withLockedValue { $0.count } == 1)

            let other = root.appendingPathComponent("cache/other.safetensors")
            let wrong = String(repeating: "0", count: 64)
            let text = await Self.message { _ = try await CheckpointDownload().fetch(url, to: other, sha256: wrong) { _ in } }
            #expect(text.contains("sha256 is \(digest), expected \(wrong)"), "\(text)")
            #expect(!FileManager.default.fileExists(atPath: other.path))
            #expect(!FileManager.default.fileExists(atPath: other.path + ".partial"))

            var small = CheckpointDownload()
            small.maxBytes = 1_000
            let limited = await Self.message { _ = try await small.fetch(url, to: root.appendingPathComponent("cache/small.safetensors"), sha256: nil) { _ in } }
            #expect(limited.contains("more than the limit of 1000"), "\(limited)")

            let missing = await Self.message {
                _ = try await CheckpointDownload().fetch(
                    try #require(URL(string: "http://127.0.0.1:\(port)/weights/none.safetensors")), to: root.appendingPathComponent("cache/none.safetensors"),
                    sha256: nil) { _ in }
            }
            #expect(missing.contains("HTTP 404"), "\(missing)")

            // models add with a URL: downloaded into the model cache, verified, family detected.
            let home = root.appendingPathComponent("home")
            let source = "http://127.0.0.1:\(port)/weights/sd1.safetensors"
            let added = try await Self.add(["local/remote", "--checkpoint", source, "--sha256", FileDigest.sha256(of: checkpoint)], home: home)
            #expect(added.manifest.family == .sd1 && added.manifest.source == source)
            #expect(added.manifest.checkpoint == home.appendingPathComponent("models/checkpoints/local--remote/sd1.safetensors").path)
            #expect(try Data(contentsOf: URL(fileURLWithPath: added.manifest.checkpoint)) == checkpoint)
        }
    }

    @Test("fal's text-to-image schema refuses bad sizes, steps and enum values with 422s naming the field")
    func schemaValidation() async throws {
        let definition = StableDiffusionManifest(endpointID: "local/sd", checkpoint: "/nonexistent/sd.safetensors", family: .sd1)
        var configuration = ServerConfiguration()
        configuration.home = FileManager.default.temporaryDirectory.appendingPathComponent("peregrine-test-\(UUID().uuidString)")
        configuration.authEnabled = false
        let platform = try EmbeddedPlatform(
            configuration: configuration, models: definition.models,
            runnerConfiguration: RunnerConfiguration(leaseDuration: 60, shutdownGracePeriod: 1))
        let (started, _) = AsyncStream<String>.makeStream()
        let h = Harness(platform: platform, gate: Gate(), started: started)
        try await h.test { client in
            let cases: [(String, JSONValue, JSONValue)] = [
                ("local/sd", [:], ["body", "prompt"]),
                ("local/sd", ["prompt": ""], ["body", "prompt"]),
                ("local/sd", ["prompt": .string(String(repeating: "a", count: 4_001))], ["body", "prompt"]),
                ("local/sd", ["prompt": "a", "image_size": "huge"], ["body", "image_size"]),
                ("local/sd", ["prompt": "a", "image_size": ["width": 100, "height": 512]], ["body", "image_size"]),
                ("local/sd", ["prompt": "a", "image_size": ["width": 4096, "height": 512]], ["body", "image_size"]),
                ("local/sd", ["prompt": "a", "num_inference_steps": 0], ["body", "num_inference_steps"]),
                ("local/sd", ["prompt": "a", "num_inference_steps": 101], ["body", "num_inference_steps"]),
                ("local/sd", ["prompt": "a", "guidance_scale": 21], ["body", "guidance_scale"]),
                ("local/sd", ["prompt": "a", "num_images": 5], ["body", "num_images"]),
                ("local/sd", ["prompt": "a", "output_format": "gif"], ["body", "output_format"]),
                ("local/sd", ["prompt": "a", "seed": -1], ["body", "seed"]),
                ("local/sd/image-to-image", ["prompt": "a"], ["body", "image_url"]),
                ("local/sd/image-to-image", ["prompt": "a", "image_url": "x", "strength": 0], ["body", "strength"]),
                ("local/sd/inpainting", ["prompt": "a", "image_url": "x"], ["body", "mask_url"]),
            ]
            for (endpoint, body, loc) in cases {
                let response = try await client.send(.post, "/queue/\(endpoint)", json: body)
                #expect(response.status == .unprocessableContent, "\(endpoint) \(body): \(response.text)")
                let locations = try response.json["detail"]?.arrayValue?.compactMap { $0["loc"] } ?? []
                #expect(locations.contains { $0.arrayValue?.prefix(2).elementsEqual(loc.arrayValue ?? []) == true }, "\(body): \(response.text)")
            }
            let openAPI = try await client.send(.get, "/models/local/sd/openapi.json")
            #expect(openAPI.status == .ok)
            #expect(openAPI.text.contains("LocalSdInput") && openAPI.text.contains("landscape_16_9"))
        }
    }

    @Test("request fields the schema admits are re-checked when parsed: multiples of 8, loras, budgets")
    func inputParsing() throws {
        func error(_ body: JSONValue, _ task: StableDiffusionModel.Task = .textToImage) -> ModelError? {
            do {
                _ = try TextToImageInput(body, task: task)
                return nil
            } catch let error as ModelError {
                return error
            } catch {
                return nil
            }
        }
        let sizeError = try #require(error(["prompt": "a", "image_size": ["width": 516, "height": 512]]))
        #expect(sizeError.status == 422 && sizeError.field == ["body", "image_size", "width"])
        #expect(sizeError.message.contains("not a multiple of 8"))
        let lora = try #require(error(["prompt": "a", "loras": [["path": "https://x/l.safetensors", "scale": 9]]]))
        #expect(lora.status == 422 && lora.field == ["body", "loras", "0", "scale"])
        let noPath = try #require(error(["prompt": "a", "loras": [["scale": 1]]]))
        #expect(noPath.field == ["body", "loras", "0", "path"])
        let many = try #require(error(["prompt": "a", "loras": .array(Array(repeating: ["path": "https://x/l.safetensors"], count: 5))]))
        #expect(many.field == ["body", "loras"])
        #expect(error(["prompt": "a", "loras": []]) == nil)
        let parsedLoRA = try TextToImageInput(["prompt": "a", "loras": [["path": "https://x/l.safetensors", "scale": 0.5]]], task: .textToImage)
        #expect(parsedLoRA.loras.count == 1 && parsedLoRA.loras[0].path == "https://x/l.safetensors" && parsedLoRA.loras[0].scale == 0.5)

        let input = try TextToImageInput(["prompt": "a cat", "image_size": "portrait_16_9", "seed": 42, "output_format": "png"], task: .textToImage)
        #expect(input.size?.width == 576 && input.size?.height == 1024 && input.seed == 42 && input.outputFormat == "png")
        #expect(input.steps == nil && input.guidanceScale == nil && input.imageCount == 1 && input.safetyChecker)
        let img2img = try TextToImageInput(["prompt": "a", "image_url": "data:,"], task: .imageToImage)
        #expect(img2img.strength == 0.95 && img2img.imageURL == "data:," && img2img.maskURL == nil)
        let inpainting = try TextToImageInput(["prompt": "a", "image_url": "data:,", "mask_url": "data:,m"], task: .inpainting)
        #expect(inpainting.maskURL == "data:,m")

        // Weights and working memory beyond the machine: refused, saying why.
        #expect { try DiffusionBudget.check(width: 2048, height: 2048, images: 1, footprint: 20 << 30, available: 16 << 30) } throws: {
            let error = $0 as? ModelError
            return error?.status == 422 && error?.field == ["body", "image_size"] && error?.message.contains("this machine has 16.0 GiB") == true
        }
        #expect(throws: ModelError.self) { try DiffusionBudget.check(width: 2048, height: 2048, images: 4, footprint: 1 << 30, available: 16 << 30) }
        try DiffusionBudget.check(width: 512, height: 512, images: 4, footprint: 2 << 30, available: 16 << 30)
        #expect(DiffusionBudget.workingBytes(width: .max, height: 2, images: 1) == .max)
    }
}
