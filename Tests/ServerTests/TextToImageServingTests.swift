import Foundation
import Hummingbird
import HummingbirdTesting
import Kernels
import Media
import ModelFormats
import ModelKit
@testable import Models
import Platform
import Runners
import Server
import Tensor
import TestSupport
import Testing
@testable import peregrine

/// A tiny Stable Diffusion checkpoint added with `peregrine models add` and called through a
/// live server: fal's request in, PNG images of the requested size out.
@Suite("text-to-image serving")
struct TextToImageServingTests {
    @Test("a tiny checkpoint added by models add answers text-to-image and image-to-image with images of the requested size")
    func endToEnd() async throws {
        let root = try TinyDiffusionFolder.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let folder = root.appendingPathComponent("tiny-sd")
        try TinyDiffusionFolder.write(folder)
        let home = root.appendingPathComponent("home")
        _ = try await ModelsCommand.Add.parse(["local/tiny-sd", "--checkpoint", folder.path, "--family", "sd1", "--home", home.path]).register { _ in }
        let scan = try ManifestDirectory.scan(directory: home.appendingPathComponent("models.d"))
        #expect(scan.errors.isEmpty, "\(scan.errors)")

        var configuration = ServerConfiguration()
        configuration.home = home
        configuration.authEnabled = false
        let platform = try EmbeddedPlatform(
            configuration: configuration, models: scan.all,
            runnerConfiguration: RunnerConfiguration(leaseDuration: 120, shutdownGracePeriod: 1))
        let services = APIServices(platform: platform)
        let app = Application(
            responder: APIResponder(services: services, scheme: "http"),
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            services: [platform.maintenance(), platform.hub, platform.pool])
        let (started, _) = AsyncStream<String>.makeStream()
        let h = Harness(platform: platform, gate: Gate(), started: started)
        try await app.test(.live) { client in
            let body: JSONValue = [
                "prompt": "a red square", "image_size": ["width": 128, "height": 64], "num_inference_steps": 2,
                "guidance_scale": 2, "seed": 7, "output_format": "png", "num_images": 2,
            ]
            let submit = try await client.send(.post, "/queue/local/tiny-sd", json: body)
            #expect(submit.status == .ok, "\(submit.text)")
            let id = try #require(try submit.json["request_id"]?.stringValue)
            let job = try await h.waitForJob(id) { $0.state.isTerminal }
            #expect(job.state == .completed, "\(String(describing: job.result?.errorMessage))")
            let result = try await client.send(.get, "/queue/local/tiny-sd/requests/\(id)")
            #expect(result.status == .ok, "\(result.text)")
            let out = try result.json
            #expect(out["seed"] == 7 && out["prompt"] == "a red square")
            #expect(out["has_nsfw_concepts"] == [false, false])
            #expect(out["timings"]?["inference"]?.doubleValue ?? -1 >= 0)
            let images = try #require(out["images"]?.arrayValue)
            #expect(images.count == 2)
            for image in images {
                #expect(image["width"] == 128 && image["height"] == 64 && image["content_type"] == "image/png")
                let url = try #require(image["url"]?.stringValue)
                let file = try await client.execute(uri: pathOf(url), method: .get)
                #expect(file.status == .ok)
                let decoded = try Image.decode(Array(file.body.readableBytesView))
                #expect(decoded.width == 128 && decoded.height == 64)
            }
            let status = try await client.send(.get, "/queue/local/tiny-sd/requests/\(id)/status?logs=1").json
            let messages = status["logs"]?.arrayValue?.compactMap { $0["message"]?.stringValue } ?? []
            #expect(messages.contains { $0.contains("no safety checker") }, "\(messages)")
            #expect(messages.contains("step 2/2"), "\(messages)")

            // sync_mode answers the image inline.
            var single = try #require(body.objectValue)
            single["num_images"] = 1
            single["sync_mode"] = true
            let again = try await client.send(.post, "/run/local/tiny-sd", json: .object(single))
            #expect(again.status == .ok, "\(again.text)")
            let inline = try #require(try again.json["images"]?.arrayValue?.first?["url"]?.stringValue)
            #expect(inline.hasPrefix("data:image/png;base64,"))

            // Image-to-image keeps the input's size (down to a multiple of 8) when none is asked for;
            // 80x72 makes a 10x9 latent, which the UNet halves to 5 and brings back to 9.
            let input = try Image(width: 86, height: 75, channels: 3, bitDepth: .eight)
            let uri = "data:image/png;base64," + Data(try input.encoded(as: .png())).base64EncodedString()
            let i2i = try await client.send(.post, "/run/local/tiny-sd/image-to-image",
                                            json: ["prompt": "a red square", "image_url": .string(uri), "num_inference_steps": 2, "strength": 0.5, "output_format": "jpeg"])
            #expect(i2i.status == .ok, "\(i2i.text)")
            let first = try #require(try i2i.json["images"]?.arrayValue?.first)
            #expect(first["width"] == 80 && first["height"] == 72 && first["content_type"] == "image/jpeg")

            // Inpainting: an image and a same-size mask (white repaints the right half).
            let maskImage = try Image(width: 86, height: 75, channels: 1, samples: .uint8((0..<(86 * 75)).map { $0 % 86 >= 43 ? 255 : 0 }))
            let maskURI = "data:image/png;base64," + Data(try maskImage.encoded(as: .png())).base64EncodedString()
            let inpaint = try await client.send(.post, "/run/local/tiny-sd/inpainting",
                                                json: ["prompt": "a red square", "image_url": .string(uri), "mask_url": .string(maskURI),
                                                       "num_inference_steps": 2, "output_format": "png"])
            #expect(inpaint.status == .ok, "\(inpaint.text)")
            let painted = try #require(try inpaint.json["images"]?.arrayValue?.first)
            #expect(painted["width"] == 80 && painted["height"] == 72 && painted["content_type"] == "image/png")
            let wrongMask = try Image(width: 40, height: 40, channels: 1, bitDepth: .eight)
            let wrongURI = "data:image/png;base64," + Data(try wrongMask.encoded(as: .png())).base64EncodedString()
            let mismatched = try await client.send(.post, "/run/local/tiny-sd/inpainting",
                                                   json: ["prompt": "a", "image_url": .string(uri), "mask_url": .string(wrongURI), "num_inference_steps": 2])
            #expect(mismatched.status == .unprocessableContent && mismatched.text.contains("mask is 40x40"), "\(mismatched.text)")

            // The streaming route: progress events, then the output as the last event.
            let stream = try await client.send(.post, "/run/local/tiny-sd/stream", json: ["prompt": "a", "num_inference_steps": 1,
                                                                                           "image_size": ["width": 64, "height": 64]])
            #expect(stream.status == .ok)
            let events = stream.text.split(separator: "\n").filter { $0.hasPrefix("data: ") }.map { $0.dropFirst(6) }
            let last = try JSONValue(parsing: Data(try #require(events.last).utf8))
            #expect(last["images"]?.arrayValue?.first?["width"] == 64, "\(stream.text.prefix(500))")

            // A LoRA (kohya-ss layout, on conv_in) sent as a data URI changes the image of the
            // same seed; without it the base image comes back unchanged.
            func loraURI(_ tensors: [String: Tensor]) throws -> String {
                let url = FileManager.default.temporaryDirectory.appendingPathComponent("lora-\(UUID().uuidString).safetensors")
                defer { try? FileManager.default.removeItem(at: url) }
                try SafetensorsFile.write(tensors, to: url)
                return "data:application/octet-stream;base64," + (try Data(contentsOf: url)).base64EncodedString()
            }
            let lora = try loraURI([
                "lora_unet_conv_in.lora_down.weight": Tensor(shape: Shape([2, 4, 3, 3]), values: (0..<72).map { Float($0 % 7) * 0.05 - 0.15 }),
                "lora_unet_conv_in.lora_up.weight": Tensor(shape: Shape([16, 2, 1, 1]), values: (0..<32).map { Float($0 % 5) * 0.1 - 0.2 }),
                "lora_unet_conv_in.alpha": Tensor(shape: Shape([]), values: [2]),
            ])
            let plain: JSONValue = ["prompt": "a", "seed": 5, "num_inference_steps": 1, "output_format": "png", "sync_mode": true,
                                    "image_size": ["width": 64, "height": 64]]
            var withLoRA = try #require(plain.objectValue)
            withLoRA["loras"] = [["path": .string(lora), "scale": 0.8]]
            let base = try await client.send(.post, "/run/local/tiny-sd", json: plain)
            let adapted = try await client.send(.post, "/run/local/tiny-sd", json: .object(withLoRA))
            let baseAgain = try await client.send(.post, "/run/local/tiny-sd", json: plain)
            #expect(adapted.status == .ok, "\(adapted.text)")
            let pixels = { (r: TestResponse) throws -> String? in try r.json["images"]?.arrayValue?.first?["url"]?.stringValue }
            #expect(try pixels(adapted) != pixels(base))
            #expect(try pixels(baseAgain) == pixels(base))
            // A file that is not a LoRA of this model is a 422 naming the entry.
            let foreign = try loraURI(["lora_unet_no_such_layer.lora_down.weight": Tensor(zeros: Shape([2, 4]))])
            let refused = try await client.send(.post, "/run/local/tiny-sd", json: ["prompt": "a", "loras": [["path": .string(foreign)]]])
            #expect(refused.status == .unprocessableContent, "\(refused.text)")
            #expect(refused.text.contains("loras.0.path") && refused.text.contains("lora_unet_no_such_layer"), "\(refused.text)")
        }
    }

    @Test("steps report progress with TAESD previews, and cancellation stops the run between steps")
    func previewsAndCancellation() async throws {
        let root = try TinyDiffusionFolder.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let folder = root.appendingPathComponent("tiny-sd"), taesd = root.appendingPathComponent("taesd")
        try TinyDiffusionFolder.write(folder)
        try TinyDiffusionFolder.writePreviewDecoder(taesd)
        let home = root.appendingPathComponent("home")
        let added = try await ModelsCommand.Add.parse([
            "local/tiny-sd", "--checkpoint", folder.path, "--family", "sd1", "--preview-decoder", taesd.path, "--home", home.path,
        ]).register { _ in }
        #expect(added.manifest.previewDecoder == taesd.standardizedFileURL.path)
        let model = try #require(added.manifest.models.first)
        let loadContext = LoadContext(modelDirectory: home.appendingPathComponent("models"), pool: ComputePool(threads: 1))
        let loaded = try await model.load(context: loadContext)
        // The checkpoint's other endpoints share the loaded pipeline instead of holding copies.
        let inpainting = try await added.manifest.models[2].load(context: loadContext)
        #expect(try #require(loaded as? LoadedStableDiffusion).pipeline === #require(inpainting as? LoadedStableDiffusion).pipeline)
        let input: JSONValue = ["prompt": "a red square", "image_size": ["width": 64, "height": 64], "num_inference_steps": 2, "seed": 1]

        let context = StepContext(cancelAfterStep: nil)
        let out = try await loaded.run(input: input, context: context)
        #expect(out["images"]?.arrayValue?.count == 1)
        let steps = context.reports.compactMap(\.step)
        #expect(steps.prefix(2) == [1, 2], "\(steps)")
        // A preview on every step but the last (whose image is the result itself).
        let previews = context.reports.filter { $0.preview != nil }
        #expect(previews.map(\.step) == [1], "\(previews.map(\.step))")
        #expect(previews.allSatisfy { $0.preview?.hasPrefix("data:image/jpeg;base64,") == true })

        // Cancelled once the first step is reported: the second never runs.
        let cancelling = StepContext(cancelAfterStep: 1)
        var four = try #require(input.objectValue)
        four["num_inference_steps"] = 4
        await #expect(throws: CancellationError.self) { _ = try await loaded.run(input: .object(four), context: cancelling) }
        #expect(cancelling.reports.compactMap(\.step) == [1])

        // An SD 1.x endpoint whose checkpoint disappeared answers 503 naming the path.
        try FileManager.default.removeItem(at: folder)
        await #expect { _ = try await model.load(context: LoadContext(modelDirectory: home, pool: ComputePool(threads: 1))) } throws: {
            ($0 as? ModelError)?.status == 503 && "\($0)".contains(folder.standardizedFileURL.path)
        }
    }
}

extension TextToImageServingTests {
    @Test("with a safety checker installed, enable_safety_checker runs it: has_nsfw_concepts per image, flagged images black")
    func safetyChecker() async throws {
        let root = try TinyDiffusionFolder.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let input: JSONValue = ["prompt": "a red square", "image_size": ["width": 64, "height": 64], "num_inference_steps": 1, "seed": 3,
                                "num_images": 2, "output_format": "png"]
        for (name, threshold, flagged) in [("strict", Float(-2), true), ("lenient", Float(2), false)] {
            let folder = root.appendingPathComponent(name)
            try TinyDiffusionFolder.write(folder)
            try TinyDiffusionFolder.writeSafetyChecker(folder, threshold: threshold)
            let home = root.appendingPathComponent("home-\(name)")
            let added = try await ModelsCommand.Add.parse(["local/\(name)", "--checkpoint", folder.path, "--family", "sd1", "--home", home.path])
                .register { _ in }
            let model = try #require(added.manifest.models.first)
            let loaded = try await model.load(context: LoadContext(modelDirectory: home.appendingPathComponent("models"), pool: ComputePool(threads: 1)))
            #expect(try #require(loaded as? LoadedStableDiffusion).pipeline.hasSafetyChecker)
            for enabled in [true, false] {
                var body = try #require(input.objectValue)
                body["enable_safety_checker"] = .bool(enabled)
                let context = StepContext(cancelAfterStep: nil)
                let out = try await loaded.run(input: .object(body), context: context)
                let expected = enabled && flagged
                #expect(out["has_nsfw_concepts"] == .array([.bool(expected), .bool(expected)]), "\(name) \(enabled)")
                #expect(!context.messages.contains { $0.contains("no safety checker") }, "\(context.messages)")
                let images = try #require(out["images"]?.arrayValue)
                #expect(images.count == 2 && images.allSatisfy { $0["width"] == 64 && $0["height"] == 64 })
                for data in context.stored {
                    let image = try Image.decode(Array(data))
                    let black = image.samples == .uint8([UInt8](repeating: 0, count: image.samples.count))
                    #expect(black == expected, "\(name) \(enabled)")
                }
            }
        }
    }
}

extension TextToImageServingTests {
    @Test("--safety-checker gives a checkpoint without one the checker of another folder; a folder without one is refused")
    func separateSafetyChecker() async throws {
        let root = try TinyDiffusionFolder.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let folder = root.appendingPathComponent("bare"), donor = root.appendingPathComponent("donor")
        try TinyDiffusionFolder.write(folder)
        try TinyDiffusionFolder.write(donor)
        try TinyDiffusionFolder.writeSafetyChecker(donor, threshold: -2)
        let home = root.appendingPathComponent("home")
        await #expect {
            _ = try await ModelsCommand.Add.parse(["local/bare", "--checkpoint", folder.path, "--family", "sd1", "--safety-checker", folder.path, "--home", home.path])
                .register { _ in }
        } throws: { "\($0)".contains("--safety-checker \(folder.standardizedFileURL.path)") }
        let added = try await ModelsCommand.Add.parse([
            "local/bare", "--checkpoint", folder.path, "--family", "sd1", "--safety-checker", donor.path, "--home", home.path,
        ]).register { _ in }
        #expect(added.manifest.safetyChecker == donor.standardizedFileURL.path)
        #expect(try StableDiffusionManifest(json: added.manifest.json) == added.manifest)
        let model = try #require(added.manifest.models.first)
        let loaded = try await model.load(context: LoadContext(modelDirectory: home.appendingPathComponent("models"), pool: ComputePool(threads: 1)))
        #expect(try #require(loaded as? LoadedStableDiffusion).pipeline.hasSafetyChecker)
        let input: JSONValue = ["prompt": "a red square", "image_size": ["width": 64, "height": 64], "num_inference_steps": 1, "seed": 3]
        let out = try await loaded.run(input: input, context: StepContext(cancelAfterStep: nil))
        #expect(out["has_nsfw_concepts"] == .array([.bool(true)]))
    }
}

