import BYOLModel
import Foundation
import NumPyIO

/// Randomized float32 implementations of every layer and update function, for the
/// conformance kit's trials (`byol conformance trials`, docs/conformance.md): each trial
/// draws a legitimate way to compute each function (the order of every sum, sequential,
/// pairwise or blocked with a random block size, FMA or not, one-pass or two-pass
/// variance, the loss as 2 - 2 cos or through normalized differences, updates in either
/// operation order) and, at a reduced tier, rounds matrix products' operands (and for
/// bf16 and fp16 their outputs) as that tier's model says. The bounds must admit every
/// draw: a correct implementation may do any of these.
struct RandomizedKernels {
    var rng: SplitMix
    /// The tier whose arithmetic matrix products emulate (float32: plain float32).
    let tier: Tier

    init(seed: UInt64, tier: Tier) {
        rng = SplitMix(seed: seed)
        self.tier = tier
    }

    // MARK: Summation

    enum Strategy { case sequential, pairwise, blocked(Int) }

    /// One way to sum, drawn per output tensor.
    struct Summer {
        var strategy: Strategy
        var shuffle: Bool
        var fma: Bool

        /// sum of a[i] * b[i] in float32.
        func dot(_ a: [Float], _ b: [Float], _ rng: inout SplitMix) -> Float {
            var idx = Array(a.indices)
            if shuffle { rng.shuffle(&idx) }
            let products: [Float]? = fma ? nil : idx.map { a[$0] * b[$0] }
            switch strategy {
            case .sequential:
                var s: Float = 0
                if fma { for i in idx { s = s.addingProduct(a[i], b[i]) } } else { for p in products! { s += p } }
                return s
            case .pairwise:
                return pairwise(products ?? idx.map { a[$0] * b[$0] })
            case .blocked(let size):
                var partials: [Float] = []
                var start = 0
                while start < idx.count {
                    var s: Float = 0
                    for j in start..<min(start + size, idx.count) {
                        let i = idx[j]
                        s = fma ? s.addingProduct(a[i], b[i]) : s + products![j]
                    }
                    partials.append(s)
                    start += size
                }
                return pairwise(partials)
            }
        }

        func sum(_ v: [Float], _ rng: inout SplitMix) -> Float { dot(v, [Float](repeating: 1, count: v.count), &rng) }

        func pairwise(_ v: [Float]) -> Float {
            if v.isEmpty { return 0 }
            if v.count == 1 { return v[0] }
            let mid = v.count / 2
            return pairwise(Array(v[..<mid])) + pairwise(Array(v[mid...]))
        }
    }

    mutating func summer() -> Summer {
        let strategies: [Strategy] = [.sequential, .pairwise, .blocked(1 + Int(rng.next() % 64))]
        return Summer(strategy: strategies[Int(rng.next() % 3)], shuffle: rng.next() % 2 == 0, fma: rng.next() % 2 == 0)
    }

    // MARK: Precision of matrix products

    /// A matrix product's operand at the tier.
    func operand(_ x: Float) -> Float {
        switch tier {
        case .tf32, .fp16: return Self.round(x, keepBits: 10)
        case .bf16: return Self.round(x, keepBits: 7)
        case .float32, .float64: return x
        }
    }

    /// A matrix product's output at the tier.
    func output(_ x: Float) -> Float { tier == .bf16 || tier == .fp16 ? operand(x) : x }

    /// x rounded to nearest-even with `keepBits` explicit mantissa bits (float32 keeps 23).
    static func round(_ x: Float, keepBits: Int) -> Float {
        let drop = UInt32(23 - keepBits)
        let bits = x.bitPattern
        let half = (UInt32(1) << (drop - 1)) - 1 + ((bits >> drop) & 1)
        return Float(bitPattern: (bits &+ half) & ~((UInt32(1) << drop) - 1))
    }

    // MARK: Functions

