import Foundation
import Kernels
import Media
import ModelKit

/// A request's input video, fetched, size-checked, written into the job's scratch directory and
/// probed against the limits before any compute: the common first step of every video model.
struct StagedVideoInput {
    /// The job's scratch directory; the caller removes it when the request ends.
    let scratch: JobScratch
    /// Path of the staged input file inside `scratch`.
    let path: String
    let info: VideoInfo

    /// Stages `url` (the `video_url` field); the probe (a blocking child process) runs on one of
    /// `pool`'s job threads.
    /// - Throws: `ModelError` 422 for files over the limit, non-video or damaged input, and
    ///   codecs that cannot be decoded; the scratch directory is removed on failure.
    static func stage(_ url: String, context: any RunContext, configuration: VideoUpscaleConfiguration,
                      pool: ComputePool) async throws -> StagedVideoInput {
        let file = try await context.fetch(url, field: "video_url")
        guard file.data.count <= configuration.maxFileBytes else {
            throw ModelError(.invalidInput, "video_url: the file has \(file.data.count) bytes, the limit is \(configuration.maxFileBytes)",
                             field: ["body", "video_url"])
        }
        let scratch = try JobScratch(in: configuration.scratchDirectory)
        do {
            let path = scratch.url.appendingPathComponent("input").path
            do { try file.data.write(to: URL(fileURLWithPath: path)) } catch {
                throw ModelError(.internalError, "could not stage the input video: \(error.localizedDescription)")
            }
            let limits = configuration.limits
            let info = try await pool.execute { try LoadedVideoUpscaler.inspect(path, limits: limits) }
            return StagedVideoInput(scratch: scratch, path: path, info: info)
        } catch {
            scratch.remove()
            throw error
        }
    }
}
