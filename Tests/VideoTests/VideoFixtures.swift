import Foundation
@testable import Media
import Models
import Weights

/// Test clips made with ffmpeg's test sources, and the weights the video model needs.
enum VideoFixtures {
    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    /// The same cache the engine tests pull into (`<repo>/.peregrine-test/models`).
    static let modelDirectory = repositoryRoot.appendingPathComponent(".peregrine-test/models")

    /// Runs ffmpeg with `arguments`, failing with its message.
    static func ffmpeg(_ arguments: [String]) throws {
        _ = try FFmpeg.run(FFmpeg.ffmpegPath!, ["-v", "error", "-nostdin", "-y"] + arguments, failure: .io, what: "ffmpeg \(arguments)")
    }

    /// A `frames`-frame `width`×`height` clip at 12 fps from testsrc2, with a 440 Hz sine track
    /// unless `audio` is false, encoded for `kind` (`mp4` H.264+AAC, `mov` H.264+AAC,
    /// `webm` VP9+Opus, `gif`).
    static func clip(_ kind: String, in directory: URL, width: Int = 64, height: Int = 48, frames: Int = 12,
                     audio: Bool = true, extra: [String] = []) throws -> String {
        let path = directory.appendingPathComponent("clip-\(UUID().uuidString.prefix(8)).\(kind)").path
        let seconds = Double(frames) / 12
        var arguments = ["-f", "lavfi", "-i", "testsrc2=size=\(width)x\(height):rate=12"]
        let withAudio = audio && kind != "gif"
        if withAudio { arguments += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"] }
        arguments += ["-frames:v", String(frames), "-t", String(seconds)]
        switch kind {
        case "mp4", "mov": arguments += ["-c:v", "libx264", "-pix_fmt", "yuv420p"] + (withAudio ? ["-c:a", "aac"] : [])
        case "webm": arguments += ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-pix_fmt", "yuv420p"] + (withAudio ? ["-c:a", "libopus"] : [])
        default: break
        }
        try ffmpeg(arguments + extra + [path])
        return path
    }

    /// A fresh directory under the system's temporary directory.
    static func directory(_ name: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("video-tests-\(name)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static func contents(_ directory: URL) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).sorted()
    }

    /// Pulls the realesr-animevideov3 and waifu2x weights once per process.
    static func ensureWeights() async throws {
        try await WeightsOnce.shared.ensure()
    }
}

/// One pull per test process, however many tests ask at once.
private actor WeightsOnce {
    static let shared = WeightsOnce()
    private var task: Task<Void, Error>?

    func ensure() async throws {
        if task == nil {
            task = Task {
                let puller = ModelPuller(modelDirectory: VideoFixtures.modelDirectory)
                try await puller.pull(WeightsCatalog.realESRAnimeVideoV3)
                try await puller.pull(WeightsCatalog.waifu2x)
            }
        }
        try await task!.value
    }
}

/// ffprobe's view of an output file, for checking results independently of `VideoInfo`.
struct ProbedOutput {
    var width = 0, height = 0, frames = 0
    var duration = 0.0
    var videoCodec = "", audioCodec: String?
    var rotation = 0

    init(path: String) throws {
        let data = try FFmpeg.run(FFmpeg.ffprobePath!, ["-v", "error", "-count_frames", "-print_format", "json",
                                                        "-show_streams", "-show_format", path], failure: .io, what: "ffprobe")
        let json = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        let streams = json["streams"] as! [[String: Any]]
        let video = streams.first { $0["codec_type"] as? String == "video" }!
        width = video["width"] as! Int
        height = video["height"] as! Int
        frames = Int(video["nb_read_frames"] as! String)!
        videoCodec = video["codec_name"] as! String
        audioCodec = streams.first { $0["codec_type"] as? String == "audio" }?["codec_name"] as? String
        duration = Double((json["format"] as! [String: Any])["duration"] as! String)!
        let sideData = video["side_data_list"] as? [[String: Any]] ?? []
        let r = sideData.compactMap { $0["rotation"] as? Int ?? ($0["rotation"] as? Double).map { Int($0) } }.first ?? 0
        rotation = (r % 360 + 360) % 360
    }
}