    /// The case's outputs, or nil for functions not implemented here (step, embed).
    mutating func compute(function: String, params: [String: Int], inputs: NPZFile) throws -> [(name: String, array: NDArray)]? {
        func f(_ n: String) throws -> [Float] { try inputs.requireFloat(n).floats }
        func shape(_ n: String) throws -> [Int] { try inputs.require(n).shape }
        func s(_ n: String) -> Double { inputs[n]?.doubles.first ?? 0 }
        func out(_ n: String, _ v: [Float], _ sh: [Int]) -> (name: String, array: NDArray) { (n, NDArray(float32: v, shape: sh)) }
        if let kind = OptimizerKind(rawValue: function) { return try update(kind, inputs, shape("param")) }
        switch function {
        case "conv2d":
            let (xs, ws, dys) = (try shape("x"), try shape("weight"), try shape("dy"))
            let r = conv(x: try f("x"), xs, w: try f("weight"), ws, dy: try f("dy"), dys, stride: params["stride"] ?? 1, pad: params["pad"] ?? 0)
            return [out("y", r.y, dys), out("dx", r.dx, xs), out("dweight", r.dw, ws)]
        case "linear":
            let (xs, ws) = (try shape("x"), try shape("weight"))
            let r = linear(x: try f("x"), n: xs[0], i: xs[1], w: try f("weight"), o: ws[0], b: try f("bias"), dy: try f("dy"))
            return [out("y", r.y, [xs[0], ws[0]]), out("dx", r.dx, xs), out("dweight", r.dw, ws), out("dbias", r.db, [ws[0]])]
        case "batchnorm2d_train", "batchnorm1d_train":
            let xs = try shape("x")
            let r = batchNormTrain(x: try f("x"), xs, gamma: try f("weight"), beta: try f("bias"), dy: try f("dy"))
            return [out("y", r.y, xs), out("dx", r.dx, xs), out("dweight", r.dg, [xs[1]]), out("dbias", r.db, [xs[1]])]
        case "batchnorm2d_eval", "batchnorm1d_eval":
            let xs = try shape("x")
            return [
                out(
                    "y",
                    batchNormEval(
                        x: try f("x"), xs, gamma: try f("weight"), beta: try f("bias"), mean: try f("running_mean"),
                        variance: try f("running_var")), xs)
            ]
        case "batchnorm_running":
            let xs = try shape("x")
            let stats = channelStats(try f("x"), xs)
            let m = Float(s("momentum")), count = Float(stats.m)
            let rm = try f("running_mean"), rv = try f("running_var")
            let mean = rm.indices.map { (1 - m) * rm[$0] + m * stats.mean[$0] }
            let variance = rv.indices.map { (1 - m) * rv[$0] + m * stats.variance[$0] * count / (count - 1) }
            let batches = try inputs.requireInt("num_batches_tracked").doubles[0]
            return [
                out("running_mean", mean, [xs[1]]), out("running_var", variance, [xs[1]]),
                ("num_batches_tracked", .scalar(Int64(batches) + 1))
            ]
        case "relu":
            let x = try f("x"), dy = try f("dy")
            return [out("y", x.map { max($0, 0) }, try shape("x")), out("dx", x.indices.map { x[$0] > 0 ? dy[$0] : 0 }, try shape("x"))]
        case "avgpool":
            let xs = try shape("x")
            let (nc, sp) = (xs[0] * xs[1], xs[2] * xs[3])
            let x = try f("x"), dy = try f("dy")
            let sm = summer()
            let y = (0..<nc).map { sm.sum(Array(x[$0 * sp..<($0 + 1) * sp]), &rng) / Float(sp) }
            return [out("y", y, [xs[0], xs[1]]), out("dx", (0..<nc * sp).map { dy[$0 / sp] / Float(sp) }, xs)]
        case "loss":
            let ps = try shape("p")
            let r = loss(p: try f("p"), z: try f("z"), n: ps[0], d: ps[1])
            return [("loss", .scalar(Double(r.loss))), out("dp", r.dp, ps)]
        case "symmetric_loss":
            let ps = try shape("p1")
            let a = loss(p: try f("p1"), z: try f("z2"), n: ps[0], d: ps[1]), b = loss(p: try f("p2"), z: try f("z1"), n: ps[0], d: ps[1])
            return [("loss", .scalar(Double(a.loss + b.loss))), out("dp1", a.dp, ps), out("dp2", b.dp, ps)]
        case "ema":
            let t = try f("target"), o = try f("online"), tau = Float(s("tau"))
            let form = rng.next() % 2 == 0
            return [
                out("target", t.indices.map { form ? t[$0] + (1 - tau) * (o[$0] - t[$0]) : tau * t[$0] + (1 - tau) * o[$0] }, try shape("target"))
            ]
        default:
            return nil
        }
    }

