import Foundation

/// A float64 RGB image, channel planes in C order: data[(c * height + y) * width + x].
public struct Image: Equatable, Sendable {
    public var height: Int
    public var width: Int
    public var data: [Double]

    public init(height: Int, width: Int, data: [Double]) {
        precondition(data.count == 3 * height * width)
        self.height = height
        self.width = width
        self.data = data
    }

    var plane: Int { height * width }
}

/// The image operations of the augmentation, each with the semantics of
/// `torchvision.transforms.v2.functional` on float images in [0, 1] (same formulas, in
/// the same operation order where rounding could differ).
public enum ImageOps {
    // MARK: Geometry

    /// `resized_crop(img, top, left, h, w, [size, size], BILINEAR, antialias=True)`:
    /// the crop, then PyTorch's separable antialiased bilinear resampling (the
    /// `_upsample_bilinear2d_aa` kernel): width first, then height.
    public static func resizedCrop(_ img: Image, top: Int, left: Int, height h: Int, width w: Int, size: Int) -> Image {
        var crop = [Double](repeating: 0, count: 3 * h * w)
        for c in 0..<3 {
            for y in 0..<h {
                for x in 0..<w {
                    crop[(c * h + y) * w + x] = img.data[(c * img.height + top + y) * img.width + left + x]
                }
            }
        }
        if h == size && w == size { return Image(height: h, width: w, data: crop) }
        // Horizontal pass: [3, h, w] -> [3, h, size].
        var tmp = crop
        var tw = w
        if w != size {
            let wx = AAWeights(inputSize: w, outputSize: size)
            tmp = [Double](repeating: 0, count: 3 * h * size)
            for row in 0..<3 * h {
                for ox in 0..<size {
                    tmp[row * size + ox] = wx.apply(ox) { crop[row * w + $0] }
                }
            }
            tw = size
        }
        // Vertical pass: [3, h, size] -> [3, size, size].
        guard h != size else { return Image(height: size, width: size, data: tmp) }
        let wy = AAWeights(inputSize: h, outputSize: size)
        var out = [Double](repeating: 0, count: 3 * size * size)
        for c in 0..<3 {
            for oy in 0..<size {
                for x in 0..<tw {
                    out[(c * size + oy) * size + x] = wy.apply(oy) { tmp[(c * h + $0) * tw + x] }
                }
            }
        }
        return Image(height: size, width: size, data: out)
    }

    /// Interpolation weights of PyTorch's antialiased bilinear resize along one axis
    /// (align_corners False): scale = in / out, support = scale (downsampling) or 1; for
    /// output i, center = scale (i + 0.5), taps from xmin = max(trunc(center - support
    /// + 0.5), 0) to min(trunc(center + support + 0.5), in), weight of tap j
    /// = max(0, 1 - |(j + xmin - center + 0.5) * invscale|), normalized to sum 1.
    struct AAWeights {
        var xmin: [Int] = []
        var weights: [[Double]] = []

        init(inputSize: Int, outputSize: Int) {
            let scale = Double(inputSize) / Double(outputSize)
            let support = scale >= 1 ? scale : 1.0
            let invscale = scale >= 1 ? 1 / scale : 1.0
            let maxTaps = Int(support.rounded(.up)) * 2 + 1
            for i in 0..<outputSize {
                let center = scale * (Double(i) + 0.5)
                let lo = max(Int(center - support + 0.5), 0)
                let size = min(max(min(Int(center + support + 0.5), inputSize) - lo, 0), maxTaps)
                var w = [Double](repeating: 0, count: size)
                var total = 0.0
                for j in 0..<size {
                    let x = abs((Double(j + lo) - center + 0.5) * invscale)
                    w[j] = x < 1 ? 1 - x : 0
                    total += w[j]
                }
                if total != 0 { for j in 0..<size { w[j] /= total } }
                xmin.append(lo)
                weights.append(w)
            }
        }

        /// sum over taps j (in order) of w[j] * value(xmin + j).
        @inline(__always)
        func apply(_ i: Int, _ value: (Int) -> Double) -> Double {
            let w = weights[i]
            guard !w.isEmpty else { return 0 }
            var t = value(xmin[i]) * w[0]
            for j in 1..<w.count { t += value(xmin[i] + j) * w[j] }
            return t
        }
    }

