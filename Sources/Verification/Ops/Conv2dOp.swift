import BYOLModel
import Foundation
import NumPyIO
import Reference

/// conv2d: the op, its C calls and its randomized float32 implementation.
extension Ops {
    /// Convolution forward and both backward products (square kernel, no bias).
    static let conv2d =
        Op(
            name: "conv2d", inputs: ["x", "weight", "dy"], outputs: ["y", "dx", "dweight"], params: ["stride", "pad"],
            abi: ["conv2d_forward", "conv2d_backward_data", "conv2d_backward_weights"], abiVersion: 1, kind: .layer,
            plugin: .init(f32: ConformancePlugin.conv2d, f64: ConformancePlugin.conv2d),
            compute: { e, c in
                e.conv2d(
                    x: try c.x("x"), weight: try c.x("weight"), stride: c.params["stride"] ?? 1, pad: c.params["pad"] ?? 0, dy: try c.x("dy"))
            },
            errorModel: { v in
                let (i, e) = (v.inputs, v.expected)
                let x = v.t(i, "x"), w = v.t(i, "weight"), dy = v.t(i, "dy")
                let (stride, pad) = (v.params["stride"] ?? 1, v.params["pad"] ?? 0)
                let b = MatrixProductErrors.conv2dBackward(x: x, w: w, dy: dy, stride: stride, pad: pad, dx: v.t(e, "dx"), dw: v.t(e, "dweight"))
                return ["y": MatrixProductErrors.conv2dForward(x: x, w: w, stride: stride, pad: pad, y: v.t(e, "y")), "dx": b.dx, "dweight": b.dw]
            },
            samples: { rng in
                // Each shape class the network uses: 3x3 stride 1 with 6 input channels runs Winograd,
                // with 3 (the RGB stem) im2col; the 33x32 row has the row lengths of resnet's stride-2
                // convolutions at 32x32. Then small ones for finite differences.
                var out: [OpSample] = []
                for (stride, pad, r, c, h, w) in [
                    (1, 1, 3, 6, 9, 9), (1, 1, 3, 3, 9, 9), (2, 1, 3, 6, 9, 9), (2, 0, 1, 6, 9, 9), (2, 1, 3, 4, 33, 32)
                ] {
                    let x = rng.tensor([5, c, h, w]), wt = rng.tensor([7, c, r, r], -0.3, 0.3)
                    let dy = rng.tensor([5, 7, (h + 2 * pad - r) / stride + 1, (w + 2 * pad - r) / stride + 1])
                    let size = h == 9 && w == 9 ? "" : " at \(h)x\(w)"
                    out.append(
                        OpSample(
                            "conv2d \(r)x\(r) stride \(stride) pad \(pad), \(c) channels\(size)", params: ["stride": stride, "pad": pad],
                            [("x", x), ("weight", wt), ("dy", dy)], gradCheck: false))
                }
                for (stride, pad, r) in [(1, 1, 3), (2, 1, 3), (2, 0, 1)] {
                    let ho = (6 + 2 * pad - r) / stride + 1
                    let x = rng.tensor([3, 2, 6, 6]), wt = rng.tensor([3, 2, r, r]), dy = rng.tensor([3, 3, ho, ho])
                    out.append(
                        OpSample(
                            "conv2d \(r)x\(r) stride \(stride) pad \(pad)", params: ["stride": stride, "pad": pad],
                            [("x", x), ("weight", wt), ("dy", dy)]))
                }
                return out
            },
            randomized: { k, c in
                let (xs, ws, dys) = (try c.shape("x"), try c.shape("weight"), try c.shape("dy"))
                let r = k.conv(
                    x: try c.floats("x"), xs, w: try c.floats("weight"), ws, dy: try c.floats("dy"), dys, stride: c.params["stride"] ?? 1,
                    pad: c.params["pad"] ?? 0)
                return [out32("y", r.y, dys), out32("dx", r.dx, xs), out32("dweight", r.dw, ws)]
            })
}

extension ConformancePlugin {
    typealias Conv2dForward = @convention(c) (P, I, I, I, I, P, I, I, I, I, M) -> Int32
    typealias Conv2dBackwardData = @convention(c) (P, I, I, I, I, P, I, I, I, I, I, I, M) -> Int32
    typealias Conv2dBackwardWeights = @convention(c) (P, I, I, I, I, P, I, I, I, I, I, I, M) -> Int32