/// Records progress; reports cancellation once a given step has been reported.
private final class StepContext: RunContext, @unchecked Sendable {
    private let lock = NSLock()
    private var progressReports: [ModelKit.Progress] = []
    private let cancelAfterStep: Int?

    init(cancelAfterStep: Int?) { self.cancelAfterStep = cancelAfterStep }

    private var logged: [String] = []
    private var files: [Data] = []

    var reports: [ModelKit.Progress] { lock.withLock { progressReports } }
    /// The messages logged.
    var messages: [String] { lock.withLock { logged } }
    /// The files stored, in order.
    var stored: [Data] { lock.withLock { files } }
    func progress(_ progress: ModelKit.Progress) { lock.withLock { progressReports.append(progress) } }
    func log(_ message: String, level: LogLevel) { lock.withLock { logged.append(message) } }
    var isCancelled: Bool {
        guard let cancelAfterStep else { return false }
        return lock.withLock { progressReports.contains { ($0.step ?? 0) >= cancelAfterStep } }
    }
    func fetch(_ url: String, field: String) async throws -> FetchedFile {
        throw ModelError(.fileDownloadError, "no files here", field: ["body", field])
    }
    func store(_ data: Data, contentType: String, fileName: String) async throws -> StoredFile {
        lock.withLock { files.append(data) }
        return StoredFile(url: "memory://\(fileName)", contentType: contentType, fileName: fileName, fileSize: data.count)
    }
}