    /// `horizontal_flip`: reverse each row.
    public static func horizontalFlip(_ img: Image) -> Image {
        var out = img
        let w = img.width
        for row in 0..<3 * img.height {
            for x in 0..<w { out.data[row * w + x] = img.data[row * w + (w - 1 - x)] }
        }
        return out
    }

    // MARK: Colour

    /// torchvision's luma: r * 0.2989 + g * 0.587 + b * 0.114, per pixel.
    static func luma(_ img: Image) -> [Double] {
        let p = img.plane
        return (0..<p).map { i in img.data[i] * 0.2989 + img.data[p + i] * 0.587 + img.data[2 * p + i] * 0.114 }
    }

    /// `_blend`: (image * ratio + other * (1 - ratio)).clamp(0, 1).
    @inline(__always)
    static func blend(_ x: Double, _ other: Double, _ ratio: Double) -> Double {
        min(max(x * ratio + other * (1.0 - ratio), 0), 1)
    }

    /// `adjust_brightness`: (image * f).clamp(0, 1).
    public static func adjustBrightness(_ img: Image, _ f: Double) -> Image {
        var out = img
        for i in 0..<out.data.count { out.data[i] = min(max(img.data[i] * f, 0), 1) }
        return out
    }

    /// `adjust_contrast`: blend with the mean of the luma image.
    public static func adjustContrast(_ img: Image, _ f: Double) -> Image {
        let l = luma(img)
        var sum = 0.0
        for v in l { sum += v }
        let mean = sum / Double(l.count)
        var out = img
        for i in 0..<out.data.count { out.data[i] = blend(img.data[i], mean, f) }
        return out
    }

    /// `adjust_saturation`: blend with the luma image, pixel by pixel.
    public static func adjustSaturation(_ img: Image, _ f: Double) -> Image {
        let l = luma(img)
        let p = img.plane
        var out = img
        for c in 0..<3 { for i in 0..<p { out.data[c * p + i] = blend(img.data[c * p + i], l[i], f) } }
        return out
    }

    /// `adjust_hue` in float64: torchvision's `_rgb_to_hsv`, h <- (h + shift) mod 1,
    /// `_hsv_to_rgb` (the public function would round through float32).
    public static func adjustHue(_ img: Image, _ shift: Double) -> Image {
        let p = img.plane
        var out = img
        for i in 0..<p {
            let (r, g, b) = (img.data[i], img.data[p + i], img.data[2 * p + i])
            var (h, s, v) = rgbToHSV(r, g, b)
            h = pyRemainder(h + shift, 1.0)
            let (r2, g2, b2) = hsvToRGB(h, s, v)
            out.data[i] = r2
            out.data[p + i] = g2
            out.data[2 * p + i] = b2
        }
        return out
    }

    /// torchvision v2 `_rgb_to_hsv` for one pixel, in its operation order.
    static func rgbToHSV(_ r: Double, _ g: Double, _ b: Double) -> (Double, Double, Double) {
        let maxc = max(r, g, b), minc = min(r, g, b)
        let eqc = maxc == minc
        let range = maxc - minc
        let s = range / (eqc ? 1 : maxc)
        let divisor = eqc ? 1 : range
        let rc = (maxc - r) / divisor, gc = (maxc - g) / divisor, bc = (maxc - b) / divisor
        let maxIsR = maxc == r, maxIsG = maxc == g
        let hg = (rc + 2.0 - bc) * (maxIsG && !maxIsR ? 1 : 0)
        let hr = (bc - gc) * (maxIsR ? 1 : 0)
        let hb = (gc + 4.0 - rc) * (!maxIsR && !maxIsG ? 1 : 0)
        let h = ((hr + hg + hb) * (1.0 / 6.0) + 1.0).truncatingRemainder(dividingBy: 1.0)
        return (h, s, maxc)
    }

