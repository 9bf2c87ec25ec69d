/// Winograd F(2x2, 3x3) for the stride-1, pad-1 3x3 convolutions (Lavin and Gray, 2016).
///
/// Each 2x2 output tile is A^T [U ⊙ V] A with U = G g G^T (a 3x3 filter made 4x4) and
/// V = B^T d B (the 4x4 input patch under the tile), summed over input channels: per
/// tile element e = 4a + b that sum is one GEMM, 16 in all, with 4 multiplications per
/// output pixel and channel pair instead of 9. The input gradient is the same
/// convolution of dy with the filters flipped and transposed; the weight gradient is the
/// adjoint, G^T [sum over tiles (A dy A^T) ⊙ V] G. The transform coefficients are 0, ±1
/// and ±1/2 (their products are exact in float32; only the sums round); the tile sums
/// are GEMMs over fixed sample groups, as in im2col.
///
/// Layouts: activations CNHW; tiles [16, channels, T] (planes planeStride apart) with
/// T = samples x tilesH x tilesW, tile t = ((n - n0) * tilesH + i) * tilesW + j covering
/// output rows 2i, 2i + 1 and columns 2j, 2j + 1 (an odd last row or column is cut off).
enum Winograd {
    /// Stride 1, pad 1, 3x3, and more than the RGB stem's 3 input channels, for which
    /// the transforms would cost more than the multiplications they save.
    static func applies(_ s: ConvShape) -> Bool { s.r == 3 && s.stride == 1 && s.pad == 1 && s.c > 3 }

    static func tiles(_ h: Int, _ w: Int) -> (Int, Int) { ((h + 1) / 2, (w + 1) / 2) }
    static func tilesPerImage(_ s: ConvShape) -> Int {
        let (th, tw) = tiles(s.h, s.w)
        return th * tw
    }

    /// The sample groups of a Winograd convolution: about 512 tiles each (2 to 8 MB of
    /// [16, C, T] tiles before and after the GEMMs for 64 to 256 channels), so that a
    /// group's tiles stay in the shared L3 cache between the transforms and the GEMMs
    /// instead of streaming through memory; never fewer than 2 (both cores busy), at
    /// most 256 and at most one per image; per segment of `images` images, with the
    /// "2" shared among the batch's `segments`. Fixed by the shapes and segments alone,
    /// like the im2col groups. Measured (resnet18, batch 64, 2 threads): 2048-tile
    /// groups (at most 8) 35.9 images/s, 512-tile groups 37.9; small preset, batch 256:
    /// 106 -> 122.
    static func groups(images: Int, _ s: ConvShape, segments: Int) -> [Range<Int>] {
        let parts = min(256, images, max((2 + segments - 1) / segments, images * tilesPerImage(s) / 512))
        return WorkerPool.split(images, parts: parts)
    }

    static func groups(_ seg: Segments, _ s: ConvShape) -> ImageGroups {
        ImageGroups(seg) { groups(images: $0, s, segments: seg.totalGroups) }
    }

    /// Distance in floats between the 16 tile planes of [rows, cols] each: 32 more than
    /// a plane, because power-of-two plane sizes put the 16 streams a transform reads or
    /// writes at once into the same cache sets.
    static func planeStride(_ rows: Int, _ cols: Int) -> Int { rows * cols + 32 }

    /// Tiles down and across one plane, tiles per group (T) and the distance between the
    /// 16 tile planes of `channels` x T.
    static func layout(channels: Int, samples: Int, h: Int, w: Int) -> (th: Int, tw: Int, tCount: Int, es: Int) {
        let (th, tw) = tiles(h, w)
        return (th, tw, samples * th * tw, planeStride(channels, samples * th * tw))
    }

    /// Floats of per-worker row scratch the transforms of `s` need.
    static func rowScratch(_ s: ConvShape, groupSize: Int) -> Int {
        max(4 * groupSize * tilesPerImage(s) + 8, paddedRows(s.h) * paddedWidth(s.w))
    }

    // MARK: Transforms

