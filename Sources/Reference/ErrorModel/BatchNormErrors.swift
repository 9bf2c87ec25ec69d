/// Error terms of BatchNorm (float32 arithmetic in every tier). Per channel, over its
/// M = N * S values, with coefficients of the unit roundoff u:
/// - the batch mean: d_mean = lambda (sqrt(M) + 2) mean |x|;
/// - the biased variance, by two passes or one (E[x^2] - mean^2):
///   d_var = lambda (sqrt(M) + 3) E[x^2] + 2 |mean| d_mean;
/// - 1 / sqrt(var + eps), relative: rho = d_var / (2 (var + eps)) + 3;
/// - xhat_i = (x_i - mean) inv: d_xhat_i = inv (d_mean + |x_i - mean| rho + |x_i| + |mean|) + |xhat_i|;
/// then each output's own operations on top (docs/contract.md §4 lists them).
public enum BatchNormErrors {
    /// One channel's statistics and their errors.
    struct Channel {
        var m: Int, mean: Double, variance: Double, inv: Double, dMean: Double, dVar: Double, rho: Double
        init(_ values: [Double]) {
            m = values.count
            let md = Double(m)
            let mu = values.reduce(0, +) / md
            let v = values.reduce(0) { $0 + ($1 - mu) * ($1 - mu) } / md
            let dm = ErrorTerms.sum(m, values.reduce(0) { $0 + Swift.abs($1) } / md)
            let dv = ErrorTerms.lambda * (md.squareRoot() + 3) * values.reduce(0) { $0 + $1 * $1 } / md + 2 * Swift.abs(mu) * dm
            (mean, variance, dMean, dVar) = (mu, v, dm, dv)
            inv = 1 / (v + BatchNorm.eps).squareRoot()
            rho = dv / (2 * (v + BatchNorm.eps)) + 3
        }
        func xhat(_ x: Double) -> Double { (x - mean) * inv }
        func dXhat(_ x: Double) -> Double {
            inv * (dMean + Swift.abs(x - mean) * rho + Swift.abs(x) + Swift.abs(mean)) + Swift.abs(xhat(x))
        }
    }

    /// (N, C, S) of x [N, C] or [N, C, H, W], and channel c's values.
    static func channels(_ x: Tensor) -> [[Double]] {
        let (n, c, s) = (x.shape[0], x.shape[1], x.shape.dropFirst(2).reduce(1, *))
        return (0..<c).map { ci in (0..<n).flatMap { ni in (0..<s).map { x.data[(ni * c + ci) * s + $0] } } }
    }

    /// Writes a channel's values (in `channels` order) back into an array shaped like x.
    static func scatter(_ perChannel: [[Double]], like x: Tensor) -> [Double] {
        let (n, c, s) = (x.shape[0], x.shape[1], x.shape.dropFirst(2).reduce(1, *))
        var out = [Double](repeating: 0, count: x.count)
        for ci in 0..<c { for ni in 0..<n { for si in 0..<s { out[(ni * c + ci) * s + si] = perChannel[ci][ni * s + si] } } }
        return out
    }

    /// Train mode, forward: y for x, gamma, beta.
    public static func trainForward(x: Tensor, gamma: [Double], beta: [Double]) -> ErrorTerms {
        let k = ErrorTerms.slack
        let ey: [[Double]] = channels(x).enumerated().map { ci, xs in
            let ch = Channel(xs)
            let (g, b) = (gamma[ci], beta[ci])
            return xs.map { xi in
                Swift.abs(g) * ch.inv * (ch.dMean + Swift.abs(xi - ch.mean) * ch.rho + Swift.abs(xi) + Swift.abs(ch.mean))
                    + k * 2 * (Swift.abs(g * ch.xhat(xi)) + Swift.abs(b))
            }
        }
        return ErrorTerms(a: scatter(ey, like: x))
    }

