import BYOLModel
import NumPyIO

/// The float32 OpenBLAS path behind the `Engine` interface. The trainer and embedder are
/// built for one (architecture, batch, image size, BN mode) and kept while those stay the
/// same, so a training loop pays for its buffers once.
public final class OpenBLASEngine: Engine {
    public let name = "openblas"
    public let precision = Precision.float32
    public let threads: Int
    /// The state loaded since the last step, if any; after a step the trainer holds it.
    var state: BYOLState?
    var trainer: FastTrainer?
    /// Images per embedder batch: larger inputs go through in batches of this many.
    public static let embedBatch = 256
    /// The processes steps are shared with (`shareSteps`), and the batch's sample groups.
    var comm: Collective = SingleProcess()
    var shared: (batch: Int, sampleGroups: Int?)?

    public init(threads: Int) {
        precondition(threads >= 1)
        self.threads = threads
    }

    public func load(_ state: BYOLState) {
        var s = state
        s.arrays["loss"] = nil
        self.state = s
    }

    public func shareSteps(_ comm: Collective, batch: Int, sampleGroups: Int?) -> Bool {
        self.comm = comm
        shared = (batch, sampleGroups)
        trainer = nil
        return true
    }

    public func takeExchangeSeconds() -> Double { trainer?.takeExchangeSeconds() ?? 0 }

    /// Views [N, 3, H, W]; shared (`shareSteps`), those of this process's samples.
    public func step(view1: NDArray, view2: NDArray, config: StepConfig) -> Double {
        let (h, w) = (view1.shape[2], view1.shape[3])
        let n = shared?.batch ?? view1.shape[0]
        let groups = SampleGroups(batch: n, count: shared?.sampleGroups, ranks: comm.size, rank: comm.rank)
        precondition(view1.shape[0] == groups.localSamples.count, "views of \(view1.shape[0]) samples for \(groups.localSamples.count)")
        // Between steps the trainer holds the state: no export on this path.
        let arch = state?.arch ?? trainer!.arch
        if let t = trainer, t.arch == arch, t.batch == n, t.height == h, t.width == w, t.bnViews == config.bnViews, t.groups == groups {
            if let state { t.load(state) }
        } else {
            let t = FastTrainer(arch: arch, batch: n, height: h, width: w, bnViews: config.bnViews, threads: threads, groups: groups, comm: comm)
            t.load(currentState)
            trainer = t
        }
        state = nil
        return trainer!.train(view1: view1.floats, view2: view2.floats, config: config)
    }

    /// The loaded state, or the trainer's after a step.
    var currentState: BYOLState {
        if let state { return state }
        return trainer!.exportState()
    }

    public func exportState() -> BYOLState {
        if let state { return state.converted(to: .float32) }
        return trainer!.exportState()
    }

    public func exportGradients() -> [String: NDArray] {
        guard let trainer, state == nil else { return [:] }
        return Dictionary(uniqueKeysWithValues: trainer.exportGradients())
    }

    public func firstNonFiniteGradient() -> String? { state == nil ? trainer?.firstNonFiniteGradient() : nil }

    public func firstNonFiniteStateArray() -> String? {
        if state == nil, let trainer { return trainer.firstNonFiniteStateArray() }
        return exportState().firstNonFiniteArray()
    }

    /// Images of at most `embedBatch` go through one embedder of exactly their count;
    /// more go through in batches of `embedBatch`, the last one zero-padded (padding
    /// samples do not reach the others' features: eval-mode BN is per sample).
    public func embed(_ images: NDArray, network: String) -> NDArray {
        embed(images, network: network, ofSetOf: images.shape[0])
    }

    /// Ranges of whole embedding batches (the last range ends with the set's last,
    /// padded batch).
    public func embedRanges(count: Int, parts: Int) -> [Range<Int>] {
        let batches = (count + Self.embedBatch - 1) / Self.embedBatch
        return (0..<parts).map { p in
            min(count, p * batches / parts * Self.embedBatch)..<min(count, (p + 1) * batches / parts * Self.embedBatch)
        }
    }

    /// An embedder of min(total, embedBatch) images, as `embed` of the whole set uses.
    public func embed(_ images: NDArray, network: String, ofSetOf total: Int) -> NDArray {
        let (n, h, w) = (images.shape[0], images.shape[2], images.shape[3])
        let s = currentState
        let e = FastEmbedder(arch: s.arch, batch: min(total, Self.embedBatch), height: h, width: w, threads: threads)
        e.load(s, network: network)
        return NDArray(float32: e.features(all: images.floats, count: n), shape: [n, s.arch.featureSize])
    }

    public func knn(
        bank: NDArray, bankLabels: [Int64], queries: NDArray, queryLabels: [Int64]?, k: Int, temperature: Double,
        classes: Int
    ) -> KNNResult {
        return FastKNN.classify(
            bank: bank.floats, bankLabels: bankLabels, queries: queries.floats, queryLabels: queryLabels,
            features: bank.shape.last ?? 1, k: k, temperature: temperature, classes: classes, threads: threads)
    }

    // MARK: Layers

