// swift-tools-version:6.0
// byol-swift: a float64 reference of BYOL, an OpenBLAS float32 path, and the harness
// that checks them (goldens, finite differences, PyTorch cross-check). docs/design.md
// explains the layering below.
import PackageDescription

let optimizedInDebug: [SwiftSetting] = [.unsafeFlags(["-O"], .when(configuration: .debug))]

let package = Package(
    name: "byol-swift",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "byol", targets: ["byol"]),
        .library(name: "Reference", targets: ["Reference"]),
        .library(name: "NumPyIO", targets: ["NumPyIO"])
    ],
    dependencies: [
        // Exact, so every build resolves the same code (Package.resolved is not committed:
        // local package mirrors carry other commit ids than upstream's).
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2")
    ],
    targets: [
        // MARK: System libraries
        .systemLibrary(
            name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(
            name: "CArchive", path: "Sources/CArchive", pkgConfig: "libarchive",
            providers: [.apt(["libarchive-dev"])]),

        // zlib: the gzip members of a CIFAR-10 archive, each checked against its own trailer.
        .systemLibrary(
            name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]),

        .systemLibrary(
            name: "CMPI", path: "Sources/CMPI", pkgConfig: "ompi-c",
            providers: [.apt(["libopenmpi-dev"])]),

        // cpuid and xgetbv: which OpenBLAS kernel set the CPU can run (Fast/KernelSelection).
        .target(name: "CPUID"),
        // byol_kernels.h: the conformance kit's C ABI for kernels in shared libraries.
        .target(name: "CByolKernels"),

        // MARK: Libraries
        // Layering (each target imports only those listed; arrows point down):
        //   byol (CLI)
        //   -> Training (pretrain loop, run folder)   Verification (checks, goldens, cross-check)
        //                                             -> CommandFiles (the data commands' files)
        //   -> Fast (float32, OpenBLAS)   Reference (float64, plain loops)   Augment   Data
        //   -> BYOLModel (architecture, state, configuration, the Engine protocol)
        //   -> NumPyIO (.npy/.npz, atomic files, SHA-256)  -> CArchive, CBLAS, CPUID
        //   Distributed (MPI) -> BYOLModel, CMPI: the byol CLI hands it to Training and Fast
        //   as a Collective.
        // Verification and Training drive engines through the protocol and never import
        // Fast; Reference never imports Fast or CBLAS: the reference shares no arithmetic
        // with what it checks.
        .target(name: "NumPyIO", dependencies: ["CArchive"]),
        .target(name: "BYOLModel", dependencies: ["NumPyIO"]),
        // Numerical loops are compiled optimized even in debug builds so that `swift test`
        // stays fast; -O keeps IEEE semantics (Swift never reassociates floating point).
        .target(name: "Reference", dependencies: ["BYOLModel", "NumPyIO"], swiftSettings: optimizedInDebug),
        .target(name: "Augment", dependencies: ["BYOLModel"], swiftSettings: optimizedInDebug),
        .target(name: "Fast", dependencies: ["BYOLModel", "NumPyIO", "CBLAS", "CPUID"], swiftSettings: optimizedInDebug),
        .target(name: "Data", dependencies: ["BYOLModel", "NumPyIO", "CArchive", "CZlib"], swiftSettings: optimizedInDebug),
        // The data commands' file handling (step, embed, augment, knn): reading and
        // checking their inputs, writing their outputs; `verify` runs the same code.
        .target(name: "CommandFiles", dependencies: ["Reference", "Augment", "BYOLModel", "NumPyIO"]),
        .target(name: "Verification", dependencies: ["CommandFiles", "Reference", "Augment", "BYOLModel", "NumPyIO", "CByolKernels"]),
        .target(name: "Training", dependencies: ["Augment", "Data", "BYOLModel", "NumPyIO", "Signals"]),
        // MPI behind BYOLModel's Collective (data-parallel pretraining); nothing else
        // imports MPI.
        .target(name: "Distributed", dependencies: ["BYOLModel", "CMPI", "Signals"]),
        // Stop signals and the bounded wait of data-parallel ranks after one: the state a
        // signal handler touches, apart from the model.
        .target(name: "Signals", dependencies: ["NumPyIO"]),

        // MARK: Command line
        .executableTarget(
            name: "byol",
            dependencies: [
                "Verification", "CommandFiles", "Training", "Reference", "Fast", "Augment", "Data", "BYOLModel", "NumPyIO", "Distributed", "Signals",
                .product(name: "ArgumentParser", package: "swift-argument-parser")
            ]),

        // MARK: Tests
        .target(name: "TestSupport", dependencies: ["BYOLModel"], path: "Tests/TestSupport"),
        .testTarget(name: "NumPyIOTests", dependencies: ["NumPyIO", "TestSupport"]),
        .testTarget(name: "BYOLModelTests", dependencies: ["BYOLModel", "NumPyIO", "TestSupport"]),
        // Builds and runs without OpenBLAS: nothing it imports links CBLAS.
        .testTarget(name: "ReferenceTests", dependencies: ["Reference", "Verification", "BYOLModel", "NumPyIO", "TestSupport"]),
        // Runs the built `byol` executable the way a user does (exit codes, stderr, files).
        .testTarget(name: "CLITests", dependencies: ["byol", "NumPyIO", "BYOLModel", "Verification", "TestSupport"]),
        .testTarget(name: "AugmentTests", dependencies: ["Augment", "Verification", "BYOLModel", "NumPyIO", "TestSupport"]),
        .testTarget(name: "DataTests", dependencies: ["Data", "TestSupport"]),
        .testTarget(name: "FastTests", dependencies: ["Fast", "Verification", "Reference", "BYOLModel", "NumPyIO", "TestSupport"]),
        .testTarget(name: "VerificationTests", dependencies: ["Verification", "CommandFiles", "Reference", "BYOLModel", "NumPyIO", "TestSupport"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "Reference", "Data", "BYOLModel", "NumPyIO", "TestSupport"])
    ],
    swiftLanguageModes: [.v5]
)