    /// u[e, k, c] = (G g G^T)[e] for g = w[k, c] (3x3); with `flipped`, u[e, c, k] for
    /// g = w[k, c] rotated by 180 degrees (the input gradient's filters).
    static func transformWeights(_ w: UnsafePointer<Float>, k: Int, c: Int, flipped: Bool, _ u: UnsafeMutablePointer<Float>, pool: WorkerPool) {
        let ps = planeStride(k, c)
        let ranges = WorkerPool.split(k, parts: 16)
        pool.run(chunks: ranges.count) { ri, _ in
            for ko in ranges[ri] {
                for ci in 0..<c {
                    let g = w + (ko * c + ci) * 9
                    @inline(__always) func at(_ i: Int) -> Float { flipped ? g[8 - i] : g[i] }
                    let dst = flipped ? ci * k + ko : ko * c + ci
                    // Columns q of G g: g0, (g0 + g1 + g2) / 2, (g0 - g1 + g2) / 2, g2 over rows.
                    @inline(__always) func column(_ q: Int) -> (Float, Float, Float, Float) {
                        let (g0, g1, g2) = (at(q), at(3 + q), at(6 + q))
                        return (g0, 0.5 * (g0 + g1 + g2), 0.5 * (g0 - g1 + g2), g2)
                    }
                    let c0 = column(0), c1 = column(1), c2 = column(2)
                    // Row a of (G g) G^T from row a's three entries.
                    @inline(__always) func store(_ a: Int, _ x0: Float, _ x1: Float, _ x2: Float) {
                        u[(4 * a) * ps + dst] = x0
                        u[(4 * a + 1) * ps + dst] = 0.5 * (x0 + x1 + x2)
                        u[(4 * a + 2) * ps + dst] = 0.5 * (x0 - x1 + x2)
                        u[(4 * a + 3) * ps + dst] = x2
                    }
                    store(0, c0.0, c1.0, c2.0)
                    store(1, c0.1, c1.1, c2.1)
                    store(2, c0.2, c1.2, c2.2)
                    store(3, c0.3, c1.3, c2.3)
                }
            }
        }
    }

    /// out[i, k, c] (i = 3r + q) = (G^T du G)[r, q] for du[e, k, c] (planes
    /// planeStride(K, C) apart): the adjoint of transformWeights, vectorized over (k, c).
    /// Writes K*C*9 floats, 3x3-position-major; with `only`, the (k, c) pairs in it.
    static func weightGradient(_ du: UnsafePointer<Float>, kc: Int, _ out: UnsafeMutablePointer<Float>, only: Range<Int>? = nil) {
        let ds = planeStride(kc, 1)  // == planeStride(K, C)
        @inline(__always) func position<V: FloatLanes>(_ idx: Int, _: V.Type) {
            // Column b of G^T du: d0 + (d1 + d2) / 2, (d1 - d2) / 2, (d1 + d2) / 2 + d3 over rows.
            @inline(__always) func column(_ b: Int) -> (V, V, V) {
                let d0 = V.load(du + b * ds + idx), d1 = V.load(du + (4 + b) * ds + idx)
                let d2 = V.load(du + (8 + b) * ds + idx), d3 = V.load(du + (12 + b) * ds + idx)
                return (d0 + 0.5 * (d1 + d2), 0.5 * (d1 - d2), 0.5 * (d1 + d2) + d3)
            }
            let c0 = column(0), c1 = column(1), c2 = column(2), c3 = column(3)
            // Row r of (G^T du) G from row r's four entries.
            @inline(__always) func store(_ r: Int, _ d0: V, _ d1: V, _ d2: V, _ d3: V) {
                (d0 + 0.5 * (d1 + d2)).store(out + (3 * r) * kc + idx)
                (0.5 * (d1 - d2)).store(out + (3 * r + 1) * kc + idx)
                (0.5 * (d1 + d2) + d3).store(out + (3 * r + 2) * kc + idx)
            }
            store(0, c0.0, c1.0, c2.0, c3.0)
            store(1, c0.1, c1.1, c2.1, c3.1)
            store(2, c0.2, c1.2, c2.2, c3.2)
        }
        let r = only ?? 0..<kc
        sweep(r.count) {
            position(r.lowerBound + $0, SIMD8<Float>.self)
        } narrow: {
            position(r.lowerBound + $0, SIMD2<Float>.self)
        }
    }

