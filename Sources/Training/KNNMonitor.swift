import Augment
import BYOLModel
import Data
import NumPyIO

/// The kNN monitor of pretraining: weighted kNN accuracy of a backbone, bank = the
/// training set with the test transform, queries = the test set. Features and the vote
/// are computed by the engine, in its precision: a float64 run monitors in float64.
public enum KNNMonitor {
    /// The test transform: pixels / 255, normalized with the CIFAR-10 statistics, in
    /// float64, as [N, 3, H, W] in `dtype` (a float32 value is the float64 one rounded).
    public static func testTransform(_ d: LabelledImages, dtype: DType) -> NDArray {
        testTransform(d, images: 0..<d.count, dtype: dtype)
    }

    /// The test transform of `images` of d.
    static func testTransform(_ d: LabelledImages, images: Range<Int>, dtype: DType) -> NDArray {
        let plane = d.height * d.width
        let (mean, std) = (Augmenter.mean, Augmenter.std)
        let base = images.lowerBound * 3 * plane
        let count = images.count * 3 * plane
        func value(_ i: Int) -> Double { (Double(d.pixels[base + i]) / 255 - mean[i / plane % 3]) / std[i / plane % 3] }
        let shape = [images.count, 3, d.height, d.width]
        if dtype == .float32 { return NDArray(float32: (0..<count).map { Float(value($0)) }, shape: shape) }
        return NDArray(float64: (0..<count).map(value), shape: shape)
    }

    /// Images embedded between two calls of `stopRequested`: whole embedding batches of
    /// both engines (256 and 64 images), so the pieces give the bytes of one pass.
    static let chunk = 1024

    /// The accuracy of the loaded state's `network` backbone (of `arch`) in eval mode.
    public static func accuracy(
        _ engine: NetworkEngine, arch: Architecture, network: String = "online", data: DataSplits, k: Int, temperature: Double
    ) -> Double {
        guard
            let a = accuracy(
                engine, arch: arch, network: network, data: data, k: k, temperature: temperature, comm: SingleProcess(),
                stopRequested: { false })
        else { preconditionFailure("a pass that is never stopped ended early") }
        return a
    }

    /// The accuracy, or nil when `stopRequested` (called on every process after each
    /// `chunk` of images embedded, the same number of times on each: it may be a
    /// collective) says to stop: a stop signal ends a pass over 60,000 images within one
    /// chunk's time instead of the whole pass's. With several processes (float32), each
    /// embeds its share of each set (whole embedding batches, `Engine.embedRanges`, so the
    /// features are those of one process), rank 0 gathers them and votes, and every rank
    /// returns its accuracy.
    public static func accuracy(
        _ engine: NetworkEngine, arch: Architecture, network: String = "online", data: DataSplits, k: Int, temperature: Double,
        comm: Collective, stopRequested: () -> Bool
    ) -> Double? {
        let dtype = engine.precision.dtype
        let f = arch.featureSize
        func features(_ set: LabelledImages) -> NDArray? {
            let ranges = engine.embedRanges(count: set.count, parts: comm.size)
            let range = ranges[comm.rank]
            // The same number of pieces on every process: the largest share's.
            let pieces = ((ranges.map(\.count).max() ?? 0) + chunk - 1) / chunk
            var floats = [Float](), doubles = [Double]()
            for p in 0..<max(pieces, 1) {
                let lo = min(range.lowerBound + p * chunk, range.upperBound), hi = min(lo + chunk, range.upperBound)
                if hi > lo {
                    let chunkFeatures = engine.embed(testTransform(set, images: lo..<hi, dtype: dtype), network: network, ofSetOf: set.count)
                    if dtype == .float32 { floats += chunkFeatures.floats } else { doubles += chunkFeatures.doubles }
                }
                if stopRequested() { return nil }
            }
            guard comm.size > 1 else {
                return dtype == .float32 ? NDArray(float32: floats, shape: [range.count, f]) : NDArray(float64: doubles, shape: [range.count, f])
            }
            precondition(dtype == .float32, "data-parallel kNN runs in float32")
            var all = [Float](repeating: 0, count: set.count * f)
            floats.withUnsafeBufferPointer { m in
                all.withUnsafeMutableBufferPointer { comm.allgather(m, counts: ranges.map { $0.count * f }, into: $0) }
            }
            return NDArray(float32: all, shape: [set.count, f])
        }
        guard let bank = features(data.train), let queries = features(data.test) else { return nil }
        var accuracy = 0.0
        if comm.isRoot {
            let r = engine.knn(
                bank: bank, bankLabels: data.train.labels, queries: queries, queryLabels: data.test.labels, k: k,
                temperature: temperature, classes: max(data.classNames.count, 1))
            accuracy = r.accuracy ?? 0
        }
        guard comm.size > 1 else { return accuracy }
        let bits = comm.broadcast(withUnsafeBytes(of: accuracy.bitPattern.littleEndian) { Array($0) })
        return Double(bitPattern: UInt64(littleEndian: bits.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }))
    }
}
