import Foundation
import TestSupport
import Testing

/// Issue #23: no `try!` and no trapping FileHandle write on any I/O path. A full disk
/// inside `FileHandle.write(_:)` was a fatal error with a multi-line trace; every write
/// now goes through calls that throw, named with the file and the OS's reason.
@Suite struct NoTrapOnIO {
    @Test func sourcesHoldNoTryBangNorTrappingWrites() throws {
        let root = Repo.root.appendingPathComponent("Sources").path
        var offenders: [String] = []
        let files = FileManager.default.enumerator(atPath: root)?.compactMap { $0 as? String }.filter { $0.hasSuffix(".swift") } ?? []
        #expect(files.count > 50)
        for f in files {
            let text = String(decoding: readBytes(root + "/" + f), as: UTF8.self)
            for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let code = line.split(separator: "//", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
                if code.contains("try!") || code.contains(".write(line") || code.contains("handle.write(")
                    || code.contains("FileHandle(forWritingAtPath")
                {
                    offenders.append("\(f):\(i + 1): \(line.trimmingCharacters(in: .whitespaces))")
                }
            }
        }
        #expect(offenders.isEmpty, "\(offenders.joined(separator: "\n"))")
    }

    /// No force unwrap (`x!`, `x!.y`) in the modules and files that read and write what
    /// users give and keep: the readers, the run folder, the data, the command files, the
    /// conformance checker and its child processes. A nil there is an input's fault and
    /// must be a one-line error, not a trap. `!=` and `!` as negation are not matched.
    @Test func ioPathsHoldNoForceUnwraps() throws {
        let root = Repo.root.appendingPathComponent("Sources").path
        let folders = ["NumPyIO", "Data", "Training", "CommandFiles"]
        let files = [
            "Verification/ConformanceCheck.swift", "Verification/ConformanceExport.swift", "Verification/PluginIsolation.swift"
        ]
        var paths = files
        for folder in folders {
            let names = try FileManager.default.contentsOfDirectory(atPath: root + "/" + folder).filter { $0.hasSuffix(".swift") }
            #expect(!names.isEmpty, "\(folder)")
            paths += names.map { folder + "/" + $0 }
        }
        let unwrap = try Regex(#"[A-Za-z0-9_)\]]!(?!=)"#)
        var offenders: [String] = []
        for f in paths {
            let text = String(decoding: readBytes(root + "/" + f), as: UTF8.self)
            #expect(!text.isEmpty, "\(f) is missing")
            for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let code = line.split(separator: "//", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
                if code.contains(unwrap) { offenders.append("\(f):\(i + 1): \(line.trimmingCharacters(in: .whitespaces))") }
            }
        }
        #expect(offenders.isEmpty, "\(offenders.joined(separator: "\n"))")
        // The pattern itself: it matches a force unwrap and not an inequality.
        #expect("let a = b!.c".contains(unwrap) && "x = y!".contains(unwrap) && !"a != b".contains(unwrap) && !"!done".contains(unwrap))
    }
}
