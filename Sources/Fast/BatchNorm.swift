import BYOLModel

/// BatchNorm on CNHW rows: channel c is the row x[c * len ..< (c + 1) * len]; in train
/// mode each BN batch (a view under `separate`, both under `joint`) of the whole batch is
/// normalized with its own statistics. Statistics and gradient sums accumulate in
/// float64: per segment (sample group) in index order, then over the groups by the
/// reduction tree (`GroupReduction.fold`), so the same on one process or many.
enum FastBN {
    static let eps = BNConstants.eps
    static let momentum = BNConstants.momentum

    /// Per (channel, group) batch statistics of the last train forward.
    struct Stats {
        var mean: [Double]
        var invStd: [Double]
        var variance: [Double]
        init(channels: Int, groups: Int) {
            mean = [Double](repeating: 0, count: channels * groups)
            invStd = mean
            variance = mean
        }
    }

    /// Per (channel, BN batch) sums over all sample groups: this process's segments'
    /// partials, `partial(c, j, g)` (`width` values each), added over the groups by the
    /// reduction tree (`GroupReduction.fold`; without a reduction the single segment's own).
    static func groupSums(
        channels: Int, seg: Segments, width: Int, reduction: GroupReduction?, pool: WorkerPool,
        _ partial: (_ c: Int, _ j: Int, _ g: Int, _ out: UnsafeMutablePointer<Double>) -> Void
    ) -> [Double] {
        let nSeg = seg.ranges.count, groups = seg.bnBatches
        let n = channels * groups * width
        var local = [Double](repeating: 0, count: nSeg * n)
        local.withUnsafeMutableBufferPointer { l in
            pool.run(chunks: channels) { c, _ in
                for j in 0..<nSeg {
                    for g in 0..<groups { partial(c, j, g, l.baseAddress! + j * n + (c * groups + g) * width) }
                }
            }
        }
        guard let reduction else {
            precondition(nSeg == 1, "several segments need a reduction")
            return local
        }
        return reduction.fold(local, n: n)
    }

    /// y = gamma (x - mean) / sqrt(var + eps) + beta (+ residual) (then ReLU if `relu`),
    /// x and y [channels, images of `seg` x hw]; mean and variance over each BN batch of
    /// the whole batch: sums over sample groups, then squared deviations from the mean.
    static func forwardTrain(
        _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, channels: Int, hw: Int, seg: Segments,
        gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, residual: UnsafePointer<Float>?, relu: Bool,
        stats: inout Stats, reduction: GroupReduction?, pool: WorkerPool
    ) {
        let len = seg.images * hw, groups = seg.bnBatches
        let count = Double(seg.bnBatchImages * hw)
        func row(_ c: Int, _ j: Int, _ g: Int) -> (UnsafePointer<Float>, Int, Int) {
            let r = seg.bnRange(j, g)
            return (x + c * len + r.lowerBound * hw, c * len + r.lowerBound * hw, r.count * hw)
        }
        let sums = groupSums(channels: channels, seg: seg, width: 1, reduction: reduction, pool: pool) { c, j, g, out in
            let (p, _, m) = row(c, j, g)
            out[0] = LaneSum.sum(p, count: m)
        }
        let mean = sums.map { $0 / count }
        let squares = groupSums(channels: channels, seg: seg, width: 1, reduction: reduction, pool: pool) { c, j, g, out in
            let (p, _, m) = row(c, j, g)
            out[0] = LaneSum.squaredDeviations(p, count: m, mean: mean[c * groups + g])
        }
        for i in 0..<(channels * groups) {
            let variance = squares[i] / count
            stats.mean[i] = mean[i]
            stats.variance[i] = variance
            stats.invStd[i] = 1 / (variance + eps).squareRoot()
        }
        let st = stats
        pool.run(chunks: channels) { c, _ in
            for j in seg.ranges.indices {
                for g in 0..<groups {
                    let (p, offset, m) = row(c, j, g)
                    let i = c * groups + g
                    normalize(
                        p, y + offset, count: m, mean: Float(st.mean[i]), scale: Float(Double(gamma[c]) * st.invStd[i]),
                        beta: beta[c], residual: residual.map { $0 + offset }, relu: relu)
                }
            }
        }
    }

