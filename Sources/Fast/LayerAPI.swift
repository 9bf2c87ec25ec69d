import BYOLModel

/// Single layers of the float32 path on NCHW / [N, F] arrays, for layer-by-layer
/// cross-validation against the reference. They run the same kernels as the network
/// (CNHW inside, one BN group, fixed sample groups).
public enum FastLayers {
    static func toCNHW(_ x: [Float], n: Int, c: Int, plane: Int) -> [Float] {
        var out = [Float](repeating: 0, count: x.count)
        for i in 0..<n { for ch in 0..<c { for p in 0..<plane { out[(ch * n + i) * plane + p] = x[(i * c + ch) * plane + p] } } }
        return out
    }

    static func toNCHW(_ x: [Float], n: Int, c: Int, plane: Int) -> [Float] {
        var out = [Float](repeating: 0, count: x.count)
        for i in 0..<n { for ch in 0..<c { for p in 0..<plane { out[(i * c + ch) * plane + p] = x[(ch * n + i) * plane + p] } } }
        return out
    }

    /// Conv forward and backward: x [N, C, H, W], w [K, C, R, R], dy [N, K, Ho, Wo].
    public static func conv2d(
        x: [Float], n: Int, c: Int, h: Int, w: Int, weight: [Float], k: Int, r: Int, stride: Int, pad: Int,
        dy: [Float], threads: Int
    ) -> (y: [Float], dx: [Float], dw: [Float]) {
        let s = ConvShape(c: c, k: k, r: r, stride: stride, pad: pad, h: h, w: w)
        let pool = WorkerPool(workers: threads)
        let scratch = ConvScratch(shapes: [s], seg: Segments(images: n), workers: threads, training: true)
        let xc = toCNHW(x, n: n, c: c, plane: h * w), dyc = toCNHW(dy, n: n, c: k, plane: s.ho * s.wo)
        var y = [Float](repeating: 0, count: k * n * s.ho * s.wo), dx = [Float](repeating: 0, count: x.count),
            dw = [Float](repeating: 0, count: weight.count)
        xc.withUnsafeBufferPointer { X in
            weight.withUnsafeBufferPointer { W in
                dyc.withUnsafeBufferPointer { DY in
                    y.withUnsafeMutableBufferPointer { Y in
                        dx.withUnsafeMutableBufferPointer { DX in
                            dw.withUnsafeMutableBufferPointer { DW in
                                FastConv.forward(
                                    X.baseAddress!, W.baseAddress!, Y.baseAddress!, s, seg: Segments(images: n), pool: pool, scratch: scratch)
                                FastConv.backward(
                                    DY.baseAddress!, X.baseAddress!, W.baseAddress!, dx: DX.baseAddress!, dw: [DW.baseAddress!], s,
                                    seg: Segments(images: n), reduction: nil, pool: pool, scratch: scratch)
                            }
                        }
                    }
                }
            }
        }
        return (toNCHW(y, n: n, c: k, plane: s.ho * s.wo), toNCHW(dx, n: n, c: c, plane: h * w), dw)
    }

    /// BatchNorm in train mode, forward and backward, x [N, C, S...] (S = spatial size).
    public static func batchNormTrain(
        x: [Float], n: Int, c: Int, spatial: Int, gamma: [Float], beta: [Float], dy: [Float], threads: Int
    )
        -> (y: [Float], dx: [Float], dgamma: [Float], dbeta: [Float])
    {
        let pool = WorkerPool(workers: threads)
        let xc = toCNHW(x, n: n, c: c, plane: spatial)
        var dyc = toCNHW(dy, n: n, c: c, plane: spatial)  // mutable only because backward may mask it in place
        let (y, stats) = trainForward(xc, n: n, c: c, spatial: spatial, gamma: gamma, beta: beta, pool: pool)
        var dx = [Float](repeating: 0, count: x.count)
        var dg = [Float](repeating: 0, count: c), db = dg
        xc.withUnsafeBufferPointer { X in
            dyc.withUnsafeMutableBufferPointer { DY in
                dx.withUnsafeMutableBufferPointer { DX in
                    gamma.withUnsafeBufferPointer { G in
                        dg.withUnsafeMutableBufferPointer { DG in
                            db.withUnsafeMutableBufferPointer { DB in
                                FastBN.backward(
                                    DY.baseAddress!, reluOut: nil, X.baseAddress!, DX.baseAddress!, channels: c, hw: spatial,
                                    seg: Segments(images: n),
                                    gamma: G.baseAddress!, stats: stats, dgamma: DG.baseAddress!, dbeta: DB.baseAddress!, reduction: nil, pool: pool)
                            }
                        }
                    }
                }
            }
        }
        return (toNCHW(y, n: n, c: c, plane: spatial), toNCHW(dx, n: n, c: c, plane: spatial), dg, db)
    }

