import BYOLModel
import Foundation

/// The optimizers of `byol step` (docs/contract.md §3, point 4), on one parameter tensor
/// at a time, in float64. Each returns the new parameter and its new buffers.
public enum Optimizer {
    /// One update of parameter p with gradient g. `buffers` holds the incoming buffers
    /// (absent = zeros); `isMatrix` is "more than one dimension" (LARS adapts only those);
    /// `step` counts finished steps (Adam's bias correction uses t = step + 1).
    public static func update(
        _ p: [Double], grad g: [Double], buffers: [String: [Double]], isMatrix: Bool,
        step: Int64, config c: OptimizerConfig
    ) -> (p: [Double], buffers: [String: [Double]]) {
        let n = p.count
        let zeros = [Double](repeating: 0, count: n)
        switch c.kind {
        case .sgd:
            // PyTorch SGD (dampening 0, no Nesterov): d = g + wd p; buf = momentum buf + d
            // (the first buffer equals d: an absent buffer is zeros); p -= lr buf.
            let buf0 = buffers["momentum_buffer"] ?? zeros
            var buf = zeros
            var out = p
            for i in 0..<n {
                let d = g[i] + c.weightDecay * p[i]
                buf[i] = c.momentum * buf0[i] + d
                out[i] = p[i] - c.lr * buf[i]
            }
            return (out, ["momentum_buffer": buf])
        case .lars:
            // BYOL's LARS: for matrices and conv kernels, d = g + wd p, then
            // d *= eta ||p|| / ||d|| when both norms are > 0; biases and BN parameters use g
            // unchanged. buf = momentum buf + d; p -= lr buf.
            var d = g
            if isMatrix {
                for i in 0..<n { d[i] = g[i] + c.weightDecay * p[i] }
                let pNorm = norm(p)
                let dNorm = norm(d)
                if pNorm > 0 && dNorm > 0 {
                    let trust = c.larsEta * pNorm / dNorm
                    for i in 0..<n { d[i] *= trust }
                }
            }
            let buf0 = buffers["momentum_buffer"] ?? zeros
            var buf = zeros
            var out = p
            for i in 0..<n {
                buf[i] = c.momentum * buf0[i] + d[i]
                out[i] = p[i] - c.lr * buf[i]
            }
            return (out, ["momentum_buffer": buf])
        case .adam:
            // PyTorch Adam (L2 weight decay, no amsgrad), in its own operation order:
            // d = g + wd p; m = lerp(m, d, 1 - beta1); v = beta2 v + (1 - beta2) d^2;
            // p -= (lr / (1 - beta1^t)) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps).
            let t = Double(step + 1)
            let m0 = buffers["exp_avg"] ?? zeros
            let v0 = buffers["exp_avg_sq"] ?? zeros
            var m = zeros
            var v = zeros
            var out = p
            let bias1 = 1 - pow(c.adamBeta1, t)
            let bias2Sqrt = (1 - pow(c.adamBeta2, t)).squareRoot()
            let stepSize = c.lr / bias1
            for i in 0..<n {
                let d = g[i] + c.weightDecay * p[i]
                m[i] = lerp(m0[i], d, 1 - c.adamBeta1)
                v[i] = v0[i] * c.adamBeta2 + (1 - c.adamBeta2) * d * d
                let denom = v[i].squareRoot() / bias2Sqrt + c.adamEps
                out[i] = p[i] - stepSize * (m[i] / denom)
            }
            return (out, ["exp_avg": m, "exp_avg_sq": v])
        }
    }

    /// sqrt of the sum of squares, summed in index order.
    static func norm(_ x: [Double]) -> Double {
        var s = 0.0
        for v in x { s += v * v }
        return s.squareRoot()
    }

    /// PyTorch's lerp: start + w (end - start) for |w| < 0.5, else end - (end - start)(1 - w).
    static func lerp(_ start: Double, _ end: Double, _ w: Double) -> Double {
        abs(w) < 0.5 ? start + w * (end - start) : end - (end - start) * (1 - w)
    }

    static func pow(_ x: Double, _ y: Double) -> Double { Foundation.pow(x, y) }
}