    /// Eval mode: the running statistics.
    static func forwardEval(
        _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, channels: Int, len: Int,
        gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, runningMean: UnsafePointer<Float>,
        runningVar: UnsafePointer<Float>, residual: UnsafePointer<Float>?, relu: Bool, pool: WorkerPool
    ) {
        pool.run(chunks: channels) { c, _ in
            let inv = 1 / (Double(runningVar[c]) + eps).squareRoot()
            normalize(
                x + c * len, y + c * len, count: len, mean: runningMean[c], scale: Float(Double(gamma[c]) * inv),
                beta: beta[c], residual: residual.map { $0 + c * len }, relu: relu)
        }
    }

    @inline(__always)
    static func normalize(
        _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int, mean: Float, scale: Float,
        beta: Float, residual: UnsafePointer<Float>?, relu: Bool
    ) {
        if let residual {
            for i in 0..<count {
                let v = (x[i] - mean) * scale + beta + residual[i]
                y[i] = relu ? max(v, 0) : v
            }
        } else if relu {
            for i in 0..<count { y[i] = max((x[i] - mean) * scale + beta, 0) }
        } else {
            for i in 0..<count { y[i] = (x[i] - mean) * scale + beta }
        }
    }

    /// running <- (1 - momentum) running + momentum batch, group by group in order
    /// (view1's batch, then view2's), with the unbiased variance; one count per group.
    static func updateRunning(
        mean rm: UnsafeMutablePointer<Float>, variance rv: UnsafeMutablePointer<Float>, count: inout Int64,
        stats: Stats, channels: Int, groups: Int, samplesPerGroup m: Int
    ) {
        for g in 0..<groups {
            for c in 0..<channels {
                let i = c * groups + g
                rm[c] = Float((1 - momentum) * Double(rm[c]) + momentum * stats.mean[i])
                rv[c] = Float((1 - momentum) * Double(rv[c]) + momentum * stats.variance[i] * Double(m) / Double(m - 1))
            }
            count += 1
        }
    }

