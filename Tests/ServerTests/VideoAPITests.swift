import Foundation
import Hummingbird
import HummingbirdTesting
import ModelKit
import Models
import Platform
import Runners
import Server
import Testing
import Weights

/// A real clip through the HTTP queue API with the real video model and published weights:
/// submit, wait, fetch the output file from its URL, and check it with ffprobe.
@Suite("Video through the HTTP API", .serialized)
struct VideoAPITests {
    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let modelDirectory = repositoryRoot.appendingPathComponent(".peregrine-test/models")

    @Test("a 12-frame clip with audio is upscaled ×2 end to end")
    func upscaleThroughQueue() async throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("video-api-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let clip = work.appendingPathComponent("in.mp4")
        try Self.tool("ffmpeg", [
            "-v", "error", "-nostdin", "-y", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=12",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-frames:v", "12", "-t", "1",
            "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", clip.path,
        ])
        _ = try await ModelPuller(modelDirectory: Self.modelDirectory).pull("realesr-animevideov3")

        var configuration = ServerConfiguration()
        configuration.home = work.appendingPathComponent("home")
        configuration.authEnabled = false
        let platform = try EmbeddedPlatform(
            configuration: configuration, models: [VideoUpscale()], modelsDirectory: Self.modelDirectory)
        let app = Application(
            responder: APIResponder(services: APIServices(platform: platform), scheme: "https"),
            services: [platform.maintenance(), platform.hub, platform.pool])
        try await app.test(.router) { client in
            let uri = "data:video/mp4;base64," + (try Data(contentsOf: clip)).base64EncodedString()
            let submit = try await client.send(.post, "/queue/peregrine/video-upscale", json: ["video_url": .string(uri), "scale": 2])
            #expect(submit.status == .ok)
            let id = try #require(try submit.json["request_id"]?.stringValue)

            var status: JSONValue = .null
            let deadline = Date().addingTimeInterval(600)
            while Date() < deadline {
                status = try await client.send(.get, "/queue/peregrine/video-upscale/requests/\(id)/status?logs=1").json
                if status["status"] == "COMPLETED" { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(status["status"] == "COMPLETED")
            #expect(status["error"] == nil, "\(status)")
            let logs = status["logs"]?.arrayValue ?? []
            #expect(!logs.isEmpty, "per-frame progress shows in the logs")

            let result = try await client.send(.get, "/queue/peregrine/video-upscale/requests/\(id)")
            #expect(result.status == .ok)
            let video = try #require(try result.json["video"])
            #expect(video["content_type"] == "video/mp4")
            let url = try #require(video["url"]?.stringValue.flatMap(URL.init(string:)))
            let file = try await client.execute(uri: url.path, method: .get)
            #expect(file.status == .ok)
            let output = work.appendingPathComponent("out.mp4")
            try Data(file.body.readableBytesView).write(to: output)
            #expect(video["file_size"]?.intValue == Int64(file.body.readableBytes))

            let probe = try JSONValue(parsing: try Self.tool("ffprobe", [
                "-v", "error", "-count_frames", "-show_streams", "-show_format", "-of", "json", output.path,
            ]))
            let streams = probe["streams"]?.arrayValue ?? []
            let v = try #require(streams.first { $0["codec_type"] == "video" })
            #expect(v["width"]?.intValue == 128)
            #expect(v["height"]?.intValue == 96)
            #expect(v["nb_read_frames"]?.stringValue == "12")
            #expect(v["pix_fmt"] == "yuv420p")
            #expect(streams.contains { $0["codec_type"] == "audio" }, "the audio track is kept")
            let duration = Double(probe["format"]?["duration"]?.stringValue ?? "") ?? 0
            #expect(abs(duration - 1.0) < 0.1, "duration \(duration)")
        }
    }

    /// Runs a Debian tool (ffmpeg, ffprobe) and returns its standard output.
    @discardableResult
    static func tool(_ name: String, _ arguments: [String]) throws -> Data {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/\(name)")
        process.arguments = arguments
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw HarnessError("\(name) exited \(process.terminationStatus)") }
        return data
    }
}