    /// Train mode, backward: dx, dweight, dbias for x, gamma, dy and the reference's dx.
    public static func trainBackward(x: Tensor, gamma: [Double], dy: Tensor, dx: Tensor) -> (dx: ErrorTerms, dweight: ErrorTerms, dbias: ErrorTerms) {
        let xs = channels(x), dys = channels(dy), dxs = channels(dx)
        var edx: [[Double]] = [], dg: [Double] = [], dbeta: [Double] = []
        let k = ErrorTerms.slack
        for ci in xs.indices {
            let ch = Channel(xs[ci])
            let (g, md) = (gamma[ci], Double(ch.m))
            let dXhat = xs[ci].map(ch.dXhat)
            // dbias = sum dy; dweight = sum dy xhat, with xhat's own errors.
            let absDy = dys[ci].map(Swift.abs)
            let sumAbsDy = absDy.reduce(0, +)
            var sumAbsDyXhat = 0.0, sumAbsDyDXhat = 0.0, a2 = 0.0
            for i in xs[ci].indices {
                sumAbsDyXhat += absDy[i] * Swift.abs(ch.xhat(xs[ci][i]))
                sumAbsDyDXhat += absDy[i] * dXhat[i]
                a2 += dys[ci][i] * ch.xhat(xs[ci][i])
            }
            dbeta.append(ErrorTerms.sum(ch.m, sumAbsDy))
            dg.append(ErrorTerms.sum(ch.m, sumAbsDyXhat) + sumAbsDyDXhat)
            // dx_i = inv (g dy_i - g mean(dy) - xhat_i g mean(dy xhat)).
            let a1 = dys[ci].reduce(0, +) / md
            a2 /= md
            let dA1 = ErrorTerms.sum(ch.m, sumAbsDy / md)
            let dA2 = ErrorTerms.sum(ch.m, sumAbsDyXhat / md) + sumAbsDyDXhat / md
            edx.append(
                xs[ci].indices.map { i in
                    let xh = ch.xhat(xs[ci][i])
                    return Swift.abs(g) * ch.inv
                        * (dA1 + Swift.abs(xh) * dA2 + dXhat[i] * Swift.abs(a2)
                            + k * 3 * (Swift.abs(dys[ci][i]) + Swift.abs(a1) + Swift.abs(xh * a2)))
                        + Swift.abs(dxs[ci][i]) * (ch.rho + k * 2)
                })
        }
        return (ErrorTerms(a: scatter(edx, like: x)), ErrorTerms(a: dg), ErrorTerms(a: dbeta))
    }

    /// Eval mode: y = gamma (x - running_mean) / sqrt(running_var + eps) + beta, computed
    /// directly or as x scale + shift.
    public static func eval(x: Tensor, gamma: [Double], beta: [Double], runningMean: [Double], runningVar: [Double], y: Tensor) -> ErrorTerms {
        let (n, c, s) = (x.shape[0], x.shape[1], x.shape.dropFirst(2).reduce(1, *))
        var a = [Double](repeating: 0, count: x.count)
        let k = ErrorTerms.slack
        for ni in 0..<n {
            for ci in 0..<c {
                let inv = 1 / (runningVar[ci] + BatchNorm.eps).squareRoot()
                for si in 0..<s {
                    let i = (ni * c + ci) * s + si
                    a[i] =
                        k
                        * (3 * Swift.abs(gamma[ci]) * inv * (Swift.abs(x.data[i]) + Swift.abs(runningMean[ci])) + 2 * Swift.abs(beta[ci])
                            + Swift.abs(y.data[i]))
                }
            }
        }
        return ErrorTerms(a: a)
    }

    /// The running statistics' update from a batch x: running_mean, running_var.
    public static func running(
        x: Tensor, runningMean: [Double], runningVar: [Double], momentum: Double, next: BatchNorm.Running
    )
        -> (mean: ErrorTerms, variance: ErrorTerms)
    {
        let k = ErrorTerms.slack
        var em: [Double] = [], ev: [Double] = []
        for (ci, values) in channels(x).enumerated() {
            let ch = Channel(values)
            let keep = 1 - momentum, unbias = Double(ch.m) / Double(ch.m - 1)
            em.append(
                k * (3 * Swift.abs(keep * runningMean[ci]) + momentum * 3 * Swift.abs(ch.mean) + Swift.abs(next.mean[ci]))
                    + momentum * ch.dMean)
            ev.append(
                k * (3 * Swift.abs(keep * runningVar[ci]) + momentum * unbias * 4 * ch.variance + Swift.abs(next.variance[ci]))
                    + momentum * unbias * ch.dVar)
        }
        return (ErrorTerms(a: em), ErrorTerms(a: ev))
    }
}
