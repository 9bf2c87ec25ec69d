/// The convolutions' reusable buffers, sized once for every shape of a network.
/// Per worker: two large buffers (im2col matrix and its gradient, or Winograd tiles
/// before and after the GEMMs), the Winograd weight-gradient tiles and a small row
/// buffer. Shared: the transformed weights and the per-group partial weight gradients.
final class ConvScratch {
    let a: [FloatBuffer], b: [FloatBuffer]
    let tileGrad: [FloatBuffer]
    let rows: [FloatBuffer]
    /// Winograd weights [16, K, C] and, in backward, flipped ones [16, C, K].
    let u: FloatBuffer
    /// groups x K x C*R*R partial weight gradients (the most any one shape needs: its
    /// own group count times its own weight size).
    let partial: FloatBuffer

    /// What the largest of `shapes` needs for a batch of `nTotal` in `groups` (im2col).
    init(shapes: [ConvShape], nTotal: Int, groups: [Range<Int>], workers: Int, training: Bool) {
        let groupSize = groups.map(\.count).max() ?? 1
        var big = 1, tile = 1, row = 1, partials = 1
        for s in shapes {
            if Winograd.applies(s) {
                let wg = Winograd.groups(nTotal: nTotal, s)
                partials = max(partials, wg.count * s.k * s.crr)
                let t = (wg.map(\.count).max() ?? 1) * Winograd.tilesPerImage(s)
                big = max(big, 16 * Winograd.planeStride(max(s.c, s.k), t))
                tile = max(tile, 16 * Winograd.planeStride(s.k, s.c))
                row = max(row, Winograd.rowScratch(s, groupSize: wg.map(\.count).max() ?? 1))
            } else {
                big = max(big, s.crr * groupSize * s.ho * s.wo)
                partials = max(partials, groups.count * s.k * s.crr)
            }
        }
        a = (0..<workers).map { _ in FloatBuffer(big) }
        b = (0..<workers).map { _ in FloatBuffer(big) }
        tileGrad = (0..<workers).map { _ in FloatBuffer(training ? tile : 1) }
        rows = (0..<workers).map { _ in FloatBuffer(row) }
        u = FloatBuffer(tile)
        partial = FloatBuffer(training ? partials : 1)
    }
}
