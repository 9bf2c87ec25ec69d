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

    /// The accuracy of the loaded state's `network` backbone in eval mode. With several
    /// processes (float32), each embeds its share of each set (whole embedding batches,
    /// `Engine.embedRanges`, so the features are those of one process), rank 0 gathers
    /// them and votes, and every rank returns its accuracy.
    public static func accuracy(_ engine: Engine, network: String = "online", data: DataSplits, k: Int, temperature: Double,
                                comm: Collective = SingleProcess()) -> Double {
        let dtype = engine.precision.dtype
        func features(_ set: LabelledImages) -> NDArray {
            let ranges = engine.embedRanges(count: set.count, parts: comm.size)
            let mine = engine.embed(testTransform(set, images: ranges[comm.rank], dtype: dtype), network: network, ofSetOf: set.count)
            guard comm.size > 1 else { return mine }
            precondition(dtype == .float32, "data-parallel kNN runs in float32")
            let f = mine.shape[1]
            var all = [Float](repeating: 0, count: set.count * f)
            mine.floats.withUnsafeBufferPointer { m in
                all.withUnsafeMutableBufferPointer { comm.allgather(m, counts: ranges.map { $0.count * f }, into: $0) }
            }
            return NDArray(float32: all, shape: [set.count, f])
        }
        let bank = features(data.train), queries = features(data.test)
        var accuracy = 0.0
        if comm.isRoot {
            let r = engine.knn(bank: bank, bankLabels: data.train.labels, queries: queries, queryLabels: data.test.labels, k: k,
                               temperature: temperature, classes: max(data.classNames.count, 1))
            accuracy = r.accuracy ?? 0
        }
        guard comm.size > 1 else { return accuracy }
        let bits = comm.broadcast(withUnsafeBytes(of: accuracy.bitPattern.littleEndian) { Array($0) })
        return Double(bitPattern: UInt64(littleEndian: bits.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }))
    }
}