    /// torchvision v2 `_hsv_to_rgb` for one pixel.
    static func hsvToRGB(_ h: Double, _ s: Double, _ v: Double) -> (Double, Double, Double) {
        let h6 = h * 6
        let fl = h6.rounded(.down)
        let f = h6 - fl
        let i = ((Int(fl) % 6) + 6) % 6
        let sxf = s * f
        let oneMinusS = 1.0 - s
        let q = min(max((1.0 - sxf) * v, 0), 1)
        let t = min(max((sxf + oneMinusS) * v, 0), 1)
        let p = min(max(oneMinusS * v, 0), 1)
        switch i {
        case 0: return (v, t, p)
        case 1: return (q, v, p)
        case 2: return (p, v, t)
        case 3: return (p, q, v)
        case 4: return (t, p, v)
        default: return (v, p, q)
        }
    }

    /// Python's (and torch.remainder's) modulo: the result has the divisor's sign.
    static func pyRemainder(_ a: Double, _ b: Double) -> Double {
        let r = a.truncatingRemainder(dividingBy: b)
        return (r != 0 && (r < 0) != (b < 0)) ? r + b : r
    }

    /// `rgb_to_grayscale(num_output_channels=3)`: the luma in every channel.
    public static func grayscale(_ img: Image) -> Image {
        let l = luma(img)
        return Image(height: img.height, width: img.width, data: l + l + l)
    }

    // MARK: Filters

    /// The 1-D Gaussian kernel of torchvision v2: x = linspace(-lim, lim, k) with
    /// lim = (k - 1) / (2 sqrt 2), softmax(-(x / sigma)^2).
    public static func gaussianKernel1D(size k: Int, sigma: Double) -> [Double] {
        let lim = Double(k - 1) / (2.0 * 2.0.squareRoot())
        // torch.linspace fills the first half from the start and the second from the end.
        let step = k > 1 ? (lim - -lim) / Double(k - 1) : 0
        let x = (0..<k).map { i in i < k / 2 ? -lim + step * Double(i) : lim - step * Double(k - 1 - i) }
        let a = x.map { -(($0 / sigma) * ($0 / sigma)) }
        let m = a.max()!
        let e = a.map { exp($0 - m) }
        var sum = 0.0
        for v in e { sum += v }
        return e.map { $0 / sum }
    }

    /// `gaussian_blur(img, [k, k], [sigma, sigma])`: reflect padding, then the k x k
    /// kernel (outer product of the 1-D kernels) applied tap by tap, row-major.
    public static func gaussianBlur(_ img: Image, kernelSize k: Int, sigma: Double) -> Image {
        let k1 = gaussianKernel1D(size: k, sigma: sigma)
        var k2 = [Double](repeating: 0, count: k * k)
        for a in 0..<k { for b in 0..<k { k2[a * k + b] = k1[a] * k1[b] } }
        let r = k / 2
        let (h, w) = (img.height, img.width)
        func reflect(_ i: Int, _ n: Int) -> Int {
            var i = i
            while i < 0 || i >= n { i = i < 0 ? -i : 2 * (n - 1) - i }
            return i
        }
        var out = img
        for c in 0..<3 {
            let base = c * h * w
            for y in 0..<h {
                for x in 0..<w {
                    var acc = 0.0
                    for a in 0..<k {
                        let yy = reflect(y + a - r, h)
                        for b in 0..<k {
                            acc += img.data[base + yy * w + reflect(x + b - r, w)] * k2[a * k + b]
                        }
                    }
                    out.data[base + y * w + x] = acc
                }
            }
        }
        return out
    }

    /// `solarize(img, 0.5)`: 1 - x where x >= 0.5.
    public static func solarize(_ img: Image, threshold: Double = 0.5) -> Image {
        var out = img
        for i in 0..<out.data.count where img.data[i] >= threshold { out.data[i] = 1.0 - img.data[i] }
        return out
    }

    /// `normalize`: (x - mean[c]) / std[c].
    public static func normalize(_ img: Image, mean: [Double], std: [Double]) -> Image {
        var out = img
        let p = img.plane
        for c in 0..<3 { for i in 0..<p { out.data[c * p + i] = (img.data[c * p + i] - mean[c]) / std[c] } }
        return out
    }
}
