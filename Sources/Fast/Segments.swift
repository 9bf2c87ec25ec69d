import BYOLModel

/// Where a process's sample groups lie among its images. A training network holds the
/// images of its sample groups one group after another, each group's view-1 images then
/// its view-2 images (so a group's images are contiguous and the loss pairs image i of
/// a group with image i + m, m its samples); an embedder holds one segment of all its
/// images. Convolutions and linear layers compute each segment on its own (GEMM calls
/// fixed by the group, never spanning two), and sums over samples are per segment first.
struct Segments {
    /// Local image ranges, one per local sample group.
    let ranges: [Range<Int>]
    /// BN batches per segment: 2 (each view its own, `separate`) or 1.
    let bnBatches: Int
    /// The sample groups of the whole batch: the image-group sizing of convolutions
    /// uses it, so that it does not depend on how many processes share the groups.
    let totalGroups: Int
    /// Images per BN batch over the whole batch (all processes).
    let bnBatchImages: Int

    var images: Int { ranges.last?.upperBound ?? 0 }

    /// One segment of `images` (eval mode, a layer on its own), in `bnBatches` BN batches.
    init(images: Int, bnBatches: Int = 1) {
        ranges = [0..<images]
        self.bnBatches = bnBatches
        totalGroups = 1
        bnBatchImages = images / bnBatches
    }

    /// The training layout of this process's groups (both views of each sample).
    init(groups: SampleGroups, bnBatches: Int) {
        var r: [Range<Int>] = []
        var o = 0
        for g in groups.local {
            let n = 2 * groups.samples(g).count
            r.append(o..<(o + n))
            o += n
        }
        ranges = r
        self.bnBatches = bnBatches
        totalGroups = groups.count
        bnBatchImages = 2 * groups.batch / bnBatches
    }

    /// The images of BN batch g (0..<bnBatches) of segment j.
    func bnRange(_ j: Int, _ g: Int) -> Range<Int> {
        let r = ranges[j], m = r.count / bnBatches
        return (r.lowerBound + g * m)..<(r.lowerBound + (g + 1) * m)
    }
}

/// A convolution's image groups over the segments of a network (`Segments`): `ranges`
/// in local image order, `bySegment[j]` the indices of segment j's groups.
struct ImageGroups {
    let ranges: [Range<Int>]
    let bySegment: [Range<Int>]

    init(_ seg: Segments, _ split: (Int) -> [Range<Int>]) {
        var r: [Range<Int>] = [], by: [Range<Int>] = []
        for s in seg.ranges {
            let g = split(s.count).map { ($0.lowerBound + s.lowerBound)..<($0.upperBound + s.lowerBound) }
            by.append(r.count..<(r.count + g.count))
            r += g
        }
        ranges = r
        bySegment = by
    }

    /// Sums per-group partials (group i's at parts + i * count): each segment's groups
    /// in group order (into its first group's slot), then the segments by the reduction
    /// (without one: the single segment); `write(b, sum)` receives block b's sum.
    func reduce(
        _ parts: UnsafeMutablePointer<Float>, count: Int, reduction: GroupReduction?, pool: WorkerPool,
        write: (Int, UnsafePointer<Float>) -> Void
    ) {
        let folds = bySegment.filter { $0.count > 1 }
        if !folds.isEmpty {
            let ranges = WorkerPool.split(count, parts: 16)
            pool.run(chunks: ranges.count) { ri, _ in
                for f in folds {
                    let a = parts + f.lowerBound * count
                    for g in (f.lowerBound + 1)..<f.upperBound {
                        let b = parts + g * count
                        for i in ranges[ri] { a[i] += b[i] }
                    }
                }
            }
        }
        guard let reduction else {
            precondition(bySegment.count == 1, "several segments need a reduction")
            return write(0, parts)
        }
        let slots = reduction.reduceBlocks(count: count) { parts + bySegment[$0].lowerBound * count }
        for (b, j) in slots.enumerated() { write(b, parts + bySegment[j].lowerBound * count) }
    }
}
