import Foundation

extension JobResult {
    /// The result of a job whose start deadline (`X-Fal-Request-Timeout`) passed while it was
    /// queued: 504 with fal's `request_timeout` body (clients never retry it).
    public static let requestTimeout = JobResult(
        status: 504,
        body: Data(#"{"detail":"Request timed out","error_type":"request_timeout"}"#.utf8),
        errorMessage: "Request timed out", errorType: "request_timeout")

    /// The result of a cancelled job.
    public static let cancelled = JobResult(
        status: 400,
        body: Data(#"{"detail":"Request cancelled","error_type":"request_cancelled"}"#.utf8),
        errorMessage: "Request cancelled", errorType: "request_cancelled")

    /// The result of a job whose runner lost its lease on the last allowed attempt.
    public static let runnerDisconnected = JobResult(
        status: 503,
        body: Data(#"{"detail":"Runner disconnected","error_type":"runner_disconnected"}"#.utf8),
        errorMessage: "Runner disconnected", errorType: "runner_disconnected")
}
