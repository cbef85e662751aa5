import Foundation
import Media

/// Limits and settings of the video upscaler, with defaults; each can be set from the
/// environment (`PEREGRINE_VIDEO_*`) so that a deployment sizes them without code.
public struct VideoUpscaleConfiguration: Sendable, Equatable {
    /// Longest accepted video, frames and input frame size (checked on the probe, before any
    /// frame is decoded). `PEREGRINE_VIDEO_MAX_SECONDS`, `PEREGRINE_VIDEO_MAX_PIXELS`,
    /// `PEREGRINE_VIDEO_MAX_FRAMES`; the ffmpeg deadline `PEREGRINE_VIDEO_PROCESS_TIMEOUT`
    /// (seconds) and demuxer allowlist `PEREGRINE_VIDEO_INPUT_FORMATS` (comma-separated).
    public var limits: VideoLimits
    /// Largest accepted input file in bytes. `PEREGRINE_VIDEO_MAX_BYTES` (default 512 MiB).
    public var maxFileBytes: Int
    /// Most pixels per output frame (default 7680 × 4320). `PEREGRINE_VIDEO_MAX_OUTPUT_PIXELS`.
    public var maxOutputPixels: Int
    /// Frames waiting between pipeline stages (per queue); memory is bounded by this.
    public var framesInFlight: Int
    /// A log line every this many frames.
    public var logEvery: Int
    /// libx264 preset for MP4 output.
    public var preset: String
    /// Where a job's input copy, encoder output and ffmpeg logs live while it runs (one
    /// directory per job, removed when the job ends). Default: the system's temporary directory.
    public var scratchDirectory: URL?

    /// Settings with defaults.
    public init(limits: VideoLimits = VideoLimits(maxDuration: 600, maxPixels: 3840 * 2160, maxFrames: 36_000),
                maxFileBytes: Int = 512 << 20, maxOutputPixels: Int = 7680 * 4320, framesInFlight: Int = 3,
                logEvery: Int = 25, preset: String = "fast", scratchDirectory: URL? = nil) {
        self.limits = limits
        self.maxFileBytes = maxFileBytes
        self.maxOutputPixels = maxOutputPixels
        self.framesInFlight = framesInFlight
        self.logEvery = logEvery
        self.preset = preset
        self.scratchDirectory = scratchDirectory
    }

    /// Defaults overridden by `PEREGRINE_VIDEO_*` variables of `environment`.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> Self {
        var c = Self()
        if let v = environment["PEREGRINE_VIDEO_MAX_SECONDS"].flatMap(Double.init) { c.limits.maxDuration = v }
        if let v = environment["PEREGRINE_VIDEO_MAX_PIXELS"].flatMap(Int.init) { c.limits.maxPixels = v }
        if let v = environment["PEREGRINE_VIDEO_MAX_FRAMES"].flatMap(Int.init) { c.limits.maxFrames = v }
        if let v = environment["PEREGRINE_VIDEO_PROCESS_TIMEOUT"].flatMap(Double.init), v.isFinite, v > 0, v <= 86_400 {
            c.limits.processTimeout = .milliseconds(Int(v * 1000))
        }
        if let v = environment["PEREGRINE_VIDEO_INPUT_FORMATS"] {
            let formats = v.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            if !formats.isEmpty { c.limits.inputFormats = formats }
        }
        if let v = environment["PEREGRINE_VIDEO_MAX_BYTES"].flatMap(Int.init) { c.maxFileBytes = v }
        if let v = environment["PEREGRINE_VIDEO_MAX_OUTPUT_PIXELS"].flatMap(Int.init) { c.maxOutputPixels = v }
        if let v = environment["PEREGRINE_VIDEO_SCRATCH"], !v.isEmpty { c.scratchDirectory = URL(fileURLWithPath: v) }
        return c
    }
}
