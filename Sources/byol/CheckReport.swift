import ArgumentParser
import Foundation
import Verification

/// Prints the failures under a table and the closing count; on any FAIL also one line on
/// stderr naming the first failed check, and a non-zero exit.
func finish(_ rows: [CheckRow]) throws {
    let skipped = rows.filter { $0.skipped != nil }
    let failed = rows.filter { !$0.passed && $0.skipped == nil }
    for f in failed.flatMap(\.failures) { print("  " + f.replacingOccurrences(of: "\n", with: "\n    ")) }
    let passed = rows.count - failed.count - skipped.count
    print("\(passed) passed, \(failed.count) failed" + (skipped.isEmpty ? "" : ", \(skipped.count) skipped"))
    if let first = failed.first {
        let why = first.failures.first.flatMap { $0.split(separator: "\n").first }.map { ": " + $0 } ?? ""
        FileHandle.standardError.write(Data("byol: error: \(failed.count) of \(rows.count) checks failed; first: \(first.check)\(why)\n".utf8))
        throw ExitCode(1)
    }
}
