import NumPyIO

/// One implementation of BYOL's arithmetic: the float64 reference (`ReferenceEngine`) or
/// the float32 OpenBLAS path (`OpenBLASEngine`). Goldens, the cross-check, `bench`,
/// `step`, `embed` and `pretrain` all drive an engine through these protocols, so a
/// check of one entry point is a check of what training runs.
///
/// Split by role, so that a caller asks for what it uses and a test double implements
/// only the role it stands in for:
/// - `NetworkEngine`: the training network (load, step, export, embed, kNN);
/// - `LayerKernels`: stateless layer entry points, the same kernels the network runs
///   (what the cross-check and the conformance kit call);
/// - `DataParallelEngine`: a network that can share each step with other processes.
/// `Engine` is all three: what both engines of this package are.
///
/// A network engine is stateful: `load` a state, `step` it as often as wanted, read it
/// back with `exportState`. Arrays go in and out as `NDArray` (NCHW images, [N, F]
/// rows); inputs of either float dtype are converted to the engine's precision, float
/// outputs are in it.
public typealias Engine = DataParallelEngine & LayerKernels

/// The name and precision every role shares.
public protocol EngineIdentity: AnyObject {
    /// The name `--engine` takes: "reference" or "openblas".
    var name: String { get }
    var precision: Precision { get }
}

/// The training network.
public protocol NetworkEngine: EngineIdentity {
    // MARK: The network

    /// Makes `state` the engine's state (a `loss` array in it is ignored).
    func load(_ state: BYOLState)
    /// One BYOL step (docs/contract.md §3, `byol step`) on views [N, 3, H, W]; returns
    /// the loss. The state moves on by one step.
    func step(view1: NDArray, view2: NDArray, config: StepConfig) -> Double
    /// The current state, float arrays in the engine's precision, no `loss`.
    func exportState() -> BYOLState
    /// d loss / d parameter of the last step, by full parameter name, before the update.
    func exportGradients() -> [String: NDArray]
    /// The first learnable parameter (full name) whose last gradient has a NaN or Inf.
    func firstNonFiniteGradient() -> String?
    /// The first float array of the current state (file order) holding a NaN or Inf: an
    /// update can overflow where the loss and gradients were still finite.
    func firstNonFiniteStateArray() -> String?
    /// Backbone features [N, w3] of the loaded state's `network` ("online" or "target")
    /// in eval mode, for images [N, 3, H, W] used as given.
    func embed(_ images: NDArray, network: String) -> NDArray
    /// The weighted kNN vote (docs/contract.md §3, `byol knn`) on features [N, F] and
    /// [M, F] in the engine's precision.
    func knn(
        bank: NDArray, bankLabels: [Int64], queries: NDArray, queryLabels: [Int64]?, k: Int, temperature: Double,
        classes: Int
    ) -> KNNResult

    /// `count` images split into `parts` contiguous ranges, along the engine's own
    /// embedding batches, so that embedding each range on its own (`embed(_:network:ofSetOf:)`)
    /// gives the bytes of embedding all of them at once.
    func embedRanges(count: Int, parts: Int) -> [Range<Int>]
    /// `embed` of images [n, 3, H, W] that are one of `embedRanges(count: total, ...)`
    /// of a set of `total`.
    func embed(_ images: NDArray, network: String, ofSetOf total: Int) -> NDArray
}

/// The layers, forward and backward in one call: stateless.
public protocol LayerKernels: EngineIdentity {

    /// Convolution without bias: x [N, C, H, W], weight [K, C, R, R], dy [N, K, Ho, Wo]
    /// -> y, dx, dweight.
    func conv2d(x: NDArray, weight: NDArray, stride: Int, pad: Int, dy: NDArray) -> LayerResult
    /// Train-mode BatchNorm (batch mean, biased variance) over axis 1 of x [N, C] or
    /// [N, C, H, W] -> y, dx, dweight, dbias.
    func batchNormTrain(x: NDArray, weight: NDArray, bias: NDArray, dy: NDArray) -> LayerResult
    /// Eval-mode BatchNorm with running statistics -> y.
    func batchNormEval(x: NDArray, weight: NDArray, bias: NDArray, runningMean: NDArray, runningVar: NDArray) -> LayerResult
    /// Train-mode BatchNorm's running statistics after one batch x [N, C] or [N, C, H, W]:
    /// running <- (1 - momentum) running + momentum batch (momentum 0.1; the unbiased batch
    /// variance), num_batches_tracked + 1 -> running_mean, running_var, num_batches_tracked.
    func batchNormRunning(x: NDArray, runningMean: NDArray, runningVar: NDArray, batches: Int64) -> LayerResult
    /// x [N, I], weight [O, I], bias [O], dy [N, O] -> y, dx, dweight, dbias.
    func linear(x: NDArray, weight: NDArray, bias: NDArray, dy: NDArray) -> LayerResult
    /// max(x, 0) elementwise (NaN stays NaN) -> y, dx (dy where x > 0, else 0).
    func relu(x: NDArray, dy: NDArray) -> LayerResult
    /// Global average pooling x [N, C, H, W] -> y [N, C]; dy [N, C] -> dx.
    func avgPool(x: NDArray, dy: NDArray) -> LayerResult
    /// mean_i || normalize(p_i) - normalize(z_i) ||^2 for p, z [N, D] -> loss (0-d
    /// float64), dp.
    func loss(p: NDArray, z: NDArray) -> LayerResult
    /// One optimizer update of one parameter tensor (docs/contract.md §3.2): param and
    /// grad of any shape (LARS adapts tensors of more than one dimension), the incoming
    /// buffers by name (absent = zeros), `step` finished steps -> `param` and the new
    /// buffers (`momentum_buffer`, or `exp_avg` and `exp_avg_sq`).
    func optimizerUpdate(param: NDArray, grad: NDArray, buffers: [String: NDArray], step: Int64, config: OptimizerConfig) -> LayerResult
    /// The EMA of one tensor: target + (1 - tau) (online - target) -> `target`.
    func emaUpdate(target: NDArray, online: NDArray, tau: Double) -> LayerResult
}

