import Benchmarks
import Foundation
import Kernels
import Media
import ModelKit
import Models
import Weights

/// `swift run -c release VideoBench [--threads 2] [--frames480 12] [--frames256 24] [--python P]`:
/// frames per second of peregrine/video-upscale (decode → network → encode, streamed) for 480p ×2
/// and 256×256 ×4, side by side with the same work done by the `ncnn` package per frame plus the
/// ffmpeg program (bench/video/ncnn_video.py), and the cost of the raw-frame pipe. Prints JSON.
///
/// `VideoBench --memory FRAMES`: upscales a 128×72 clip of FRAMES frames ×2 and prints this
/// process's memory high-water mark (VmHWM), to show it does not grow with the video's length.
@main
struct VideoBenchMain {
    static func main() async throws {
        var args = Array(CommandLine.arguments.dropFirst())
        func value(_ flag: String) -> String? {
            guard let i = args.firstIndex(of: flag), i + 1 < args.count else { return nil }
            defer { args.removeSubrange(i...(i + 1)) }
            return args[i + 1]
        }
        let root = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        let models = URL(fileURLWithPath: value("--model-dir") ?? root.appendingPathComponent(".peregrine-test/models").path)
        let threads = Int(value("--threads") ?? "2") ?? 2
        let python = value("--python") ?? root.appendingPathComponent(".venv-ncnn/bin/python").path
        let script = root.appendingPathComponent("bench/video/ncnn_video.py").path
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("video-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        try await ModelPuller(modelDirectory: models).pull(WeightsCatalog.realESRAnimeVideoV3) { log($0) }
        let loaded = try await VideoUpscale(configuration: .init(preset: "fast", scratchDirectory: work))
            .load(context: LoadContext(modelDirectory: models, pool: ComputePool(threads: threads)))

        if let frames = value("--memory").flatMap(Int.init) {
            let clip = try makeClip(in: work, width: 128, height: 72, frames: frames)
            let start = Date()
            let out = try await upscale(loaded, clip: clip, scale: 2, work: work)
            var report: [String: Any] = [
                "frames": frames, "input": "128x72", "scale": 2, "seconds": Date().timeIntervalSince(start),
                "output_frames": out["video"]?["frame_count"]?.intValue ?? -1,
                "vm_hwm_kib": status("VmHWM"), "vm_rss_kib": status("VmRSS"),
            ]
            report.merge(EngineBenchmark.machine) { $1 }
            print(String(decoding: try JSONSerialization.data(withJSONObject: report, options: [.sortedKeys]), as: UTF8.self))
            return
        }

        let frames480 = Int(value("--frames480") ?? "12") ?? 12
        let frames256 = Int(value("--frames256") ?? "24") ?? 24
        var cases: [[String: Any]] = []
        for (width, height, scale, frames) in [(854, 480, 2, frames480), (256, 256, 4, frames256)] {
            let clip = try makeClip(in: work, width: width, height: height, frames: frames)
            log("\(width)x\(height) x\(scale), \(frames) frames: peregrine")
            let t0 = Date()
            let cpu0 = cpuSeconds()
            let out = try await upscale(loaded, clip: clip, scale: scale, work: work)
            let peregrineSeconds = Date().timeIntervalSince(t0)
            let peregrineCPU = cpuSeconds() - cpu0
            log("\(width)x\(height) x\(scale): ncnn + ffmpeg")
            let stem = models.appendingPathComponent("realesr-animevideov3/realesr-animevideov3-x\(scale)").path
            let peer = try run(python, [script, "--param", stem + ".param", "--bin", stem + ".bin", "--input", clip,
                                        "--output", work.appendingPathComponent("ncnn.mp4").path, "--scale", String(scale),
                                        "--threads", String(threads), "--width", String(width), "--height", String(height),
                                        "--rate", "24/1", "--context", "18", "--preset", "fast"])
            let peerJSON = try JSONSerialization.jsonObject(with: Data(peer.utf8)) as! [String: Any]
            let peerSeconds = peerJSON["wall_seconds"] as! Double
            let peerFrames = peerJSON["frames"] as! Int
            let peerCPU = peerJSON["cpu_seconds"] as! Double
            cases.append([
                "input": "\(width)x\(height)", "scale": scale, "frames": frames, "threads": threads,
                "peregrine": ["fps": Double(frames) / peregrineSeconds, "wall_seconds": peregrineSeconds,
                              "network_seconds": out["timings"]?["inference"]?.doubleValue ?? -1,
                              "output_frames": out["video"]?["frame_count"]?.intValue ?? -1,
                              "cpu_seconds_per_frame": peregrineCPU / Double(frames)],
                "ncnn_ffmpeg": ["fps": Double(peerFrames) / peerSeconds, "wall_seconds": peerSeconds,
                                "network_seconds": peerJSON["ncnn_seconds"] as! Double, "output_frames": peerFrames,
                                "cpu_seconds_per_frame": peerCPU / Double(peerFrames)],
                "peregrine_over_ncnn_fps": (Double(frames) / peregrineSeconds) / (Double(peerFrames) / peerSeconds),
                "ncnn_over_peregrine_cpu_per_frame": (peerCPU / Double(peerFrames)) / (peregrineCPU / Double(frames)),
            ])
        }
        let pipe = try pipeCost(in: work, frames: 120)
        var report: [String: Any] = ["cases": cases, "pipe_cost": pipe]
        report.merge(EngineBenchmark.machine) { $1 }
        print(String(decoding: try JSONSerialization.data(withJSONObject: report, options: [.sortedKeys, .prettyPrinted]), as: UTF8.self))
    }

    /// Decoding a 480p H.264 clip into this process through the pipe, against ffmpeg decoding
    /// and converting the same frames to nowhere: what the pipe and the copy cost.
    static func pipeCost(in work: URL, frames: Int) throws -> [String: Any] {
        let clip = try makeClip(in: work, width: 854, height: 480, frames: frames)
        var best = (pipe: Double.infinity, null: Double.infinity)
        for _ in 0..<3 {
            let t0 = Date()
            let reader = try VideoReader(path: clip)
            var n = 0
            while try reader.nextFrame() != nil { n += 1 }
            precondition(n == frames)
            best.pipe = min(best.pipe, Date().timeIntervalSince(t0))
            let t1 = Date()
            _ = try run("/usr/bin/env", ["ffmpeg", "-v", "error", "-nostdin", "-i", clip, "-map", "0:v:0", "-fps_mode", "passthrough",
                                         "-f", "rawvideo", "-pix_fmt", "rgb24", "-y", "/dev/null"])
            best.null = min(best.null, Date().timeIntervalSince(t1))
        }
        let bytes = Double(854 * 480 * 3 * frames)
        return ["frames": frames, "input": "854x480", "through_pipe_seconds": best.pipe, "ffmpeg_to_null_seconds": best.null,
                "pipe_overhead_ms_per_frame": (best.pipe - best.null) * 1000 / Double(frames),
                "pipe_mib_per_second": bytes / best.pipe / 1_048_576]
    }

    static func upscale(_ loaded: any LoadedModel, clip: String, scale: Int, work: URL) async throws -> JSONValue {
        let context = BenchRunContext(outputDirectory: work)
        let out = try await loaded.run(input: ["video_url": .string(clip), "scale": .int(Int64(scale)), "tile_size": 1024],
                                       context: context)
        if let url = out["video"]?["url"]?.stringValue, let path = URL(string: url)?.path { try? FileManager.default.removeItem(atPath: path) }
        return out
    }

    static func makeClip(in work: URL, width: Int, height: Int, frames: Int) throws -> String {
        let path = work.appendingPathComponent("clip-\(width)x\(height)-\(frames).mp4").path
        _ = try run("/usr/bin/env", ["ffmpeg", "-v", "error", "-nostdin", "-y", "-f", "lavfi", "-i", "testsrc2=size=\(width)x\(height):rate=24",
                                     "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-frames:v", String(frames),
                                     "-t", String(Double(frames) / 24), "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", path])
        return path
    }

    static func run(_ executable: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw CocoaError(.executableLoad) }
        return String(decoding: data, as: UTF8.self)
    }

