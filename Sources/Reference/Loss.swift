/// BYOL's normalized mean squared error (docs/contract.md §3, `byol step` point 2).
///
/// normalize(x) = x / max(||x||_2, 1e-12) per row; l(p, z) = ||normalize(p) - normalize(z)||^2
/// (= 2 - 2 cos(p, z)); the loss of one pair of batches is the batch mean of l.
/// z is a constant (stop-gradient): only dL/dp is returned.
public enum NormalizedMSE {
    public static let normEps = 1e-12

    /// p, z [N, D] -> mean over rows of l(p_i, z_i).
    public static func forward(_ p: Tensor, _ z: Tensor) -> Double {
        precondition(p.shape == z.shape, "loss inputs differ in shape: \(p.shape) vs \(z.shape)")
        let (n, d) = (p.shape[0], p.shape[1])
        var total = 0.0
        for ni in 0..<n {
            let pn = normalized(p, row: ni)
            let zn = normalized(z, row: ni)
            var l = 0.0
            for j in 0..<d {
                let diff = pn[j] - zn[j]
                l += diff * diff
            }
            total += l
        }
        return total / Double(n)
    }

    /// dL/dp [N, D] for L = forward(p, z), scaled by `upstream`.
    /// With u = normalize(p), r = ||p||, g = dL/du = 2 (u - normalize(z)) / N:
    /// dL/dp = (g - u (u . g)) / r when r > 1e-12, else g / 1e-12 (the clamp is constant).
    public static func backward(_ p: Tensor, _ z: Tensor, upstream: Double = 1) -> Tensor {
        let (n, d) = (p.shape[0], p.shape[1])
        var dp = Tensor(zeros: p.shape)
        for ni in 0..<n {
            let r = norm(p, row: ni)
            let u = normalized(p, row: ni)
            let zn = normalized(z, row: ni)
            var g = [Double](repeating: 0, count: d)
            for j in 0..<d { g[j] = upstream * 2 * (u[j] - zn[j]) / Double(n) }
            if r > normEps {
                var ug = 0.0
                for j in 0..<d { ug += u[j] * g[j] }
                for j in 0..<d { dp.data[ni * d + j] = (g[j] - u[j] * ug) / r }
            } else {
                for j in 0..<d { dp.data[ni * d + j] = g[j] / normEps }
            }
        }
        return dp
    }

    static func norm(_ x: Tensor, row: Int) -> Double {
        let d = x.shape[1]
        var sq = 0.0
        for j in 0..<d { sq += x.data[row * d + j] * x.data[row * d + j] }
        return sq.squareRoot()
    }

    static func normalized(_ x: Tensor, row: Int) -> [Double] {
        let d = x.shape[1]
        let r = max(norm(x, row: row), normEps)
        return (0..<d).map { x.data[row * d + $0] / r }
    }
}