    /// Train-mode backward. With `reluOut` (the output of a ReLU fused into the forward),
    /// dy is first masked in place by (reluOut > 0), in the same pass as the sums, so
    /// that callers that reuse dy (the residual shortcut) see the masked gradient;
    /// dx = gamma invStd (dy - mean(dy) - xhat mean(dy xhat)) per group;
    /// dgamma = sum(dy xhat), dbeta = sum(dy) over all groups.
    ///
    /// With `dxSum`, also sum(dx) per channel, evaluated in float64 from the sums above:
    /// the gradient of a bias added just before this BN. It is 0 in exact arithmetic (a
    /// train-mode BN ignores a per-channel shift), and summing the float32-rounded dx
    /// leaves noise near 1e-8 where the float64 reference leaves 1e-17; Adam divides
    /// by sqrt(v) + 1e-8 and so turns that noise into steps of up to 0.7 lr (7x the
    /// float32 bound at lr 0.01). Here the terms cancel to float64 rounding, as in the
    /// reference.
    static func backward(
        _ dy: UnsafeMutablePointer<Float>, reluOut: UnsafePointer<Float>?, _ x: UnsafePointer<Float>,
        _ dx: UnsafeMutablePointer<Float>, channels: Int, hw: Int, seg: Segments, gamma: UnsafePointer<Float>,
        stats: Stats, dgamma: UnsafeMutablePointer<Float>, dbeta: UnsafeMutablePointer<Float>,
        dxSum: UnsafeMutablePointer<Float>? = nil, reduction: GroupReduction?, pool: WorkerPool
    ) {
        let len = seg.images * hw, groups = seg.bnBatches
        let m = Double(seg.bnBatchImages * hw)
        let width = dxSum == nil ? 2 : 3
        // (sum dy, sum dy xhat[, sum x]) per (channel, BN batch) over the whole batch.
        let sums = groupSums(channels: channels, seg: seg, width: width, reduction: reduction, pool: pool) { c, j, g, out in
            let r = seg.bnRange(j, g)
            let offset = c * len + r.lowerBound * hw, count = r.count * hw
            let i = c * groups + g
            let (a, b) = LaneSum.backwardSums(
                dy + offset, mask: reluOut.map { $0 + offset }, x: x + offset, count: count,
                mean: stats.mean[i], invStd: stats.invStd[i])
            out[0] = a
            out[1] = b
            if width == 3 { out[2] = LaneSum.sum(x + offset, count: count) }
        }
        pool.run(chunks: channels) { c, _ in
            var dg = 0.0, db = 0.0, dxs = 0.0
            for g in 0..<groups {
                let i = c * groups + g
                let mean = stats.mean[i], inv = stats.invStd[i]
                let sumDy = sums[i * width], sumDyXhat = sums[i * width + 1]
                dg += sumDyXhat
                db += sumDy
                if dxSum != nil {
                    let sumXhat = (sums[i * width + 2] - m * mean) * inv
                    dxs += Double(gamma[c]) * inv * (sumDy - m * (sumDy / m) - sumDyXhat / m * sumXhat)
                }
                let scale = Float(Double(gamma[c]) * inv)
                let meanDy = Float(sumDy / m), meanDyXhat = Float(sumDyXhat / m)
                let meanF = Float(mean), invF = Float(inv)
                for j in seg.ranges.indices {
                    let r = seg.bnRange(j, g)
                    let offset = c * len + r.lowerBound * hw
                    let dyr = dy + offset, xr = x + offset, out = dx + offset
                    for e in 0..<(r.count * hw) {
                        let xhat = (xr[e] - meanF) * invF
                        out[e] = scale * (dyr[e] - meanDy - xhat * meanDyXhat)
                    }
                }
            }
            dgamma[c] = Float(dg)
            dbeta[c] = Float(db)
            dxSum?[c] = Float(dxs)
        }
    }
}
/// Float64 sums of float32 rows over 8 interleaved lanes (lane j takes the elements
/// i = j mod 8), the lanes added in lane order, then the tail in index order: an order
/// fixed by the row length alone (so results do not depend on threads), and 8
/// independent dependency chains instead of one, which the compiler turns into vector
/// code. BN statistics were latency-bound on a single float64 accumulator.
enum LaneSum {
    @inline(__always)
    static func load(_ p: UnsafePointer<Float>, _ i: Int) -> SIMD8<Float> {
        UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<Float>.self)
    }

    @inline(__always)
    static func total(_ lanes: SIMD8<Double>) -> Double {
        var t = 0.0
        for j in 0..<8 { t += lanes[j] }
        return t
    }

    /// sum_i x[i]
    static func sum(_ x: UnsafePointer<Float>, count n: Int) -> Double {
        var acc = SIMD8<Double>()
        var i = 0
        while i + 8 <= n {
            acc += SIMD8<Double>(load(x, i))
            i += 8
        }
        var t = total(acc)
        while i < n {
            t += Double(x[i])
            i += 1
        }
        return t
    }

    /// sum_i (x[i] - mean)^2
    static func squaredDeviations(_ x: UnsafePointer<Float>, count n: Int, mean: Double) -> Double {
        var acc = SIMD8<Double>()
        let mv = SIMD8<Double>(repeating: mean)
        var i = 0
        while i + 8 <= n {
            let d = SIMD8<Double>(load(x, i)) - mv
            acc += d * d
            i += 8
        }
        var t = total(acc)
        while i < n {
            let d = Double(x[i]) - mean
            t += d * d
            i += 1
        }
        return t
    }

    /// (sum_i dy[i], sum_i dy[i] (x[i] - mean) invStd), after masking dy in place by
    /// (mask[i] > 0) when a mask is given.
    static func backwardSums(
        _ dy: UnsafeMutablePointer<Float>, mask: UnsafePointer<Float>?, x: UnsafePointer<Float>, count n: Int,
        mean: Double, invStd: Double
    ) -> (Double, Double) {
        var a = SIMD8<Double>(), b = SIMD8<Double>()
        let mv = SIMD8<Double>(repeating: mean), iv = SIMD8<Double>(repeating: invStd)
        var i = 0
        while i + 8 <= n {
            var f = load(UnsafePointer(dy), i)
            if let mask {
                // Zero where !(mask > 0), NaN included, as a select rather than a branch.
                f.replace(with: 0, where: .!(load(mask, i) .> 0))
                UnsafeMutableRawPointer(dy + i).storeBytes(of: f, as: SIMD8<Float>.self)
            }
            let d = SIMD8<Double>(f)
            a += d
            b += d * ((SIMD8<Double>(load(x, i)) - mv) * iv)
            i += 8
        }
        var sa = total(a), sb = total(b)
        while i < n {
            if let mask, !(mask[i] > 0) { dy[i] = 0 }
            let d = Double(dy[i])
            sa += d
            sb += d * ((Double(x[i]) - mean) * invStd)
            i += 1
        }
        return (sa, sb)
    }
}