    // y [N, K, Ho, Wo], dx, dw by explicit dot products over gathered operands.
    mutating func conv(
        x: [Float], _ xs: [Int], w: [Float], _ ws: [Int], dy: [Float], _ dys: [Int], stride: Int, pad: Int
    )
        -> (y: [Float], dx: [Float], dw: [Float])
    {
        let (n, c, h, wd) = (xs[0], xs[1], xs[2], xs[3]), (k, r) = (ws[0], ws[2]), (ho, wo) = (dys[2], dys[3])
        let (xo, wop, dyo) = (x.map(operand), w.map(operand), dy.map(operand))
        func xi(_ ni: Int, _ ci: Int, _ ih: Int, _ iw: Int) -> Int? {
            ih >= 0 && ih < h && iw >= 0 && iw < wd ? ((ni * c + ci) * h + ih) * wd + iw : nil
        }
        var y = [Float](repeating: 0, count: n * k * ho * wo), dx = [Float](repeating: 0, count: x.count),
            dwOut = [Float](repeating: 0, count: w.count)
        var sm = summer()
        for ni in 0..<n {
            for ki in 0..<k {
                for oh in 0..<ho {
                    for ow in 0..<wo {
                        var a: [Float] = [], b: [Float] = []
                        for ci in 0..<c {
                            for ri in 0..<r {
                                for qi in 0..<r {
                                    if let i = xi(ni, ci, oh * stride - pad + ri, ow * stride - pad + qi) {
                                        a.append(xo[i])
                                        b.append(wop[((ki * c + ci) * r + ri) * r + qi])
                                    }
                                }
                            }
                        }
                        y[((ni * k + ki) * ho + oh) * wo + ow] = output(sm.dot(a, b, &rng))
                    }
                }
            }
        }
        sm = summer()
        for ni in 0..<n {
            for ci in 0..<c {
                for ih in 0..<h {
                    for iw in 0..<wd {
                        var a: [Float] = [], b: [Float] = []
                        for ki in 0..<k {
                            for ri in 0..<r {
                                for qi in 0..<r {
                                    let (th, tw) = (ih + pad - ri, iw + pad - qi)
                                    guard th >= 0, tw >= 0, th % stride == 0, tw % stride == 0, th / stride < ho, tw / stride < wo else { continue }
                                    a.append(dyo[((ni * k + ki) * ho + th / stride) * wo + tw / stride])
                                    b.append(wop[((ki * c + ci) * r + ri) * r + qi])
                                }
                            }
                        }
                        dx[((ni * c + ci) * h + ih) * wd + iw] = output(sm.dot(a, b, &rng))
                    }
                }
            }
        }
        sm = summer()
        for ki in 0..<k {
            for ci in 0..<c {
                for ri in 0..<r {
                    for qi in 0..<r {
                        var a: [Float] = [], b: [Float] = []
                        for ni in 0..<n {
                            for oh in 0..<ho {
                                for ow in 0..<wo {
                                    if let i = xi(ni, ci, oh * stride - pad + ri, ow * stride - pad + qi) {
                                        a.append(dyo[((ni * k + ki) * ho + oh) * wo + ow])
                                        b.append(xo[i])
                                    }
                                }
                            }
                        }
                        dwOut[((ki * c + ci) * r + ri) * r + qi] = output(sm.dot(a, b, &rng))
                    }
                }
            }
        }
        return (y, dx, dwOut)
    }

    mutating func linear(
        x: [Float], n: Int, i: Int, w: [Float], o: Int, b: [Float], dy: [Float]
    ) -> (y: [Float], dx: [Float], dw: [Float], db: [Float]) {
        let (xo, wop, dyo) = (x.map(operand), w.map(operand), dy.map(operand))
        var sm = summer()
        var y = [Float](repeating: 0, count: n * o)
        for ni in 0..<n {
            for oi in 0..<o {
                y[ni * o + oi] = output(sm.dot(Array(xo[ni * i..<(ni + 1) * i]) + [b[oi]], Array(wop[oi * i..<(oi + 1) * i]) + [1], &rng))
            }
        }
        sm = summer()
        let dx = (0..<n * i).map { idx in output(sm.dot((0..<o).map { dyo[(idx / i) * o + $0] }, (0..<o).map { wop[$0 * i + idx % i] }, &rng)) }
        sm = summer()
        let dw = (0..<o * i).map { idx in output(sm.dot((0..<n).map { dyo[$0 * o + idx / i] }, (0..<n).map { xo[$0 * i + idx % i] }, &rng)) }
        sm = summer()
        let db = (0..<o).map { oi in output(sm.sum((0..<n).map { dyo[$0 * o + oi] }, &rng)) }
        return (y, dx, dw, db)
    }

