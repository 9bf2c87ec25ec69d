import BYOLModel
import Foundation

/// The optimizers and the EMA on float32 parameters. Work is split into fixed blocks of
/// at most `blockSize` elements of one tensor (a task each, whatever the thread count);
/// LARS's norms are summed in float64, in index order within a block and then block by
/// block, so results do not depend on threads.
enum FastOptimizer {
    static let blockSize = 1 << 16

    /// (tensor index, element range) for every block of every tensor, in order.
    static func blocks(_ specs: [ParamSpec]) -> [(spec: Int, range: Range<Int>)] {
        specs.enumerated().flatMap { si, s in
            WorkerPool.split(s.count, parts: (s.count + blockSize - 1) / blockSize).map { (si, $0) }
        }
    }

    static func update(
        specs: [ParamSpec], params: ParamStore, grads: ParamStore, buffers: inout [String: ParamStore],
        step: Int64, config c: OptimizerConfig, pool: WorkerPool
    ) {
        for b in c.bufferNames where buffers[b] == nil {
            let store = ParamStore(specs: specs)
            store.buffer.pointer.update(repeating: 0, count: store.total)
            buffers[b] = store
        }
        let bufs = buffers
        let t = Double(step + 1)
        let bias1 = 1 - Foundation.pow(c.adamBeta1, t)
        let bias2Sqrt = (1 - Foundation.pow(c.adamBeta2, t)).squareRoot()
        let work = blocks(specs)
        // LARS: per block, sum p^2 and d^2 (d = g + wd p) of matrix tensors; the trust
        // ratio of a tensor then sums its blocks in order.
        var norms = [Double](repeating: 0, count: 2 * work.count)
        if c.kind == .lars {
            norms.withUnsafeMutableBufferPointer { nb in
                pool.run(chunks: work.count) { bi, _ in
                    let (si, r) = work[bi]
                    guard specs[si].shape.count > 1 else { return }
                    let p = params.ptr(specs[si].name), g = grads.ptr(specs[si].name)
                    var pn = 0.0, dn = 0.0
                    for i in r {
                        let d = Double(g[i]) + c.weightDecay * Double(p[i])
                        pn += Double(p[i]) * Double(p[i])
                        dn += d * d
                    }
                    (nb[2 * bi], nb[2 * bi + 1]) = (pn, dn)
                }
            }
        }
        // The first block of each tensor, for the norm sums.
        var firstBlock = [Int](repeating: 0, count: specs.count)
        for bi in work.indices.reversed() { firstBlock[work[bi].spec] = bi }
        norms.withUnsafeBufferPointer { nb in
            pool.run(chunks: work.count) { bi, _ in
                let (si, r) = work[bi]
                let s = specs[si]
                let p = params.ptr(s.name), g = grads.ptr(s.name)
                let (wd, lr, mom) = (Float(c.weightDecay), Float(c.lr), Float(c.momentum))
                switch c.kind {
                case .sgd:
                    let buf = bufs["momentum_buffer"]!.ptr(s.name)
                    for i in r {
                        buf[i] = mom * buf[i] + (g[i] + wd * p[i])
                        p[i] -= lr * buf[i]
                    }
                case .lars:
                    let buf = bufs["momentum_buffer"]!.ptr(s.name)
                    var trust: Float = 1
                    let isMatrix = s.shape.count > 1
                    if isMatrix {
                        var pn = 0.0, dn = 0.0
                        var b = firstBlock[si]
                        while b < work.count && work[b].spec == si {
                            pn += nb[2 * b]
                            dn += nb[2 * b + 1]
                            b += 1
                        }
                        if pn > 0 && dn > 0 { trust = Float(c.larsEta * pn.squareRoot() / dn.squareRoot()) }
                    }
                    for i in r {
                        let d = isMatrix ? (g[i] + wd * p[i]) * trust : g[i]
                        buf[i] = mom * buf[i] + d
                        p[i] -= lr * buf[i]
                    }
                case .adam:
                    let m = bufs["exp_avg"]!.ptr(s.name), v = bufs["exp_avg_sq"]!.ptr(s.name)
                    let (b1, b2) = (Float(c.adamBeta1), Float(c.adamBeta2))
                    let stepSize = Float(c.lr / bias1), b2s = Float(bias2Sqrt), eps = Float(c.adamEps)
                    for i in r {
                        let d = g[i] + wd * p[i]
                        m[i] += (1 - b1) * (d - m[i])
                        v[i] = v[i] * b2 + (1 - b2) * d * d
                        p[i] -= stepSize * (m[i] / (v[i].squareRoot() / b2s + eps))
                    }
                }
            }
        }
    }

    /// target <- target + (1 - tau) (online - target) for the target's learnable arrays.
    static func ema(target: ParamStore, online: ParamStore, tau: Double, pool: WorkerPool) {
        let specs = target.learnableSpecs
        let work = blocks(specs)
        let w = Float(1 - tau)
        pool.run(chunks: work.count) { bi, _ in
            let (si, r) = work[bi]
            let t = target.ptr(specs[si].name), o = online.ptr(specs[si].name)
            for i in r { t[i] += w * (o[i] - t[i]) }
        }
    }
}
