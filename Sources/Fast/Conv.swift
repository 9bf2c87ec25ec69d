/// One convolution's geometry (square kernel, no bias), activations in CNHW.
struct ConvShape {
    var c: Int, k: Int, r: Int, stride: Int, pad: Int
    var h: Int, w: Int
    var ho: Int { (h + 2 * pad - r) / stride + 1 }
    var wo: Int { (w + 2 * pad - r) / stride + 1 }
    /// Rows of the im2col matrix.
    var crr: Int { c * r * r }
}

/// Convolution forward and backward over fixed sample groups: Winograd F(2x2, 3x3) where
/// it applies, else im2col + sgemm (1x1 stride-1 convolutions: sgemm alone).
enum FastConv {
    /// The output columns ow whose input column ow * stride - pad + q lies inside the image.
    @inline(__always)
    static func validColumns(_ s: ConvShape, _ q: Int) -> (Int, Int) {
        var lo = 0, hi = s.wo
        while lo < hi && lo * s.stride - s.pad + q < 0 { lo += 1 }
        while hi > lo && (hi - 1) * s.stride - s.pad + q >= s.w { hi -= 1 }
        return (lo, hi)
    }

    /// col[(c, r, q), (n - n0, oh, ow)] = x[c, n, oh * s - p + r, ow * s - p + q] (0 outside)
    /// for samples n0..<n1 of x [C, nTotal, H, W]; col is [C*R*R, (n1 - n0) * Ho * Wo].
    static func im2col(_ x: UnsafePointer<Float>, nTotal: Int, n0: Int, n1: Int, _ s: ConvShape, _ col: UnsafeMutablePointer<Float>) {
        let (ho, wo) = (s.ho, s.wo)
        let cols = (n1 - n0) * ho * wo
        let plane = s.h * s.w
        for c in 0..<s.c {
            for r in 0..<s.r {
                for q in 0..<s.r {
                    let row = col + ((c * s.r + r) * s.r + q) * cols
                    let (owLo, owHi) = validColumns(s, q)
                    for n in n0..<n1 {
                        let src = x + (c * nTotal + n) * plane
                        let dstN = row + (n - n0) * ho * wo
                        for oh in 0..<ho {
                            let dst = dstN + oh * wo
                            let ih = oh * s.stride - s.pad + r
                            if ih < 0 || ih >= s.h {
                                dst.update(repeating: 0, count: wo)
                                continue
                            }
                            if owLo > 0 { dst.update(repeating: 0, count: owLo) }
                            if owHi < wo { (dst + owHi).update(repeating: 0, count: wo - owHi) }
                            let srcRow = src + ih * s.w - s.pad + q
                            if s.stride == 1 {
                                (dst + owLo).update(from: srcRow + owLo, count: owHi - owLo)
                            } else {
                                for ow in owLo..<owHi { dst[ow] = srcRow[ow * s.stride] }
                            }
                        }
                    }
                }
            }
        }
    }

