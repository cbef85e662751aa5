import Foundation
import Media
import ModelFormats
import ModelKit
import Tensor

/// `peregrine/rife-interpolate`: doubles a video's frame rate with RIFE, inserting the frame
/// halfway between every two frames (n frames at r fps become 2n - 1 frames at 2r fps), with
/// the audio kept.
///
/// Weights: RIFE v4's IFNet as a safetensors file at `rife/rife-v4.safetensors` in the model
/// cache. No package index wheel ships them: take `flownet.pkl` from a Practical-RIFE 4.x
/// release whose IFNet has this layout (three IFBlocks, c = 192/128/96, ConvTranspose heads),
/// and write its `block0`...`block2` tensors, without the `module.` prefix, with
/// `safetensors.torch.save_file`. The file is checked strictly on load (``RIFE``).
public struct RIFEInterpolation: Model {
    /// Limits and pipeline settings (shared with the upscaler).
    public var configuration: VideoUpscaleConfiguration
    /// The weights file, relative to the model cache.
    public static let weightsPath = "rife/rife-v4.safetensors"

    /// Creates the model.
    public init(configuration: VideoUpscaleConfiguration = .fromEnvironment()) { self.configuration = configuration }

    public var manifest: ModelManifest {
        ModelManifest(
            endpointID: "peregrine/rife-interpolate", version: "1.0.0", category: "video-to-video",
            displayName: "RIFE frame interpolation",
            description: "Doubles a video's frame rate with RIFE v4 (IFNet): one new frame between every two.",
            inputSchema: [
                "type": "object", "title": "RIFEInterpolateInput",
                "properties": [
                    "video_url": ["type": "string", "title": "Video Url", "description": "URL (or data URI) of the video."],
                    "output_format": ["type": "string", "title": "Output Format", "enum": ["mp4", "webm"], "default": "mp4"],
                ],
                "required": ["video_url"],
                "x-fal-order-properties": ["video_url", "output_format"],
            ],
            outputSchema: VideoUpscaleSchema.output, schemaName: "RIFEInterpolate",
            weights: [WeightsFile(path: Self.weightsPath, source: "https://github.com/hzwer/Practical-RIFE (flownet.pkl, converted to safetensors)",
                                  sha256: "", license: "MIT (hzwer)")],
            memoryEstimateBytes: 256 << 20, maxConcurrency: 1, computeDemand: .wholePool)
    }

    public func load(context: LoadContext) async throws -> any LoadedModel {
        let url = context.modelDirectory.appendingPathComponent(Self.weightsPath)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw ModelError(.weightsMissing, "RIFE weights are not at \(url.path); see the model's documentation for how to convert them")
        }
        let weights: [String: Tensor]
        do {
            weights = try SafetensorsFile(contentsOf: url).tensors()
        } catch let error as ModelFormatError {
            throw ModelError(.weightsInvalid, error.message)
        }
        return LoadedRIFEInterpolation(network: try RIFE(weights: weights, pool: context.computePool()),
                                       footprint: weights.values.reduce(0) { $0 + $1.byteCount }, configuration: configuration)
    }
}

/// A loaded RIFE: the same checks and streaming as the upscaler, two output frames per input.
final class LoadedRIFEInterpolation: LoadedModel, @unchecked Sendable {
    let network: RIFE
    let footprintBytes: Int
    let configuration: VideoUpscaleConfiguration

    init(network: RIFE, footprint: Int, configuration: VideoUpscaleConfiguration) {
        self.network = network
        footprintBytes = footprint
        self.configuration = configuration
    }

