import BYOLModel
import NumPyIO

/// The float64 reference behind the `Engine` interface: every entry point converts its
/// inputs to float64 and calls the plain layers of this module; nothing is threaded.
public final class ReferenceEngine: Engine {
    public let name = "reference"
    public let precision = Precision.float64
    var state: BYOLState
    var lastGrads: [String: Tensor] = [:]

    public init() { state = BYOLState(arch: .tiny, arrays: [:]) }

    public func load(_ state: BYOLState) {
        self.state = state.asFloat64()
        self.state.arrays["loss"] = nil
        lastGrads = [:]
    }

    public func step(view1: NDArray, view2: NDArray, config: StepConfig) -> Double {
        let r = BYOLStep.run(state, view1: Tensor(view1), view2: Tensor(view2), config: config)
        state = r.next
        state.arrays["loss"] = nil
        lastGrads = r.grads
        return r.loss
    }

    public func exportState() -> BYOLState { state }

    public func exportGradients() -> [String: NDArray] { lastGrads.mapValues { NDArray($0) } }

    /// In batches of `embedBatch` images: eval-mode features are per sample, so the
    /// batching changes no value and bounds the memory of the activations.
    public func embed(_ images: NDArray, network: String) -> NDArray {
        let n = images.shape[0], per = images.count / max(n, 1)
        let x = images.doubles
        var out: [Double] = []
        out.reserveCapacity(n * state.arch.featureSize)
        for start in stride(from: 0, to: n, by: Self.embedBatch) {
            let m = min(Self.embedBatch, n - start)
            var shape = images.shape
            shape[0] = m
            out += Embed.features(state, images: Tensor(shape: shape, data: Array(x[start * per..<(start + m) * per])), network: network).data
        }
        return NDArray(float64: out, shape: [n, state.arch.featureSize])
    }

    static let embedBatch = 64

    public func knn(
        bank: NDArray, bankLabels: [Int64], queries: NDArray, queryLabels: [Int64]?, k: Int, temperature: Double,
        classes: Int
    ) -> KNNResult {
        return KNN.classify(
            bank: bank.doubles, bankLabels: bankLabels, queries: queries.doubles, queryLabels: queryLabels,
            features: bank.shape.last ?? 0, k: k, temperature: temperature, classes: classes)
    }

    // MARK: Layers

    public func conv2d(x: NDArray, weight: NDArray, stride: Int, pad: Int, dy: NDArray) -> LayerResult {
        let (x, w) = (Tensor(x), Tensor(weight))
        let y = Conv2d.forward(x, w, stride: stride, pad: pad)
        let (dx, dw) = Conv2d.backward(Tensor(dy), x: x, w: w, stride: stride, pad: pad)
        return LayerResult([("y", NDArray(y)), ("dx", NDArray(dx)), ("dweight", NDArray(dw))])
    }

    public func batchNormTrain(x: NDArray, weight: NDArray, bias: NDArray, dy: NDArray) -> LayerResult {
        let c = x.shape[1]
        let running = BatchNorm.Running(mean: .init(repeating: 0, count: c), variance: .init(repeating: 1, count: c), batches: 0)
        let (y, cache, _) = BatchNorm.forwardTrain(Tensor(x), gamma: weight.doubles, beta: bias.doubles, running: running)
        let (dx, dg, db) = BatchNorm.backward(Tensor(dy), cache: cache)
        return LayerResult([("y", NDArray(y)), ("dx", NDArray(dx)), ("dweight", .vector(dg)), ("dbias", .vector(db))])
    }

    public func batchNormEval(x: NDArray, weight: NDArray, bias: NDArray, runningMean: NDArray, runningVar: NDArray) -> LayerResult {
        let running = BatchNorm.Running(mean: runningMean.doubles, variance: runningVar.doubles, batches: 0)
        return LayerResult([("y", NDArray(BatchNorm.forwardEval(Tensor(x), gamma: weight.doubles, beta: bias.doubles, running: running)))])
    }

    public func batchNormRunning(x: NDArray, runningMean: NDArray, runningVar: NDArray, batches: Int64) -> LayerResult {
        let running = BatchNorm.Running(mean: runningMean.doubles, variance: runningVar.doubles, batches: batches)
        let c = x.shape[1]
        let next = BatchNorm.forwardTrain(Tensor(x), gamma: .init(repeating: 1, count: c), beta: .init(repeating: 0, count: c), running: running)
            .running
        return LayerResult([
            ("running_mean", .vector(next.mean)), ("running_var", .vector(next.variance)),
            ("num_batches_tracked", .scalar(next.batches))
        ])
    }

    public func linear(x: NDArray, weight: NDArray, bias: NDArray, dy: NDArray) -> LayerResult {
        let (x, w) = (Tensor(x), Tensor(weight))
        let y = Linear.forward(x, w, bias.doubles)
        let (dx, dw, db) = Linear.backward(Tensor(dy), x: x, w: w)
        return LayerResult([("y", NDArray(y)), ("dx", NDArray(dx)), ("dweight", NDArray(dw)), ("dbias", .vector(db))])
    }

    public func relu(x: NDArray, dy: NDArray) -> LayerResult {
        let x = Tensor(x)
        return LayerResult([("y", NDArray(ReLU.forward(x))), ("dx", NDArray(ReLU.backward(Tensor(dy), x: x)))])
    }

    public func avgPool(x: NDArray, dy: NDArray) -> LayerResult {
        LayerResult([
            ("y", NDArray(GlobalAvgPool.forward(Tensor(x)))),
            ("dx", NDArray(GlobalAvgPool.backward(Tensor(dy), inputShape: x.shape)))
        ])
    }

    public func optimizerUpdate(param: NDArray, grad: NDArray, buffers: [String: NDArray], step: Int64, config: OptimizerConfig) -> LayerResult {
        let r = Optimizer.update(
            param.doubles, grad: grad.doubles, buffers: buffers.mapValues(\.doubles), isMatrix: param.shape.count > 1,
            step: step, config: config)
        return LayerResult(
            [("param", NDArray(float64: r.p, shape: param.shape))]
                + config.bufferNames.map { ($0, NDArray(float64: r.buffers[$0]!, shape: param.shape)) })
    }

    public func emaUpdate(target: NDArray, online: NDArray, tau: Double) -> LayerResult {
        LayerResult([("target", NDArray(float64: EMA.update(target: target.doubles, online: online.doubles, tau: tau), shape: target.shape))])
    }

    public func loss(p: NDArray, z: NDArray) -> LayerResult {
        let (p, z) = (Tensor(p), Tensor(z))
        return LayerResult([("loss", .scalar(NormalizedMSE.forward(p, z))), ("dp", NDArray(NormalizedMSE.backward(p, z)))])
    }
}

extension Tensor {
    /// The values of a float array, widened to float64.
    public init(_ a: NDArray) { self.init(shape: a.shape, data: a.doubles) }
}

extension NDArray {
    public init(_ t: Tensor) { self.init(float64: t.data, shape: t.shape) }
    static func vector(_ v: [Double]) -> NDArray { NDArray(float64: v, shape: [v.count]) }
}
