import Foundation
import TestSupport
import Testing

@testable import Training

/// Issue #23, row 6: a full disk while metrics.jsonl grows was a fatal error inside
/// Foundation's FileHandle (a multi-line trap); now an error naming the file and the OS's
/// reason, which the run reports in one line with status 1, its checkpoint intact.
@Suite struct MetricsIOErrors {
    @Test func aFullDiskIsAnErrorNamingTheFile() throws {
        let m = try Metrics(path: "/dev/full")
        #expect { try m.append(["type": "step", "step": 1]) } throws: { e in
            "\(e)".contains("/dev/full: cannot append a line: No space left on device") && !"\(e)".contains("\n")
        }
    }

    @Test func linesAppendWhole() throws {
        let d = TemporaryDirectory()
        let m = try Metrics(path: d.file("m.jsonl"))
        try m.append(["a": 1])
        try m.append(["b": 2])
        #expect(String(decoding: readBytes(d.file("m.jsonl")), as: UTF8.self) == "{\"a\":1}\n{\"b\":2}\n")
    }
}
