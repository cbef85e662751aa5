// What a video file holds, read by ffprobe before any work starts.

import Foundation

/// A video file's streams as ffprobe reports them.
public struct VideoInfo: Sendable, Equatable {
    /// The container, as ffprobe names it (e.g. `mov,mp4,m4a,3gp,3g2,mj2`, `matroska,webm`, `gif`).
    public var container: String
    /// The video codec (e.g. `h264`, `vp9`, `gif`); for a codec ffmpeg does not know, its
    /// container tag (`unknown codec (tag xvid)`), so that errors can name it.
    public var videoCodec: String
    /// Display width: after the rotation is applied (what `VideoReader` delivers).
    public var width: Int
    /// Display height: after the rotation is applied.
    public var height: Int
    /// Width as stored in the stream, before rotation (what `VideoReader(autorotate: false)` delivers).
    public var codedWidth: Int { rotation == 90 || rotation == 270 ? height : width }
    /// Height as stored in the stream, before rotation.
    public var codedHeight: Int { rotation == 90 || rotation == 270 ? width : height }
    /// The display rotation in degrees, 0..<360, in ffprobe's display-matrix convention
    /// (counter-clockwise). `VideoReader` delivers frames already turned.
    public var rotation: Int
    /// The average frame rate as a fraction string (`30000/1001`), exact for passing on to ffmpeg.
    public var frameRate: String
    /// Frames per second as a number.
    public var framesPerSecond: Double
    /// Frames: the video packets actually present in the file (counted by demuxing, which
    /// decodes nothing), else the container's count, else duration × rate.
    public var frameCount: Int
    /// The frame count the container's index declares, when it has one (MP4 and MOV do, WebM
    /// and GIF do not). More declared frames than packets present means a truncated file.
    public var declaredFrameCount: Int?
    /// Seconds.
    public var duration: Double
    /// The first audio stream's codec, if the file has audio.
    public var audioCodec: String?

    /// Whether the file is a still image (ffmpeg reads PNG, JPEG, WebP, ... as one-frame
    /// "videos" through its image demuxers), which a video service should refuse.
    public var isStillImage: Bool { container == "image2" || container.hasSuffix("_pipe") }

    /// Whether the file has an audio stream.
    public var hasAudio: Bool { audioCodec != nil }

    /// Probes a file with ffprobe: reads the headers and demuxes the packets to count them
    /// (decodes nothing; on a long file this reads it once at disk speed).
    /// - Throws: `MediaError` — `unsupportedFeature` when ffprobe is missing, `unsupportedFormat`
    ///   when the file is not a video ffprobe understands or has no video stream, `corrupt` for
    ///   nonsense stream parameters, `timedOut` when ffprobe runs past `limits.processTimeout`.
    ///   Messages never hold a path or ffprobe's own words (those go to the server's log).
    /// - Parameter limits: the demuxers allowed and the deadline; the size limits are checked
    ///   separately by `check(_:)`.
    public static func probe(path: String, limits: VideoLimits = VideoLimits()) throws -> VideoInfo {
        let ffprobe = try FFmpeg.require(FFmpeg.ffprobePath, "ffprobe")
        let data = try FFmpeg.run(ffprobe, ["-v", "error"] + FFmpeg.inputOptions(limits)
                                    + ["-count_packets", "-print_format", "json", "-show_streams", "-show_format", "file:" + path],
                                  failure: .unsupportedFormat, what: "the file is not a video in a supported format", timeout: limits.processTimeout)
        let report: ProbeReport
        do { report = try JSONDecoder().decode(ProbeReport.self, from: data) } catch {
            throw MediaError(.corrupt, "video: unreadable ffprobe report", underlying: error)
        }
        guard let video = report.streams.first(where: { $0.codec_type == "video" }) else {
            throw MediaError(.unsupportedFormat, "video: the file has no video stream")
        }
        guard let codedWidth = video.width, let codedHeight = video.height, codedWidth > 0, codedHeight > 0 else {
            throw MediaError(.corrupt, "video: the video stream has no frame size")
        }
        let rotationValue = video.side_data_list?.compactMap(\.rotation).first ?? video.tags?["rotate"].flatMap(Double.init) ?? 0
        // Numbers in the report come from the file: anything non-finite or huge is nonsense, not a trap.
        let rotation = rotationValue.isFinite ? (Int(rotationValue.truncatingRemainder(dividingBy: 360).rounded()) % 360 + 360) % 360 : 0
        let swaps = rotation == 90 || rotation == 270
        var rate = video.avg_frame_rate ?? "0/0"
        var fps = Self.fraction(rate)
        if fps <= 0 {
            rate = video.r_frame_rate ?? "0/0"
            fps = Self.fraction(rate)
        }
        guard fps > 0, fps.isFinite else { throw MediaError(.corrupt, "video: the video stream has no frame rate") }
        let reported = Double(video.duration ?? "") ?? Double(report.format.duration ?? "") ?? 0
        let duration = reported.isFinite && reported > 0 ? reported : 0
        let declared = Int(video.nb_frames ?? "").map { max(0, $0) }
        let estimate = (duration * fps).rounded()
        let frames = Int(video.nb_read_packets ?? "").map { max(0, $0) } ?? declared
            ?? (estimate < Double(Int.max) ? Int(estimate) : Int.max)
        return VideoInfo(container: report.format.format_name ?? "unknown", videoCodec: video.codec_name ?? "unknown codec (tag \(video.codec_tag_string ?? "none"))",
                         width: swaps ? codedHeight : codedWidth, height: swaps ? codedWidth : codedHeight, rotation: rotation,
                         frameRate: rate, framesPerSecond: fps, frameCount: frames, declaredFrameCount: declared, duration: duration,
                         audioCodec: report.streams.first(where: { $0.codec_type == "audio" })?.codec_name)
    }

