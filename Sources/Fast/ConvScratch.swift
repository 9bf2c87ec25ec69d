/// The convolutions' reusable buffers, sized once for every shape of a network.
/// Per worker: two large buffers (im2col matrix and its gradient, or Winograd tiles
/// before and after the GEMMs), the Winograd weight-gradient tiles and a small row
/// buffer. A convolution run one group at a time (Winograd.groupPerTask) uses worker
/// 0's large buffers only, so those alone are sized for it: per-worker memory does not
/// grow with the deep layers' large groups. Shared: the transformed weights and the
/// per-group partial weight gradients.
final class ConvScratch {
    let a: [FloatBuffer], b: [FloatBuffer]
    let tileGrad: [FloatBuffer]
    let rows: [FloatBuffer]
    /// Winograd weights [16, K, C] and, in backward, flipped ones [16, C, K].
    let u: FloatBuffer
    /// groups x K x C*R*R partial weight gradients (the most any one shape needs: its
    /// own group count times its own weight size), also the linear layers' per-group ones.
    let partial: FloatBuffer

    /// What the largest of `shapes` needs for the images of `seg`, and `linearPartials`
    /// floats of per-group linear weight gradients.
    init(shapes: [ConvShape], seg: Segments, workers: Int, training: Bool, linearPartials: Int = 1) {
        // Per worker, and for worker 0 alone (one-group-at-a-time convolutions).
        var big = 1, bigFirst = 1, tile = 1, tileFirst = 1, row = 1, partials = linearPartials, weights = 1
        for s in shapes {
            if Winograd.applies(s) {
                let wg = Winograd.groups(seg, s).ranges
                partials = max(partials, wg.count * s.k * s.crr)
                let t = (wg.map(\.count).max() ?? 1) * Winograd.tilesPerImage(s)
                let tiles = 16 * Winograd.planeStride(max(s.c, s.k), t), grads = 16 * Winograd.planeStride(s.k, s.c)
                weights = max(weights, grads)
                if !Winograd.groupPerTask(s, wg) {
                    (bigFirst, tileFirst) = (max(bigFirst, tiles), max(tileFirst, grads))
                } else {
                    (big, tile) = (max(big, tiles), max(tile, grads))
                }
                row = max(row, Winograd.rowScratch(s, groupSize: wg.map(\.count).max() ?? 1))
            } else {
                let groups = FastConv.groups(seg, s).ranges
                big = max(big, s.crr * (groups.map(\.count).max() ?? 1) * s.ho * s.wo)
                partials = max(partials, groups.count * s.k * s.crr)
            }
        }
        a = (0..<workers).map { FloatBuffer($0 == 0 ? max(big, bigFirst) : big) }
        b = (0..<workers).map { FloatBuffer($0 == 0 ? max(big, bigFirst) : big) }
        tileGrad = (0..<workers).map { FloatBuffer(training ? ($0 == 0 ? max(tile, tileFirst) : tile) : 1) }
        rows = (0..<workers).map { _ in FloatBuffer(row) }
        u = FloatBuffer(weights)
        partial = FloatBuffer(training ? partials : 1)
    }
}