    /// Per channel: mean and biased variance, one pass (E[x^2] - mean^2) or two.
    mutating func channelStats(_ x: [Float], _ xs: [Int]) -> (m: Int, mean: [Float], variance: [Float]) {
        let (n, c, s) = (xs[0], xs[1], xs.dropFirst(2).reduce(1, *))
        let sm = summer(), onePass = rng.next() % 2 == 0
        var mean = [Float](repeating: 0, count: c), variance = mean
        for ci in 0..<c {
            let v = (0..<n).flatMap { ni in (0..<s).map { x[(ni * c + ci) * s + $0] } }
            let mu = sm.sum(v, &rng) / Float(v.count)
            mean[ci] = mu
            variance[ci] =
                onePass ? max(sm.dot(v, v, &rng) / Float(v.count) - mu * mu, 0) : sm.sum(v.map { ($0 - mu) * ($0 - mu) }, &rng) / Float(v.count)
        }
        return (n * s, mean, variance)
    }

    mutating func batchNormTrain(
        x: [Float], _ xs: [Int], gamma: [Float], beta: [Float], dy: [Float]
    )
        -> (y: [Float], dx: [Float], dg: [Float], db: [Float])
    {
        let (n, c, s) = (xs[0], xs[1], xs.dropFirst(2).reduce(1, *))
        let stats = channelStats(x, xs)
        let sm = summer()
        var y = x, dx = x, dg = gamma, db = gamma
        for ci in 0..<c {
            let inv = 1 / (stats.variance[ci] + Float(BNConstants.eps)).squareRoot()
            let idx = (0..<n).flatMap { ni in (0..<s).map { (ni * c + ci) * s + $0 } }
            let xhat = idx.map { (x[$0] - stats.mean[ci]) * inv }
            for (j, i) in idx.enumerated() { y[i] = gamma[ci] * xhat[j] + beta[ci] }
            let g = idx.map { dy[$0] }
            db[ci] = sm.sum(g, &rng)
            dg[ci] = sm.dot(g, xhat, &rng)
            let (m1, m2) = (db[ci] / Float(idx.count), dg[ci] / Float(idx.count))
            for (j, i) in idx.enumerated() { dx[i] = gamma[ci] * inv * (dy[i] - m1 - xhat[j] * m2) }
        }
        return (y, dx, dg, db)
    }

    mutating func batchNormEval(x: [Float], _ xs: [Int], gamma: [Float], beta: [Float], mean: [Float], variance: [Float]) -> [Float] {
        let (c, s) = (xs[1], xs.dropFirst(2).reduce(1, *))
        let folded = rng.next() % 2 == 0
        return x.indices.map { i in
            let ci = (i / s) % c
            let inv = 1 / (variance[ci] + Float(BNConstants.eps)).squareRoot()
            if folded {
                let scale = gamma[ci] * inv
                return x[i] * scale + (beta[ci] - mean[ci] * scale)
            }
            return gamma[ci] * ((x[i] - mean[ci]) * inv) + beta[ci]
        }
    }

    mutating func loss(p: [Float], z: [Float], n: Int, d: Int) -> (loss: Float, dp: [Float]) {
        let sm = summer(), cosForm = rng.next() % 2 == 0
        var total: [Float] = [], dp = p
        for row in 0..<n {
            let pr = Array(p[row * d..<(row + 1) * d]), zr = Array(z[row * d..<(row + 1) * d])
            let rp = max(sm.dot(pr, pr, &rng).squareRoot(), 1e-12), rz = max(sm.dot(zr, zr, &rng).squareRoot(), 1e-12)
            let u = pr.map { $0 / rp }, zn = zr.map { $0 / rz }
            if cosForm {
                total.append(2 - 2 * sm.dot(pr, zr, &rng) / (rp * rz))
            } else {
                let diff = (0..<d).map { u[$0] - zn[$0] }
                total.append(sm.dot(diff, diff, &rng))
            }
            let g = (0..<d).map { 2 * (u[$0] - zn[$0]) / Float(n) }
            let ug = sm.dot(u, g, &rng)
            for j in 0..<d { dp[row * d + j] = (g[j] - u[j] * ug) / rp }
        }
        return (sm.sum(total, &rng) / Float(n), dp)
    }
}

/// A small, fast generator for the trials' choices (SplitMix64).
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func shuffle(_ a: inout [Int]) {
        guard a.count > 1 else { return }
        for i in stride(from: a.count - 1, to: 0, by: -1) { a.swapAt(i, Int(next() % UInt64(i + 1))) }
    }
}
