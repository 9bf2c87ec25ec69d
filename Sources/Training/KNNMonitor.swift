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
        let plane = d.height * d.width
        let (mean, std) = (Augmenter.mean, Augmenter.std)
        func value(_ i: Int) -> Double { (Double(d.pixels[i]) / 255 - mean[i / plane % 3]) / std[i / plane % 3] }
        let shape = [d.count, 3, d.height, d.width]
        if dtype == .float32 { return NDArray(float32: (0..<d.pixels.count).map { Float(value($0)) }, shape: shape) }
        return NDArray(float64: (0..<d.pixels.count).map(value), shape: shape)
    }

    /// The accuracy of the loaded state's `network` backbone in eval mode.
    public static func accuracy(_ engine: Engine, network: String = "online", data: DataSplits, k: Int, temperature: Double) -> Double {
        let dtype = engine.precision.dtype
        let bank = engine.embed(testTransform(data.train, dtype: dtype), network: network)
        let queries = engine.embed(testTransform(data.test, dtype: dtype), network: network)
        let r = engine.knn(bank: bank, bankLabels: data.train.labels, queries: queries, queryLabels: data.test.labels, k: k,
                           temperature: temperature, classes: max(data.classNames.count, 1))
        return r.accuracy ?? 0
    }
}
