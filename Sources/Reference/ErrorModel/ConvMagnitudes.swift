/// The magnitudes a convolution's error bounds need, in one pass each: per output
/// element, sum |a b| and sum (a b)^2 over the products it sums (the same loops as
/// Conv2d, with two accumulators instead of one).
enum ConvMagnitudes {
    /// y's: over c, r, q for every [n, k, oh, ow].
    static func forward(_ x: Tensor, _ w: Tensor, stride: Int, pad: Int, outShape: [Int]) -> (m: [Double], q: [Double]) {
        let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (k, r) = (w.shape[0], w.shape[2])
        let (ho, wo) = (outShape[2], outShape[3])
        var m = [Double](repeating: 0, count: n * k * ho * wo), q = m
        x.data.withUnsafeBufferPointer { X in
            w.data.withUnsafeBufferPointer { W in
                m.withUnsafeMutableBufferPointer { M in
                    q.withUnsafeMutableBufferPointer { Q in
                        for ni in 0..<n {
                            for ki in 0..<k {
                                let yBase = (ni * k + ki) * ho * wo
                                for ci in 0..<c {
                                    let xBase = (ni * c + ci) * h * wd
                                    for ri in 0..<r {
                                        for qi in 0..<r {
                                            let wv = W[((ki * c + ci) * r + ri) * r + qi]
                                            let (aw, ww) = (abs(wv), wv * wv)
                                            for oh in 0..<ho {
                                                let ih = oh * stride - pad + ri
                                                if ih < 0 || ih >= h { continue }
                                                for ow in 0..<wo {
                                                    let iw = ow * stride - pad + qi
                                                    if iw < 0 || iw >= wd { continue }
                                                    let xv = X[xBase + ih * wd + iw]
                                                    M[yBase + oh * wo + ow] += aw * abs(xv)
                                                    Q[yBase + oh * wo + ow] += ww * xv * xv
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
        }
        return (m, q)
    }

    /// dx's (over k, r, q) and dw's (over n, oh, ow).
    static func backward(_ dy: Tensor, x: Tensor, w: Tensor, stride: Int, pad: Int) -> (mdx: [Double], qdx: [Double], mdw: [Double], qdw: [Double]) {
        let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (k, r) = (w.shape[0], w.shape[2])
        let (ho, wo) = (dy.shape[2], dy.shape[3])
        var mdx = [Double](repeating: 0, count: x.count), qdx = mdx
        var mdw = [Double](repeating: 0, count: w.count), qdw = mdw
        x.data.withUnsafeBufferPointer { X in
            w.data.withUnsafeBufferPointer { W in
                dy.data.withUnsafeBufferPointer { DY in
                    mdx.withUnsafeMutableBufferPointer { MX in
                        qdx.withUnsafeMutableBufferPointer { QX in
                            mdw.withUnsafeMutableBufferPointer { MW in
                                qdw.withUnsafeMutableBufferPointer { QW in
                                    for ni in 0..<n {
                                        for ki in 0..<k {
                                            let yBase = (ni * k + ki) * ho * wo
                                            for ci in 0..<c {
                                                let xBase = (ni * c + ci) * h * wd
                                                for ri in 0..<r {
                                                    for qi in 0..<r {
                                                        let wi = ((ki * c + ci) * r + ri) * r + qi
                                                        let wv = W[wi]
                                                        let (aw, ww) = (abs(wv), wv * wv)
                                                        var sm = 0.0, sq = 0.0
                                                        for oh in 0..<ho {
                                                            let ih = oh * stride - pad + ri
                                                            if ih < 0 || ih >= h { continue }
                                                            for ow in 0..<wo {
                                                                let iw = ow * stride - pad + qi
                                                                if iw < 0 || iw >= wd { continue }
                                                                let (g, xv) = (DY[yBase + oh * wo + ow], X[xBase + ih * wd + iw])
                                                                MX[xBase + ih * wd + iw] += aw * abs(g)
                                                                QX[xBase + ih * wd + iw] += ww * g * g
                                                                sm += abs(g * xv)
                                                                sq += g * g * xv * xv
                                                            }
                                                        }
                                                        MW[wi] += sm
                                                        QW[wi] += sq
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
            }
        }
        return (mdx, qdx, mdw, qdw)
    }
}
