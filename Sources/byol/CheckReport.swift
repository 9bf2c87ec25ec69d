import Foundation
import ArgumentParser
import Verification

/// Prints the failures under a table and the closing count; throws on any FAIL.
func finish(_ rows: [CheckRow]) throws {
    let skipped = rows.filter { $0.skipped != nil }
    let failed = rows.filter { !$0.passed && $0.skipped == nil }
    for f in failed.flatMap(\.failures) { print("  " + f.replacingOccurrences(of: "\n", with: "\n    ")) }
    let passed = rows.count - failed.count - skipped.count
    print("\(passed) passed, \(failed.count) failed" + (skipped.isEmpty ? "" : ", \(skipped.count) skipped"))
    if !failed.isEmpty { throw ExitCode(1) }
}
