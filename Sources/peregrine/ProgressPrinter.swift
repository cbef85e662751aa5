import Foundation
import ModelKit
import NIOConcurrencyHelpers

/// Progress on stderr, never stdout (scripts parse stdout): a redrawn bar on a terminal, plain
/// lines otherwise, at most one every `interval` for byte counts so logs stay short.
final class ProgressPrinter: Sendable {
    private let tty: Bool
    /// The last line printed (plain mode prints only changes) and when the last byte count was.
    private let last = NIOLockedValueBox((line: "", bytesAt: Date.distantPast))
    /// Seconds between plain byte-count lines.
    private let interval: TimeInterval
    private let sink: @Sendable (String) -> Void

    /// - Parameters:
    ///   - tty: draw a bar (default: whether stderr is a terminal).
    ///   - interval: seconds between plain lines for byte counts.
    ///   - sink: where text goes (default stderr).
    init(
        tty: Bool = isatty(STDERR_FILENO) == 1, interval: TimeInterval = 5,
        sink: @escaping @Sendable (String) -> Void = { FileHandle.standardError.write(Data($0.utf8)) }
    ) {
        self.tty = tty
        self.interval = interval
        self.sink = sink
    }

    /// A model's progress: fraction, steps and message.
    func show(_ p: ModelKit.Progress) {
        let fraction = p.fraction ?? p.step.flatMap { s in p.total.map { Double(s) / Double(max($0, 1)) } }
        let steps = p.step.map { s in p.total.map { " \(s)/\($0)" } ?? " \(s)" } ?? ""
        show(fraction: fraction, text: "\(steps) \(p.message ?? "")", throttled: false)
    }

    /// Bytes of a download, `total` when known.
    func bytes(_ label: String, received: Int64, total: Int64?) {
        let fraction = total.flatMap { $0 > 0 ? Double(received) / Double($0) : nil }
        let text = " \(received >> 20) MiB" + (total.map { " of \($0 >> 20) MiB" } ?? "") + " \(label)"
        show(fraction: fraction, text: text, throttled: true)
    }

    /// Step `step` of `total` (packages, files), with what it is doing.
    func step(_ step: Int, of total: Int, _ message: String) {
        show(fraction: Double(step) / Double(max(total, 1)), text: " \(step)/\(total) \(message)", throttled: false)
    }

    private func show(fraction: Double?, text: String, throttled: Bool) {
        let percent = fraction.map { String(format: "%3.0f%%", min(max($0, 0), 1) * 100) } ?? ""
        if tty {
            let width = 30
            let filled = Int(min(max(fraction ?? 0, 0), 1) * Double(width))
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: max(0, width - filled))
            sink("\r[\(bar)] \(percent)\(text)\u{1B}[K")
            return
        }
        let line = "progress \(percent)\(text)"
        let now = Date()
        let print = last.withLockedValue { value -> Bool in
            guard value.line != line, !throttled || now.timeIntervalSince(value.bytesAt) >= interval else { return false }
            value.line = line
            if throttled { value.bytesAt = now }
            return true
        }
        if print { sink(line + "\n") }
    }

    /// A line of its own (a log line, a notice), clearing a bar being drawn.
    func log(_ line: String) { sink((tty ? "\r\u{1B}[K" : "") + line + "\n") }

    /// Ends the bar's line.
    func finish() { if tty { sink("\n") } }
}