    public func conv2d(x: NDArray, weight: NDArray, stride: Int, pad: Int, dy: NDArray) -> LayerResult {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (k, r) = (weight.shape[0], weight.shape[2])
        let o = FastLayers.conv2d(
            x: x.floats, n: n, c: c, h: h, w: w, weight: weight.floats, k: k, r: r, stride: stride, pad: pad,
            dy: dy.floats, threads: threads)
        return LayerResult([
            ("y", NDArray(float32: o.y, shape: dy.shape)), ("dx", NDArray(float32: o.dx, shape: x.shape)),
            ("dweight", NDArray(float32: o.dw, shape: weight.shape))
        ])
    }

    public func batchNormTrain(x: NDArray, weight: NDArray, bias: NDArray, dy: NDArray) -> LayerResult {
        let (n, c) = (x.shape[0], x.shape[1])
        let o = FastLayers.batchNormTrain(
            x: x.floats, n: n, c: c, spatial: x.shape.dropFirst(2).reduce(1, *), gamma: weight.floats,
            beta: bias.floats, dy: dy.floats, threads: threads)
        return LayerResult([
            ("y", NDArray(float32: o.y, shape: x.shape)), ("dx", NDArray(float32: o.dx, shape: x.shape)),
            ("dweight", NDArray(float32: o.dgamma, shape: [c])), ("dbias", NDArray(float32: o.dbeta, shape: [c]))
        ])
    }

    public func batchNormEval(x: NDArray, weight: NDArray, bias: NDArray, runningMean: NDArray, runningVar: NDArray) -> LayerResult {
        let y = FastLayers.batchNormEval(
            x: x.floats, n: x.shape[0], c: x.shape[1], spatial: x.shape.dropFirst(2).reduce(1, *),
            gamma: weight.floats, beta: bias.floats, runningMean: runningMean.floats,
            runningVar: runningVar.floats, threads: threads)
        return LayerResult([("y", NDArray(float32: y, shape: x.shape))])
    }

    public func batchNormRunning(x: NDArray, runningMean: NDArray, runningVar: NDArray, batches: Int64) -> LayerResult {
        let c = x.shape[1]
        let r = FastLayers.batchNormRunning(
            x: x.floats, n: x.shape[0], c: c, spatial: x.shape.dropFirst(2).reduce(1, *),
            runningMean: runningMean.floats, runningVar: runningVar.floats, batches: batches, threads: threads)
        return LayerResult([
            ("running_mean", NDArray(float32: r.mean, shape: [c])), ("running_var", NDArray(float32: r.variance, shape: [c])),
            ("num_batches_tracked", .scalar(r.batches))
        ])
    }

    public func linear(x: NDArray, weight: NDArray, bias: NDArray, dy: NDArray) -> LayerResult {
        let (n, i, o) = (x.shape[0], x.shape[1], weight.shape[0])
        let r = FastLayers.linear(x: x.floats, n: n, inF: i, weight: weight.floats, bias: bias.floats, outF: o, dy: dy.floats, threads: threads)
        return LayerResult([
            ("y", NDArray(float32: r.y, shape: [n, o])), ("dx", NDArray(float32: r.dx, shape: x.shape)),
            ("dweight", NDArray(float32: r.dw, shape: weight.shape)), ("dbias", NDArray(float32: r.db, shape: [o]))
        ])
    }

    public func relu(x: NDArray, dy: NDArray) -> LayerResult {
        let r = FastLayers.relu(x: x.floats, dy: dy.floats)
        return LayerResult([("y", NDArray(float32: r.y, shape: x.shape)), ("dx", NDArray(float32: r.dx, shape: x.shape))])
    }

    public func avgPool(x: NDArray, dy: NDArray) -> LayerResult {
        let (n, c) = (x.shape[0], x.shape[1])
        let r = FastLayers.avgPool(x: x.floats, rows: n * c, hw: x.shape[2] * x.shape[3], dy: dy.floats)
        return LayerResult([("y", NDArray(float32: r.y, shape: [n, c])), ("dx", NDArray(float32: r.dx, shape: x.shape))])
    }

    public func optimizerUpdate(param: NDArray, grad: NDArray, buffers: [String: NDArray], step: Int64, config: OptimizerConfig) -> LayerResult {
        let r = FastLayers.optimizerUpdate(
            param: param.floats, grad: grad.floats, buffers: buffers.mapValues(\.floats), shape: param.shape,
            step: step, config: config, threads: threads)
        return LayerResult(
            [("param", NDArray(float32: r.param, shape: param.shape))]
                + config.bufferNames.map { ($0, NDArray(float32: r.buffers[$0]!, shape: param.shape)) })
    }

    public func emaUpdate(target: NDArray, online: NDArray, tau: Double) -> LayerResult {
        let t = FastLayers.ema(target: target.floats, online: online.floats, shape: target.shape, tau: tau, threads: threads)
        return LayerResult([("target", NDArray(float32: t, shape: target.shape))])
    }

    public func loss(p: NDArray, z: NDArray) -> LayerResult {
        let (n, d) = (p.shape[0], p.shape[1])
        let r = FastLayers.loss(p: p.floats, z: z.floats, n: n, d: d)
        return LayerResult([("loss", .scalar(r.loss)), ("dp", NDArray(float32: r.dp, shape: p.shape))])
    }
}