    /// Train-mode BatchNorm's forward on xc [C, N * S] (the channel-major layout FastBN
    /// works in): y in the same layout and the batch statistics.
    static func trainForward(
        _ xc: [Float], n: Int, c: Int, spatial: Int, gamma: [Float], beta: [Float], pool: WorkerPool
    ) -> (y: [Float], stats: FastBN.Stats) {
        var y = [Float](repeating: 0, count: xc.count)
        var stats = FastBN.Stats(channels: c, groups: 1)
        xc.withUnsafeBufferPointer { X in
            y.withUnsafeMutableBufferPointer { Y in
                gamma.withUnsafeBufferPointer { G in
                    beta.withUnsafeBufferPointer { B in
                        FastBN.forwardTrain(
                            X.baseAddress!, Y.baseAddress!, channels: c, hw: spatial, seg: Segments(images: n), gamma: G.baseAddress!,
                            beta: B.baseAddress!, residual: nil, relu: false, stats: &stats, reduction: nil, pool: pool)
                    }
                }
            }
        }
        return (y, stats)
    }

    /// The running statistics after one train-mode batch (the same statistics and update
    /// the network's BN runs).
    public static func batchNormRunning(
        x: [Float], n: Int, c: Int, spatial: Int, runningMean: [Float], runningVar: [Float], batches: Int64,
        threads: Int
    ) -> (mean: [Float], variance: [Float], batches: Int64) {
        let pool = WorkerPool(workers: threads)
        let xc = toCNHW(x, n: n, c: c, plane: spatial)
        let ones = [Float](repeating: 1, count: c), zeros = [Float](repeating: 0, count: c)
        let stats = trainForward(xc, n: n, c: c, spatial: spatial, gamma: ones, beta: zeros, pool: pool).stats
        var (rm, rv, count) = (runningMean, runningVar, batches)
        rm.withUnsafeMutableBufferPointer { M in
            rv.withUnsafeMutableBufferPointer { V in
                FastBN.updateRunning(
                    mean: M.baseAddress!, variance: V.baseAddress!, count: &count, stats: stats, channels: c, groups: 1,
                    samplesPerGroup: n * spatial)
            }
        }
        return (rm, rv, count)
    }

    /// BatchNorm in eval mode (forward).
    public static func batchNormEval(
        x: [Float], n: Int, c: Int, spatial: Int, gamma: [Float], beta: [Float], runningMean: [Float],
        runningVar: [Float], threads: Int
    ) -> [Float] {
        let xc = toCNHW(x, n: n, c: c, plane: spatial)
        var y = [Float](repeating: 0, count: x.count)
        xc.withUnsafeBufferPointer { X in
            y.withUnsafeMutableBufferPointer { Y in
                gamma.withUnsafeBufferPointer { G in
                    beta.withUnsafeBufferPointer { B in
                        runningMean.withUnsafeBufferPointer { M in
                            runningVar.withUnsafeBufferPointer { V in
                                FastBN.forwardEval(
                                    X.baseAddress!, Y.baseAddress!, channels: c, len: n * spatial, gamma: G.baseAddress!, beta: B.baseAddress!,
                                    runningMean: M.baseAddress!, runningVar: V.baseAddress!, residual: nil, relu: false,
                                    pool: WorkerPool(workers: threads))
                            }
                        }
                    }
                }
            }
        }
        return toNCHW(y, n: n, c: c, plane: spatial)
    }

