/// BatchNorm on CNHW rows: channel c is the row x[c * len ..< (c + 1) * len]; in train
/// mode each of `groups` equal column ranges (one per view under `separate`) is
/// normalized with its own batch statistics. Statistics and gradient sums accumulate in
/// float64, one channel per task, in index order.
enum FastBN {
    static let eps = 1e-5
    static let momentum = 0.1

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

    /// y = gamma (x - mean) / sqrt(var + eps) + beta (+ residual) (then ReLU if `relu`).
    static func forwardTrain(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, channels: Int, len: Int, groups: Int,
                             gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, residual: UnsafePointer<Float>?, relu: Bool,
                             stats: inout Stats, pool: WorkerPool) {
        let m = len / groups
        stats.mean.withUnsafeMutableBufferPointer { meanP in
            stats.invStd.withUnsafeMutableBufferPointer { invP in
                stats.variance.withUnsafeMutableBufferPointer { varP in
                    pool.run(chunks: channels) { c, _ in
                        for g in 0..<groups {
                            let row = x + c * len + g * m
                            var sum = 0.0
                            for i in 0..<m { sum += Double(row[i]) }
                            let mean = sum / Double(m)
                            var sq = 0.0
                            for i in 0..<m {
                                let d = Double(row[i]) - mean
                                sq += d * d
                            }
                            let variance = sq / Double(m)
                            let inv = 1 / (variance + eps).squareRoot()
                            meanP[c * groups + g] = mean
                            invP[c * groups + g] = inv
                            varP[c * groups + g] = variance
                            normalize(row, y + c * len + g * m, count: m, mean: Float(mean), scale: Float(Double(gamma[c]) * inv),
                                      beta: beta[c], residual: residual.map { $0 + c * len + g * m }, relu: relu)
                        }
                    }
                }
            }
        }
    }

    /// Eval mode: the running statistics.
    static func forwardEval(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, channels: Int, len: Int,
                            gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, runningMean: UnsafePointer<Float>,
                            runningVar: UnsafePointer<Float>, residual: UnsafePointer<Float>?, relu: Bool, pool: WorkerPool) {
        pool.run(chunks: channels) { c, _ in
            let inv = 1 / (Double(runningVar[c]) + eps).squareRoot()
            normalize(x + c * len, y + c * len, count: len, mean: runningMean[c], scale: Float(Double(gamma[c]) * inv),
                      beta: beta[c], residual: residual.map { $0 + c * len }, relu: relu)
        }
    }

    @inline(__always)
    static func normalize(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int, mean: Float, scale: Float,
                          beta: Float, residual: UnsafePointer<Float>?, relu: Bool) {
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
    static func updateRunning(mean rm: UnsafeMutablePointer<Float>, variance rv: UnsafeMutablePointer<Float>, count: inout Int64,
                              stats: Stats, channels: Int, groups: Int, samplesPerGroup m: Int) {
        for g in 0..<groups {
            for c in 0..<channels {
                let i = c * groups + g
                rm[c] = Float((1 - momentum) * Double(rm[c]) + momentum * stats.mean[i])
                rv[c] = Float((1 - momentum) * Double(rv[c]) + momentum * stats.variance[i] * Double(m) / Double(m - 1))
            }
            count += 1
        }
    }

    /// Train-mode backward with dy already masked by any fused ReLU:
    /// dx = gamma invStd (dy - mean(dy) - xhat mean(dy xhat)) per group;
    /// dgamma = sum(dy xhat), dbeta = sum(dy) over all groups.
    static func backward(_ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, channels: Int, len: Int,
                         groups: Int, gamma: UnsafePointer<Float>, stats: Stats, dgamma: UnsafeMutablePointer<Float>,
                         dbeta: UnsafeMutablePointer<Float>, pool: WorkerPool) {
        let m = len / groups
        pool.run(chunks: channels) { c, _ in
            var dg = 0.0, db = 0.0
            for g in 0..<groups {
                let i = c * groups + g
                let mean = stats.mean[i], inv = stats.invStd[i]
                let dyr = dy + c * len + g * m, xr = x + c * len + g * m
                var sumDy = 0.0, sumDyXhat = 0.0
                for j in 0..<m {
                    let d = Double(dyr[j])
                    sumDy += d
                    sumDyXhat += d * ((Double(xr[j]) - mean) * inv)
                }
                dg += sumDyXhat
                db += sumDy
                let scale = Float(Double(gamma[c]) * inv)
                let meanDy = Float(sumDy / Double(m)), meanDyXhat = Float(sumDyXhat / Double(m))
                let meanF = Float(mean), invF = Float(inv)
                let out = dx + c * len + g * m
                for j in 0..<m {
                    let xhat = (xr[j] - meanF) * invF
                    out[j] = scale * (dyr[j] - meanDy - xhat * meanDyXhat)
                }
            }
            dgamma[c] = Float(dg)
            dbeta[c] = Float(db)
        }
    }

    /// dy * (out > 0), for a ReLU fused into the forward (out is its output).
    static func reluMask(_ dy: UnsafeMutablePointer<Float>, out: UnsafePointer<Float>, count: Int, pool: WorkerPool) {
        let ranges = WorkerPool.split(count, parts: 16)
        pool.run(chunks: ranges.count) { ci, _ in
            for i in ranges[ci] where !(out[i] > 0) { dy[i] = 0 }
        }
    }
}
