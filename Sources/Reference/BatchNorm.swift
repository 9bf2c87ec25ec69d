import BYOLModel

/// Batch normalization over channel axis 1 (PyTorch `BatchNorm1d` on [N, C] and
/// `BatchNorm2d` on [N, C, H, W]); statistics over the M = N * H * W values of a channel.
///
/// Train: y = gamma * (x - mean) / sqrt(var + eps) + beta with the batch mean and the
/// biased batch variance (two passes: mean first, then the mean of squared deviations);
/// running_mean <- (1 - momentum) * running_mean + momentum * mean,
/// running_var  <- (1 - momentum) * running_var  + momentum * var * M / (M - 1),
/// num_batches_tracked += 1.  Eval: the running statistics instead of the batch's.
public enum BatchNorm {
    public static let eps = BNConstants.eps
    public static let momentum = BNConstants.momentum

    /// A layer's buffers: running_mean [C], running_var [C], num_batches_tracked.
    public struct Running: Equatable, Sendable {
        public var mean: [Double]
        public var variance: [Double]
        public var batches: Int64
        public init(mean: [Double], variance: [Double], batches: Int64) {
            self.mean = mean
            self.variance = variance
            self.batches = batches
        }
    }

    /// What the train-mode backward needs: xhat (shape of x) and 1/sqrt(var + eps) [C].
    public struct Cache {
        public var xhat: Tensor
        public var invStd: [Double]
        public var gamma: [Double]
    }

    /// (N, C, S): batch, channels, spatial positions per channel and sample.
    static func dims(_ x: Tensor) -> (Int, Int, Int) {
        (x.shape[0], x.shape[1], x.shape.dropFirst(2).reduce(1, *))
    }

    public static func forwardTrain(_ x: Tensor, gamma: [Double], beta: [Double], running: Running) -> (y: Tensor, cache: Cache, running: Running) {
        let (n, c, s) = dims(x)
        let m = n * s
        precondition(m > 1, "BatchNorm in train mode needs more than 1 value per channel, got input \(x.shape)")
        var xhat = Tensor(zeros: x.shape)
        var y = Tensor(zeros: x.shape)
        var invStd = [Double](repeating: 0, count: c)
        var next = running
        for ci in 0..<c {
            var sum = 0.0
            for ni in 0..<n { for si in 0..<s { sum += x.data[(ni * c + ci) * s + si] } }
            let mean = sum / Double(m)
            var sq = 0.0
            for ni in 0..<n {
                for si in 0..<s {
                    let d = x.data[(ni * c + ci) * s + si] - mean
                    sq += d * d
                }
            }
            let variance = sq / Double(m)
            let inv = 1.0 / (variance + eps).squareRoot()
            invStd[ci] = inv
            for ni in 0..<n {
                for si in 0..<s {
                    let i = (ni * c + ci) * s + si
                    xhat.data[i] = (x.data[i] - mean) * inv
                    y.data[i] = gamma[ci] * xhat.data[i] + beta[ci]
                }
            }
            next.mean[ci] = (1 - momentum) * running.mean[ci] + momentum * mean
            next.variance[ci] = (1 - momentum) * running.variance[ci] + momentum * variance * Double(m) / Double(m - 1)
        }
        next.batches += 1
        return (y, Cache(xhat: xhat, invStd: invStd, gamma: gamma), next)
    }

    public static func forwardEval(_ x: Tensor, gamma: [Double], beta: [Double], running: Running) -> Tensor {
        let (n, c, s) = dims(x)
        var y = Tensor(zeros: x.shape)
        for ci in 0..<c {
            let inv = 1.0 / (running.variance[ci] + eps).squareRoot()
            for ni in 0..<n {
                for si in 0..<s {
                    let i = (ni * c + ci) * s + si
                    y.data[i] = gamma[ci] * ((x.data[i] - running.mean[ci]) * inv) + beta[ci]
                }
            }
        }
        return y
    }

    /// Train-mode backward. With g = dy * gamma and means over the M values of a channel:
    /// dx = invStd * (g - mean(g) - xhat * mean(g * xhat)), dgamma = sum(dy * xhat),
    /// dbeta = sum(dy).
    public static func backward(_ dy: Tensor, cache: Cache) -> (dx: Tensor, dgamma: [Double], dbeta: [Double]) {
        let (n, c, s) = dims(dy)
        let m = Double(n * s)
        var dx = Tensor(zeros: dy.shape)
        var dgamma = [Double](repeating: 0, count: c)
        var dbeta = [Double](repeating: 0, count: c)
        for ci in 0..<c {
            var sumDy = 0.0
            var sumDyXhat = 0.0
            for ni in 0..<n {
                for si in 0..<s {
                    let i = (ni * c + ci) * s + si
                    sumDy += dy.data[i]
                    sumDyXhat += dy.data[i] * cache.xhat.data[i]
                }
            }
            dgamma[ci] = sumDyXhat
            dbeta[ci] = sumDy
            let g = cache.gamma[ci]
            let meanG = g * sumDy / m
            let meanGXhat = g * sumDyXhat / m
            for ni in 0..<n {
                for si in 0..<s {
                    let i = (ni * c + ci) * s + si
                    dx.data[i] = cache.invStd[ci] * (g * dy.data[i] - meanG - cache.xhat.data[i] * meanGXhat)
                }
            }
        }
        return (dx, dgamma, dbeta)
    }

    /// Eval-mode backward (an affine map per channel): dx = dy * gamma / sqrt(rv + eps),
    /// dgamma = sum(dy * (x - rm) / sqrt(rv + eps)), dbeta = sum(dy).
    public static func backwardEval(_ dy: Tensor, x: Tensor, gamma: [Double], running: Running) -> (dx: Tensor, dgamma: [Double], dbeta: [Double]) {
        let (n, c, s) = dims(dy)
        var dx = Tensor(zeros: dy.shape)
        var dgamma = [Double](repeating: 0, count: c)
        var dbeta = [Double](repeating: 0, count: c)
        for ci in 0..<c {
            let inv = 1.0 / (running.variance[ci] + eps).squareRoot()
            for ni in 0..<n {
                for si in 0..<s {
                    let i = (ni * c + ci) * s + si
                    dx.data[i] = dy.data[i] * gamma[ci] * inv
                    dgamma[ci] += dy.data[i] * ((x.data[i] - running.mean[ci]) * inv)
                    dbeta[ci] += dy.data[i]
                }
            }
        }
        return (dx, dgamma, dbeta)
    }
}
