import NumPyIO
import Reference
import Testing
import Verification

@testable import Fast

/// Winograd F(2x2, 3x3) convolutions (forward, input and weight gradient) against the
/// float64 reference on shapes that stress its tiling: odd sizes (cut-off tiles), 1x1
/// and 2x2 planes, C != K, sample groups of 1 and 2, and 3 to 6 groups of about 512
/// tiles with rows wide enough for the 8-lane (de)interleaving (32 and 33 columns).
@Suite struct WinogradTests {
    /// (n, c, k, h, w)
    static let shapes = [
        (3, 4, 5, 8, 8), (4, 5, 4, 7, 6), (2, 4, 6, 1, 1), (3, 6, 4, 2, 3), (9, 4, 4, 5, 5), (1, 8, 3, 16, 16),
        (12, 4, 5, 32, 32), (12, 5, 4, 17, 33)
    ]

    /// Signed inputs (as in the gradient) and non-negative ones (post-ReLU activations,
    /// the forward's inputs, where the transforms add like-signed terms).
    @Test(arguments: shapes, [(-1.0, 1.0), (0.0, 2.0)])
    func matchesTheReference(shape: (Int, Int, Int, Int, Int), range: (Double, Double)) {
        let (n, c, k, h, w) = shape
        let s = ConvShape(c: c, k: k, r: 3, stride: 1, pad: 1, h: h, w: w)
        #expect(Winograd.applies(s))
        var rng = CaseDraws(seed: UInt64(n * 1000 + c * 100 + k * 10 + h))
        let x = rng.tensor([n, c, h, w], range.0, range.1), wt = rng.tensor([k, c, 3, 3], -0.3, 0.3)
        let y = Conv2d.forward(x, wt, stride: 1, pad: 1)
        let dy = rng.tensor(y.shape)
        let (dx, dw) = Conv2d.backward(dy, x: x, w: wt, stride: 1, pad: 1)
        let f = { (t: Tensor) in t.data.map(Float.init) }
        let got = FastLayers.conv2d(x: f(x), n: n, c: c, h: h, w: w, weight: f(wt), k: k, r: 3, stride: 1, pad: 1, dy: f(dy), threads: 2)
        // One float32 layer of at most 16 x 8 products per output: rounding stays near
        // 1e-6 of the largest value, so 1e-5 is tight enough to catch a wrong transform
        // term and loose enough for float32.
        let bound = Tolerance.scaled(1e-5)
        for (name, a, e) in [("y", got.y, y), ("dx", got.dx, dx), ("dw", got.dw, dw)] {
            let cmp = Compare.tensors(
                name, actual: NDArray(float32: a, shape: e.shape), expected: NDArray(float64: e.data, shape: e.shape), tolerance: bound)
            #expect(cmp.passed, "\(shape) \(range): \(cmp.report)")
        }
    }

    /// The weight transform and its adjoint: <G g G^T, du> == <g, G^T du G>, exactly in
    /// float64 arithmetic and within float32 rounding here, and the flipped transform is
    /// the transform of the rotated filter.
    @Test func weightTransformsAreAdjoint() {
        let (k, c) = (3, 2)
        var rng = CaseDraws(seed: 5)
        // Tile planes sit planeStride apart; the gaps stay 0 in du.
        let ps = Winograd.planeStride(k, c)
        let g = rng.tensor([k, c, 3, 3]).data.map(Float.init)
        var du = [Float](repeating: 0, count: 16 * ps)
        for e in 0..<16 { for i in 0..<(k * c) { du[e * ps + i] = Float(rng.uniform(-1, 1)) } }
        var u = [Float](repeating: 0, count: 16 * ps), uf = u, back = [Float](repeating: 0, count: 9 * k * c)
        let pool = WorkerPool(workers: 1)
        Winograd.transformWeights(g, k: k, c: c, flipped: false, &u, pool: pool)
        Winograd.transformWeights(g, k: k, c: c, flipped: true, &uf, pool: pool)
        Winograd.weightGradient(du, kc: k * c, &back)
        var lhs = 0.0
        for e in 0..<16 { for i in 0..<(k * c) { lhs += Double(u[e * ps + i]) * Double(du[e * ps + i]) } }
        // back is [9, K, C]; g is [K, C, 9].
        var rhs = 0.0
        for kc in 0..<(k * c) { for p in 0..<9 { rhs += Double(g[kc * 9 + p]) * Double(back[p * k * c + kc]) } }
        #expect(abs(lhs - rhs) <= 1e-5 * max(1, abs(lhs)))
        // The flipped transform of w[k, c] sits at [e, c, k] and equals the plain
        // transform of the filter rotated by 180 degrees.
        var rotated = g
        for kc in 0..<(k * c) { for p in 0..<9 { rotated[kc * 9 + p] = g[kc * 9 + 8 - p] } }
        var ur = [Float](repeating: 0, count: 16 * ps)
        Winograd.transformWeights(rotated, k: k, c: c, flipped: false, &ur, pool: pool)
        for e in 0..<16 {
            for ko in 0..<k {
                for ci in 0..<c {
                    #expect(uf[e * ps + ci * k + ko] == ur[e * ps + ko * c + ci])
                }
            }
        }
    }

