import Foundation
import Logging
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One runner's operating-system process.
///
/// Spawned in its own process group (a Ctrl-C on `peregrine serve` does not reach it; stopping
/// it also stops whatever it started), with default signal dispositions, stdin a pipe Peregrine
/// holds open (end of file tells the runner that Peregrine is gone) and stdout/stderr forwarded
/// line by line to Peregrine's log, the last lines kept for error messages.
final class RunnerProcess: Sendable {
    /// The process id, also its process group id.
    let pid: pid_t
    private let stdinFD: NIOLockedValueBox<Int32>
    private let exit = ExitLatch()
    private let outputEnded = ExitLatch()
    private let output: OutputTail

    private init(pid: pid_t, stdinFD: Int32, output: OutputTail) {
        self.pid = pid
        self.stdinFD = NIOLockedValueBox(stdinFD)
        self.output = output
    }

    /// Starts `executable` (looked up on `PATH` when it has no slash).
    /// - Throws: `ExternalRunnerError.spawnFailed` when the process cannot be created.
    static func spawn(
        executable: String, arguments: [String], environment: [String: String], workingDirectory: String,
        maxLineBytes: Int = 1 << 20, logger: Logger
    ) throws -> RunnerProcess {
        var input: [Int32] = [-1, -1]
        var out: [Int32] = [-1, -1]
        guard let pipe2 = LibC.pipe2, let addchdir = LibC.addchdir else {
            throw ExternalRunnerError.spawnFailed("this C library lacks pipe2 or posix_spawn_file_actions_addchdir_np")
        }
        guard pipe2(&input, O_CLOEXEC) == 0 else { throw ExternalRunnerError.spawnFailed("pipe: \(String(cString: strerror(errno)))") }
        guard pipe2(&out, O_CLOEXEC) == 0 else {
            close(input[0]); close(input[1])
            throw ExternalRunnerError.spawnFailed("pipe: \(String(cString: strerror(errno)))")
        }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, input[0], 0)
        posix_spawn_file_actions_adddup2(&actions, out[1], 1)
        posix_spawn_file_actions_adddup2(&actions, out[1], 2)
        _ = addchdir(&actions, workingDirectory)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Peregrine's own process ignores or blocks signals for its graceful shutdown; the
        // runner must start with the defaults so that SIGTERM stops it.
        var defaults = sigset_t()
        sigfillset(&defaults)
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for p in argv { free(p) }
            for p in envp { free(p) }
        }
        var pid: pid_t = 0
        let rc = posix_spawnp(&pid, executable, &actions, &attributes, argv, envp)
        close(input[0])
        close(out[1])
        guard rc == 0 else {
            close(input[1])
            close(out[0])
            throw ExternalRunnerError.spawnFailed("\(executable): \(String(cString: strerror(rc)))")
        }
        let process = RunnerProcess(pid: pid, stdinFD: input[1], output: OutputTail(limit: 40))
        process.startThreads(outputFD: out[0], maxLineBytes: maxLineBytes, logger: logger)
        return process
    }

    /// - Parameter maxLineBytes: output without a newline is cut into lines of at most this
    ///   many bytes, so a runner that never ends a line cannot grow Peregrine's memory.
    private func startThreads(outputFD: Int32, maxLineBytes: Int, logger: Logger) {
        let output = self.output
        let outputEnded = self.outputEnded
        let reader = Thread {
            var buffer = [UInt8](repeating: 0, count: 16384)
            var pending = Data()
            while true {
                let n = read(outputFD, &buffer, buffer.count)
                if n < 0, errno == EINTR { continue }
                if n <= 0 { break }
                pending.append(contentsOf: buffer[0..<n])
                while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = String(decoding: pending[pending.startIndex..<newline], as: UTF8.self)
                    pending.removeSubrange(pending.startIndex...newline)
                    output.append(line)
                    logger.info("\(line)")
                }
                if pending.count > maxLineBytes {
                    let line = String(decoding: pending.prefix(maxLineBytes), as: UTF8.self)
                    pending.removeSubrange(pending.startIndex..<(pending.startIndex + maxLineBytes))
                    output.append(line)
                    logger.info("\(line)")
                }
            }
            if !pending.isEmpty { output.append(String(decoding: pending, as: UTF8.self)) }
            close(outputFD)
            outputEnded.finish("closed")
        }
        reader.name = "peregrine-runner-output-\(pid)"
        reader.start()

        let pid = self.pid
        let exit = self.exit
        let waiter = Thread {
            var status: Int32 = 0
            while true {
                let r = waitpid(pid, &status, 0)
                if r == pid { break }
                if r < 0, errno == EINTR { continue }
                // Reaped elsewhere: the process is gone, its status unknown.
                status = -1
                break
            }
            exit.finish(RunnerProcess.describe(status: status))
        }
        waiter.name = "peregrine-runner-wait-\(pid)"
        waiter.start()
    }

    private static func describe(status: Int32) -> String {
        if status == -1 { return "exited" }
        let signal = status & 0x7f
        if signal == 0 { return "exited with status \((status >> 8) & 0xff)" }
        return "killed by signal \(signal)"
    }

    /// How the process ended (`exited with status 3`, `killed by signal 9`), or `nil` while it runs.
    var exitDescription: String? { exit.value }

    /// How the process ended, waiting up to `limit` for it to end (a broken connection is
    /// usually noticed a moment before the exit is).
    func exitDescription(waitingUpTo limit: Duration) async -> String? {
        let deadline = ContinuousClock.now + limit
        while exit.value == nil, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(5))
        }
        return exit.value
    }

    /// Waits until the process has ended and answers how.
    func waitForExit() async -> String { await exit.wait() }

    /// The last lines the process wrote to stdout/stderr.
    var recentOutput: [String] { output.lines }

    /// The last lines of output of an ended process, once its output pipe is drained (or
    /// `limit` passed: something it started may still hold the pipe).
    func finalOutput(limit: Duration = .seconds(1)) async -> [String] {
        let deadline = ContinuousClock.now + limit
        while outputEnded.value == nil, ContinuousClock.now < deadline {
            // The reader thread is usually a few microseconds behind the exit.
            try? await Task.sleep(for: .milliseconds(5))
        }
        return output.lines
    }

    /// Sends `signal` to the whole process group.
    func signal(_ signal: Int32) {
        guard exit.value == nil else { return }
        if kill(-pid, signal) != 0 { _ = kill(pid, signal) }
    }

    /// Stops the process: SIGTERM to its group, SIGKILL after `grace`; returns once it ended.
    func terminate(grace: Duration) async {
        closeStdin()
        guard exit.value == nil else { return }
        signal(SIGTERM)
        let killer = Task {
            try? await Task.sleep(for: grace)
            if !Task.isCancelled { self.signal(SIGKILL) }
        }
        _ = await exit.wait()
        killer.cancel()
    }

    /// Closes the runner's stdin (it sees end of file).
    func closeStdin() {
        stdinFD.withLockedValue { fd in
            if fd >= 0 { close(fd); fd = -1 }
        }
    }

    deinit {
        closeStdin()
    }
}

