import ArgumentParser
import Foundation
import Harness

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
            return GoldenCase.all.filter { (cases.isEmpty || cases.contains($0.name)) && !(skipHeavy && $0.heavy) }
        }
    }

    struct Regenerate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Rewrite the golden inputs, expected outputs and MANIFEST.json (byte-identical when run twice). Then rerun ci/torch_reference.py goldens.")
        @OptionGroup var selection: Selection

        func run() throws {
            let cases = try selection.selected()
            try Goldens.regenerate(goldens: selection.goldens, cases: cases) { print($0); fflush(stdout) }
            print("regenerated \(cases.count) cases in \(selection.goldens)")
        }
    }

    struct VerifyGoldens: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify",
            abstract: "Recompute every golden case; compare with the expected files (bitwise) and PyTorch's outputs (1e-10).")
        @OptionGroup var selection: Selection

        func run() throws {
            let table = CheckTable()
            print(table.header)
            let rows = Goldens.verify(goldens: selection.goldens, cases: try selection.selected()) { print(table.line($0)); fflush(stdout) }
            try finish(rows)
        }
    }
}

/// Prints the failures under a table and the closing count; throws on any FAIL.
func finish(_ rows: [CheckRow]) throws {
    let failed = rows.filter { !$0.passed }
    for f in failed.flatMap(\.failures) { print("  " + f) }
    print("\(rows.count - failed.count) passed, \(failed.count) failed")
    if !failed.isEmpty { throw ExitCode(1) }
}
