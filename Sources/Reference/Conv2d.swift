/// 2-D convolution without bias (PyTorch `nn.Conv2d(bias=False)`), square kernel.
///
/// x [N, C, H, W], w [K, C, R, R] -> y [N, K, Ho, Wo] with
/// Ho = (H + 2 pad - R) / stride + 1 and
/// y[n, k, oh, ow] = sum over c, r, q (in that order) of
///                   w[k, c, r, q] * x[n, c, oh * stride - pad + r, ow * stride - pad + q],
/// out-of-range input positions being zero (zero padding).
public enum Conv2d {
    public static func outputSize(_ inSize: Int, kernel: Int, stride: Int, pad: Int) -> Int {
        (inSize + 2 * pad - kernel) / stride + 1
    }

    public static func forward(_ x: Tensor, _ w: Tensor, stride: Int, pad: Int) -> Tensor {
        let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (k, r) = (w.shape[0], w.shape[2])
        precondition(w.shape[1] == c && w.shape[3] == r, "conv weight \(w.shape) does not fit input \(x.shape)")
        let ho = outputSize(h, kernel: r, stride: stride, pad: pad)
        let wo = outputSize(wd, kernel: r, stride: stride, pad: pad)
        var y = Tensor(zeros: [n, k, ho, wo])
        x.data.withUnsafeBufferPointer { X in
            w.data.withUnsafeBufferPointer { W in
                y.data.withUnsafeMutableBufferPointer { Y in
                    for ni in 0..<n {
                        for ki in 0..<k {
                            let yBase = (ni * k + ki) * ho * wo
                            for ci in 0..<c {
                                let xBase = (ni * c + ci) * h * wd
                                for ri in 0..<r {
                                    for qi in 0..<r {
                                        let wv = W[((ki * c + ci) * r + ri) * r + qi]
                                        for oh in 0..<ho {
                                            let ih = oh * stride - pad + ri
                                            if ih < 0 || ih >= h { continue }
                                            for ow in 0..<wo {
                                                let iw = ow * stride - pad + qi
                                                if iw < 0 || iw >= wd { continue }
                                                Y[yBase + oh * wo + ow] += wv * X[xBase + ih * wd + iw]
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return y
    }

    /// Gradients of a scalar loss given dy = dL/dy [N, K, Ho, Wo]:
    /// dx [N, C, H, W] (sums over k, r, q, oh, ow in that order) and
    /// dw [K, C, R, R] (sums over n, oh, ow in that order).
    public static func backward(_ dy: Tensor, x: Tensor, w: Tensor, stride: Int, pad: Int) -> (dx: Tensor, dw: Tensor) {
        let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (k, r) = (w.shape[0], w.shape[2])
        let (ho, wo) = (dy.shape[2], dy.shape[3])
        var dx = Tensor(zeros: x.shape)
        var dw = Tensor(zeros: w.shape)
        x.data.withUnsafeBufferPointer { X in
            w.data.withUnsafeBufferPointer { W in
                dy.data.withUnsafeBufferPointer { DY in
                    dx.data.withUnsafeMutableBufferPointer { DX in
                        for ni in 0..<n {
                            for ki in 0..<k {
                                let yBase = (ni * k + ki) * ho * wo
                                for ci in 0..<c {
                                    let xBase = (ni * c + ci) * h * wd
                                    for ri in 0..<r {
                                        for qi in 0..<r {
                                            let wv = W[((ki * c + ci) * r + ri) * r + qi]
                                            for oh in 0..<ho {
                                                let ih = oh * stride - pad + ri
                                                if ih < 0 || ih >= h { continue }
                                                for ow in 0..<wo {
                                                    let iw = ow * stride - pad + qi
                                                    if iw < 0 || iw >= wd { continue }
                                                    DX[xBase + ih * wd + iw] += wv * DY[yBase + oh * wo + ow]
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    dw.data.withUnsafeMutableBufferPointer { DW in
                        for ki in 0..<k {
                            for ci in 0..<c {
                                for ri in 0..<r {
                                    for qi in 0..<r {
                                        var sum = 0.0
                                        for ni in 0..<n {
                                            let yBase = (ni * k + ki) * ho * wo
                                            let xBase = (ni * c + ci) * h * wd
                                            for oh in 0..<ho {
                                                let ih = oh * stride - pad + ri
                                                if ih < 0 || ih >= h { continue }
                                                for ow in 0..<wo {
                                                    let iw = ow * stride - pad + qi
                                                    if iw < 0 || iw >= wd { continue }
                                                    sum += DY[yBase + oh * wo + ow] * X[xBase + ih * wd + iw]
                                                }
                                            }
                                        }
                                        DW[((ki * c + ci) * r + ri) * r + qi] = sum
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return (dx, dw)
    }
}
