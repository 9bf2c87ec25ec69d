import Foundation
import Testing
import TestSupport

/// `byol conformance export | run | check` as a user's CI runs them.
@Suite struct ConformanceCLI {
    @Test func exportRunCheck() throws {
        let d = TemporaryDirectory()
        let e = try CLI.run(["conformance", "export", "--out", d.file("cases"), "--preset", "tiny", "--size", "8"])
        #expect(e.status == 0 && e.stdout.hasPrefix("wrote "), "\(e.stderr)")
        let r = try CLI.run(["conformance", "run", "--cases", d.file("cases"), "--results", d.file("results"), "--engine", "openblas"])
        #expect(r.status == 0, "\(r.stderr)")
        let ok = try CLI.run(["conformance", "check", "--cases", d.file("cases"), "--results", d.file("results"),
                              "--junit", d.file("report.xml"), "--json", d.file("report.json")])
        #expect(ok.status == 0 && ok.stdout.contains(" 0 failed"), "\(ok.stdout)\(ok.stderr)")
        #expect(FileManager.default.fileExists(atPath: d.file("report.xml")) && FileManager.default.fileExists(atPath: d.file("report.json")))
        // float32 results cannot be judged at float64: refused in one stderr line, exit 1.
        let strict = try CLI.run(["conformance", "check", "--cases", d.file("cases"), "--results", d.file("results"), "--precision", "float64"])
        #expect(strict.status == 1)
        #expect(strict.stderr.hasPrefix("byol: error: ") && strict.stderr.contains("needs float64 results") && strict.stderr.contains("<f4") && strict.stderr.split(separator: "\n").count == 1,
                "\(strict.stderr)")
        let bad = try CLI.run(["conformance", "check", "--cases", d.file("cases"), "--results", d.file("results"), "--only", "conv3d"])
        #expect(bad.status == 64 && bad.stderr.contains("unknown function conv3d"), "\(bad.stderr)")
        let noCases = try CLI.run(["conformance", "check", "--cases", d.file("nowhere"), "--results", d.file("results")])
        #expect(noCases.status == 1 && noCases.stderr.contains("nowhere/manifest.json: missing or unreadable"), "\(noCases.stderr)")
    }
}
