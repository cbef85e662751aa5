import Foundation
import Kernels
import Media
import ModelKit

/// Decode → transform → encode, each stage on a job thread of the compute pool, joined by
/// bounded queues.
///
/// The decoder (an ffmpeg child feeding a reader job), the transform (the calling thread, itself
/// a job of the pool: the model on the compute pool) and the encoder (a writer job feeding an
/// ffmpeg child)
/// overlap, and at most `2 × framesInFlight + 3` frames exist at once whatever the video's
/// length. Cancellation is checked before every frame; on cancellation or any failure both
/// ffmpeg children are killed, the threads joined and the writer cancelled, which removes its
/// partial file: nothing is left behind.
struct VideoPipeline {
    /// Runs the decoder and encoder stages on its job threads (no stage starts a thread).
    let pool: ComputePool
    /// Settings of a run.
    struct Configuration: Sendable {
        /// Frames waiting between two stages (per queue).
        var framesInFlight = 3
        /// A log line every this many frames (and after the last).
        var logEvery = 25
    }

    /// What a finished run did.
    struct Report: Sendable {
        /// Input frames processed.
        var frames: Int
        /// Frames encoded.
        var framesWritten: Int
        /// Seconds spent in the transform.
        var transformSeconds: Double
        /// Seconds from start to the encoder's end.
        var wallSeconds: Double
    }

    var configuration = Configuration()

    /// - Parameters:
    ///   - pool: the compute pool whose job threads run the decoder and encoder.
    ///   - configuration: queue sizes and logging.
    init(pool: ComputePool, configuration: Configuration = Configuration()) {
        self.pool = pool
        self.configuration = configuration
    }

    /// Runs the pipeline to the end; `writer.finish()` has moved the output into place when
    /// this returns.
    /// - Parameters:
    ///   - reader: the decoder; owned by the pipeline from now on (closed when done).
    ///   - writer: the encoder; owned by the pipeline (finished on success, cancelled otherwise).
    ///   - expectedFrames: the probe's frame count, for progress fractions.
    ///   - context: progress, logs and cancellation, if any.
    ///   - transform: frame in, frame out (of the writer's size).
    /// - Throws: `CancellationError` when the context was cancelled, the transform's error, or
    ///   the reader's or writer's `MediaError`.
    func run(reader: VideoReader, writer: VideoWriter, expectedFrames: Int, context: (any RunContext)?,
             transform: (Image) throws -> Image) throws -> Report {
        try run(reader: reader, writer: writer, expectedFrames: expectedFrames, context: context, expand: { [try transform($0)] })
    }

    /// Runs the pipeline with a transform that turns each input frame into any number of
    /// output frames (frame interpolation: the frame between the previous one and this, then
    /// this one). Progress and cancellation count input frames.
    func run(reader: VideoReader, writer: VideoWriter, expectedFrames: Int, context: (any RunContext)?,
             expand transform: (Image) throws -> [Image]) throws -> Report {
        let start = DispatchTime.now().uptimeNanoseconds
        let decoded = FrameQueue<Image>(capacity: configuration.framesInFlight)
        let encoded = FrameQueue<Image>(capacity: configuration.framesInFlight)
        let decoderDone = DispatchSemaphore(value: 0)
        let encoderDone = DispatchSemaphore(value: 0)
        let encoderResult = ResultBox()

        pool.submit {
            defer { decoderDone.signal() }
            do {
                while let frame = try reader.nextFrame() {
                    if !decoded.push(frame) { break }
                }
                decoded.finish()
            } catch {
                decoded.finish(throwing: error)
            }
            reader.close()
        }
        pool.submit {
            defer { encoderDone.signal() }
            do {
                while let frame = try encoded.pop() { try writer.write(frame) }
                if encoded.isCancelled {
                    writer.cancel()
                    encoderResult.set(CancellationError())
                } else {
                    try writer.finish()
                }
            } catch {
                writer.cancel()
                encoderResult.set(error)
                // Unblocks the transform if it waits to push.
                encoded.cancel()
            }
        }

        func stopEverything() {
            decoded.cancel()
            reader.abort()
            encoded.cancel()
            writer.abort()
            decoderDone.wait()
            encoderDone.wait()
        }

        var frames = 0
        var written = 0
        var transformSeconds = 0.0
        do {
            while let frame = try decoded.pop() {
                try context?.checkCancellation()
                let t0 = DispatchTime.now().uptimeNanoseconds
                let outputs = try transform(frame)
                transformSeconds += Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
                for output in outputs {
                    guard encoded.push(output) else {
                        // The encoder failed; its error is the one to report.
                        throw encoderResult.error ?? MediaError(.encodingFailed, "video: the encoder stopped")
                    }
                    written += 1
                }
                frames += 1
                report(frames: frames, expected: expectedFrames, seconds: transformSeconds, context: context)
            }
        } catch {
            // An encoder that failed first is the cause; read it before stopping, which makes
            // a write in progress fail too.
            let encoderError = encoderResult.error
            stopEverything()
            throw encoderError ?? error
        }
        encoded.finish()
        encoderDone.wait()
        decoderDone.wait()
        if let error = encoderResult.error { throw error }
        let wall = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        context?.log("encoded \(written) frames in \(String(format: "%.2f", wall)) s", level: .info)
        return Report(frames: frames, framesWritten: written, transformSeconds: transformSeconds, wallSeconds: wall)
    }

    private func report(frames: Int, expected: Int, seconds: Double, context: (any RunContext)?) {
        guard let context else { return }
        let total = max(expected, frames)
        context.progress(ModelKit.Progress(fraction: Double(frames) / Double(total), step: frames, total: total,
                                           message: "frame \(frames) of \(total)"))
        if frames % max(1, configuration.logEvery) == 0 || frames == expected {
            let fps = seconds > 0 ? Double(frames) / seconds : 0
            context.log("frame \(frames)/\(total) (\(String(format: "%.2f", fps)) frames/s in the model)", level: .info)
        }
    }
}

/// The encoder job's error, read by the caller after joining it.
private final class ResultBox: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Error?
    func set(_ error: Error) { lock.withLock { if stored == nil { stored = error } } }
    var error: Error? { lock.withLock { stored } }
}
