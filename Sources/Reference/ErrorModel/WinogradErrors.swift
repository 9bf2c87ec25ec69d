/// The magnitudes Winograd F(2x2, 3x3) sums (Lavin and Gray, 2016), for 3x3 stride-1 pad-1
/// convolutions: an implementation may compute them that way (this package's OpenBLAS
/// engine does), and its rounding then follows the transformed operands, not the direct
/// products. A 2x2 output tile is A^T [(G g G^T) ⊙ (B^T d B)] A, summed over input
/// channels; its rounding errors spread over the whole tile (and, for the weight gradient,
/// over the whole 3x3 kernel), so an element with small direct products can carry the
/// error of its neighbours'. The bound of each element takes the larger of the direct and
/// the Winograd magnitude, the latter from the transforms in absolute value:
/// |A^T| (sum over channels of (|G| |g| |G^T|) ⊙ (|B^T| |d| |B|)) |A|.
enum WinogradErrors {
    static let g: [[Double]] = [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0.5], [0, 0, 1]]  // |G|
    static let bt: [[Double]] = [[1, 0, 1, 0], [0, 1, 1, 0], [0, 1, 1, 0], [0, 1, 0, 1]]  // |B^T|
    static let at: [[Double]] = [[1, 1, 1, 0], [0, 1, 1, 1]]  // |A^T|
    // The signed transforms, for the transformed operands themselves (their rounding).
    static let gSigned: [[Double]] = [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]]
    static let btSigned: [[Double]] = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]
    static let atSigned: [[Double]] = [[1, 1, 1, 0], [0, 1, -1, -1]]

    static func applies(stride: Int, pad: Int, r: Int) -> Bool { r == 3 && stride == 1 && pad == 1 }

    /// |G| |w| |G^T| (`abs`) and G w G^T (`signed`) for each (k, c) of w [K, C, 3, 3]: [K][C][16].
    static func filters(_ w: Tensor, signed: Bool = false) -> [[[Double]]] {
        let (k, c) = (w.shape[0], w.shape[1])
        let gm = signed ? gSigned : g
        return (0..<k).map { ki in
            (0..<c).map { ci in
                var u = [Double](repeating: 0, count: 16)
                for a in 0..<4 {
                    for b in 0..<4 {
                        var s = 0.0
                        for r in 0..<3 {
                            for q in 0..<3 {
                                let wv = w.data[((ki * c + ci) * 3 + r) * 3 + q]
                                s += gm[a][r] * (signed ? wv : Swift.abs(wv)) * gm[b][q]
                            }
                        }
                        u[a * 4 + b] = s
                    }
                }
                return u
            }
        }
    }

    /// |B^T| d |B| of the 4x4 input patch under tile (i, j) of channel plane `plane` (H x W,
    /// zero padded), in absolute values.
    static func patch(_ x: [Double], _ base: Int, h: Int, w: Int, i: Int, j: Int, signed: Bool = false) -> [Double] {
        var d = [Double](repeating: 0, count: 16)
        for a in 0..<4 {
            for b in 0..<4 {
                let (y, xx) = (2 * i - 1 + a, 2 * j - 1 + b)
                if y >= 0 && y < h && xx >= 0 && xx < w { d[a * 4 + b] = signed ? x[base + y * w + xx] : Swift.abs(x[base + y * w + xx]) }
            }
        }
        let m = signed ? btSigned : bt
        var v = [Double](repeating: 0, count: 16)
        for a in 0..<4 {
            for b in 0..<4 {
                var s = 0.0
                for p in 0..<4 where m[a][p] != 0 { for q in 0..<4 where m[b][q] != 0 { s += m[a][p] * d[p * 4 + q] * m[b][q] } }
                v[a * 4 + b] = s
            }
        }
        return v
    }

    /// Per output element of y = conv(x, w) [N, K, H, W]: the Winograd magnitude of its
    /// tile (`m`, sums of |U||V| through |A^T| . |A|) and the 2-norm of its transformed
    /// products (`q`, for operand rounding of U and V).
    static func forward(_ x: Tensor, _ w: Tensor) -> (m: [Double], q: [Double]) {
        let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let k = w.shape[0]
        let (th, tw) = ((h + 1) / 2, (wd + 1) / 2)
        let u = filters(w), us = filters(w, signed: true)
        var out = [Double](repeating: 0, count: n * k * h * wd), outQ = out
        for ni in 0..<n {
            for ti in 0..<th {
                for tj in 0..<tw {
                    let v = (0..<c).map { patch(x.data, (ni * c + $0) * h * wd, h: h, w: wd, i: ti, j: tj) }
                    let vs = (0..<c).map { patch(x.data, (ni * c + $0) * h * wd, h: h, w: wd, i: ti, j: tj, signed: true) }
                    for ki in 0..<k {
                        var m = [Double](repeating: 0, count: 16), m2 = m
                        for ci in 0..<c {
                            for e in 0..<16 {
                                m[e] += u[ki][ci][e] * v[ci][e]
                                let p = us[ki][ci][e] * vs[ci][e]  // the transformed product itself
                                m2[e] += p * p
                            }
                        }
                        for a in 0..<2 {
                            for b in 0..<2 {
                                let (y, xx) = (2 * ti + a, 2 * tj + b)
                                guard y < h && xx < wd else { continue }
                                var s = 0.0, s2 = 0.0
                                for p in 0..<4 {
                                    for q in 0..<4 {
                                        s += at[a][p] * m[p * 4 + q] * at[b][q]
                                        s2 += at[a][p] * m2[p * 4 + q] * at[b][q]  // |A^T| entries are 0 or 1: squares alike
                                    }
                                }
                                out[((ni * k + ki) * h + y) * wd + xx] = s
                                outQ[((ni * k + ki) * h + y) * wd + xx] = s2.squareRoot()
                            }
                        }
                    }
                }
            }
        }
        return (out, outQ)
    }

    /// The weight gradient's magnitudes [K, C, 3, 3]: |G^T| (sum over samples and tiles of
    /// (|A| |dy tile| |A^T|) ⊙ (|B^T| |d| |B|)) |G|.
    static func weightGradient(x: Tensor, dy: Tensor) -> (m: [Double], q: [Double]) {
        let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let k = dy.shape[1]
        let (th, tw) = ((h + 1) / 2, (wd + 1) / 2)
        var s = [Double](repeating: 0, count: k * c * 16), s2 = s
        for ni in 0..<n {
            for ti in 0..<th {
                for tj in 0..<tw {
                    let v = (0..<c).map { patch(x.data, (ni * c + $0) * h * wd, h: h, w: wd, i: ti, j: tj) }
                    let vs = (0..<c).map { patch(x.data, (ni * c + $0) * h * wd, h: h, w: wd, i: ti, j: tj, signed: true) }
                    for ki in 0..<k {
                        // |A| |dy| |A^T| and A dy A^T: 4x4 from the 2x2 tile of dy.
                        var t = [Double](repeating: 0, count: 16), ts = t
                        for a in 0..<2 {
                            for b in 0..<2 {
                                let (y, xx) = (2 * ti + a, 2 * tj + b)
                                guard y < h && xx < wd else { continue }
                                let gy = dy.data[((ni * k + ki) * h + y) * wd + xx]
                                for p in 0..<4 where at[a][p] != 0 {
                                    for q in 0..<4 where at[b][q] != 0 {
                                        t[p * 4 + q] += Swift.abs(gy)
                                        ts[p * 4 + q] += atSigned[a][p] * gy * atSigned[b][q]
                                    }
                                }
                            }
                        }
                        for ci in 0..<c {
                            for e in 0..<16 {
                                s[(ki * c + ci) * 16 + e] += t[e] * v[ci][e]
                                let p = ts[e] * vs[ci][e]
                                s2[(ki * c + ci) * 16 + e] += p * p
                            }
                        }
                    }
                }
            }
        }
        var out = [Double](repeating: 0, count: k * c * 9), outQ = out
        for kc in 0..<k * c {
            for r in 0..<3 {
                for q in 0..<3 {
                    var acc = 0.0, acc2 = 0.0
                    for a in 0..<4 {
                        for b in 0..<4 {
                            acc += g[a][r] * s[kc * 16 + a * 4 + b] * g[b][q]
                            acc2 += (g[a][r] * g[b][q]) * (g[a][r] * g[b][q]) * s2[kc * 16 + a * 4 + b]
                        }
                    }
                    out[kc * 9 + r * 3 + q] = acc
                    outQ[kc * 9 + r * 3 + q] = acc2.squareRoot()
                }
            }
        }
        return (out, outQ)
    }

    /// w [K, C, 3, 3] -> [C, K, 3, 3] flipped: the input gradient is the same convolution of
    /// dy with these filters.
    static func transposedFlipped(_ w: Tensor) -> Tensor {
        let (k, c) = (w.shape[0], w.shape[1])
        var out = Tensor(zeros: [c, k, 3, 3])
        for ki in 0..<k {
            for ci in 0..<c {
                for r in 0..<3 {
                    for q in 0..<3 {
                        out.data[((ci * k + ki) * 3 + r) * 3 + q] = w.data[((ki * c + ci) * 3 + 2 - r) * 3 + 2 - q]
                    }
                }
            }
        }
        return out
    }
}