    /// v[e, ch, t] = (B^T d B)[e] of the 4x4 patch d of x[ch, n] at rows 2i - 1 ..< 2i + 3,
    /// columns 2j - 1 ..< 2j + 3 (0 outside), for samples n0..<n1 of x [channels, nTotal, h, w].
    static func inputTransform(
        _ x: UnsafePointer<Float>, channels: Int, nTotal: Int, n0: Int, n1: Int, h: Int, w: Int,
        _ v: UnsafeMutablePointer<Float>, rows: UnsafeMutablePointer<Float>, only: Range<Int>? = nil
    ) {
        let (th, tw, tCount, es) = layout(channels: channels, samples: n1 - n0, h: h, w: w)
        // The plane with a zero border: padded[r, q] = x[r - 1, q - 1]. Its border and
        // slack stay zero; only the interior is rewritten per plane.
        let pw = paddedWidth(w), padded = rows
        padded.update(repeating: 0, count: paddedRows(h) * pw)
        for ch in only ?? 0..<channels {
            let o = v + ch * tCount
            for n in n0..<n1 {
                let plane = x + (ch * nTotal + n) * h * w
                for r in 0..<h { copy(plane + r * w, to: padded + (r + 1) * pw + 1, count: w) }
                for i in 0..<th {
                    let t0 = ((n - n0) * th + i) * tw
                    let r0 = padded + 2 * i * pw, r1 = r0 + pw, r2 = r1 + pw, r3 = r2 + pw
                    @inline(__always) func patch<V: FloatLanes>(_ j: Int, _: V.Type) {
                        // Columns 2j ..< 2j + 4 of a padded row, times B: d0 - d2, d1 + d2, d2 - d1, d1 - d3.
                        @inline(__always) func columns(_ row: UnsafeMutablePointer<Float>) -> (V, V, V, V) {
                            let (d0, d1) = V.loadPairs(row + 2 * j), (d2, d3) = V.loadPairs(row + 2 * j + 2)
                            return (d0 - d2, d1 + d2, d2 - d1, d1 - d3)
                        }
                        let a0 = columns(r0), a1 = columns(r1), a2 = columns(r2), a3 = columns(r3)
                        // B^T over the rows, per column b.
                        let t = o + t0 + j
                        @inline(__always) func store(_ b: Int, _ x0: V, _ x1: V, _ x2: V, _ x3: V) {
                            (x0 - x2).store(t + b * es)
                            (x1 + x2).store(t + (4 + b) * es)
                            (x2 - x1).store(t + (8 + b) * es)
                            (x1 - x3).store(t + (12 + b) * es)
                        }
                        store(0, a0.0, a1.0, a2.0, a3.0)
                        store(1, a0.1, a1.1, a2.1, a3.1)
                        store(2, a0.2, a1.2, a2.2, a3.2)
                        store(3, a0.3, a1.3, a2.3, a3.3)
                    }
                    sweep(tw) {
                        patch($0, SIMD8<Float>.self)
                    } narrow: {
                        patch($0, SIMD2<Float>.self)
                    }
                }
            }
        }
    }

    /// The zero-bordered plane of inputTransform: 2 * tilesW + 2 columns (the last tile's
    /// patch), plus slack so that 8-lane pair loads never leave it.
    static func paddedWidth(_ w: Int) -> Int { 2 * ((w + 1) / 2) + 2 + 16 }
    static func paddedRows(_ h: Int) -> Int { 2 * ((h + 1) / 2) + 2 }

    /// y[ch, n, 2i + a, 2j + b] = (A^T m A)[a, b] for m[e] = mt[e, ch, t]; outputs past an
    /// odd last row or column are dropped.
    static func outputTransform(
        _ mt: UnsafePointer<Float>, channels: Int, nTotal: Int, n0: Int, n1: Int, h: Int, w: Int,
        _ y: UnsafeMutablePointer<Float>, rows: UnsafeMutablePointer<Float>, only: Range<Int>? = nil
    ) {
        let (_, _, tCount, es) = layout(channels: channels, samples: n1 - n0, h: h, w: w)
        // The tiles' four outputs: y00[t] for output row 2i, column 2j, y01[t] for 2i, 2j + 1, ...
        let y00 = rows, y01 = rows + tCount, y10 = y01 + tCount, y11 = y10 + tCount
        for ch in only ?? 0..<channels {
            let q = mt + ch * tCount
            @inline(__always) func outputs<V: FloatLanes>(_ t: Int, _: V.Type) {
                @inline(__always) func m(_ e: Int) -> V { V.load(q + e * es + t) }
                // A^T m: s0 = m0 + m1 + m2, s1 = m1 - m2 - m3 over the tile rows; then
                // the same over the columns.
                let s00 = m(0) + m(4) + m(8), s01 = m(1) + m(5) + m(9), s02 = m(2) + m(6) + m(10), s03 = m(3) + m(7) + m(11)
                let s10 = m(4) - m(8) - m(12), s11 = m(5) - m(9) - m(13), s12 = m(6) - m(10) - m(14), s13 = m(7) - m(11) - m(15)
                (s00 + s01 + s02).store(y00 + t)
                (s01 - s02 - s03).store(y01 + t)
                (s10 + s11 + s12).store(y10 + t)
                (s11 - s12 - s13).store(y11 + t)
            }
            sweep(tCount) {
                outputs($0, SIMD8<Float>.self)
            } narrow: {
                outputs($0, SIMD2<Float>.self)
            }
            eachOutputRow(n0: n0, n1: n1, h: h, w: w) { n, offset, t0, a in
                let row = y + (ch * nTotal + n) * h * w + offset
                let (even, odd) = a == 0 ? (y00, y01) : (y10, y11)
                interleave(even + t0, odd + t0, into: row, count: w)
            }
        }
    }

