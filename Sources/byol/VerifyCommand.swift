import ArgumentParser
import Foundation
import Harness

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the project's checks (gradient checks on the tiny preset) and print a table; exits non-zero on any FAIL.")

    @Flag(help: "Check only a sample of each tensor in the whole-network gradient checks (quicker).")
    var quick = false

    func run() throws {
        let table = CheckTable()
        print(table.header)
        let rows = GradientSuite.run(full: !quick) { row in
            print(table.line(row))
            fflush(stdout)
        }
        let failed = rows.filter { !$0.passed }
        for f in failed.flatMap(\.failures) { print("  " + f) }
        print("\(rows.count - failed.count) passed, \(failed.count) failed")
        if !failed.isEmpty { throw ExitCode(1) }
    }
}
