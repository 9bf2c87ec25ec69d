import Foundation
import NumPyIO
import Testing
import TestSupport

/// No command writes a file holding NaN or Inf and exits 0; two outputs never share a
/// file (issue #14, items 3 and 4).
@Suite struct NonFiniteOutputs {
    /// A tiny state and views scaled by `scale` (1e300 overflows the first convolution).
    func inputs(_ d: TemporaryDirectory, scale: Double) throws {
        let r = try CLI.run(["init", "--seed", "1", "--preset", "tiny", "--out", d.file("s.npz")])
        #expect(r.status == 0, "\(r.stderr)")
        let v = try NPZ.load(Repo.root.appendingPathComponent("goldens/tiny-lars-separate/views_1.npz").path)
        let scaled = try ["view1", "view2"].map { n in (n, NDArray(float64: try v.require(n).doubles.map { $0 * scale }, shape: try v.require(n).shape)) }
        try NPZ.write(scaled, to: d.file("v.npz"))
    }

    @Test(arguments: ["float64", "float32"])
    func overflowingStepWritesNothing(precision: String) throws {
        let d = TemporaryDirectory()
        try inputs(d, scale: 1e300)
        let r = try CLI.run(["step", "--state", d.file("s.npz"), "--views", d.file("v.npz"), "--out", d.file("n.npz"), "--grads", d.file("g.npz"),
                             "--precision", precision])
        #expect(r.status == 1)
        #expect(r.stderr.hasPrefix("byol: error: ") && r.stderr.contains("step 1: ") && r.stderr.contains("nothing written"), "\(r.stderr)")
        #expect(r.stderr.split(separator: "\n").count == 1)
        #expect(!FileManager.default.fileExists(atPath: d.file("n.npz")) && !FileManager.default.fileExists(atPath: d.file("g.npz")))
    }

    @Test func outAndGradsMustDiffer() throws {
        let d = TemporaryDirectory()
        try inputs(d, scale: 1)
        let r = try CLI.run(["step", "--state", d.file("s.npz"), "--views", d.file("v.npz"), "--out", d.file("x.npz"), "--grads", d.path + "/./x.npz"])
        #expect(r.status == 64 && r.stderr.contains("--grads names the same file as --out"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: d.file("x.npz")))
    }
}