    func run(input: JSONValue, context: RunContext) async throws -> JSONValue {
        let start = DispatchTime.now().uptimeNanoseconds
        guard let url = input["video_url"]?.stringValue, !url.isEmpty else {
            throw ModelError(.invalidInput, "video_url is required", field: ["body", "video_url"])
        }
        guard let container = VideoWriter.Container(rawValue: input["output_format"]?.stringValue ?? "mp4") else {
            throw ModelError(.invalidInput, "output_format must be mp4 or webm", field: ["body", "output_format"])
        }
        let staged = try await StagedVideoInput.stage(url, context: context, configuration: configuration, pool: network.pool)
        let scratch = staged.scratch
        defer { scratch.remove() }
        let (inputPath, info) = (staged.path, staged.info)
        let probeSeconds = LoadedVideoUpscaler.seconds(since: start)
        try context.checkCancellation()
        let outputPath = scratch.url.appendingPathComponent("output.\(container.rawValue)").path
        let (numerator, denominator) = Self.fraction(info.frameRate)
        let rate = "\(numerator * 2)/\(denominator)"
        let configuration = self.configuration
        let network = self.network
        let pool = network.pool
        let (report, inference) = try await pool.execute { () throws -> (VideoPipeline.Report, Double) in
            let reader = try VideoReader(path: inputPath, info: info, scratchDirectory: scratch.url, limits: configuration.limits)
            let writer: VideoWriter
            do {
                writer = try VideoWriter(path: outputPath, width: reader.width, height: reader.height,
                                         configuration: .init(container: container, frameRate: rate,
                                                              audioSource: info.hasAudio ? inputPath : nil, audioCodec: info.audioCodec,
                                                              preset: configuration.preset, scratchDirectory: scratch.url,
                                                              limits: configuration.limits))
            } catch {
                reader.close()
                throw error
            }
            var previous: Tensor?
            var inference = 0.0
            let pipeline = VideoPipeline(pool: pool, configuration: .init(framesInFlight: configuration.framesInFlight, logEvery: configuration.logEvery))
            do {
                let report = try pipeline.run(reader: reader, writer: writer, expectedFrames: info.frameCount, context: context, expand: { frame in
                    guard case .uint8(let rgb) = frame.samples else { throw ModelError(.internalError, "expected 8-bit frames") }
                    let current = ImageTensor.tensor(rgb: rgb, width: frame.width, height: frame.height)
                    defer { previous = current }
                    guard let previous else { return [frame] }
                    let t0 = DispatchTime.now().uptimeNanoseconds
                    let middle = try network.interpolate(previous, current)
                    inference += LoadedVideoUpscaler.seconds(since: t0)
                    let between = try Image(width: frame.width, height: frame.height, channels: 3, samples: .uint8(ImageTensor.rgb(middle)))
                    return [between, frame]
                })
                return (report, inference)
            } catch let error as MediaError {
                throw LoadedVideoUpscaler.modelError(error, info: info)
            }
        }
        try context.checkCancellation()
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: outputPath), options: .alwaysMapped) } catch {
            throw ModelError(.internalError, "could not read the encoded video: \(error.localizedDescription)")
        }
        let stored = try await context.store(data, contentType: container.mimeType, fileName: "interpolated.\(container.rawValue)")
        let fps = info.framesPerSecond * 2
        return [
            "video": stored.json(extra: [
                "width": .int(Int64((info.width + 1) / 2 * 2)), "height": .int(Int64((info.height + 1) / 2 * 2)),
                "fps": .double(fps), "frame_count": .int(Int64(report.framesWritten)),
                "duration": .double(Double(report.framesWritten) / fps),
            ]),
            "timings": ["inference": .double(inference), "probe": .double(probeSeconds),
                        "total": .double(LoadedVideoUpscaler.seconds(since: start))],
        ]
    }

    /// `30000/1001` → (30000, 1001); a plain number → (n, 1). Terms outside 1...Int32.max (what
    /// ffmpeg's rationals hold) give 25/1, so that doubling the rate cannot overflow.
    static func fraction(_ rate: String) -> (Int, Int) {
        let parts = rate.split(separator: "/").compactMap { Int($0) }
        let valid = 1...Int(Int32.max)
        guard let numerator = parts.first, valid.contains(numerator) else { return (25, 1) }
        guard parts.count == 2 else { return (numerator, 1) }
        return valid.contains(parts[1]) ? (numerator, parts[1]) : (25, 1)
    }
}
