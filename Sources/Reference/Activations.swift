/// ReLU: y = max(x, 0), NaN kept as NaN (PyTorch's `relu` propagates it, so a broken
/// input shows up downstream instead of being silenced). The derivative at exactly 0 is
/// taken as 0, as PyTorch does.
public enum ReLU {
    public static func forward(_ x: Tensor) -> Tensor {
        RoundingNoise.kinks(x.data)
        return Tensor(shape: x.shape, data: x.data.map { $0 > 0 || $0.isNaN ? $0 : 0 })
    }

    /// dx = dy where x > 0, else 0.
    public static func backward(_ dy: Tensor, x: Tensor) -> Tensor {
        var dx = dy
        for i in 0..<dx.data.count where !(x.data[i] > 0) { dx.data[i] = 0 }
        return dx
    }
}

/// Global average pooling: x [N, C, H, W] -> y [N, C], the mean over H * W positions
/// (summed in row-major order, then divided).
public enum GlobalAvgPool {
    public static func forward(_ x: Tensor) -> Tensor {
        let (n, c, s) = (x.shape[0], x.shape[1], x.shape[2] * x.shape[3])
        var y = Tensor(zeros: [n, c])
        for i in 0..<n * c {
            var sum = 0.0
            for si in 0..<s { sum += x.data[i * s + si] }
            y.data[i] = sum / Double(s)
        }
        return y
    }

    /// dx[n, c, h, w] = dy[n, c] / (H * W).
    public static func backward(_ dy: Tensor, inputShape: [Int]) -> Tensor {
        let s = inputShape[2] * inputShape[3]
        var dx = Tensor(zeros: inputShape)
        for i in 0..<dy.count {
            let g = dy.data[i] / Double(s)
            for si in 0..<s { dx.data[i * s + si] = g }
        }
        return dx
    }
}