/// A network whose steps can be shared by several processes.
public protocol DataParallelEngine: NetworkEngine {

    /// Makes `step` compute one process's share of each batch of `batch` samples with
    /// `comm`'s other processes: it then takes the views of `SampleGroups(batch:count:
    /// ranks:rank:)`'s `localSamples` (count `sampleGroups`, nil: the default) and gives,
    /// on every process, the state one process computing the whole batch in those
    /// groups would. False where the engine cannot (the reference runs on one process).
    func shareSteps(_ comm: Collective, batch: Int, sampleGroups: Int?) -> Bool
    /// Seconds the steps since the last call spent exchanging sums with other processes.
    func takeExchangeSeconds() -> Double
}

/// A layer's outputs by name, in a fixed order (`y`, then the gradients).
public struct LayerResult: Sendable {
    public var arrays: [(name: String, array: NDArray)]

    public init(_ arrays: [(name: String, array: NDArray)]) { self.arrays = arrays }

    public subscript(name: String) -> NDArray? { arrays.first { $0.name == name }?.array }
}

/// The outcome of a kNN vote: predictions [M], scores [M, C] row-major, and the accuracy
/// when the queries have labels.
public struct KNNResult: Equatable, Sendable {
    public var predictions: [Int64]
    public var scores: [Double]
    public var accuracy: Double?

    public init(predictions: [Int64], scores: [Double], accuracy: Double?) {
        self.predictions = predictions
        self.scores = scores
        self.accuracy = accuracy
    }
}

/// The whole result of one step from a given state, for checks that compare engines.
public struct StepOutcome {
    /// The next state, `loss` included (as `byol step` writes it).
    public var next: BYOLState
    public var loss: Double
    public var grads: [String: NDArray]
}

extension DataParallelEngine {
    /// One process only.
    public func shareSteps(_ comm: Collective, batch: Int, sampleGroups: Int?) -> Bool { comm.size == 1 }

    public func takeExchangeSeconds() -> Double { 0 }
}

extension NetworkEngine {
    /// Even ranges: an engine whose features do not depend on how images are batched.
    public func embedRanges(count: Int, parts: Int) -> [Range<Int>] {
        (0..<parts).map { ($0 * count / parts)..<(($0 + 1) * count / parts) }
    }

    public func embed(_ images: NDArray, network: String, ofSetOf total: Int) -> NDArray { embed(images, network: network) }

    public func firstNonFiniteGradient() -> String? {
        let g = exportGradients()
        return exportState().arch.learnableSpecs.first { g[$0.name]?.isFinite == false }?.name
    }

    public func firstNonFiniteStateArray() -> String? { exportState().firstNonFiniteArray() }

    /// Loads `state`, steps once and returns everything the step produced. Arrays of the
    /// incoming state that the engine does not own (other optimizers' buffers) travel on
    /// unchanged, converted to the engine's precision like the rest.
    public func step(from state: BYOLState, view1: NDArray, view2: NDArray, config: StepConfig) -> StepOutcome {
        load(state)
        let loss = step(view1: view1, view2: view2, config: config)
        var next = exportState()
        for (k, v) in state.arrays where next.arrays[k] == nil && k.hasPrefix("optimizer.") {
            next.arrays[k] = v.converted(to: precision.dtype)
        }
        next.arrays["loss"] = .scalar(loss)
        return StepOutcome(next: next, loss: loss, grads: exportGradients())
    }

    /// Features of `state`'s `network` for images [N, 3, H, W].
    public func embed(_ state: BYOLState, images: NDArray, network: String) -> NDArray {
        load(state)
        return embed(images, network: network)
    }
}
