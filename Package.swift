// swift-tools-version:6.0
import Foundation
import PackageDescription

// Kernel targets are compiled optimized in every configuration: a debug build of the
// engine is 10-100x slower and would make the model tests unusable.
let kernelSwiftSettings: [SwiftSetting] = [.unsafeFlags(["-Ounchecked"])]
let kernelCSettings: [CSetting] = [.unsafeFlags(["-O3", "-fno-math-errno"])]
// Targets that parse untrusted bytes (media files, model files) are optimized too, but keep
// bounds and overflow checks: a malformed file must fail with an error, never read out of bounds.
let parserSwiftSettings: [SwiftSetting] = [.unsafeFlags(["-O"])]

let package = Package(
    name: "Peregrine",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "peregrine", targets: ["peregrine"]),
        .library(name: "Client", targets: ["Client"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.27.0"),
        .package(url: "https://github.com/apple/swift-crypto", "3.0.0"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.10.0"),
        .package(url: "https://github.com/apple/swift-asn1", from: "1.3.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.10.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.24.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.0"),
    ],
    targets: [
        // MARK: Engine (no networking)
        .target(name: "CKernels", cSettings: kernelCSettings),
        .target(name: "Tensor", swiftSettings: kernelSwiftSettings),
        .target(name: "Kernels", dependencies: ["Tensor", "CKernels"], swiftSettings: kernelSwiftSettings),
        .target(name: "Graph", dependencies: ["Tensor", "Kernels"], swiftSettings: kernelSwiftSettings),
        // Importers run whole ONNX graphs in their own executor: optimized in every
        // configuration too, but with -O (bounds checks kept) since they parse untrusted files.
        .target(name: "ModelFormats", dependencies: ["Tensor", "Kernels", "Graph"], swiftSettings: parserSwiftSettings),
        .systemLibrary(name: "CLibPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CLibJPEG", providers: [.apt(["libjpeg62-turbo-dev"])]),
        .systemLibrary(name: "CLibWebP", pkgConfig: "libwebp", providers: [.apt(["libwebp-dev"])]),
        .target(name: "CMediaShims", dependencies: ["CLibPNG", "CLibJPEG"], linkerSettings: [.linkedLibrary("png16"), .linkedLibrary("jpeg")]),
        .target(name: "Media", dependencies: ["Tensor", "CLibPNG", "CLibJPEG", "CLibWebP", "CMediaShims"], swiftSettings: parserSwiftSettings),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .target(name: "ModelKit"),
        // Pinned weights: the catalog, the puller and SHA-256 checks (no engine code).
        .target(name: "Weights", dependencies: ["ModelKit", .product(name: "Crypto", package: "swift-crypto")]),
        .target(name: "Models", dependencies: ["ModelKit", "Tensor", "Kernels", "Graph", "ModelFormats", "Media", "Weights", "CZlib"],
                resources: [.copy("Gallery")]),
        // Benchmark harnesses (numbers for the bench tools, never asserted): kept out of the libraries.
        .target(name: "Benchmarks", dependencies: ["Tensor", "Kernels", "Graph", "ModelFormats", "Media", "ModelKit"]),

        // MARK: Platform
        .target(name: "APITypes", dependencies: ["ModelKit"]),
        .target(name: "JobQueue", dependencies: [
            "APITypes",
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        // The cluster driver of the job queue (PostgreSQL): its own target, so the embedded
        // build's targets do not depend on postgres-nio.
        .target(name: "PostgresStore", dependencies: [
            "JobQueue",
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        .target(name: "BlobStore", dependencies: [
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .target(name: "Webhooks", dependencies: [
            "JobQueue",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        .target(name: "Runners", dependencies: [
            "JobQueue", "BlobStore", "ModelKit", "APITypes", "Media",
            .product(name: "CoreMetrics", package: "swift-metrics"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        // The composition root and the transport-free core the server, the CLI and benchmarks share.
        .target(name: "Platform", dependencies: [
            "APITypes", "JobQueue", "BlobStore", "Runners", "Webhooks", "ModelKit", "Kernels",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "CoreMetrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "Server", dependencies: [
            "Platform", "APITypes", "JobQueue", "BlobStore", "Runners", "Webhooks", "ModelKit",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdTLS", package: "hummingbird"),
            .product(name: "HummingbirdCore", package: "hummingbird"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "SwiftASN1", package: "swift-asn1"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Logging", package: "swift-log"),
        ],
        // The playground's pages are compiled into the binary: `peregrine` stays one file
        // that serves them with no resource bundle beside it.
        resources: ["index.html", "playground.css", "main.js", "api.js", "form.js", "model.js", "run.js", "results.js", "history.js", "snippets.js"]
            .map { .embedInCode("Playground/\($0)") }),
        .target(name: "ExternalRunners", dependencies: [
            "ModelKit",
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "Client", dependencies: [
            "APITypes", "ModelKit",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ]),
        .executableTarget(name: "EngineBench", dependencies: ["Models", "Graph", "ModelKit", "Benchmarks", "Weights"], path: "bench/ncnn/EngineBench"),
        .executableTarget(name: "ONNXBench", dependencies: ["ModelFormats", "Graph", "Tensor", "Kernels", "CKernels"], path: "bench/onnx/ONNXBench"),
        .executableTarget(name: "DiffusionBench", dependencies: ["Models", "Graph", "Kernels", "Tensor"], path: "bench/diffusion/DiffusionBench"),
        .executableTarget(name: "VideoBench", dependencies: ["Models", "Media", "ModelKit", "Weights", "Kernels", "Benchmarks"], path: "bench/video/VideoBench"),
        .executableTarget(
            name: "PoolBench", dependencies: ["Platform", "Runners", "JobQueue", "Models", "Graph", "ModelFormats", "Tensor", "Media", "ModelKit", "Kernels", "Benchmarks"],
            path: "bench/pool/PoolBench"),
        .executableTarget(name: "peregrine", dependencies: [
            "Platform", "Server", "PostgresStore", "Models", "Graph", "Client", "APITypes", "JobQueue", "Runners", "ModelKit", "ExternalRunners", "Weights",
            "Media", "Kernels",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),

        // A server whose gallery is the test fixtures, driven from outside by SystemTests.
        .executableTarget(name: "peregrine-test-server", dependencies: ["Platform", "Server", "Runners", "ModelKit", "JobQueue"], path: "Tests/Fixtures/TestServer"),

        // MARK: Tests
        .testTarget(name: "KernelsTests", dependencies: ["Kernels", "Tensor", "CKernels"]),
        .testTarget(name: "BenchmarksTests", dependencies: ["Benchmarks", "Kernels", "Tensor"]),
        .testTarget(name: "DiffusionTests", dependencies: ["Models", "Weights", "ModelKit", "ModelFormats", "Graph", "Kernels", "Tensor"], exclude: ["Goldens"]),
        .testTarget(name: "MediaTests", dependencies: ["Media", "Tensor"]),
        .testTarget(name: "VideoTests", dependencies: ["Models", "ModelFormats", "Media", "ModelKit", "Tensor", "Weights", "Kernels"]),
        .testTarget(name: "EngineTests", dependencies: ["Graph", "ModelFormats", "Media", "Models", "ModelKit", "Tensor", "Kernels", "Weights"], exclude: ["Goldens"]),
        .testTarget(name: "ONNXTests", dependencies: ["ModelFormats", "Graph", "Tensor", "Kernels", "Models", "ModelKit", "Media", "Weights"], exclude: ["Goldens"]),
        // The tests' PostgreSQL cluster and their own databases in it.
        .target(name: "PostgresTestSupport", dependencies: [
            "PostgresStore",
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "Logging", package: "swift-log"),
        ], path: "Tests/PostgresTestSupport"),
        .testTarget(name: "JobQueueTests", dependencies: [
            "JobQueue", "APITypes", "Tensor", "PostgresStore", "PostgresTestSupport", "TestSupport",
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        .testTarget(name: "WebhooksTests", dependencies: [
            "Webhooks", "JobQueue", "TestSupport",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        .testTarget(name: "BlobStoreTests", dependencies: ["BlobStore"]),
        .testTarget(name: "SystemTests", dependencies: [
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        .testTarget(name: "ExternalRunnerTests", dependencies: [
            "ExternalRunners", "Platform", "Server", "Runners", "JobQueue", "ModelKit",
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdTesting", package: "hummingbird"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Test models shared by the test targets that serve them or read their schemas.
        .target(name: "TestSupport", dependencies: ["ModelKit"], path: "Tests/TestSupport"),
        .testTarget(name: "ModelKitTests", dependencies: ["ModelKit", "TestSupport"]),
        .testTarget(name: "RunnersTests", dependencies: ["Runners", "JobQueue", "Models"]),
        .testTarget(name: "PlatformTests", dependencies: ["Platform", "Runners", "JobQueue", "ModelKit", "TestSupport", "Tensor"]),
        .testTarget(name: "CLITests", dependencies: [
            "peregrine", "Platform", "Server", "JobQueue", "ModelKit", "Graph",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .testTarget(name: "ServerTests", dependencies: [
            "TestSupport", "PostgresStore", "PostgresTestSupport", "Platform", "Server", "JobQueue", "Runners", "Webhooks", "BlobStore", "APITypes", "ModelKit", "Models", "Media", "peregrine", "Client", "Weights", "ModelFormats", "Tensor", "Kernels",
            .product(name: "HummingbirdTesting", package: "hummingbird"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
    ]
)

// A checkout with a `.engine-only` file beside this manifest builds and tests the engine
// alone: no platform targets, no networking packages (fast builds for kernel and model work).
if FileManager.default.fileExists(atPath: Context.packageDirectory + "/.engine-only") {
    let engine: Set<String> = [
        "CKernels", "Tensor", "Kernels", "Graph", "ModelFormats", "CLibPNG", "CLibJPEG", "CLibWebP",
        "CMediaShims", "CZlib", "Media", "ModelKit", "Models", "EngineBench", "ONNXBench", "VideoBench", "DiffusionBench", "KernelsTests", "EngineTests", "MediaTests", "ONNXTests", "VideoTests", "DiffusionTests",
        "Weights", "Benchmarks", "BenchmarksTests",
    ]
    package.targets.removeAll { !engine.contains($0.name) }
    package.products.removeAll()
    // swift-crypto stays: the engine pins weight files by their SHA-256.
    package.dependencies.removeAll { dependency in
        if case .sourceControl(_, let location, _) = dependency.kind { return !location.hasSuffix("/swift-crypto") }
        return true
    }
}

// `PEREGRINE_FUZZ=1` adds the libFuzzer harnesses under fuzz/ (built only by scripts/fuzz.sh,
// in its own scratch directory with `-sanitize=fuzzer`; a normal build never sees them).
if ProcessInfo.processInfo.environment["PEREGRINE_FUZZ"] == "1" {
    let harnesses: [(name: String, dependencies: [Target.Dependency])] = [
        ("FuzzONNX", ["ModelFormats"]),
        ("FuzzNCNN", ["ModelFormats"]),
        ("FuzzSafetensors", ["ModelFormats"]),
        ("FuzzImage", ["Media"]),
        ("FuzzDataURI", ["Media"]),
        ("FuzzSchema", ["ModelKit"]),
        ("FuzzByteRange", ["Server"]),
    ]
    package.targets.append(.target(name: "FuzzSupport", path: "fuzz/FuzzSupport"))
    for harness in harnesses {
        // Each harness's main.swift hands its input function to libFuzzer's driver.
        package.targets.append(.executableTarget(
            name: harness.name, dependencies: harness.dependencies + ["FuzzSupport"], path: "fuzz/\(harness.name)"))
    }
}
