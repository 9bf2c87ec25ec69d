import BYOLModel
import Data
import NumPyIO
import Reference
import TestSupport
import Testing
import Training

/// A float64 pretraining run is float64 end to end: every array the loop hands its
/// engine (views, kNN images, kNN features) is float64, and so is what it writes.
@Suite struct PretrainPrecision {
    /// The reference engine, recording the dtype of every array the loop passes in: a
    /// network only (pretraining calls no layer kernel).
    final class Recorder: DataParallelEngine {
        let inner = ReferenceEngine()
        var seen: [String: Set<DType>] = [:]
        var name: String { inner.name }
        var precision: Precision { inner.precision }
        func note(_ what: String, _ arrays: NDArray...) { for a in arrays { seen[what, default: []].insert(a.dtype) } }

        func load(_ state: BYOLState) { inner.load(state) }
        func step(view1: NDArray, view2: NDArray, config: StepConfig) -> Double {
            note("views", view1, view2)
            return inner.step(view1: view1, view2: view2, config: config)
        }
        func exportState() -> BYOLState { inner.exportState() }
        func exportGradients() -> [String: NDArray] { inner.exportGradients() }
        func embed(_ images: NDArray, network: String) -> NDArray {
            note("kNN images", images)
            return inner.embed(images, network: network)
        }
        func knn(
            bank: NDArray, bankLabels: [Int64], queries: NDArray, queryLabels: [Int64]?, k: Int, temperature: Double,
            classes: Int
        ) -> KNNResult {
            note("kNN features", bank, queries)
            return inner.knn(
                bank: bank, bankLabels: bankLabels, queries: queries, queryLabels: queryLabels, k: k,
                temperature: temperature, classes: classes)
        }
    }

    @Test func float64RunIsFloat64Throughout() throws {
        let d = TemporaryDirectory()
        var c = PretrainConfig()
        c.preset = "tiny"
        c.precision = .float64
        c.epochs = 1
        c.batch = 8
        c.trainLimit = 16
        c.testLimit = 8
        c.threads = 1
        c.out = d.file("run")
        let engine = Recorder()
        let summary = try Pretrain.run(c, engine: engine, log: { _ in }, progress: Progress())
        #expect(summary.steps == 2)
        #expect(engine.seen == ["views": [.float64], "kNN images": [.float64], "kNN features": [.float64]])
        let final = try NPZ.load(d.file("run/final.npz"))
        #expect(final["online.backbone.conv1.weight"]?.dtype == .float64)
        #expect(final["target.projector.3.weight"]?.dtype == .float64)
    }
}
