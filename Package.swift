// swift-tools-version:6.0
// byol-swift: a float64 reference of BYOL, an OpenBLAS float32 path, and the harness
// that checks them (goldens, finite differences, PyTorch cross-check).
import PackageDescription

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
        .target(name: "Reference", dependencies: ["BYOLModel"]),
        .target(name: "Harness", dependencies: ["Reference", "BYOLModel", "NumPyIO"]),

        // MARK: Command line
        .executableTarget(
            name: "byol",
            dependencies: [
                "Harness", "Reference", "BYOLModel", "NumPyIO",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),

        // MARK: Tests
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "NumPyIOTests", dependencies: ["NumPyIO", "TestSupport"]),
        .testTarget(name: "BYOLModelTests", dependencies: ["BYOLModel", "NumPyIO", "TestSupport"]),
        .testTarget(name: "ReferenceTests", dependencies: ["Reference", "Harness", "BYOLModel", "TestSupport"]),
    ],
    swiftLanguageModes: [.v5]
)
