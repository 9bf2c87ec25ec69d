import BYOLModel
import Data
import NumPyIO
import Reference
import Testing
import TestSupport
import Training

/// A float64 pretraining run is float64 end to end: every array the loop hands its
/// engine (views, kNN images, kNN features) is float64, and so is what it writes.
@Suite struct PretrainPrecision {
    /// The reference engine, recording the dtype of every array the loop passes in.
    final class Recorder: Engine {
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
        func knn(bank: NDArray, bankLabels: [Int64], queries: NDArray, queryLabels: [Int64]?, k: Int, temperature: Double,
                 classes: Int) -> KNNResult {
            note("kNN features", bank, queries)
            return inner.knn(bank: bank, bankLabels: bankLabels, queries: queries, queryLabels: queryLabels, k: k,
                             temperature: temperature, classes: classes)
        }
        func conv2d(x: NDArray, weight: NDArray, stride: Int, pad: Int, dy: NDArray) -> LayerResult {
            inner.conv2d(x: x, weight: weight, stride: stride, pad: pad, dy: dy)
        }
        func batchNormTrain(x: NDArray, weight: NDArray, bias: NDArray, dy: NDArray) -> LayerResult {
            inner.batchNormTrain(x: x, weight: weight, bias: bias, dy: dy)
        }
        func batchNormEval(x: NDArray, weight: NDArray, bias: NDArray, runningMean: NDArray, runningVar: NDArray) -> LayerResult {
            inner.batchNormEval(x: x, weight: weight, bias: bias, runningMean: runningMean, runningVar: runningVar)
        }
        func batchNormRunning(x: NDArray, runningMean: NDArray, runningVar: NDArray, batches: Int64) -> LayerResult {
            inner.batchNormRunning(x: x, runningMean: runningMean, runningVar: runningVar, batches: batches)
        }
        func linear(x: NDArray, weight: NDArray, bias: NDArray, dy: NDArray) -> LayerResult { inner.linear(x: x, weight: weight, bias: bias, dy: dy) }
        func relu(x: NDArray, dy: NDArray) -> LayerResult { inner.relu(x: x, dy: dy) }
        func avgPool(x: NDArray, dy: NDArray) -> LayerResult { inner.avgPool(x: x, dy: dy) }
        func loss(p: NDArray, z: NDArray) -> LayerResult { inner.loss(p: p, z: z) }
        func optimizerUpdate(param: NDArray, grad: NDArray, buffers: [String: NDArray], step: Int64, config: OptimizerConfig) -> LayerResult {
            inner.optimizerUpdate(param: param, grad: grad, buffers: buffers, step: step, config: config)
        }
        func emaUpdate(target: NDArray, online: NDArray, tau: Double) -> LayerResult { inner.emaUpdate(target: target, online: online, tau: tau) }
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