/// C library functions outside the portable headers Swift imports (glibc declares them only
/// under `_GNU_SOURCE`): looked up at run time.
enum LibC {
    typealias Pipe2 = @convention(c) (UnsafeMutablePointer<Int32>?, Int32) -> Int32
    typealias AddChdir = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, UnsafePointer<CChar>?) -> Int32

    /// `pipe2(2)`: a pipe whose ends are close-on-exec from the start, so that no other child
    /// spawned meanwhile inherits them (which would keep the runner's stdin from reaching EOF).
    static let pipe2: Pipe2? = symbol("pipe2")
    /// `posix_spawn_file_actions_addchdir_np(3)`: the child's working directory.
    static let addchdir: AddChdir? = symbol("posix_spawn_file_actions_addchdir_np")

    private static func symbol<F>(_ name: String) -> F? {
        guard let handle = dlopen(nil, RTLD_NOW), let address = dlsym(handle, name) else { return nil }
        return unsafeBitCast(address, to: F.self)
    }
}

/// Set once when the process ends; any number of tasks wait for it.
final class ExitLatch: Sendable {
    private struct State {
        var value: String?
        var waiters: [CheckedContinuation<String, Never>] = []
    }
    private let state = NIOLockedValueBox(State())

    var value: String? { state.withLockedValue { $0.value } }

    func finish(_ description: String) {
        let waiters = state.withLockedValue { s -> [CheckedContinuation<String, Never>] in
            s.value = description
            defer { s.waiters.removeAll() }
            return s.waiters
        }
        for w in waiters { w.resume(returning: description) }
    }

    func wait() async -> String {
        await withCheckedContinuation { continuation in
            let done = state.withLockedValue { s -> String? in
                if let v = s.value { return v }
                s.waiters.append(continuation)
                return nil
            }
            if let done { continuation.resume(returning: done) }
        }
    }
}

/// The last lines of a process's output.
final class OutputTail: Sendable {
    private let limit: Int
    private let storage = NIOLockedValueBox<[String]>([])

    init(limit: Int) { self.limit = limit }

    func append(_ line: String) {
        storage.withLockedValue {
            $0.append(line)
            if $0.count > limit { $0.removeFirst($0.count - limit) }
        }
    }

    var lines: [String] { storage.withLockedValue({ $0 }) }
}
