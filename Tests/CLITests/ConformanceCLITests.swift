import Foundation
import TestSupport
import Testing
import Verification

/// `byol conformance export | run | check` as a user's CI runs them.
@Suite struct ConformanceCLI {
    @Test func exportRunCheck() throws {
        let d = TemporaryDirectory()
        let e = try CLI.run(["conformance", "export", "--out", d.file("cases"), "--preset", "tiny", "--size", "8"])
        #expect(e.status == 0 && e.stdout.hasPrefix("wrote "), "\(e.stderr)")
        let r = try CLI.run(["conformance", "run", "--cases", d.file("cases"), "--results", d.file("results"), "--engine", "openblas"])
        #expect(r.status == 0, "\(r.stderr)")
        // `--backend` is the older spelling of `--engine` in every command (contract §3.7).
        let older = try CLI.run(["conformance", "run", "--cases", d.file("cases"), "--results", d.file("results-b"), "--backend", "openblas"])
        #expect(older.status == 0, "\(older.stderr)")
        let ok = try CLI.run([
            "conformance", "check", "--cases", d.file("cases"), "--results", d.file("results"),
            "--junit", d.file("report.xml"), "--json", d.file("report.json")
        ])
        #expect(ok.status == 0 && ok.stdout.contains(" 0 failed"), "\(ok.stdout)\(ok.stderr)")
        #expect(FileManager.default.fileExists(atPath: d.file("report.xml")) && FileManager.default.fileExists(atPath: d.file("report.json")))
        // float32 results cannot be judged at float64: refused in one stderr line, exit 1.
        let strict = try CLI.run(["conformance", "check", "--cases", d.file("cases"), "--results", d.file("results"), "--precision", "float64"])
        #expect(strict.status == 1)
        #expect(
            strict.stderr.hasPrefix("byol: error: ") && strict.stderr.contains("needs float64 results") && strict.stderr.contains("<f4")
                && strict.stderr.split(separator: "\n").count == 1,
            "\(strict.stderr)")
        let bad = try CLI.run(["conformance", "check", "--cases", d.file("cases"), "--results", d.file("results"), "--only", "conv3d"])
        #expect(bad.status == 64 && bad.stderr.contains("unknown function conv3d"), "\(bad.stderr)")
        let noCases = try CLI.run(["conformance", "check", "--cases", d.file("nowhere"), "--results", d.file("results")])
        #expect(noCases.status == 1 && noCases.stderr.contains("nowhere/manifest.json: missing or unreadable"), "\(noCases.stderr)")
    }

    /// Issue #24: layer-only implementations (ci/conformance_torch.py) needed `--only`; a
    /// missing result printed one line per tensor. `--layers-only` exports no step or
    /// embed; a missing file is one MISSING row per tensor, one failure line, and the
    /// error line counts it apart from tensors out of bounds.
    /// `conformance functions --json` lists every op of the table, in order, with its C
    /// functions and no others (an op outside the ABI lists none).
    @Test func functionsListTheOpTable() throws {
        let r = try CLI.run(["conformance", "functions", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let rows = try r.stdout.split(separator: "\n").map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        }
        #expect(rows.map { $0["function"] as? String } == Ops.all.map(\.name))
        for (row, op) in zip(rows, Ops.all) {
            #expect((row["c_functions"] as? [String])?.count == 2 * op.abi.count, "\(op.name)")
            #expect((row["inputs"] as? [String]) == op.inputs && (row["outputs"] as? [String]) == op.outputs, "\(op.name)")
        }
        let text = try CLI.run(["conformance", "functions"])
        #expect(text.status == 0 && text.stdout.contains("embed (network)\n") && text.stdout.contains("byol_conv2d_forward_f32/_f64"))
    }

    @Test func layersOnlyExportAndMissingResults() throws {
        let d = TemporaryDirectory()
        let e = try CLI.run(["conformance", "export", "--out", d.file("cases"), "--preset", "tiny", "--size", "8", "--layers-only"])
        #expect(e.status == 0, "\(e.stderr)")
        let manifest = try JSONSerialization.jsonObject(with: Data(readBytes(d.file("cases/manifest.json")))) as? [String: Any]
        let functions = Set((manifest?["cases"] as? [[String: Any]] ?? []).compactMap { $0["function"] as? String })
        #expect(functions.count > 10 && !functions.contains("step") && !functions.contains("embed") && manifest?["layers_only"] as? Bool == true)
        let both = try CLI.run(["conformance", "export", "--out", d.file("x"), "--layers-only", "--steps", "lars"])
        #expect(both.status == 64 && both.stderr.contains("--layers-only exports no steps"), "\(both.stderr)")
        let r = try CLI.run(["conformance", "run", "--cases", d.file("cases"), "--results", d.file("results"), "--engine", "openblas"])
        #expect(r.status == 0, "\(r.stderr)")
        let all = try CLI.run(["conformance", "check", "--cases", d.file("cases"), "--results", d.file("results")])
        #expect(all.status == 0, "\(all.stdout)\(all.stderr)")
        let gone = try FileManager.default.contentsOfDirectory(atPath: d.file("results")).first { $0.hasPrefix("linear-") }
        try FileManager.default.removeItem(atPath: d.file("results/") + (gone ?? ""))
        let c = try CLI.run(["conformance", "check", "--cases", d.file("cases"), "--results", d.file("results")])
        let rows = c.stdout.split(separator: "\n").filter { $0.hasSuffix("MISSING") }
        let notes = c.stdout.split(separator: "\n").filter { $0.contains("no result file") }
        #expect(c.status == 1 && rows.count == 4 && notes.count == 1, "\(c.stdout)")  // linear: y, dx, dweight, dbias
        #expect(
            c.stderr.hasPrefix("byol: error: 4 tensors without a result; first: linear-") && c.stderr.split(separator: "\n").count == 1, "\(c.stderr)"
        )
    }
}