    /// g[e, ch, t] = (A dy A^T)[e] of the 2x2 tile t of dy[ch, n] (0 past an odd edge):
    /// the adjoint of outputTransform.
    static func gradientTransform(
        _ dy: UnsafePointer<Float>, channels: Int, nTotal: Int, n0: Int, n1: Int, h: Int, w: Int,
        _ g: UnsafeMutablePointer<Float>, rows: UnsafeMutablePointer<Float>, only: Range<Int>? = nil
    ) {
        let (_, _, tCount, es) = layout(channels: channels, samples: n1 - n0, h: h, w: w)
        // The tiles' four values, deinterleaved: g00[t] = dy[2i, 2j], g01[t] = dy[2i, 2j + 1], ...
        let g00 = rows, g01 = rows + tCount, g10 = g01 + tCount, g11 = g10 + tCount
        for ch in only ?? 0..<channels {
            if w & 1 == 1 || h & 1 == 1 { rows.update(repeating: 0, count: 4 * tCount) }
            eachOutputRow(n0: n0, n1: n1, h: h, w: w) { n, offset, t0, a in
                let row = dy + (ch * nTotal + n) * h * w + offset
                let (even, odd) = a == 0 ? (g00, g01) : (g10, g11)
                deinterleave(row, count: w, even + t0, odd + t0)
            }
            let o = g + ch * tCount
            @inline(__always) func tilesOf<V: FloatLanes>(_ t: Int, _: V.Type) {
                let a0 = V.load(g00 + t), a1 = V.load(g01 + t), b0 = V.load(g10 + t), b1 = V.load(g11 + t)
                // A g: rows g0, g0 + g1, g0 - g1, -g1; then the same over the columns.
                @inline(__always) func store(_ a: Int, _ x0: V, _ x1: V) {
                    x0.store(o + (4 * a) * es + t)
                    (x0 + x1).store(o + (4 * a + 1) * es + t)
                    (x0 - x1).store(o + (4 * a + 2) * es + t)
                    (-x1).store(o + (4 * a + 3) * es + t)
                }
                store(0, a0, a1)
                store(1, a0 + b0, a1 + b1)
                store(2, a0 - b0, a1 - b1)
                store(3, -b0, -b1)
            }
            sweep(tCount) {
                tilesOf($0, SIMD8<Float>.self)
            } narrow: {
                tilesOf($0, SIMD2<Float>.self)
            }
        }
    }

    /// body(n, offset, t0, a) for each output row 2i + a (a = 0, 1; a cut-off odd last
    /// row skipped) of each tile row i of samples n0..<n1: `offset` is the row's start
    /// in the sample's plane, t0 the index of the row's first tile.
    @inline(__always)
    static func eachOutputRow(n0: Int, n1: Int, h: Int, w: Int, _ body: (_ n: Int, _ offset: Int, _ t0: Int, _ a: Int) -> Void) {
        let (th, tw) = tiles(h, w)
        for n in n0..<n1 {
            for i in 0..<th {
                for a in 0..<2 where 2 * i + a < h { body(n, (2 * i + a) * w, ((n - n0) * th + i) * tw, a) }
            }
        }
    }

    /// dst[0..<count] = src[0..<count], inline: the rows are a few dozen floats, where a
    /// memmove call costs more than the copy.
    @inline(__always)
    static func copy(_ src: UnsafePointer<Float>, to dst: UnsafeMutablePointer<Float>, count: Int) {
        sweep(count) {
            SIMD8<Float>.load(src + $0).store(dst + $0)
        } narrow: {
            dst[$0] = src[$0]
        }
    }

