import BYOLModel
import Foundation

/// The optimizers and the EMA on float32 parameters, each tensor handled by one task
/// (norms summed in float64 in index order), so results do not depend on threads.
enum FastOptimizer {
    static func update(specs: [ParamSpec], params: ParamStore, grads: ParamStore, buffers: inout [String: ParamStore],
                       step: Int64, config c: OptimizerConfig, pool: WorkerPool) {
        for b in c.bufferNames where buffers[b] == nil {
            let store = ParamStore(specs: specs)
            store.buffer.pointer.update(repeating: 0, count: store.total)
            buffers[b] = store
        }
        let bufs = buffers
        let t = Double(step + 1)
        let bias1 = 1 - Foundation.pow(c.adamBeta1, t)
        let bias2Sqrt = (1 - Foundation.pow(c.adamBeta2, t)).squareRoot()
        pool.run(chunks: specs.count) { si, _ in
            let s = specs[si]
            let p = params.ptr(s.name), g = grads.ptr(s.name)
            let n = s.count
            let (wd, lr, mom) = (Float(c.weightDecay), Float(c.lr), Float(c.momentum))
            switch c.kind {
            case .sgd:
                let buf = bufs["momentum_buffer"]!.ptr(s.name)
                for i in 0..<n {
                    buf[i] = mom * buf[i] + (g[i] + wd * p[i])
                    p[i] -= lr * buf[i]
                }
            case .lars:
                let buf = bufs["momentum_buffer"]!.ptr(s.name)
                var trust: Float = 1
                let isMatrix = s.shape.count > 1
                if isMatrix {
                    var pn = 0.0, dn = 0.0
                    for i in 0..<n {
                        let d = Double(g[i]) + c.weightDecay * Double(p[i])
                        pn += Double(p[i]) * Double(p[i])
                        dn += d * d
                    }
                    if pn > 0 && dn > 0 { trust = Float(c.larsEta * pn.squareRoot() / dn.squareRoot()) }
                }
                for i in 0..<n {
                    let d = isMatrix ? (g[i] + wd * p[i]) * trust : g[i]
                    buf[i] = mom * buf[i] + d
                    p[i] -= lr * buf[i]
                }
            case .adam:
                let m = bufs["exp_avg"]!.ptr(s.name), v = bufs["exp_avg_sq"]!.ptr(s.name)
                let (b1, b2) = (Float(c.adamBeta1), Float(c.adamBeta2))
                let stepSize = Float(c.lr / bias1), b2s = Float(bias2Sqrt), eps = Float(c.adamEps)
                for i in 0..<n {
                    let d = g[i] + wd * p[i]
                    m[i] += (1 - b1) * (d - m[i])
                    v[i] = v[i] * b2 + (1 - b2) * d * d
                    p[i] -= stepSize * (m[i] / (v[i].squareRoot() / b2s + eps))
                }
            }
        }
    }

    /// target <- target + (1 - tau) (online - target) for the target's learnable arrays.
    static func ema(target: ParamStore, online: ParamStore, tau: Double, pool: WorkerPool) {
        let specs = target.learnableSpecs
        let w = Float(1 - tau)
        pool.run(chunks: specs.count) { si, _ in
            let s = specs[si]
            let t = target.ptr(s.name), o = online.ptr(s.name)
            for i in 0..<s.count { t[i] += w * (o[i] - t[i]) }
        }
    }
}
