/// Linear layers on feature-major activations: x [I, cols] -> y [O, cols] = w x + b.
/// Work is split over fixed row blocks (no reductions across tasks).
enum FastLinear {
    static let rowBlock = 128

    /// Fixed blocks of at most `rowBlock` rows of a layer with `rows` outputs (or inputs),
    /// and at least 16 of them where there are 16 rows (a task for each of 16 threads).
    static func rowBlocks(_ rows: Int) -> [Range<Int>] {
        WorkerPool.split(rows, parts: max((rows + rowBlock - 1) / rowBlock, min(rows, 16)))
    }

    static func forward(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                        inF: Int, outF: Int, cols: Int, pool: WorkerPool) {
        let blocks = rowBlocks(outF)
        pool.run(chunks: blocks.count) { bi, _ in
            let r = blocks[bi]
            sgemm(m: r.count, n: cols, k: inF, a: w + r.lowerBound * inF, lda: inF, b: x, ldb: cols, c: y + r.lowerBound * cols, ldc: cols)
            for o in r { let row = y + o * cols; for j in 0..<cols { row[j] += b[o] } }
        }
    }

    /// dw [O, I] = dy x^T, db [O] = row sums of dy (when given: a bias feeding a BN gets
    /// its gradient from the BN instead), dx [I, cols] = w^T dy (when given).
    static func backward(_ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>?,
                         dw: UnsafeMutablePointer<Float>, db: UnsafeMutablePointer<Float>?, inF: Int, outF: Int, cols: Int, pool: WorkerPool) {
        let oBlocks = rowBlocks(outF)
        pool.run(chunks: oBlocks.count) { bi, _ in
            let r = oBlocks[bi]
            sgemm(transB: true, m: r.count, n: inF, k: cols, a: dy + r.lowerBound * cols, lda: cols, b: x, ldb: cols,
                  c: dw + r.lowerBound * inF, ldc: inF)
            guard let db else { return }
            for o in r {
                var s = 0.0
                for j in 0..<cols { s += Double(dy[o * cols + j]) }
                db[o] = Float(s)
            }
        }
        guard let dx else { return }
        let iBlocks = rowBlocks(inF)
        pool.run(chunks: iBlocks.count) { bi, _ in
            let r = iBlocks[bi]
            sgemm(transA: true, m: r.count, n: cols, k: outF, a: w + r.lowerBound, lda: inF, b: dy, ldb: cols,
                  c: dx + r.lowerBound * cols, ldc: cols)
        }
    }
}