    /// row[2m] = even[m], row[2m + 1] = odd[m] for the first `count` entries of row.
    @inline(__always)
    static func interleave(_ even: UnsafePointer<Float>, _ odd: UnsafePointer<Float>, into row: UnsafeMutablePointer<Float>, count: Int) {
        var m = 0
        while 2 * m + 16 <= count {
            let e = SIMD8<Float>.load(even + m), o = SIMD8<Float>.load(odd + m)
            let z = SIMD16<Float>(e[0], o[0], e[1], o[1], e[2], o[2], e[3], o[3], e[4], o[4], e[5], o[5], e[6], o[6], e[7], o[7])
            UnsafeMutableRawPointer(row + 2 * m).storeBytes(of: z, as: SIMD16<Float>.self)
            m += 8
        }
        for j in 2 * m..<count { row[j] = (j & 1 == 0 ? even : odd)[j >> 1] }
    }

    /// even[m] = row[2m], odd[m] = row[2m + 1] for the first `count` entries of row.
    @inline(__always)
    static func deinterleave(_ row: UnsafePointer<Float>, count: Int, _ even: UnsafeMutablePointer<Float>, _ odd: UnsafeMutablePointer<Float>) {
        var m = 0
        while 2 * m + 16 <= count {
            let (e, o) = SIMD8<Float>.loadPairs(row + 2 * m)
            e.store(even + m)
            o.store(odd + m)
            m += 8
        }
        for j in 2 * m..<count { (j & 1 == 0 ? even : odd)[j >> 1] = row[j] }
    }

    /// body(i) for i = 0, 8, 16, ... while 8 lanes fit, then narrow(i) for each remaining i.
    @inline(__always)
    static func sweep(_ count: Int, _ body: (Int) -> Void, narrow: (Int) -> Void) {
        var i = 0
        while i + 8 <= count {
            body(i)
            i += 8
        }
        while i < count {
            narrow(i)
            i += 1
        }
    }

    // MARK: Convolution

    /// Tasks a convolution offers at least, whichever schedule it runs: one per thread
    /// of a 16-thread machine.
    static let minTasks = 16
    /// The most floats of per-worker tile buffers (5 MB) a group-per-task convolution may need.
    static let tileBudget = 5 << 18

    /// Whether a convolution runs a group per task, or one group at a time with the
    /// group's transforms split into `minTasks` channel ranges and its 16 GEMMs as 16
    /// tasks, so that many threads share each group. A group per task keeps a group's
    /// tiles in one core's caches from transform to GEMM (faster on few threads), but
    /// needs `minTasks` groups and tile buffers per worker; one at a time needs them once.
    /// So: a group per task where there are at least `minTasks` groups and their tiles
    /// fit `tileBudget` (resnet18, batch 64: layer1 and layer2; batch 256: layer3 too
    /// would need 8.4 MB per worker, 134 MB more at 16 threads). Both schedules make the
    /// same calls on the same data, so they give the same bytes; the choice depends on
    /// this process's image groups (fewer on each of several processes), and the bytes
    /// of a data-parallel step rely on the two schedules being equal (tested at 1 to 16
    /// threads and on 1 to 5 ranks).
    static func groupPerTask(_ s: ConvShape, _ groups: [Range<Int>]) -> Bool {
        let t = (groups.map(\.count).max() ?? 1) * tilesPerImage(s)
        return groups.count >= minTasks && 16 * planeStride(max(s.c, s.k), t) <= tileBudget
    }

