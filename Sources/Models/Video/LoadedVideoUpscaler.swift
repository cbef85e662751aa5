import Foundation
import Graph
import Media
import ModelKit

/// A loaded video upscaler: checks the input completely before any compute, then streams it
/// through `VideoPipeline` with realesr-animevideov3 (and optionally waifu2x) on every frame.
final class LoadedVideoUpscaler: LoadedModel, @unchecked Sendable {
    let upscaler: LoadedUpscaler
    let denoiser: LoadedUpscaler
    let networks: VideoNetworks
    let configuration: VideoUpscaleConfiguration

    init(upscaler: LoadedUpscaler, denoiser: LoadedUpscaler, networks: VideoNetworks, configuration: VideoUpscaleConfiguration) {
        self.upscaler = upscaler
        self.denoiser = denoiser
        self.networks = networks
        self.configuration = configuration
    }

    var footprintBytes: Int { upscaler.footprintBytes + denoiser.footprintBytes }
    var kernelPath: String? { upscaler.kernelPath }

    func run(input: JSONValue, context: RunContext) async throws -> JSONValue {
        let start = DispatchTime.now().uptimeNanoseconds
        let request = try VideoUpscaleRequest(input)
        let upscaleVariant = try networks.upscale(scale: request.scale)
        let denoiseVariant = try request.denoise.map { try networks.denoise(level: $0) }
        let pool = upscaler.pool

        let staged = try await StagedVideoInput.stage(request.videoURL, context: context, configuration: configuration, pool: pool)
        let scratch = staged.scratch
        defer { scratch.remove() }
        let (inputPath, info) = (staged.path, staged.info)
        let (outWidth, outHeight) = ((info.width * request.scale + 1) / 2 * 2, (info.height * request.scale + 1) / 2 * 2)
        guard outWidth * outHeight <= configuration.maxOutputPixels else {
            throw ModelError(.invalidInput, "a \(info.width)x\(info.height) video at scale \(request.scale) exceeds \(configuration.maxOutputPixels) output pixels per frame",
                             field: ["body", "scale"])
        }
        let probeSeconds = Self.seconds(since: start)
        context.log("input: \(info.width)x\(info.height) \(info.videoCodec) in \(info.container), \(String(format: "%.3f", info.framesPerSecond)) fps, "
                    + "\(info.frameCount) frames, \(String(format: "%.2f", info.duration)) s, audio \(info.audioCodec ?? "none"), rotation \(info.rotation)")
        try context.checkCancellation()

        let outputPath = scratch.url.appendingPathComponent("output.\(request.container.rawValue)").path
        let configuration = self.configuration
        let (upscaler, denoiser) = (self.upscaler, self.denoiser)
        let (report, inference) = try await pool.execute { () throws -> (VideoPipeline.Report, Double) in
            // First use of a variant imports its graph: compute, so it happens here too.
            let upscaleExecutor = try upscaler.executor(for: upscaleVariant)
            let denoise = try denoiseVariant.map { ($0, try denoiser.executor(for: $0)) }
            // MP4 keeps the rotation tag, so frames stay as stored (no turning work); WebM gets them upright.
            let keepRotation = request.container.keepsRotation && info.rotation != 0
            let reader = try VideoReader(path: inputPath, info: info, autorotate: !keepRotation, scratchDirectory: scratch.url,
                                         limits: configuration.limits)
            let writer: VideoWriter
            do {
                writer = try VideoWriter(
                    path: outputPath, width: reader.width * request.scale, height: reader.height * request.scale,
                    configuration: .init(container: request.container, frameRate: info.frameRate,
                                         audioSource: info.hasAudio ? inputPath : nil, audioCodec: info.audioCodec,
                                         rotation: keepRotation ? info.rotation : 0, preset: configuration.preset,
                                         scratchDirectory: scratch.url, limits: configuration.limits))
            } catch {
                reader.close()
                throw error
            }
            var inference = 0.0
            let pipeline = VideoPipeline(pool: pool, configuration: .init(framesInFlight: configuration.framesInFlight, logEvery: configuration.logEvery))
            do {
                let report = try pipeline.run(reader: reader, writer: writer, expectedFrames: info.frameCount, context: context) { frame in
                    var frame = frame
                    if let (variant, executor) = denoise {
                        let (clean, seconds) = try LoadedUpscaler.upscale(frame, variant: variant, scale: 1, tileSize: request.tileSize,
                                                                          executor: executor, context: nil)
                        frame = clean
                        inference += seconds
                    }
                    let (up, seconds) = try LoadedUpscaler.upscale(frame, variant: upscaleVariant, scale: request.scale,
                                                                   tileSize: request.tileSize, executor: upscaleExecutor, context: nil)
                    inference += seconds
                    return up
                }
                return (report, inference)
            } catch let error as MediaError {
                throw Self.modelError(error, info: info)
            }
        }
        try context.checkCancellation()
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: outputPath), options: .alwaysMapped) } catch {
            throw ModelError(.internalError, "could not read the encoded video: \(error.localizedDescription)")
        }
        let stored = try await context.store(data, contentType: request.container.mimeType,
                                             fileName: "upscaled.\(request.container.rawValue)")
        let duration = Double(report.frames) / info.framesPerSecond
        return [
            "video": stored.json(extra: [
                "width": .int(Int64(outWidth)), "height": .int(Int64(outHeight)),
                "fps": .double(info.framesPerSecond), "frame_count": .int(Int64(report.frames)),
                "duration": .double(duration),
            ]),
            "timings": ["inference": .double(inference), "probe": .double(probeSeconds), "total": .double(Self.seconds(since: start))],
        ]
    }

    /// Probes, checks the limits and decodes one frame: every way the input can be unusable is
    /// found here, before the first frame reaches a network.
    /// - Throws: `ModelError` 422 naming the problem (and the codec, when it will not decode).
    static func inspect(_ path: String, limits: VideoLimits) throws -> VideoInfo {
        do {
            let info = try VideoInfo.probe(path: path, limits: limits)
            do { try info.check(limits) } catch let error as MediaError {
                throw ModelError(.invalidInput, "video_url: \(error.message)", field: ["body", "video_url"])
            }
            try info.verifyDecodable(path: path, limits: limits)
            return info
        } catch let error as MediaError {
            if error.code == .unsupportedFeature || error.code == .io {
                throw ModelError(.internalError, error.message)  // ffmpeg missing or not startable
            }
            throw ModelError(.unsupportedMedia, "video_url: \(error.message)", field: ["body", "video_url"])
        }
    }

    /// A decoding failure mid-stream is the input's fault (422); an encoder failure is ours (500).
    static func modelError(_ error: MediaError, info: VideoInfo) -> ModelError {
        if error.code == .corrupt || error.code == .truncated {
            return ModelError(.unsupportedMedia, "video_url: \(error.message)", field: ["body", "video_url"])
        }
        return ModelError(.internalError, error.message)
    }

    static func seconds(since start: UInt64) -> Double { Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
}

/// A job's private scratch directory: the staged input, the encoder's partial output and the
/// ffmpeg logs. Removed with everything in it when the job ends, however it ends.
struct JobScratch: Sendable {
    let url: URL

    init(in parent: URL?) throws {
        url = (parent ?? FileManager.default.temporaryDirectory).appendingPathComponent("peregrine-video-\(UUID().uuidString)")
        do { try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true) } catch {
            throw ModelError(.internalError, "could not create a scratch directory: \(error.localizedDescription)")
        }
    }

    func remove() { try? FileManager.default.removeItem(at: url) }
}
