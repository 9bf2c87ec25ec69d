import BYOLModel
import Foundation

/// Error terms of the optimizer updates and the EMA (float32 arithmetic in every tier), as
/// counts of roundings per element on the magnitudes of each operation's operands, doubled
/// (ErrorTerms.slack). Two effects are not simple counts:
/// - a hyperparameter h close to 1 read as float32 makes 1 - h wrong by u h / (1 - h)
///   relative (kappa below): Adam's 1 - beta2 = 0.001 by 1000 u, the EMA's 1 - tau by 250 u;
/// - LARS's trust ratio eta ||p|| / ||d|| carries the relative errors of two norms, and the
///   bias corrections 1 - beta^t those of a power (t + 2 roundings).
public enum UpdateErrors {
    /// The relative error coefficient of 1 - h computed from h rounded.
    static func kappa(_ h: Double) -> Double { Swift.abs(h) / max(Swift.abs(1 - h), .leastNormalMagnitude) + 1 }

    /// param and the buffers of one update (names as `Optimizer.update` returns them).
    public static func update(
        param p: [Double], grad g: [Double], buffers: [String: [Double]], isMatrix: Bool, step: Int64,
        config c: OptimizerConfig, out: [Double], newBuffers: [String: [Double]]
    ) -> [String: ErrorTerms] {
        let n = p.count
        let k = ErrorTerms.slack
        let zeros = [Double](repeating: 0, count: n)
        // d = g + wd p (without weight decay: g, stored).
        func decayed(_ wd: Double) -> (d: [Double], dd: [Double]) {
            let d = (0..<n).map { g[$0] + wd * p[$0] }
            return (d, (0..<n).map { Swift.abs(g[$0]) + 3 * Swift.abs(wd * p[$0]) + Swift.abs(d[$0]) })
        }
        // buf = m buf0 + d; p' = p - lr buf.
        func momentumStep(_ d: [Double], _ dd: [Double]) -> [String: ErrorTerms] {
            let buf0 = buffers["momentum_buffer"] ?? zeros
            let buf = newBuffers["momentum_buffer"]!
            let dbuf = (0..<n).map { 3 * Swift.abs(c.momentum * buf0[$0]) + dd[$0] + Swift.abs(buf[$0]) }
            let dout = (0..<n).map { Swift.abs(p[$0]) + c.lr * dbuf[$0] + 2 * Swift.abs(c.lr * buf[$0]) + Swift.abs(out[$0]) }
            return ["param": ErrorTerms(a: dout.map { k * $0 }), "momentum_buffer": ErrorTerms(a: dbuf.map { k * $0 })]
        }
        switch c.kind {
        case .sgd:
            let (d, dd) = decayed(c.weightDecay)
            return momentumStep(d, dd)
        case .lars:
            guard isMatrix else { return momentumStep(g, g.map(Swift.abs)) }
            var (d, dd) = decayed(c.weightDecay)
            let pNorm = p.isEmpty ? 0 : p.reduce(0) { $0 + $1 * $1 }.squareRoot()
            let dNorm = d.reduce(0) { $0 + $1 * $1 }.squareRoot()
            if pNorm > 0 && dNorm > 0 {
                let normRel = ErrorTerms.lambda * (Double(n).squareRoot() + 2) / 2 + 2
                let dNormAbs = normRel * dNorm + dd.reduce(0) { $0 + $1 * $1 }.squareRoot()
                let trust = c.larsEta * pNorm / dNorm
                let rhoTrust = normRel + dNormAbs / dNorm + 3
                dd = (0..<n).map { trust * dd[$0] + Swift.abs(trust * d[$0]) * (rhoTrust + 1) }
                d = d.map { $0 * trust }
            }
            return momentumStep(d, dd)
        case .adam:
            let (d, dd) = decayed(c.weightDecay)
            let t = Double(step + 1)
            let (b1, b2) = (c.adamBeta1, c.adamBeta2)
            let m0 = buffers["exp_avg"] ?? zeros, v0 = buffers["exp_avg_sq"] ?? zeros
            let m = newBuffers["exp_avg"]!, v = newBuffers["exp_avg_sq"]!
            let (k1, k2) = (kappa(b1), kappa(b2))
            let bias1 = 1 - pow(b1, t), bias2 = 1 - pow(b2, t)
            let kb1 = (t + 2) * pow(b1, t) / bias1 + 1, kb2 = ((t + 2) * pow(b2, t) / bias2 + 1) / 2 + 1
            let stepSize = c.lr / bias1
            var dm = zeros, dv = zeros, dp = zeros
            for i in 0..<n {
                dm[i] = 2 * Swift.abs(m0[i]) + (1 - b1) * (Swift.abs(d[i]) + Swift.abs(m0[i])) * (k1 + 3) + (1 - b1) * dd[i] + Swift.abs(m[i])
                dv[i] = 2 * Swift.abs(b2 * v0[i]) + (1 - b2) * d[i] * d[i] * (k2 + 3) + (1 - b2) * 2 * Swift.abs(d[i]) * dd[i] + Swift.abs(v[i])
                let root = v[i].squareRoot() / bias2.squareRoot()
                let denom = root + c.adamEps
                let dRoot = v[i] > 0 ? root * (dv[i] / (2 * v[i]) + kb2 + 2) : 0
                let upd = stepSize * m[i] / denom
                let dUpd = stepSize / denom * dm[i] + Swift.abs(upd) * (kb1 + 2 + (dRoot + c.adamEps + denom) / denom + 2)
                dp[i] = Swift.abs(p[i]) + dUpd + Swift.abs(out[i])
            }
            return [
                "param": ErrorTerms(a: dp.map { k * $0 }), "exp_avg": ErrorTerms(a: dm.map { k * $0 }),
                "exp_avg_sq": ErrorTerms(a: dv.map { k * $0 })
            ]
        }
    }

    /// target + (1 - tau) (online - target), or tau target + (1 - tau) online.
    public static func ema(target: [Double], online: [Double], tau: Double, out: [Double]) -> ErrorTerms {
        let kt = kappa(tau)
        return ErrorTerms(
            a: target.indices.map { i in
                ErrorTerms.slack
                    * (Swift.abs(target[i]) + (1 - tau) * Swift.abs(online[i] - target[i]) * (kt + 3)
                        + (1 - tau) * (Swift.abs(online[i]) + Swift.abs(target[i])) * (kt + 2) + Swift.abs(out[i]))
            })
    }
}
