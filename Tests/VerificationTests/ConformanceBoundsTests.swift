import BYOLModel
import Foundation
import NumPyIO
import Reference
import TestSupport
import Testing

@testable import Verification

/// The per-element bounds and tiers of the conformance kit (issue #22): planted faults
/// fail at float32 on their own function and tensor; correct implementations at a tier
/// pass it; results are read strictly.
@Suite struct ConformanceBoundsTests {
    static let arch = Architecture.preset(named: "tiny")!

    /// The tiny preset's cases at size 8, exported to `d/cases`, and their listing.
    func export(_ d: TemporaryDirectory, steps: [OptimizerKind] = []) throws -> [Conformance.Listed] {
        let cases = Conformance.cases(arch: Self.arch, batch: 4, size: 8, seed: 3, steps: steps)
        try Conformance.export(cases, header: [:], to: d.file("cases"))
        return try Conformance.readManifest(d.file("cases"))
    }

    func inputs(_ d: TemporaryDirectory, _ c: Conformance.Listed) throws -> NPZFile { try NPZ.load(d.file("cases/\(c.id)/inputs.npz")) }

    /// The reference's outputs for `c` with `edit` applied to its inputs first.
    func reference(
        _ d: TemporaryDirectory, _ c: Conformance.Listed, edit: (inout [String: NDArray]) -> Void = { _ in }
    ) throws -> [(name: String, array: NDArray)] {
        let f = try inputs(d, c)
        var named = Dictionary(uniqueKeysWithValues: f.members.map { ($0.name, $0.array) })
        edit(&named)
        let edited = NPZFile(path: f.path, members: f.names.map { (name: $0, array: named[$0]!) }, fileDTypes: [:])
        return try Conformance.compute(function: c.function, params: c.params, inputs: edited, engine: ReferenceEngine()).arrays
    }

    /// The findings of `outputs` judged against case `c` at `tier`.
    func judge(
        _ d: TemporaryDirectory, _ c: Conformance.Listed, _ outputs: [(name: String, array: NDArray)], _ tier: Tier = .float32
    ) throws -> [Conformance.Finding] {
        let f32 = outputs.map { o in (name: o.name, array: o.array.dtype == .float64 ? o.array.converted(to: .float32) : o.array) }
        return try Conformance.judge(c, cases: d.file("cases"), outputs: f32, dtypes: [:], failure: "", file: "test", judged: .tier(tier))
    }