    /// CPU seconds (user + system) of this process and of its children that have ended (the
    /// ffmpeg programs): on a shared machine, a measure of work that other load does not inflate
    /// the way it inflates wall time.
    static func cpuSeconds() -> Double {
        var total = 0.0
        for who in [RUSAGE_SELF, RUSAGE_CHILDREN].map({ Int32(truncatingIfNeeded: $0.rawValue) }) {
            var usage = rusage()
            getrusage(who, &usage)
            total += Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
            total += Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
        }
        return total
    }

    /// A line of /proc/self/status in KiB.
    static func status(_ key: String) -> Int {
        let text = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = text.split(separator: "\n").first { $0.hasPrefix(key + ":") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? -1
    }

    static func log(_ line: String) { FileHandle.standardError.write(Data((line + "\n").utf8)) }
}

/// Files in, files out: the bench's stand-in for the platform's blob store.
final class BenchRunContext: RunContext, @unchecked Sendable {
    let outputDirectory: URL
    init(outputDirectory: URL) { self.outputDirectory = outputDirectory }
    func progress(_ progress: ModelKit.Progress) {}
    func log(_ message: String, level: LogLevel) { VideoBenchMain.log("  " + message) }
    var isCancelled: Bool { false }
    func fetch(_ url: String, field: String) async throws -> FetchedFile {
        FetchedFile(data: try Data(contentsOf: URL(fileURLWithPath: url)), contentType: nil, fileName: nil)
    }
    func store(_ data: Data, contentType: String, fileName: String) async throws -> StoredFile {
        let url = outputDirectory.appendingPathComponent("\(UUID().uuidString)-\(fileName)")
        try data.write(to: url)
        return StoredFile(url: url.absoluteString, contentType: contentType, fileName: fileName, fileSize: data.count)
    }
}
