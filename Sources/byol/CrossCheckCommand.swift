import ArgumentParser
import BYOLModel
import Fast
import Foundation
import NumPyIO
import Verification

struct CrossCheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crosscheck",
        abstract:
            "Float32 (or another engine) against the float64 reference: every layer type and whole steps, per tensor; exits non-zero on a violation.",
        discussion: """
            Bounds (docs/contract.md §4): loss and outputs 1e-4, gradients and next state 1e-3, times max(1, max|expected|) per tensor, \
            on well-conditioned cases (every float64 ReLU input at least 1e-5 from 0). With --trajectory, also N training steps of the \
            small preset from the same state and views on both paths, reported as loss curves and parameter drift (not asserted).
            """)

    @Option(name: [.customLong("engine"), .customLong("backend")], help: "The engine to check: openblas (float32) or reference.")
    var engine = "openblas"
    @Option(parsing: .unconditional, help: "Threads of the engine, >= 1.") var threads: Int = ProcessInfo.processInfo.activeProcessorCount
    @Flag(help: "Only the tiny-preset step cases.") var quick = false
    @Option(parsing: .unconditional, help: "Also run an N-step trajectory on the small preset (e.g. 50; 0: none).") var trajectory: Int = 0
    @Option(help: "Write the trajectory (loss curves, drift) as JSON here.") var trajectoryOut: String?

    func validate() throws {
        try FlagCheck.require("--threads", threads, atLeast: 1)
        try FlagCheck.require("--trajectory", trajectory, atLeast: 0)
        _ = try ProgramEngines.require(engine, threads: 1)
    }

    func run() throws {
        let b = try ProgramEngines.require(engine, threads: threads)
        try KernelPolicy.process.require(KernelPolicy.standardShapes, for: b)
        let table = CheckTable()
        var rows: [CheckRow] = []
        print(table.header)
        if b.precision == .float32 {
            for (name, cs) in CrossCheck.layers(engine: b) {
                for c in cs {
                    let r = row("\(name): \(c.name)", c)
                    rows.append(r)
                    print(table.line(r))
                }
            }
        }
        let cases = CrossCheck.standardCases(quick: quick)
        for r in CrossCheck.missingCaseRows(cases, quick: quick) {
            rows.append(r)
            print(table.line(r))
        }
        for c in cases {
            print(
                String(
                    format: "-- step %@: init seed %llu, batch %d, %dx%d, ReLU margin %.2e", c.name, c.seed, c.view1.shape[0],
                    c.view1.shape[2], c.view1.shape[3], c.margin))
            for t in CrossCheck.step(c, engine: b) {
                let r = row("\(c.name): \(t.name)", t)
                rows.append(r)
                print(table.line(r))
            }
        }
        if trajectory > 0 {
            let report = Trajectory.run(steps: trajectory, engine: b) {
                print($0)
                fflush(stdout)
            }
            if let trajectoryOut { try AtomicFile.write(trajectoryOut, data: report.json) }
        }
        try finish(rows)
    }

    func row(_ name: String, _ c: TensorComparison) -> CheckRow {
        CheckRow(check: name, maxAbsError: c.maxAbs, maxRelError: c.maxRel, passed: c.passed, failures: c.passed ? [] : [c.report])
    }
}