    /// The fault changes `tensor` of case `c` past its float32 bound (and the unmodified
    /// reference, stored in float32, passes).
    func expectCaught(
        _ d: TemporaryDirectory, _ c: Conformance.Listed, _ tensor: String, _ faulty: [(name: String, array: NDArray)],
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let clean = try judge(d, c, try reference(d, c))
        #expect(clean.allSatisfy { $0.passed }, sourceLocation: sourceLocation)
        let f = try judge(d, c, faulty)
        let bad = f.first { $0.tensor == tensor }
        #expect(
            bad?.passed == false, "\(c.id) \(tensor): \(bad.map { String(format: "%.3g", $0.ratio) } ?? "absent") of the bound",
            sourceLocation: sourceLocation)
    }

    @Test func optimizerFaultsFailTheirUnitCase() throws {
        let d = TemporaryDirectory()
        let listed = try export(d)
        func scaled(_ name: String, by k: Double) -> (inout [String: NDArray]) -> Void {
            { $0[name] = .scalar(($0[name]!.doubles[0]) * k) }
        }
        let lars = listed.first { $0.function == "lars" && $0.id.contains("x") }!
        let larsBias = listed.first { $0.function == "lars" && !$0.id.contains("x") }!
        let sgd = listed.first { $0.function == "sgd" }!, adam = listed.first { $0.function == "adam" }!
        // LARS's trust coefficient x1.5; weight decay left out of each optimizer.
        try expectCaught(d, lars, "param", try reference(d, lars, edit: scaled("eta", by: 1.5)))
        try expectCaught(d, lars, "param", try reference(d, lars, edit: scaled("weight_decay", by: 0)))
        try expectCaught(d, sgd, "param", try reference(d, sgd, edit: scaled("weight_decay", by: 0)))
        try expectCaught(d, adam, "param", try reference(d, adam, edit: scaled("weight_decay", by: 0)))
        // LARS applying weight decay to a bias: d = g + wd p there too.
        let bias = try reference(d, larsBias) { x in
            let (p, g, wd) = (x["param"]!.doubles, x["grad"]!.doubles, x["weight_decay"]!.doubles[0])
            x["grad"] = NDArray(float64: zip(g, p).map { $0 + wd * $1 }, shape: x["grad"]!.shape)
        }
        try expectCaught(d, larsBias, "momentum_buffer", bias)
    }

    @Test func runningStatisticFaultsFailTheirUnitCase() throws {
        let d = TemporaryDirectory()
        for c in try export(d) where c.function == "batchnorm_running" {
            let f = try inputs(d, c)
            let x = try f.requireFloat("x")
            let (n, ch, s) = (x.shape[0], x.shape[1], x.shape.dropFirst(2).reduce(1, *))
            let rm = try f.requireFloat("running_mean").doubles, rv = try f.requireFloat("running_var").doubles
            var swappedMean = rm, biasedVar = rv
            for ci in 0..<ch {
                let v = (0..<n).flatMap { ni in (0..<s).map { x.doubles[(ni * ch + ci) * s + $0] } }
                let mean = v.reduce(0, +) / Double(v.count)
                let variance = v.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(v.count)
                swappedMean[ci] = 0.1 * rm[ci] + 0.9 * mean
                biasedVar[ci] = 0.9 * rv[ci] + 0.1 * variance
            }
            let good = try reference(d, c)
            func with(_ name: String, _ v: [Double]) -> [(name: String, array: NDArray)] {
                good.map { $0.name == name ? (name: name, array: NDArray(float64: v, shape: [ch])) : $0 }
            }
            try expectCaught(d, c, "running_mean", with("running_mean", swappedMean))
            try expectCaught(d, c, "running_var", with("running_var", biasedVar))
            // The count is an integer: exact.
            let off = good.map { $0.name == "num_batches_tracked" ? (name: $0.name, array: NDArray.scalar(Int64(9))) : $0 }
            let counted = try judge(d, c, off)
            #expect(counted.contains { $0.tensor == "num_batches_tracked" && !$0.passed })
        }
    }

    /// TF32 in one backward product only: that product's tensor fails float32, on every
    /// convolution and linear case, and the whole passes the tf32 tier.
    @Test func tf32InOneBackwardProductIsCaught() throws {
        let d = TemporaryDirectory()
        for c in try export(d) where c.function == "conv2d" || c.function == "linear" {
            var exact = RandomizedKernels(seed: 1, tier: .float32), tf32 = RandomizedKernels(seed: 1, tier: .tf32)
            let plain = try exact.compute(function: c.function, params: c.params, inputs: try inputs(d, c))!
            let reduced = try tf32.compute(function: c.function, params: c.params, inputs: try inputs(d, c))!
            for tensor in ["dx", "dweight"] {
                let mixed = plain.map { $0.name == tensor ? reduced.first { $0.name == tensor }! : $0 }
                let f = try judge(d, c, mixed)
                #expect(f.first { $0.tensor == tensor }?.passed == false, "\(c.id) \(tensor) with TF32 operands passes float32")
                #expect(f.filter { $0.tensor != tensor }.allSatisfy { $0.passed })
                let atTF32 = try judge(d, c, mixed, .tf32)
                #expect(atTF32.allSatisfy { $0.passed }, "\(c.id) \(tensor): TF32 fails the tf32 tier")
            }
        }
    }

    /// Randomized correct implementations pass their own tier on every layer case, and the
    /// reference's whole steps (from the warmed-up state) pass float32 and float64.
    @Test func correctImplementationsPassTheirTier() throws {
        let d = TemporaryDirectory()
        _ = try export(d, steps: [.lars])
        for tier in [Tier.float32, .tf32, .bf16] {
            let r = try Conformance.trials(cases: d.file("cases"), count: 2, seed: 11, tier: tier, engine: nil)
            #expect(r.violations.isEmpty, "\(r.violations.prefix(3))")
            #expect(r.tensors > 200)
        }
        let r = try Conformance.trials(cases: d.file("cases"), count: 1, seed: 0, tier: .float32, engine: { _ in ReferenceEngine() })
        #expect(r.violations.isEmpty && r.worst["step"] != nil && r.worst["embed"] != nil)
    }

    /// A BN weight gradient whose sum cancels (sum dy xhat = 0 in exact arithmetic, as in
    /// the ill-conditioned element of issue #22) gets a bound from the terms it sums, as a
    /// well-conditioned one does: its float32 rounding is of that size, not of its value.
    @Test func boundsFollowEachElementsTerms() throws {
        let m = 64
        let x = (0..<m).map { Double($0 % 8) - 3.5 }
        // Channel 0: dy orthogonal to xhat (dweight = 0); channel 1: dy = xhat.
        // Blocks of 8 with alternating sign: the sum against xhat cancels exactly.
        let dy0: [Double] = (0..<m).map { i in
            let sign: Double = (i / 8) % 2 == 0 ? 1 : -1
            return sign * (Double(i % 8) - 3.5)
        }
        let xt = Tensor(shape: [m, 2], data: x.flatMap { [$0, $0] })
        let mean = x.reduce(0, +) / Double(m)
        let inv = 1 / (x.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(m) + BNConstants.eps).squareRoot()
        let xhat = x.map { ($0 - mean) * inv }
        let dyt = Tensor(shape: [m, 2], data: (0..<m).flatMap { [dy0[$0], xhat[$0]] })
        let r = ReferenceEngine().batchNormTrain(
            x: NDArray(xt), weight: NDArray(float64: [1, 1], shape: [2]), bias: NDArray(float64: [0, 0], shape: [2]),
            dy: NDArray(dyt))
        let dweight = r["dweight"]!.doubles
        #expect(abs(dweight[0]) < 1e-9 && dweight[1] > 1)
        let e = BatchNormErrors.trainBackward(x: xt, gamma: [1, 1], dy: dyt, dx: Tensor(r["dx"]!))
        for (c, dy) in [dy0, xhat].enumerated() {
            var terms = 0.0
            for i in 0..<m { terms += abs(dy[i] * xhat[i]) }
            #expect(e.dweight.a[c] >= ErrorTerms.sum(m, terms), "channel \(c)")
        }
        #expect(e.dweight.a[0] > 0.1 * e.dweight.a[1])
    }

    /// `check` takes its bounds from the case files alone: with a stored bound set to 0,
    /// the float32 results that passed fail on exactly that tensor.
    @Test func checkReadsTheStoredBounds() throws {
        let d = TemporaryDirectory()
        let conv = try export(d).first { $0.function == "conv2d" }!
        try FileManager.default.createDirectory(atPath: d.file("results"), withIntermediateDirectories: true)
        try NPZ.write(try reference(d, conv).map { (name: $0.name, array: $0.array.converted(to: .float32)) }, to: d.file("results/\(conv.id).npz"))
        let before = try Conformance.check(cases: d.file("cases"), results: d.file("results"), judged: .tier(.float32), only: ["conv2d"])
            .filter { $0.caseID == conv.id }
        #expect(before.count == 3 && before.allSatisfy { $0.passed })
        let path = d.file("cases/\(conv.id)/bounds.npz")
        let stored = try NPZ.load(path)
        try NPZ.write(
            try stored.names.map { n in
                let a = try stored.require(n)
                return (name: n, array: n == "dx@float32" ? NDArray(float32: [Float](repeating: 0, count: a.count), shape: a.shape) : a)
            }, to: path)
        let after = try Conformance.check(cases: d.file("cases"), results: d.file("results"), judged: .tier(.float32), only: ["conv2d"])
            .filter { $0.caseID == conv.id }
        #expect(after.filter { !$0.passed }.map(\.tensor) == ["dx"])
    }

    @Test func resultsAreReadStrictly() throws {
        let d = TemporaryDirectory()
        let listed = try export(d)
        try FileManager.default.createDirectory(atPath: d.file("results"), withIntermediateDirectories: true)
        let relu = listed.first { $0.function == "relu" }!
        var good = try reference(d, relu).map { (name: $0.name, array: $0.array.converted(to: .float32)) }
        good.append((name: "bonus", array: NDArray(float32: [0], shape: [1])))
        try NPZ.write(good, to: d.file("results/\(relu.id).npz"))
        let f = try Conformance.check(cases: d.file("cases"), results: d.file("results"), judged: .tier(.float32), only: ["relu"])
        let extra = f.first { $0.caseID == relu.id && $0.tensor == "bonus" }
        #expect(extra?.passed == false && extra?.message.contains("unexpected array 'bonus'") == true)
        // float32 results at the float64 tier: refused, naming the file, the array and the dtype.
        do {
            _ = try Conformance.check(cases: d.file("cases"), results: d.file("results"), judged: .tier(.float64), only: ["relu"])
            Issue.record("float32 results accepted at float64")
        } catch {
            #expect("\(error)".contains("\(relu.id).npz") && "\(error)".contains("<f4") && "\(error)".contains("float64"), "\(error)")
        }
        #expect(throws: (any Error).self) { try Conformance.check(cases: d.file("cases"), results: d.file("nowhere"), judged: .tier(.float32)) }
        // An empty case list is an error, not a pass.
        let path = d.file("cases/manifest.json")
        var m = try JSONSerialization.jsonObject(with: Data(readBytes(path))) as! [String: Any]
        m["cases"] = [Any]()
        try JSONSerialization.data(withJSONObject: m).write(to: URL(fileURLWithPath: path))
        do {
            _ = try Conformance.check(cases: d.file("cases"), results: d.file("results"), judged: .tier(.float32))
            Issue.record("an empty case list passed")
        } catch {
            #expect("\(error)".contains("empty"), "\(error)")
        }
    }
}
