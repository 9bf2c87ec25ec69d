import ArgumentParser
import Fast
import Foundation
import Verification

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract:
            "Run every check (gradient checks, goldens, PyTorch cross-check, augmentation, kNN, float32 vs float64) and print a table; exits non-zero on any FAIL."
    )

    @Flag(help: "Sample each tensor in the whole-network gradient checks and skip the full-size resnet18 golden.")
    var quick = false

    @Option(help: "The goldens directory (run from the repository root, or point here).")
    var goldens = "goldens"

    @Option(help: "The fixtures directory (augmentation and kNN cross-checks).")
    var fixtures = "Fixtures"

    /// A wrong --goldens or --fixtures is said at once, not after a minute of checks.
    func validate() throws {
        guard FileManager.default.fileExists(atPath: goldens + "/MANIFEST.json") else {
            throw ValidationError("--goldens \(goldens): no MANIFEST.json there; run from the repository root or pass --goldens DIR")
        }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: fixtures, isDirectory: &isDir), isDir.boolValue else {
            throw ValidationError("--fixtures \(fixtures): no such folder; run from the repository root or pass --fixtures DIR")
        }
    }

    func run() throws {
        // First, before any output: a set byol chose that fails falls back by re-running.
        let k = KernelPolicy.process.check(KernelPolicy.standardShapes)
        let table = CheckTable()
        print(table.header)
        let show: (CheckRow) -> Void = {
            print(table.line($0))
            fflush(stdout)
        }
        // Exact comparison: the check's inputs make every correct kernel exact (KernelCheck).
        let kernelRow = CheckRow(
            check: "OpenBLAS kernels \(KernelPolicy.process.core): sgemm exact on \(k.shapes) GEMM shapes", maxAbsError: 0, maxRelError: 0,
            passed: k.passed, failures: k.failure.map { ["\($0) (\(KernelPolicy.process.how))"] } ?? [])
        show(kernelRow)
        var rows = [kernelRow]
        rows += GradientSuite.run(full: !quick, onRow: show)
        rows += Goldens.verify(goldens: goldens, cases: GoldenCase.all.filter { !(quick && $0.heavy) }, onRow: show)
        rows += AugmentSuite.run(fixtures: fixtures, onRow: show)
        rows += KNNSuite.run(fixtures: fixtures, onRow: show)
        for r in CrossCheck.verifyRows(quick: quick, float32: { OpenBLASEngine(threads: $0) }) {
            rows.append(r)
            show(r)
        }
        try finish(rows)
    }
}