    static func fraction(_ text: String) -> Double {
        let parts = text.split(separator: "/")
        guard let numerator = Double(parts.first ?? "") else { return 0 }
        guard parts.count == 2, let denominator = Double(parts[1]) else { return numerator }
        return denominator == 0 ? 0 : numerator / denominator
    }

    /// Decodes the first video frame (and nothing else) to prove the stream is decodable: a
    /// cheap check that rejects corrupt streams and codecs the installed ffmpeg lacks before a
    /// job spends any compute. Still images, and files whose index lists more frames than they
    /// hold (cut short after the header), are refused first, without running anything.
    /// - Throws: `MediaError` with code `corrupt` naming the codec (ffmpeg's complaint goes to
    ///   the log and `underlying`), `truncated`, `unsupportedFormat` for a still image, or
    ///   `timedOut` past `limits.processTimeout`.
    public func verifyDecodable(path: String, limits: VideoLimits = VideoLimits()) throws {
        if isStillImage {
            throw MediaError(.unsupportedFormat, "video: the file is a still image (\(videoCodec)), not a video")
        }
        if frameCount == 0 {
            throw MediaError(.corrupt, "video: the \(videoCodec) stream in \(container) holds no frames")
        }
        if let declared = declaredFrameCount, declared > frameCount {
            throw MediaError(.truncated, "video: the file is truncated: its index lists \(declared) frames, \(frameCount) are present")
        }
        let ffmpeg = try FFmpeg.require(FFmpeg.ffmpegPath, "ffmpeg")
        _ = try FFmpeg.run(ffmpeg, ["-v", "error", "-xerror", "-nostdin"] + FFmpeg.inputOptions(limits)
                            + ["-i", "file:" + path, "-map", "0:v:0", "-frames:v", "1", "-f", "null", "-"],
                           failure: .corrupt, what: "the \(videoCodec) stream in \(container) does not decode", timeout: limits.processTimeout)
    }

    /// Throws `tooLarge` when the video exceeds `limits`, before any frame is decoded.
    public func check(_ limits: VideoLimits) throws {
        if duration > limits.maxDuration {
            throw MediaError(.tooLarge, "video: \(duration) s is longer than the limit of \(limits.maxDuration) s")
        }
        if width.multipliedReportingOverflow(by: height).overflow || width * height > limits.maxPixels {
            throw MediaError(.tooLarge, "video: \(width)x\(height) frames exceed the limit of \(limits.maxPixels) pixels")
        }
        if frameCount > limits.maxFrames {
            throw MediaError(.tooLarge, "video: \(frameCount) frames exceed the limit of \(limits.maxFrames)")
        }
    }
}

/// Limits on the videos a service accepts, and on the ffmpeg programs that read them.
public struct VideoLimits: Sendable, Equatable {
    /// Longest duration in seconds. Default 600.
    public var maxDuration: Double
    /// Most pixels per frame. Default 3840 × 2160.
    public var maxPixels: Int
    /// Most frames. Default 36,000.
    public var maxFrames: Int
    /// How long ffprobe or a one-shot ffmpeg run may take, and how long a `VideoReader` waits
    /// for each next frame, before the child is killed. Default 120 s.
    public var processTimeout: Duration
    /// The demuxers ffmpeg may use on an input (its `-format_whitelist`). Playlists and
    /// manifests (`hls`, `dash`, `concat`) and the file-pattern `image2` demuxer are left out:
    /// they open other files or URLs named inside the input.
    public var inputFormats: [String]

    /// The default `processTimeout`.
    public static let defaultProcessTimeout: Duration = .seconds(120)
    /// The default `inputFormats`: the usual video containers, animated GIF and APNG, raw
    /// H.264/HEVC streams, and single images (which the probe reports as still images).
    public static let defaultInputFormats = [
        "mov", "mp4", "matroska", "webm", "avi", "flv", "mpegts", "mpeg", "ogg", "ivf", "gif", "apng", "h264", "hevc", "m4v",
        "png_pipe", "jpeg_pipe", "webp_pipe",
    ]

    /// Limits with defaults.
    public init(maxDuration: Double = 600, maxPixels: Int = 3840 * 2160, maxFrames: Int = 36_000,
                processTimeout: Duration = VideoLimits.defaultProcessTimeout, inputFormats: [String] = VideoLimits.defaultInputFormats) {
        self.maxDuration = maxDuration
        self.maxPixels = maxPixels
        self.maxFrames = maxFrames
        self.processTimeout = processTimeout
        self.inputFormats = inputFormats
    }
}

/// The parts of ffprobe's JSON report that are read.
private struct ProbeReport: Decodable {
    struct Stream: Decodable {
        struct SideData: Decodable { var rotation: Double? }
        var codec_type: String?
        var codec_name: String?
        var codec_tag_string: String?
        var width: Int?
        var height: Int?
        var avg_frame_rate: String?
        var r_frame_rate: String?
        var nb_frames: String?
        var nb_read_packets: String?
        var duration: String?
        var side_data_list: [SideData]?
        var tags: [String: String]?
    }
    struct Format: Decodable {
        var format_name: String?
        var duration: String?
    }
    var streams: [Stream]
    var format: Format
}