    /// conv2d.
    static func conv2d<T: Scalar>(_ call: Call<T>) throws {
        let (x, xs) = try call.input("x"), (w, ws) = try call.input("weight"), (dy, dys) = try call.input("dy")
        let (n, ch, h, wd, k, r) = (xs[0], xs[1], xs[2], xs[3], ws[0], ws[2])
        let (stride, pad) = (call.params["stride"] ?? 1, call.params["pad"] ?? 0)
        let (ho, wo) = (dys[2], dys[3])
        var y = [T](repeating: .nan, count: n * k * ho * wo), dx = [T](repeating: .nan, count: x.count), dw = [T](repeating: .nan, count: w.count)
        call.check(
            "conv2d_forward",
            call.fn("conv2d_forward", Conv2dForward.self)(x, i64(n), i64(ch), i64(h), i64(wd), w, i64(k), i64(r), i64(stride), i64(pad), &y))
        call.check(
            "conv2d_backward_data",
            call.fn("conv2d_backward_data", Conv2dBackwardData.self)(
                dy, i64(n), i64(k), i64(ho), i64(wo), w, i64(ch), i64(r), i64(stride), i64(pad), i64(h), i64(wd), &dx))
        call.check(
            "conv2d_backward_weights",
            call.fn("conv2d_backward_weights", Conv2dBackwardWeights.self)(
                x, i64(n), i64(ch), i64(h), i64(wd), dy, i64(k), i64(ho), i64(wo), i64(r), i64(stride), i64(pad), &dw))
        call.emit("y", y, dys)
        call.emit("dx", dx, xs)
        call.emit("dweight", dw, ws)
    }
}

extension RandomizedKernels {

    // y [N, K, Ho, Wo], dx, dw by explicit dot products over gathered operands.
    mutating func conv(
        x: [Float], _ xs: [Int], w: [Float], _ ws: [Int], dy: [Float], _ dys: [Int], stride: Int, pad: Int
    )
        -> (y: [Float], dx: [Float], dw: [Float])
    {
        let (n, c, h, wd) = (xs[0], xs[1], xs[2], xs[3]), (k, r) = (ws[0], ws[2]), (ho, wo) = (dys[2], dys[3])
        let (xo, wop, dyo) = (x.map(operand), w.map(operand), dy.map(operand))
        func xi(_ ni: Int, _ ci: Int, _ ih: Int, _ iw: Int) -> Int? {
            ih >= 0 && ih < h && iw >= 0 && iw < wd ? ((ni * c + ci) * h + ih) * wd + iw : nil
        }
        var y = [Float](repeating: 0, count: n * k * ho * wo), dx = [Float](repeating: 0, count: x.count),
            dwOut = [Float](repeating: 0, count: w.count)
        var sm = summer()
        for ni in 0..<n {
            for ki in 0..<k {
                for oh in 0..<ho {
                    for ow in 0..<wo {
                        var a: [Float] = [], b: [Float] = []
                        for ci in 0..<c {
                            for ri in 0..<r {
                                for qi in 0..<r {
                                    if let i = xi(ni, ci, oh * stride - pad + ri, ow * stride - pad + qi) {
                                        a.append(xo[i])
                                        b.append(wop[((ki * c + ci) * r + ri) * r + qi])
                                    }
                                }
                            }
                        }
                        y[((ni * k + ki) * ho + oh) * wo + ow] = output(sm.dot(a, b, &rng))
                    }
                }
            }
        }
        sm = summer()
        for ni in 0..<n {
            for ci in 0..<c {
                for ih in 0..<h {
                    for iw in 0..<wd {
                        var a: [Float] = [], b: [Float] = []
                        for ki in 0..<k {
                            for ri in 0..<r {
                                for qi in 0..<r {
                                    let (th, tw) = (ih + pad - ri, iw + pad - qi)
                                    guard th >= 0, tw >= 0, th % stride == 0, tw % stride == 0, th / stride < ho, tw / stride < wo else { continue }
                                    a.append(dyo[((ni * k + ki) * ho + th / stride) * wo + tw / stride])
                                    b.append(wop[((ki * c + ci) * r + ri) * r + qi])
                                }
                            }
                        }
                        dx[((ni * c + ci) * h + ih) * wd + iw] = output(sm.dot(a, b, &rng))
                    }
                }
            }
        }
        sm = summer()
        for ki in 0..<k {
            for ci in 0..<c {
                for ri in 0..<r {
                    for qi in 0..<r {
                        var a: [Float] = [], b: [Float] = []
                        for ni in 0..<n {
                            for oh in 0..<ho {
                                for ow in 0..<wo {
                                    if let i = xi(ni, ci, oh * stride - pad + ri, ow * stride - pad + qi) {
                                        a.append(dyo[((ni * k + ki) * ho + oh) * wo + ow])
                                        b.append(xo[i])
                                    }
                                }
                            }
                        }
                        dwOut[((ki * c + ci) * r + ri) * r + qi] = output(sm.dot(a, b, &rng))
                    }
                }
            }
        }
        return (y, dx, dwOut)
    }
}