    /// A channel that is 0 in every sample under the whole window of a tap gets exactly 0
    /// weight gradient there (the reference's value; Adam turns any noise there into a
    /// step of about lr), and every other tap stays within the layer bound.
    @Test func unseenTapsHaveExactlyZeroWeightGradient() {
        let (n, c, k, h, w) = (3, 4, 5, 2, 2)
        var rng = CaseDraws(seed: 11)
        var x = rng.tensor([n, c, h, w], 0.1, 2)
        // On a 2x2 plane tap (2, 2) reads pixel (1, 1) only; tap (0, 1) reads row 0.
        for s in 0..<n {
            x.data[((s * c + 1) * h + 1) * w + 1] = 0
            for j in 0..<w { x.data[((s * c + 2) * h + 0) * w + j] = 0 }
        }
        let wt = rng.tensor([k, c, 3, 3], -0.3, 0.3)
        let dy = rng.tensor([n, k, h, w])
        let (_, dw) = Conv2d.backward(dy, x: x, w: wt, stride: 1, pad: 1)
        let f = { (t: Tensor) in t.data.map(Float.init) }
        let got = FastLayers.conv2d(x: f(x), n: n, c: c, h: h, w: w, weight: f(wt), k: k, r: 3, stride: 1, pad: 1, dy: f(dy), threads: 2)
        let at = { (ko: Int, ci: Int, r: Int, q: Int) in ((ko * c + ci) * 3 + r) * 3 + q }
        for ko in 0..<k {
            #expect(dw.data[at(ko, 1, 2, 2)] == 0 && got.dw[at(ko, 1, 2, 2)] == 0)
            for q in 0..<3 { #expect(dw.data[at(ko, 2, 0, q)] == 0 && got.dw[at(ko, 2, 0, q)] == 0) }
        }
        let cmp = Compare.tensors(
            "dw", actual: NDArray(float32: got.dw, shape: dw.shape), expected: NDArray(float64: dw.data, shape: dw.shape),
            tolerance: Tolerance.scaled(1e-5))  // the layer bound of matchesTheReference
        #expect(cmp.passed, "\(cmp.report)")
    }

    /// Six sample groups, reduced in group order: the same bytes with 1, 2 and 3 threads.
    @Test func manyGroupsAreByteIdenticalAcrossThreadCounts() {
        let (n, c, k, h, w) = (12, 4, 5, 32, 32)
        #expect(Winograd.groups(images: n, ConvShape(c: c, k: k, r: 3, stride: 1, pad: 1, h: h, w: w), segments: 1).count == 6)
        var rng = CaseDraws(seed: 77)
        let f = { (t: Tensor) in t.data.map(Float.init) }
        let x = f(rng.tensor([n, c, h, w], -1, 1)), wt = f(rng.tensor([k, c, 3, 3], -0.3, 0.3)), dy = f(rng.tensor([n, k, h, w]))
        let runs = [1, 2, 3].map { FastLayers.conv2d(x: x, n: n, c: c, h: h, w: w, weight: wt, k: k, r: 3, stride: 1, pad: 1, dy: dy, threads: $0) }
        let bits = { (a: [Float]) in a.map(\.bitPattern) }
        for r in runs.dropFirst() {
            #expect(bits(r.y) == bits(runs[0].y))
            #expect(bits(r.dx) == bits(runs[0].dx))
            #expect(bits(r.dw) == bits(runs[0].dw))
        }
    }

    /// The stem (3 input channels), strided and 1x1 convolutions stay on im2col.
    @Test func appliesOnlyToStrideOnePadOne3x3() {
        #expect(!Winograd.applies(ConvShape(c: 3, k: 8, r: 3, stride: 1, pad: 1, h: 8, w: 8)))
        #expect(!Winograd.applies(ConvShape(c: 8, k: 8, r: 3, stride: 2, pad: 1, h: 8, w: 8)))
        #expect(!Winograd.applies(ConvShape(c: 8, k: 8, r: 1, stride: 1, pad: 0, h: 8, w: 8)))
        #expect(Winograd.applies(ConvShape(c: 4, k: 8, r: 3, stride: 1, pad: 1, h: 8, w: 8)))
    }
}
