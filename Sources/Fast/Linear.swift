/// Linear layers on feature-major activations: x [I, cols] -> y [O, cols] = w x + b,
/// cols the images of `seg`. Work is split over fixed row blocks and segments (one GEMM
/// per block and segment: a sample group's columns never share a call with another's).
enum FastLinear {
    static let rowBlock = 128

    /// Fixed blocks of at most `rowBlock` rows of a layer with `rows` outputs (or inputs),
    /// and at least 16 of them where there are 16 rows (a task for each of 16 threads).
    static func rowBlocks(_ rows: Int) -> [Range<Int>] {
        WorkerPool.split(rows, parts: max((rows + rowBlock - 1) / rowBlock, min(rows, 16)))
    }

    static func forward(
        _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
        inF: Int, outF: Int, seg: Segments, pool: WorkerPool
    ) {
        let cols = seg.images
        let blocks = rowBlocks(outF)
        pool.run(chunks: blocks.count * seg.ranges.count) { t, _ in
            let r = blocks[t % blocks.count], sr = seg.ranges[t / blocks.count]
            sgemm(
                m: r.count, n: sr.count, k: inF, a: w + r.lowerBound * inF, lda: inF, b: x + sr.lowerBound, ldb: cols,
                c: y + r.lowerBound * cols + sr.lowerBound, ldc: cols)
            for o in r {
                let row = y + o * cols
                for j in sr { row[j] += b[o] }
            }
        }
    }

    /// dw [O, I] = sum over segments of dy_j x_j^T (per-segment partials in `partial`,
    /// `seg.ranges.count` x O x I, added by the reduction; one output per block), db [O]
    /// = row sums of dy in float64, per segment then over the groups by the tree (when
    /// given: a bias feeding a BN gets its gradient from the BN instead), dx [I, cols] =
    /// w^T dy (when given). A single segment without a reduction needs no `partial`.
    static func backward(
        _ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>?,
        dw: [UnsafeMutablePointer<Float>], db: UnsafeMutablePointer<Float>?, inF: Int, outF: Int, seg: Segments,
        reduction: GroupReduction?, partial: UnsafeMutablePointer<Float>?, pool: WorkerPool
    ) {
        let cols = seg.images, nSeg = seg.ranges.count
        let wsize = outF * inF
        let direct = reduction == nil && nSeg == 1
        precondition(direct || partial != nil, "several segments need partials")
        precondition(reduction != nil || nSeg == 1, "several segments need a reduction")
        let slot = { (j: Int) in direct ? dw[0] : partial! + j * wsize }
        let oBlocks = rowBlocks(outF)
        var sums = [Double](repeating: 0, count: db == nil ? 0 : nSeg * outF)
        sums.withUnsafeMutableBufferPointer { S in
            pool.run(chunks: oBlocks.count * nSeg) { t, _ in
                let r = oBlocks[t % oBlocks.count], j = t / oBlocks.count, sr = seg.ranges[j]
                sgemm(
                    transB: true, m: r.count, n: inF, k: sr.count, a: dy + r.lowerBound * cols + sr.lowerBound, lda: cols,
                    b: x + sr.lowerBound, ldb: cols, c: slot(j) + r.lowerBound * inF, ldc: inF)
                guard db != nil else { return }
                for o in r {
                    var s = 0.0
                    for c in sr { s += Double(dy[o * cols + c]) }
                    S[j * outF + o] = s
                }
            }
        }
        if !direct {
            let results = reduction.map { $0.reduceBlocks(count: wsize, slot: slot) } ?? [0]
            for (b, j) in results.enumerated() { dw[b].update(from: slot(j), count: wsize) }
        }
        if let db {
            let total = reduction?.fold(sums, n: outF) ?? sums
            for o in 0..<outF { db[o] = Float(total[o]) }
        }
        guard let dx else { return }
        let iBlocks = rowBlocks(inF)
        pool.run(chunks: iBlocks.count * nSeg) { t, _ in
            let r = iBlocks[t % iBlocks.count], sr = seg.ranges[t / iBlocks.count]
            sgemm(
                transA: true, m: r.count, n: sr.count, k: outF, a: w + r.lowerBound, lda: inF, b: dy + sr.lowerBound, ldb: cols,
                c: dx + r.lowerBound * cols + sr.lowerBound, ldc: cols)
        }
    }
}