    /// y [K, nTotal * H * W] = conv(x, w), group by group.
    static func forward(
        _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ s: ConvShape,
        seg: Segments, pool: WorkerPool, scratch: ConvScratch
    ) {
        let (k, c) = (s.k, s.c)
        let nTotal = seg.images
        let groups = groups(seg, s).ranges
        let u = scratch.u.pointer
        transformWeights(w, k: k, c: c, flipped: false, u, pool: pool)
        // The stages of group g with tile buffers v [16, C, T], m [16, K, T].
        func transformIn(_ g: Range<Int>, _ v: UnsafeMutablePointer<Float>, _ worker: Int, _ only: Range<Int>? = nil) {
            inputTransform(
                x, channels: c, nTotal: nTotal, n0: g.lowerBound, n1: g.upperBound, h: s.h, w: s.w, v,
                rows: scratch.rows[worker].pointer, only: only)
        }
        func gemm(_ g: Range<Int>, _ e: Int, _ v: UnsafeMutablePointer<Float>, _ m: UnsafeMutablePointer<Float>) {
            let t = g.count * tilesPerImage(s)
            sgemm(
                m: k, n: t, k: c, a: u + e * planeStride(k, c), lda: c, b: v + e * planeStride(c, t), ldb: t,
                c: m + e * planeStride(k, t), ldc: t)
        }
        func transformOut(_ g: Range<Int>, _ m: UnsafeMutablePointer<Float>, _ worker: Int, _ only: Range<Int>? = nil) {
            outputTransform(
                m, channels: k, nTotal: nTotal, n0: g.lowerBound, n1: g.upperBound, h: s.h, w: s.w, y,
                rows: scratch.rows[worker].pointer, only: only)
        }
        if !groupPerTask(s, groups) {
            let v = scratch.a[0].pointer, m = scratch.b[0].pointer
            let cRanges = WorkerPool.split(c, parts: minTasks), kRanges = WorkerPool.split(k, parts: minTasks)
            for g in groups {
                pool.run(chunks: cRanges.count) { ri, worker in transformIn(g, v, worker, cRanges[ri]) }
                pool.run(chunks: 16) { e, _ in gemm(g, e, v, m) }
                pool.run(chunks: kRanges.count) { ri, worker in transformOut(g, m, worker, kRanges[ri]) }
            }
            return
        }
        pool.run(chunks: groups.count) { gi, worker in
            let v = scratch.a[worker].pointer, m = scratch.b[worker].pointer
            transformIn(groups[gi], v, worker)
            for e in 0..<16 { gemm(groups[gi], e, v, m) }
            transformOut(groups[gi], m, worker)
        }
    }

