import Foundation
import Testing

/// The Python runner library's own unit tests (python/tests), run with the runners' interpreter
/// so that the suite covers both sides of the protocol.
@Suite("External runners: Python library")
struct PythonLibraryTests {
    @Test("python -m unittest discover python/tests passes")
    func unittests() async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [RunnerFixtures.python, "-m", "unittest", "discover", "-s", "python/tests"]
        process.currentDirectoryURL = RunnerFixtures.root
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(text)")
        #expect(text.contains("OK"))
    }
}
