import Foundation
import Kernels
import Media
import ModelKit
@testable import Models
import Testing

/// The streaming pipeline and its bounded queue, with a plain transform (no network).
@Suite("Video pipeline")
struct VideoPipelineTests {
    @Test("the queue never holds more than its capacity, keeps order, and passes the producer's error after the items")
    func queueBounds() throws {
        let queue = FrameQueue<Int>(capacity: 3)
        let pushed = LockedCounter()
        let done = DispatchSemaphore(value: 0)
        Thread {
            for i in 0..<200 {
                guard queue.push(i) else { break }
                pushed.increment()
            }
            queue.finish(throwing: MediaError(.corrupt, "end"))
            done.signal()
        }.start()
        var popped = 0
        do {
            while let item = try queue.pop() {
                #expect(item == popped)
                popped += 1
                #expect(pushed.value <= popped + 3, "more than capacity in flight")
            }
            Issue.record("the producer's error was not thrown")
        } catch let error as MediaError {
            #expect(error.message == "end")
        }
        #expect(popped == 200)
        #expect(done.wait(timeout: .now() + 30) == .success)
    }

    @Test("cancel releases a producer blocked on a full queue")
    func cancelReleasesProducer() throws {
        let queue = FrameQueue<Int>(capacity: 1)
        let refused = DispatchSemaphore(value: 0)
        Thread {
            var i = 0
            while queue.push(i) { i += 1 }
            refused.signal()
        }.start()
        queue.cancel()
        #expect(refused.wait(timeout: .now() + 30) == .success)
        #expect(try queue.pop() == nil)
    }

    @Test("a failing transform leaves no output and no partial file", .enabled(if: FFmpeg.isAvailable))
    func failureLeavesNothing() throws {
        let dir = try VideoFixtures.directory("pipeline-failure")
        defer { try? FileManager.default.removeItem(at: dir) }
        let clip = try VideoFixtures.clip("mp4", in: dir, frames: 24)
        let work = dir.appendingPathComponent("work")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        let reader = try VideoReader(path: clip, scratchDirectory: work)
        let output = work.appendingPathComponent("out.mp4").path
        let writer = try VideoWriter(path: output, width: 64, height: 48,
                                     configuration: .init(frameRate: reader.info.frameRate, audioSource: clip, scratchDirectory: work))
        var seen = 0
        #expect(throws: MediaError.self) {
            _ = try VideoPipeline(pool: ComputePool(threads: 1)).run(reader: reader, writer: writer, expectedFrames: 24, context: nil) { frame in
                seen += 1
                if seen == 6 { throw MediaError(.invalidArgument, "forced failure at frame 6") }
                return frame
            }
        }
        #expect(seen == 6)
        #expect(VideoFixtures.contents(work).isEmpty)
    }

    @Test("the identity transform reproduces the clip's frame count, size and audio", .enabled(if: FFmpeg.isAvailable))
    func identity() throws {
        let dir = try VideoFixtures.directory("pipeline-identity")
        defer { try? FileManager.default.removeItem(at: dir) }
        let clip = try VideoFixtures.clip("mp4", in: dir, frames: 30)
        let reader = try VideoReader(path: clip, scratchDirectory: dir)
        let output = dir.appendingPathComponent("out.mp4").path
        let writer = try VideoWriter(path: output, width: 64, height: 48,
                                     configuration: .init(frameRate: reader.info.frameRate, audioSource: clip, audioCodec: "aac",
                                                          scratchDirectory: dir))
        #expect(writer.copiesAudio)
        let report = try VideoPipeline(pool: ComputePool(threads: 1), configuration: .init(framesInFlight: 1)).run(
            reader: reader, writer: writer, expectedFrames: 30, context: nil) { $0 }
        #expect(report.frames == 30)
        let probed = try ProbedOutput(path: output)
        #expect(probed.frames == 30 && probed.width == 64 && probed.height == 48 && probed.audioCodec == "aac")
        #expect(Set(VideoFixtures.contents(dir)) == Set([URL(fileURLWithPath: clip).lastPathComponent, "out.mp4"]))
    }
}

/// A counter shared between a test and a thread.
final class LockedCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func increment() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}
