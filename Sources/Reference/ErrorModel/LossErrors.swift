/// Error terms of BYOL's normalized MSE (float32 arithmetic in every tier). Per row, with
/// D = the row length, r = ||p||, u = p / r, zn = z / ||z||: a norm's relative error is
/// nu = lambda (sqrt(D) + 2) / 2 + 2 (the sum of squares, the square root, the division).
/// The loss is bounded for both ways of computing l: 2 - 2 cos(p, z) (the dot product and
/// the two norms) and sum (u - zn)^2 (normalize, subtract, square, sum): the bound is their
/// sum, so either passes.
public enum LossErrors {
    /// loss (0-d) and dp of mean_i l(p_i, z_i) for p, z [N, D].
    public static func loss(p: Tensor, z: Tensor, dp: Tensor) -> (loss: ErrorTerms, dp: ErrorTerms) {
        let (n, d) = (p.shape[0], p.shape[1])
        let nu = ErrorTerms.lambda * (Double(d).squareRoot() + 2) / 2 + 2
        let k = ErrorTerms.slack
        var sumL = 0.0, sumDL = 0.0
        var edp = [Double](repeating: 0, count: p.count)
        for row in 0..<n {
            let pr = Array(p.data[row * d..<(row + 1) * d]), zr = Array(z.data[row * d..<(row + 1) * d])
            let rp = max(pr.reduce(0) { $0 + $1 * $1 }.squareRoot(), NormalizedMSE.normEps)
            let rz = max(zr.reduce(0) { $0 + $1 * $1 }.squareRoot(), NormalizedMSE.normEps)
            let u = pr.map { $0 / rp }, zn = zr.map { $0 / rz }
            let du = u.map { Swift.abs($0) * nu }, dzn = zn.map { Swift.abs($0) * nu }
            // l = 2 - 2 cos: d cos = (sum |p z| lambda (sqrt(D) + 2) + |p . z| 2 nu) / (|p| |z|).
            var dot = 0.0, absDot = 0.0, l = 0.0, dlB = 0.0
            for j in 0..<d {
                dot += pr[j] * zr[j]
                absDot += Swift.abs(pr[j] * zr[j])
                let diff = u[j] - zn[j]
                l += diff * diff
                dlB += 2 * Swift.abs(diff) * (du[j] + dzn[j] + Swift.abs(diff))
            }
            dlB += ErrorTerms.sum(d, l)
            let dCos = (ErrorTerms.sum(d, absDot) + Swift.abs(dot) * 2 * nu) / (rp * rz)
            sumL += l
            sumDL += k * (2 * dCos + dlB)
            // dp = (g - u (u . g)) / r with g = 2 (u - zn) / N, or (2 / (N r)) (cos u - zn).
            let g = (0..<d).map { 2 * (u[$0] - zn[$0]) / Double(n) }
            let dg = (0..<d).map { 2 * (du[$0] + dzn[$0] + k * Swift.abs(u[$0] - zn[$0])) / Double(n) }
            var ug = 0.0, dug = 0.0
            for j in 0..<d {
                ug += u[j] * g[j]
                dug += Swift.abs(g[j]) * du[j] + Swift.abs(u[j]) * dg[j]
                dug += ErrorTerms.lambda * (Double(d).squareRoot() + 2) * Swift.abs(u[j] * g[j])
            }
            let cos = dot / (rp * rz)
            let scale = 2 / (Double(n) * rp)
            for j in 0..<d {
                let first = (dg[j] + Swift.abs(u[j]) * dug + Swift.abs(ug) * du[j] + k * 2 * (Swift.abs(g[j]) + Swift.abs(u[j] * ug))) / rp
                let second = scale * (dCos * Swift.abs(u[j]) + Swift.abs(cos) * du[j] + dzn[j] + k * 2 * (Swift.abs(cos * u[j]) + Swift.abs(zn[j])))
                edp[row * d + j] = first + second + Swift.abs(dp.data[row * d + j]) * (nu + k)
            }
        }
        let loss = sumL / Double(n)
        let eLoss = sumDL / Double(n) + ErrorTerms.sum(n, loss) + k * loss
        return (ErrorTerms(a: [eLoss]), ErrorTerms(a: edp))
    }
}