    /// dw = the sum of the groups' adjoint tile sums (`ImageGroups.reduce`), into one
    /// output per block of the reduction; dx (when given) = the convolution of dy with
    /// the flipped, transposed filters.
    static func backward(
        _ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
        dx: UnsafeMutablePointer<Float>?, dw: [UnsafeMutablePointer<Float>], _ s: ConvShape,
        seg: Segments, reduction: GroupReduction?, pool: WorkerPool, scratch: ConvScratch
    ) {
        let (k, c) = (s.k, s.c)
        let nTotal = seg.images
        let ig = groups(seg, s)
        let groups = ig.ranges
        let kc = k * c
        let uFlip = scratch.u.pointer
        if dx != nil { transformWeights(w, k: k, c: c, flipped: true, uFlip, pool: pool) }
        let partial = scratch.partial.pointer
        // The stages of group gi with tile buffers a, b [16, max(C, K), T] and du [16, K, C].
        func n01(_ gi: Int) -> (Int, Int) { (groups[gi].lowerBound, groups[gi].upperBound) }
        func tileCount(_ gi: Int) -> Int { groups[gi].count * tilesPerImage(s) }
        // V = B^T x B into a (channels `only` of C), and A dy A^T into b (of K).
        func transformX(_ gi: Int, _ a: UnsafeMutablePointer<Float>, _ worker: Int, _ only: Range<Int>? = nil) {
            let (n0, n1) = n01(gi)
            inputTransform(x, channels: c, nTotal: nTotal, n0: n0, n1: n1, h: s.h, w: s.w, a, rows: scratch.rows[worker].pointer, only: only)
        }
        func transformDy(_ gi: Int, _ b: UnsafeMutablePointer<Float>, _ worker: Int, _ only: Range<Int>? = nil) {
            let (n0, n1) = n01(gi)
            gradientTransform(dy, channels: k, nTotal: nTotal, n0: n0, n1: n1, h: s.h, w: s.w, b, rows: scratch.rows[worker].pointer, only: only)
        }
        // dU[e] [K, C] = (A dy A^T)[e] [K, T] x V[e]^T [T, C]
        func gemmDU(_ gi: Int, _ e: Int, _ a: UnsafeMutablePointer<Float>, _ b: UnsafeMutablePointer<Float>, _ du: UnsafeMutablePointer<Float>) {
            let t = tileCount(gi)
            sgemm(
                transB: true, m: k, n: c, k: t, a: b + e * planeStride(k, t), lda: t, b: a + e * planeStride(c, t), ldb: t,
                c: du + e * planeStride(k, c), ldc: c)
        }
        // B^T dy B into a (channels of K), then M[e] [C, T] = U'[e] [C, K] x a[e] [K, T] into b, then dx.
        func transformDyIn(_ gi: Int, _ a: UnsafeMutablePointer<Float>, _ worker: Int, _ only: Range<Int>? = nil) {
            let (n0, n1) = n01(gi)
            inputTransform(dy, channels: k, nTotal: nTotal, n0: n0, n1: n1, h: s.h, w: s.w, a, rows: scratch.rows[worker].pointer, only: only)
        }
        func gemmDX(_ gi: Int, _ e: Int, _ a: UnsafeMutablePointer<Float>, _ b: UnsafeMutablePointer<Float>) {
            let t = tileCount(gi)
            sgemm(
                m: c, n: t, k: k, a: uFlip + e * planeStride(k, c), lda: k, b: a + e * planeStride(k, t), ldb: t,
                c: b + e * planeStride(c, t), ldc: t)
        }
        func transformDx(_ gi: Int, _ b: UnsafeMutablePointer<Float>, _ worker: Int, _ only: Range<Int>? = nil) {
            let (n0, n1) = n01(gi)
            outputTransform(b, channels: c, nTotal: nTotal, n0: n0, n1: n1, h: s.h, w: s.w, dx!, rows: scratch.rows[worker].pointer, only: only)
        }
        if !groupPerTask(s, groups) {
            let a = scratch.a[0].pointer, b = scratch.b[0].pointer, du = scratch.tileGrad[0].pointer
            let cRanges = WorkerPool.split(c, parts: minTasks), kRanges = WorkerPool.split(k, parts: minTasks)
            let kcRanges = WorkerPool.split(kc, parts: minTasks)
            for gi in groups.indices {
                pool.run(chunks: cRanges.count + kRanges.count) { ri, worker in
                    if ri < cRanges.count { transformX(gi, a, worker, cRanges[ri]) } else { transformDy(gi, b, worker, kRanges[ri - cRanges.count]) }
                }
                pool.run(chunks: 16) { e, _ in gemmDU(gi, e, a, b, du) }
                pool.run(chunks: kcRanges.count) { ri, _ in weightGradient(du, kc: kc, partial + gi * 9 * kc, only: kcRanges[ri]) }
                let chRanges = WorkerPool.split(c, parts: minTasks)
                pool.run(chunks: chRanges.count) { ri, _ in
                    zeroUnseenTaps(x, channels: chRanges[ri], c: c, k: k, nTotal: nTotal, images: groups[gi], h: s.h, w: s.w, partial + gi * 9 * kc)
                }
                guard dx != nil else { continue }
                pool.run(chunks: kRanges.count) { ri, worker in transformDyIn(gi, a, worker, kRanges[ri]) }
                pool.run(chunks: 16) { e, _ in gemmDX(gi, e, a, b) }
                pool.run(chunks: cRanges.count) { ri, worker in transformDx(gi, b, worker, cRanges[ri]) }
            }
        } else {
            pool.run(chunks: groups.count) { gi, worker in
                let a = scratch.a[worker].pointer, b = scratch.b[worker].pointer, du = scratch.tileGrad[worker].pointer
                transformX(gi, a, worker)
                transformDy(gi, b, worker)
                for e in 0..<16 { gemmDU(gi, e, a, b, du) }
                weightGradient(du, kc: kc, partial + gi * 9 * kc)
                zeroUnseenTaps(x, channels: 0..<c, c: c, k: k, nTotal: nTotal, images: groups[gi], h: s.h, w: s.w, partial + gi * 9 * kc)
                guard dx != nil else { return }
                transformDyIn(gi, a, worker)
                for e in 0..<16 { gemmDX(gi, e, a, b) }
                transformDx(gi, b, worker)
            }
        }
        // dw[kc, 3r + q] = the reduced partial[3r + q, kc]: 8 consecutive kc at a time
        // (the partial rows are contiguous in kc), then written 9 apart.
        ig.reduce(partial, count: 9 * kc, reduction: reduction, pool: pool) { b, sum in
            let out = dw[b]
            let ranges = WorkerPool.split(kc, parts: 16)
            pool.run(chunks: ranges.count) { ri, _ in
                let lo = ranges[ri].lowerBound
                for p in 0..<9 {
                    @inline(__always) func copy<V: FloatLanes>(_ i: Int, _: V.Type) {
                        let idx = lo + i
                        let v = V.load(sum + p * kc + idx)
                        for l in 0..<V.usedLanes { out[(idx + l) * 9 + p] = v[l] }
                    }
                    sweep(ranges[ri].count) {
                        copy($0, SIMD8<Float>.self)
                    } narrow: {
                        copy($0, SIMD2<Float>.self)
                    }
                }
            }
        }
    }

