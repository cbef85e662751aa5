// swift-tools-version:5.9
// A package that depends only on Peregrine's `Client` library: proof that the SDK is usable on
// its own. Built by scripts/build-client-example.sh.
import PackageDescription

let package = Package(
    name: "ClientExample",
    platforms: [.macOS(.v14)],
    dependencies: [
        // The repository two folders up; `name:` pins its identity whatever the checkout is called.
        .package(name: "Peregrine", path: "../.."),
    ],
    targets: [
        .executableTarget(name: "ClientExample", dependencies: [.product(name: "Client", package: "Peregrine")]),
    ]
)
