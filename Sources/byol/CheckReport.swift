import Foundation
import ArgumentParser
import Harness

/// Prints the failures under a table and the closing count; throws on any FAIL.
func finish(_ rows: [CheckRow]) throws {
    let skipped = rows.filter { $0.skipped != nil }
    let failed = rows.filter { !$0.passed && $0.skipped == nil }
    for f in failed.flatMap(\.failures) { print("  " + f.replacingOccurrences(of: "\n", with: "\n    ")) }
    let passed = rows.count - failed.count - skipped.count
    print("\(passed) passed, \(failed.count) failed" + (skipped.isEmpty ? "" : ", \(skipped.count) skipped"))
    if !failed.isEmpty { throw ExitCode(1) }
}

extension Backends {
    /// The backend `--backend` names, or the flag error listing the known ones.
    static func require(_ name: String, threads: Int) throws -> Backend {
        guard let b = named(name, threads: threads) else {
            throw ValidationError("unknown backend '\(name)' (known: \(names.joined(separator: ", ")))")
        }
        return b
    }
}