    /// partial[3r + q, k, c] = 0 (a group's weight gradient in [9, K, C]) for every k
    /// where input channel c is exactly 0, in every image of the group, under the whole
    /// window tap (r, q) reads (rows r - 1 ..< h + r - 1, columns q - 1 ..< w + q - 1,
    /// clipped to the plane). The gradient there is exactly 0, as im2col, a direct
    /// convolution and the reference give it; Winograd's transforms mix the zeros with
    /// their nonzero neighbours and leave rounding noise (about 1e-7), which Adam,
    /// dividing by sqrt(v) + 1e-8, turns into a step of about lr where the reference
    /// stands still (7x the float32 bound at lr 0.01). It happens on small planes, where
    /// a ReLU can zero a channel's corner row and column in every sample. Per group, so
    /// that each group's partial, and hence every sum of them, is exact there.
    static func zeroUnseenTaps(
        _ x: UnsafePointer<Float>, channels: Range<Int>, c: Int, k: Int, nTotal: Int, images: Range<Int>,
        h: Int, w: Int, _ partial: UnsafeMutablePointer<Float>
    ) {
        for ci in channels {
            // Bit 3r + q: tap (r, q)'s window holds a nonzero (NaN counts as one).
            var seen: UInt16 = 0
            scan: for n in images {
                let plane = x + (ci * nTotal + n) * h * w
                for i in 0..<h {
                    let row = plane + i * w
                    var first = -1, last = -1
                    for j in 0..<w where row[j] != 0 {
                        if first < 0 { first = j }
                        last = j
                    }
                    if first < 0 { continue }
                    // Tap row r reads rows 0 ..< h - 1 (r = 0), all (r = 1), 1 ..< h
                    // (r = 2); columns likewise for q.
                    for r in 0..<3 where (r != 0 || i < h - 1) && (r != 2 || i > 0) {
                        if first < w - 1 { seen |= 1 << (3 * r) }
                        seen |= 1 << (3 * r + 1)
                        if last > 0 { seen |= 1 << (3 * r + 2) }
                    }
                    if seen == 0x1FF { break scan }
                }
            }
            for p in 0..<9 where seen & (1 << p) == 0 {
                for ko in 0..<k { partial[p * k * c + ko * c + ci] = 0 }
            }
        }
    }
}

/// Float vectors the transforms are written over once: 8 lanes for the bulk, and
/// SIMD2 standing in for a single lane (only lane 0 is loaded and stored) for the tail.
protocol FloatLanes: SIMD where Scalar == Float {
    static func load(_ p: UnsafePointer<Float>) -> Self
    /// (p[0], p[2], p[4], ...) and (p[1], p[3], p[5], ...).
    static func loadPairs(_ p: UnsafePointer<Float>) -> (Self, Self)
    func store(_ p: UnsafeMutablePointer<Float>)
    /// Lanes that load and store touch: 8, or 1 for the SIMD2 stand-in.
    static var usedLanes: Int { get }
}

extension SIMD8: FloatLanes where Scalar == Float {
    static var usedLanes: Int { 8 }
    @inline(__always) static func load(_ p: UnsafePointer<Float>) -> Self { UnsafeRawPointer(p).loadUnaligned(as: Self.self) }
    @inline(__always) static func loadPairs(_ p: UnsafePointer<Float>) -> (Self, Self) {
        let v = UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
        return (v.evenHalf, v.oddHalf)
    }
    @inline(__always) func store(_ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: self, as: Self.self) }
}

extension SIMD2: FloatLanes where Scalar == Float {
    static var usedLanes: Int { 1 }
    @inline(__always) static func load(_ p: UnsafePointer<Float>) -> Self { Self(p[0], 0) }
    @inline(__always) static func loadPairs(_ p: UnsafePointer<Float>) -> (Self, Self) { (Self(p[0], 0), Self(p[1], 0)) }
    @inline(__always) func store(_ p: UnsafeMutablePointer<Float>) { p[0] = self[0] }
}
