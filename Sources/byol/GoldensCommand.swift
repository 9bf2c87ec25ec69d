import ArgumentParser
import Fast
import Foundation
import Verification

struct GoldensCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "goldens",
        abstract: "Regenerate or verify the golden tensors in goldens/.",
        subcommands: [Regenerate.self, VerifyGoldens.self])

    struct Selection: ParsableArguments {
        @Option(help: "The goldens directory.") var goldens = "goldens"
        @Option(name: .customLong("case"), help: "Only this case (repeatable).") var cases: [String] = []
        @Flag(name: .customLong("skip-heavy"), help: "Leave out the full-size resnet18 case.") var skipHeavy = false

        func selected() throws -> [GoldenCase] {
            let unknown = cases.filter { n in !GoldenCase.all.contains { $0.name == n } }
            guard unknown.isEmpty else {
                throw ValidationError("unknown case \(unknown[0]) (known: \(GoldenCase.all.map(\.name).joined(separator: ", ")))")
            }
            let chosen = GoldenCase.all.filter { (cases.isEmpty || cases.contains($0.name)) && !(skipHeavy && $0.heavy) }
            guard !chosen.isEmpty else { throw ValidationError("no case selected: --skip-heavy leaves out \(cases.joined(separator: ", "))") }
            return chosen
        }
    }

    struct Regenerate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Rewrite the golden inputs, expected outputs and MANIFEST.json (byte-identical when run twice). Then rerun ci/torch_reference.py goldens."
        )
        @OptionGroup var selection: Selection

        func validate() throws { _ = try selection.selected() }

        func run() throws {
            let cases = GoldenCase.withDependencies(try selection.selected())
            try Goldens.regenerate(goldens: selection.goldens, cases: cases) {
                print($0)
                fflush(stdout)
            }
            print("regenerated \(cases.count) cases in \(selection.goldens)")
        }
    }

    struct VerifyGoldens: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify",
            abstract: "Recompute every golden case; compare with the expected files (bitwise) and PyTorch's outputs (1e-10).")
        @OptionGroup var selection: Selection
        @Option(
            name: [.customLong("engine"), .customLong("backend")],
            help:
                "Verify this engine instead of recomputing with the reference: reference or openblas. A float32 engine is held to the float32 bounds of docs/contract.md §4, step by step from the golden inputs, where the case is well conditioned."
        )
        var engine: String?
        @Option(parsing: .unconditional, help: "Threads of the engine, >= 1.") var threads: Int = ProcessInfo.processInfo.activeProcessorCount

        func validate() throws {
            try FlagCheck.require("--threads", threads, atLeast: 1)
            if let engine { _ = try ProgramEngines.require(engine, threads: 1) }
            _ = try selection.selected()
        }

        func run() throws {
            // Before any output: a fallback re-runs the command.
            let checked = try engine.map { try KernelPolicy.process.checked(ProgramEngines.require($0, threads: threads)) }
            let table = CheckTable()
            print(table.header)
            let show: (CheckRow) -> Void = {
                print(table.line($0))
                fflush(stdout)
            }
            let rows: [CheckRow]
            if let checked, checked.name != "reference" {
                rows = Goldens.verify(
                    goldens: selection.goldens, cases: try selection.selected(),
                    engine: checked, onRow: show)
            } else {
                rows = Goldens.verify(goldens: selection.goldens, cases: try selection.selected(), onRow: show)
            }
            try finish(rows)
        }
    }
}
