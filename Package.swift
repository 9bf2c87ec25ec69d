// swift-tools-version:6.0
// byol-swift: a float64 reference of BYOL, an OpenBLAS float32 path, and the harness
// that checks them (goldens, finite differences, PyTorch cross-check).
import PackageDescription

let optimizedInDebug: [SwiftSetting] = [.unsafeFlags(["-O"], .when(configuration: .debug))]

let package = Package(
    name: "byol-swift",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "byol", targets: ["byol"]),
        .library(name: "Reference", targets: ["Reference"]),
        .library(name: "NumPyIO", targets: ["NumPyIO"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // MARK: System libraries
        .systemLibrary(
            name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(
            name: "CArchive", path: "Sources/CArchive", pkgConfig: "libarchive",
            providers: [.apt(["libarchive-dev"])]),

        // MARK: Libraries (dependencies point one way: CLI -> Harness -> Reference -> Model -> NumPyIO)
        .target(name: "NumPyIO", dependencies: ["CArchive"]),
        .target(name: "BYOLModel", dependencies: ["NumPyIO"]),
        // Numerical loops are compiled optimized even in debug builds so that `swift test`
        // stays fast; -O keeps IEEE semantics (Swift never reassociates floating point).
        .target(name: "Reference", dependencies: ["BYOLModel"], swiftSettings: optimizedInDebug),
        .target(name: "Augment", dependencies: ["BYOLModel"], swiftSettings: optimizedInDebug),
        // The float32 path shares the architecture and (for its config types) the
        // reference's step API; it never calls reference arithmetic.
        .target(name: "Fast", dependencies: ["BYOLModel", "Reference", "NumPyIO", "CBLAS"], swiftSettings: optimizedInDebug),
        .target(name: "Data", dependencies: ["BYOLModel", "CArchive"], swiftSettings: optimizedInDebug),
        .target(name: "Harness", dependencies: ["Reference", "Fast", "Augment", "Data", "BYOLModel", "NumPyIO"]),

        // MARK: Command line
        .executableTarget(
            name: "byol",
            dependencies: [
                "Harness", "Reference", "Fast", "Augment", "Data", "BYOLModel", "NumPyIO",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),

        // MARK: Tests
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "NumPyIOTests", dependencies: ["NumPyIO", "TestSupport"]),
        .testTarget(name: "BYOLModelTests", dependencies: ["BYOLModel", "NumPyIO", "TestSupport"]),
        .testTarget(name: "ReferenceTests", dependencies: ["Reference", "Harness", "BYOLModel", "TestSupport"]),
        // Runs the built `byol` executable the way a user does (exit codes, stderr, files).
        .testTarget(name: "CLITests", dependencies: ["byol", "NumPyIO", "BYOLModel", "TestSupport"]),
        .testTarget(name: "AugmentTests", dependencies: ["Augment", "Harness", "BYOLModel", "NumPyIO", "TestSupport"]),
        .testTarget(name: "DataTests", dependencies: ["Data", "TestSupport"]),
        .testTarget(name: "FastTests", dependencies: ["Fast", "Harness", "Reference", "BYOLModel", "NumPyIO", "TestSupport"]),
        .testTarget(name: "HarnessTests", dependencies: ["Harness", "Reference", "BYOLModel", "NumPyIO", "TestSupport"]),
    ],
    swiftLanguageModes: [.v5]
)