    /// The adjoint of im2col: dx[c, n, ih, iw] += dcol[...] for samples n0..<n1, after
    /// zeroing those samples' part of dx. Loops in a fixed order.
    static func col2im(_ dcol: UnsafePointer<Float>, nTotal: Int, n0: Int, n1: Int, _ s: ConvShape, _ dx: UnsafeMutablePointer<Float>) {
        let (ho, wo) = (s.ho, s.wo)
        let cols = (n1 - n0) * ho * wo
        let plane = s.h * s.w
        for c in 0..<s.c { (dx + (c * nTotal + n0) * plane).update(repeating: 0, count: (n1 - n0) * plane) }
        for c in 0..<s.c {
            for r in 0..<s.r {
                for q in 0..<s.r {
                    let row = dcol + ((c * s.r + r) * s.r + q) * cols
                    let (owLo, owHi) = validColumns(s, q)
                    for n in n0..<n1 {
                        let dstN = dx + (c * nTotal + n) * plane
                        let srcN = row + (n - n0) * ho * wo
                        for oh in 0..<ho {
                            let ih = oh * s.stride - s.pad + r
                            if ih < 0 || ih >= s.h { continue }
                            let src = srcN + oh * wo
                            let dstRow = dstN + ih * s.w - s.pad + q
                            if s.stride == 1 {
                                for ow in owLo..<owHi { dstRow[ow] += src[ow] }
                            } else {
                                for ow in owLo..<owHi { dstRow[ow * s.stride] += src[ow] }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Floats of one group's column matrix above which an im2col convolution takes more
    /// groups: it bounds the per-worker im2col buffers (4 MB), so that memory does not
    /// grow with batch x threads (resnet18, batch 256: 19 MB per worker with 16 groups).
    static let columnBudget = 1 << 20

    /// Floats of partial weight gradients (one K x C*R*R per group) above which the
    /// group count is not rounded up for balance (64 MB).
    static let partialBudget = 1 << 24

    /// The image groups of an im2col convolution in one segment of `images` images: as
    /// few as keep a group's column matrix within `columnBudget`, at least 16 / segments
    /// (a task for each of 16 threads over the whole batch), rounded up to a multiple of
    /// that (equal shares) unless the groups' partial weight gradients would then pass
    /// `partialBudget`; at most one per image. Fixed by the shape, the segment and the
    /// batch's segment count alone (never by how many processes share the segments).
    static func groups(images: Int, _ s: ConvShape, segments: Int) -> [Range<Int>] {
        let minimum = (16 + segments - 1) / segments
        let samples = max(1, columnBudget / max(1, s.crr * s.ho * s.wo))  // most images per group
        let needed = max(minimum, (images + samples - 1) / samples)
        let rounded = (needed + minimum - 1) / minimum * minimum
        let parts = min(images, rounded * s.k * s.crr * segments <= partialBudget ? rounded : needed)
        return WorkerPool.split(images, parts: parts)
    }

    /// Every segment's groups (local image ranges), segment after segment, and which of
    /// them belong to each segment.
    static func groups(_ seg: Segments, _ s: ConvShape) -> ImageGroups {
        ImageGroups(seg) { groups(images: $0, s, segments: seg.totalGroups) }
    }

    /// y [K, nTotal * Ho * Wo] = w [K, C*R*R] x im2col(x), group by group.
    static func forward(
        _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ s: ConvShape,
        seg: Segments, pool: WorkerPool, scratch: ConvScratch
    ) {
        if Winograd.applies(s) {
            Winograd.forward(x, w, y, s, seg: seg, pool: pool, scratch: scratch)
            return
        }
        let nTotal = seg.images
        let hw = s.ho * s.wo
        let direct = s.r == 1 && s.stride == 1 && s.pad == 0
        let groups = groups(seg, s).ranges
        pool.run(chunks: groups.count) { g, worker in
            let (n0, n1) = (groups[g].lowerBound, groups[g].upperBound)
            let cols = (n1 - n0) * hw
            if direct {
                // A 1x1 stride-1 convolution is the GEMM itself.
                sgemm(m: s.k, n: cols, k: s.c, a: w, lda: s.c, b: x + n0 * hw, ldb: nTotal * hw, c: y + n0 * hw, ldc: nTotal * hw)
                return
            }
            let col = scratch.a[worker].pointer
            im2col(x, nTotal: nTotal, n0: n0, n1: n1, s, col)
            sgemm(m: s.k, n: cols, k: s.crr, a: w, lda: s.crr, b: col, ldb: cols, c: y + n0 * hw, ldc: nTotal * hw)
        }
    }

    /// dw = the sum of the groups' dy_g x col_g^T (`ImageGroups.reduce`), into one
    /// output per block of the reduction (one, without one); dx = col2im(w^T x dy) when
    /// `dx` is given.
    static func backward(
        _ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
        dx: UnsafeMutablePointer<Float>?, dw: [UnsafeMutablePointer<Float>], _ s: ConvShape,
        seg: Segments, reduction: GroupReduction?, pool: WorkerPool, scratch: ConvScratch
    ) {
        if Winograd.applies(s) {
            Winograd.backward(dy, x, w, dx: dx, dw: dw, s, seg: seg, reduction: reduction, pool: pool, scratch: scratch)
            return
        }
        let nTotal = seg.images
        let hw = s.ho * s.wo
        let ig = groups(seg, s)
        let groups = ig.ranges
        let partial = scratch.partial
        let wsize = s.k * s.crr
        pool.run(chunks: groups.count) { g, worker in
            let (n0, n1) = (groups[g].lowerBound, groups[g].upperBound)
            let cols = (n1 - n0) * hw
            let col = scratch.a[worker].pointer
            im2col(x, nTotal: nTotal, n0: n0, n1: n1, s, col)
            sgemm(
                transB: true, m: s.k, n: s.crr, k: cols, a: dy + n0 * hw, lda: nTotal * hw, b: col, ldb: cols,
                c: partial.pointer + g * wsize, ldc: s.crr)
            if let dx {
                let dcol = scratch.b[worker].pointer
                sgemm(transA: true, m: s.crr, n: cols, k: s.k, a: w, lda: s.crr, b: dy + n0 * hw, ldb: nTotal * hw, c: dcol, ldc: cols)
                col2im(dcol, nTotal: nTotal, n0: n0, n1: n1, s, dx)
            }
        }
        ig.reduce(partial.pointer, count: wsize, reduction: reduction, pool: pool) { b, sum in dw[b].update(from: sum, count: wsize) }
    }
}
