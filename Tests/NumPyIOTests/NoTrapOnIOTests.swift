import Foundation
import Testing
import TestSupport

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
                if code.contains("try!") || code.contains(".write(line") || code.contains("handle.write(") || code.contains("FileHandle(forWritingAtPath") {
                    offenders.append("\(f):\(i + 1): \(line.trimmingCharacters(in: .whitespaces))")
                }
            }
        }
        #expect(offenders.isEmpty, "\(offenders.joined(separator: "\n"))")
    }
}
