import BYOLModel
import Fast
import NumPyIO
import Reference
import TestSupport
import Testing
import Verification

/// The float32 OpenBLAS path against the float64 reference (docs/contract.md §4 bounds)
/// and its byte determinism across thread counts.
@Suite struct FastPathCrossCheck {
    @Test func everyLayerTypeWithinFloat32Bounds() {
        let rows = CrossCheck.layers(engine: OpenBLASEngine(threads: 2))
        // A row per layer case, every layer op of the table covered (OpTable tests): a
        // check that ran no case must not pass.
        #expect(rows.count == CrossCheck.layerCases().count && !rows.isEmpty)
        #expect(rows.allSatisfy { !$0.comparisons.isEmpty })
        for (name, cs) in rows {
            for c in cs { #expect(c.passed, "\(name): \(c.report)") }
        }
    }

    @Test func tinyStepsWithinFloat32Bounds() {
        let cases = CrossCheck.standardCases(quick: true)
        #expect(cases.count == 4)
        #expect(CrossCheck.missingCaseRows(cases, quick: true).isEmpty)
        #expect(CrossCheck.missingCaseRows(Array(cases.dropFirst()), quick: true).map(\.check) == ["float32 vs float64 step: tiny lars separate"])
        for c in cases {
            #expect(c.margin >= CrossCheck.reluMargin)
            for t in CrossCheck.step(c, engine: OpenBLASEngine(threads: 2)) {
                #expect(t.passed, "\(c.name): \(t.report)")
            }
        }
    }

    /// The same bytes with 1, 2 and 3 threads, for a step and for embed.
    @Test func byteIdenticalAcrossThreadCounts() throws {
        let c = CrossCheck.standardCases(quick: true)[0]
        let d = TemporaryDirectory()
        for t in [1, 2, 3] {
            let r = OpenBLASEngine(threads: t).step(from: c.state, view1: NDArray(c.view1), view2: NDArray(c.view2), config: c.config)
            try r.next.write(to: d.file("s\(t).npz"))
            try NPZ.write(r.grads.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }, to: d.file("g\(t).npz"))
            let f = OpenBLASEngine(threads: t).embed(c.state, images: NDArray(c.view1), network: "online")
            try NPZ.write([("features", f)], to: d.file("f\(t).npz"))
        }
        for prefix in ["s", "g", "f"] {
            #expect(readBytes(d.file("\(prefix)1.npz")) == readBytes(d.file("\(prefix)2.npz")))
            #expect(readBytes(d.file("\(prefix)1.npz")) == readBytes(d.file("\(prefix)3.npz")))
        }
    }

    /// `byol goldens verify --engine openblas` on the tiny cases: no FAIL; the first Adam
    /// step (zero second moments) is the one SKIP.
    @Test func goldensHoldForTheFloat32Backend() {
        let cases = GoldenCase.all.filter { $0.preset == "tiny" }
        let rows = Goldens.verify(goldens: Repo.root.appendingPathComponent("goldens").path, cases: cases, engine: OpenBLASEngine(threads: 2))
        for r in rows where r.skipped == nil { #expect(r.passed, "\(r.check)\n\(r.failures.joined(separator: "\n"))") }
        #expect(rows.filter { $0.skipped != nil }.map(\.check) == ["golden tiny-adam-separate-3steps step 1: openblas"])
    }

    @Test func outputsAreFloat32() {
        let c = CrossCheck.standardCases(quick: true)[1]
        let r = OpenBLASEngine(threads: 1).step(from: c.state, view1: NDArray(c.view1), view2: NDArray(c.view2), config: c.config)
        #expect(r.next.arrays["online.backbone.conv1.weight"]!.dtype == .float32)
        #expect(r.next.arrays["step"]! == .scalar(Int64(1)))
        #expect(r.next.arrays["loss"]!.dtype == .float64)
        #expect(r.grads["online.projector.0.weight"]!.dtype == .float32)
    }
}

/// NaN travels through the float32 path's ReLU as through PyTorch's.
@Suite struct FastNonFinite {
    @Test func reluKeepsNaN() {
        let r = OpenBLASEngine(threads: 1).relu(x: NDArray(float32: [.nan, -2, 3], shape: [3]), dy: NDArray(float32: [1, 1, 1], shape: [3]))
        let y = r["y"]!.floats
        #expect(y[0].isNaN && y[1] == 0 && y[2] == 3)
        #expect(r["dx"]!.floats == [0, 0, 1])
    }
}