    /// Linear forward and backward: x [N, I], w [O, I], b [O], dy [N, O].
    public static func linear(
        x: [Float], n: Int, inF: Int, weight: [Float], bias: [Float], outF: Int, dy: [Float], threads: Int
    )
        -> (y: [Float], dx: [Float], dw: [Float], db: [Float])
    {
        let pool = WorkerPool(workers: threads)
        let xf = toCNHW(x, n: n, c: inF, plane: 1), dyf = toCNHW(dy, n: n, c: outF, plane: 1)
        var y = [Float](repeating: 0, count: n * outF), dx = [Float](repeating: 0, count: x.count)
        var dw = [Float](repeating: 0, count: weight.count), db = [Float](repeating: 0, count: outF)
        xf.withUnsafeBufferPointer { X in
            weight.withUnsafeBufferPointer { W in
                bias.withUnsafeBufferPointer { B in
                    dyf.withUnsafeBufferPointer { DY in
                        y.withUnsafeMutableBufferPointer { Y in
                            dx.withUnsafeMutableBufferPointer { DX in
                                dw.withUnsafeMutableBufferPointer { DW in
                                    db.withUnsafeMutableBufferPointer { DB in
                                        FastLinear.forward(
                                            X.baseAddress!, W.baseAddress!, B.baseAddress!, Y.baseAddress!, inF: inF, outF: outF,
                                            seg: Segments(images: n), pool: pool)
                                        FastLinear.backward(
                                            DY.baseAddress!, X.baseAddress!, W.baseAddress!, dx: DX.baseAddress!, dw: [DW.baseAddress!],
                                            db: DB.baseAddress!, inF: inF, outF: outF, seg: Segments(images: n), reduction: nil, partial: nil,
                                            pool: pool)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return (toNCHW(y, n: n, c: outF, plane: 1), toNCHW(dx, n: n, c: inF, plane: 1), dw, db)
    }

    /// ReLU forward and backward on any shape.
    public static func relu(x: [Float], dy: [Float]) -> (y: [Float], dx: [Float]) {
        var y = [Float](repeating: 0, count: x.count), dx = y
        x.withUnsafeBufferPointer { X in
            dy.withUnsafeBufferPointer { DY in
                y.withUnsafeMutableBufferPointer { Y in
                    dx.withUnsafeMutableBufferPointer { DX in
                        FastReLU.forward(X.baseAddress!, Y.baseAddress!, count: x.count)
                        FastReLU.backward(DY.baseAddress!, x: X.baseAddress!, DX.baseAddress!, count: x.count)
                    }
                }
            }
        }
        return (y, dx)
    }

    /// Global average pooling forward and backward: x [N, C, H, W] -> y [N, C]; dy [N, C].
    /// NCHW and CNHW rows are both (sample, channel) planes of H * W values here.
    public static func avgPool(x: [Float], rows: Int, hw: Int, dy: [Float]) -> (y: [Float], dx: [Float]) {
        var y = [Float](repeating: 0, count: rows), dx = [Float](repeating: 0, count: x.count)
        x.withUnsafeBufferPointer { X in
            dy.withUnsafeBufferPointer { DY in
                y.withUnsafeMutableBufferPointer { Y in
                    dx.withUnsafeMutableBufferPointer { DX in
                        FastPool.forward(X.baseAddress!, Y.baseAddress!, rows: rows, hw: hw)
                        FastPool.backward(DY.baseAddress!, DX.baseAddress!, rows: rows, hw: hw)
                    }
                }
            }
        }
        return (y, dx)
    }

    /// The loss of one pair of batches, p, z [N, D]: mean_i l(p_i, z_i) and d/dp.
    public static func loss(p: [Float], z: [Float], n: Int, d: Int) -> (loss: Double, dp: [Float]) {
        // FastLoss pairs column i with column i +- n of a [D, 2n] matrix: put p in the
        // first half of P and z in the second half of Z; the first half's term is ours.
        var pp = [Float](repeating: 0, count: 2 * n * d), zz = pp
        for i in 0..<n {
            for j in 0..<d {
                pp[j * 2 * n + i] = p[i * d + j]
                pp[j * 2 * n + n + i] = p[i * d + j]
                zz[j * 2 * n + n + i] = z[i * d + j]
                zz[j * 2 * n + i] = z[i * d + j]
            }
        }
        var dp = [Float](repeating: 0, count: 2 * n * d)
        let total = pp.withUnsafeBufferPointer { P in
            zz.withUnsafeBufferPointer { Z in
                dp.withUnsafeMutableBufferPointer { DP in
                    FastLoss.forwardBackward(
                        p: P.baseAddress!, z: Z.baseAddress!, dp: DP.baseAddress!, d: d, seg: Segments(images: 2 * n), batch: n,
                        reduction: nil)
                }
            }
        }
        var out = [Float](repeating: 0, count: n * d)
        for i in 0..<n { for j in 0..<d { out[i * d + j] = dp[j * 2 * n + i] } }
        return (total / 2, out)
    }

    /// One tensor through the step's optimizer code (FastOptimizer), as the network's
    /// parameters go through it: a one-tensor store, the same blocks and norms.
    public static func optimizerUpdate(
        param: [Float], grad: [Float], buffers: [String: [Float]], shape: [Int], step: Int64,
        config: OptimizerConfig, threads: Int
    ) -> (param: [Float], buffers: [String: [Float]]) {
        let specs = [ParamSpec(name: "p", shape: shape, kind: shape.count > 1 ? .linearWeight : .linearBias, fanIn: 0)]
        func store(_ values: [Float]) -> ParamStore {
            let s = ParamStore(specs: specs)
            s.ptr("p").update(from: values, count: values.count)
            return s
        }
        let params = store(param), grads = store(grad)
        var stores = buffers.mapValues { store($0) }
        FastOptimizer.update(
            specs: specs, params: params, grads: grads, buffers: &stores, step: step, config: config,
            pool: WorkerPool(workers: threads))
        func read(_ s: ParamStore) -> [Float] { Array(UnsafeBufferPointer(start: s.ptr("p"), count: param.count)) }
        return (read(params), stores.mapValues(read))
    }

    /// One tensor through the step's EMA code.
    public static func ema(target: [Float], online: [Float], shape: [Int], tau: Double, threads: Int) -> [Float] {
        let specs = [ParamSpec(name: "p", shape: shape, kind: .linearWeight, fanIn: 0)]
        let t = ParamStore(specs: specs), o = ParamStore(specs: specs)
        t.ptr("p").update(from: target, count: target.count)
        o.ptr("p").update(from: online, count: online.count)
        FastOptimizer.ema(target: t, online: o, tau: tau, pool: WorkerPool(workers: threads))
        return Array(UnsafeBufferPointer(start: t.ptr("p"), count: target.count))
    }
}
