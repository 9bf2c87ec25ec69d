import Foundation
import NumPyIO
import TestSupport
import Testing

/// No command writes a file holding NaN or Inf and exits 0; two outputs never share a
/// file (issue #14, items 3 and 4).
@Suite struct NonFiniteOutputs {
    /// A tiny state and views scaled by `scale` (1e300 overflows the first convolution).
    func inputs(_ d: TemporaryDirectory, scale: Double) throws {
        let r = try CLI.run(["init", "--seed", "1", "--preset", "tiny", "--out", d.file("s.npz")])
        #expect(r.status == 0, "\(r.stderr)")
        let v = try NPZ.load(Repo.root.appendingPathComponent("goldens/tiny-lars-separate/views_1.npz").path)
        let scaled = try ["view1", "view2"].map { n in
            (n, NDArray(float64: try v.require(n).doubles.map { $0 * scale }, shape: try v.require(n).shape))
        }
        try NPZ.write(scaled, to: d.file("v.npz"))
    }

    @Test(arguments: ["float64", "float32"])
    func overflowingStepWritesNothing(precision: String) throws {
        let d = TemporaryDirectory()
        try inputs(d, scale: 1e300)
        let r = try CLI.run([
            "step", "--state", d.file("s.npz"), "--views", d.file("v.npz"), "--out", d.file("n.npz"), "--grads", d.file("g.npz"),
            "--precision", precision
        ])
        #expect(r.status == 1)
        #expect(r.stderr.hasPrefix("byol: error: ") && r.stderr.contains("step 1: ") && r.stderr.contains("nothing written"), "\(r.stderr)")
        #expect(r.stderr.split(separator: "\n").count == 1)
        #expect(!FileManager.default.fileExists(atPath: d.file("n.npz")) && !FileManager.default.fileExists(atPath: d.file("g.npz")))
    }

    @Test func outAndGradsMustDiffer() throws {
        let d = TemporaryDirectory()
        try inputs(d, scale: 1)
        let r = try CLI.run(["step", "--state", d.file("s.npz"), "--views", d.file("v.npz"), "--out", d.file("x.npz"), "--grads", d.path + "/./x.npz"]
        )
        #expect(r.status == 64 && r.stderr.contains("--grads names the same file as --out"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: d.file("x.npz")))
    }
}

/// Sizes are checked before anything is allocated or computed (issue #14, item 1).
@Suite struct ArchitectureSizes {
    @Test func oversizedArchitectureIsRefusedBeforeAllocating() throws {
        let d = TemporaryDirectory()
        let wide = try CLI.run([
            "init", "--seed", "0", "--widths", "100000,100000,100000,100000", "--blocks", "2,2,2,2", "--proj-hidden", "4",
            "--proj-out", "4", "--pred-hidden", "4", "--out", d.file("x.npz")
        ])
        #expect(wide.status == 1 && wide.stderr.contains("GB in float64") && wide.stderr.contains("of memory"), "\(wide.stderr)")
        #expect(wide.stderr.split(separator: "\n").count == 1)
        let head = try CLI.run([
            "init", "--seed", "0", "--widths", "4,4,8,8", "--blocks", "1,1,1,1", "--proj-hidden", "4", "--proj-out", "4",
            "--pred-hidden", "4000000000", "--out", d.file("x.npz")
        ])
        #expect(head.status == 64 && head.stderr.contains("at most 1048576"), "\(head.stderr)")
        let deep = try CLI.run([
            "init", "--seed", "0", "--widths", "4,4,8,8", "--blocks", "1000000,1,1,1", "--proj-hidden", "4", "--proj-out", "4",
            "--pred-hidden", "4", "--out", d.file("x.npz")
        ])
        #expect(deep.status == 64 && deep.stderr.contains("at most 1024 per stage"), "\(deep.stderr)")
        #expect(!FileManager.default.fileExists(atPath: d.file("x.npz")))
    }
}

/// Check commands say on stderr why they fail (issue #14, item 11).
@Suite struct CheckCommandErrors {
    @Test func wrongGoldensFolderIsAFlagError() throws {
        let r = try CLI.run(["verify", "--goldens", "/nonexistent/goldens"])
        #expect(
            r.status == 64
                && r.stderr
                    == "byol: error: --goldens /nonexistent/goldens: no MANIFEST.json there; run from the repository root or pass --goldens DIR\n",
            "\(r.stderr)")
    }

    @Test func failedCheckIsNamedOnStderr() throws {
        let d = TemporaryDirectory()
        let goldens = Repo.root.appendingPathComponent("goldens").path
        try FileManager.default.copyItem(atPath: goldens + "/tiny-lars-separate", toPath: d.file("tiny-lars-separate"))
        try FileManager.default.copyItem(atPath: goldens + "/MANIFEST.json", toPath: d.file("MANIFEST.json"))
        var bytes = readBytes(d.file("tiny-lars-separate/views_1.npz"))
        bytes[bytes.count / 2] ^= 1
        writeBytes(bytes, d.file("tiny-lars-separate/views_1.npz"))
        let r = try CLI.run(["goldens", "verify", "--goldens", d.path, "--case", "tiny-lars-separate"])
        #expect(r.status == 1)
        let lines = r.stderr.split(separator: "\n")
        #expect(
            lines.count == 1 && lines[0].hasPrefix("byol: error: ") && lines[0].contains("checks failed; first: golden tiny-lars-separate"),
            "\(r.stderr)")
    }
}
