import BYOLModel
import NumPyIO
import Reference

/// The op table: every function the conformance kit knows, declared once, in the order
/// cases are generated. The kit's function list, the C ABI functions the plugin route
/// needs (and the ABI version that added them), the plugin's calls into a library, what
/// an engine computes for a case (the reference engine's answer is the expected value),
/// each function's rounding-error model, the cross-check's layer rows, the layer
/// finite-difference cases and the trials' implementations all come from here.
///
/// Adding a function: a file in Ops/ declaring its Op (with its samples, randomized
/// implementation, C calls and, outside the network, its export cases), one line in
/// `Ops.all`, and the C header (tests fail until each knows it); docs/design.md, "How to
/// add a layer", lists the rest.
public struct Op: Sendable {
    /// The case function's name in the manifest ("conv2d").
    public let name: String
    /// Input arrays of a case (inputs.npz), in order; 0-d hyperparameters included.
    public let inputs: [String]
    /// Output arrays a result must hold (expected.npz); step cases list theirs per state.
    public let outputs: [String]
    /// Integer parameters of a case (manifest `params`).
    public let params: [String]
    /// The C ABI functions it needs, without `byol_` and the precision suffix; empty for
    /// a function outside the ABI (whole steps and embeds: the file route only).
    public let abi: [String]
    /// The ABI version that added those functions.
    public let abiVersion: Int32
    /// What it is to the network: a layer (forward and backward: the cross-check has a
    /// row for each), an update of state, or the whole network.
    public let kind: Kind
    /// Its calls into a library of the C ABI (nil outside the ABI).
    let plugin: ConformancePlugin.Entry?
    /// What an engine returns for a case: its layer entry points (or, for steps and
    /// embeds, its network).
    let compute: @Sendable (Engine, OpCase) throws -> LayerResult
    /// The error terms of each float output (nil: composed through the network by
    /// StepBounds instead).
    let errorModel: (@Sendable (OpValues) -> [String: ErrorTerms])?
    /// Small inputs for this package's own checks of a layer op (OpSample), drawn from
    /// the op's own stream (Ops.samples): every layer op needs at least one with a
    /// gradient, unless it has no gradient output.
    var samples: @Sendable (inout CaseDraws) -> [OpSample] = { _ in [] }
    /// A randomized correct float32 implementation, for the kit's trials (RandomizedKernels;
    /// nil for the whole-network functions).
    var randomized: (@Sendable (inout RandomizedKernels, OpCase) throws -> [(name: String, array: NDArray)])? = nil
    /// The export's cases of a function the network does not use, at shapes of the preset
    /// (`batch` images of `size`), from a stream of the op's own; a case's ID is its label.
    /// Nil for the network's functions, whose cases come from its layers (ConformanceCases).
    var kitCases: (@Sendable (_ arch: Architecture, _ batch: Int, _ size: Int, inout CaseDraws) -> [OpSample])? = nil

    public enum Kind: Sendable { case layer, update, network }

    /// A function of the whole network: not in the C ABI, bounds by StepBounds.
    public var wholeNetwork: Bool { kind == .network }
}

/// A small case of a layer op for this package's checks: the float32-vs-float64 cross-check
/// runs every sample through both engines (CrossCheck.layerCases), and finite differences
/// check the reference's gradients on each sample with `gradCheck` (GradCheckCases):
/// output `dNAME` is the gradient for input NAME of sum(OUT * dOUT) over the outputs OUT
/// that have an input dOUT, plus `loss`.
public struct OpSample: Sendable {
    /// Its row's name ("conv2d 3x3 stride 2 pad 1, 6 channels").
    public let label: String
    public let params: [String: Int]
    public let inputs: [(name: String, array: NDArray)]
    /// Small enough for finite differences (two evaluations per element).
    public let gradCheck: Bool
    /// Inputs that are ReLU inputs: a finite-difference step must not flip their signs.
    public let kinks: [String]

    init(_ label: String, params: [String: Int] = [:], _ inputs: [(String, Tensor)], gradCheck: Bool = true, kinks: [String] = []) {
        self.label = label
        self.params = params
        self.inputs = inputs.map { (name: $0.0, array: NDArray($0.1)) }
        self.gradCheck = gradCheck
        self.kinks = kinks
    }

    /// The case's inputs as an op's `compute` reads them.
    func opCase(_ replaced: [String: Tensor] = [:]) -> OpCase {
        let members = inputs.map { m in (name: m.name, array: replaced[m.name].map { NDArray($0) } ?? m.array) }
        return OpCase(inputs: NPZFile(path: label, members: members), params: params, state: nil)
    }
}

/// A case's inputs and parameters as an op's `compute` reads them.
struct OpCase {
    let inputs: NPZFile
    let params: [String: Int]
    let state: BYOLState?
    func x(_ name: String) throws -> NDArray { try inputs.requireFloat(name) }
    func scalar(_ name: String) throws -> Double {
        guard let v = try inputs.requireFloat(name).doubles.first else { throw NumPyIOError(file: inputs.path, array: name, "empty") }
        return v
    }
}

/// A case's inputs and expected outputs by name, as an error model reads them (the
/// generator made both: every name the op declares is there).
struct OpValues {
    let params: [String: Int]
    let inputs: [String: NDArray]
    let expected: [String: NDArray]
    func t(_ a: [String: NDArray], _ n: String) -> Tensor { Tensor(a[n] ?? NDArray(float64: [], shape: [0])) }
    func d(_ a: [String: NDArray], _ n: String) -> [Double] { a[n]?.doubles ?? [] }
    func s(_ n: String) -> Double { inputs[n]?.doubles.first ?? 0 }
}

public enum Ops {
    /// Every op, in the order cases are generated and reported: each declared in its file
    /// of Ops/ (with its C calls and randomized implementation), the updates from
    /// OptimizerKind.
    public static let all: [Op] =
        [
            conv2d, batchNormTrain("batchnorm2d_train"), batchNormEval("batchnorm2d_eval"), batchNormTrain("batchnorm1d_train"),
            batchNormEval("batchnorm1d_eval"), batchNormRunning, linear, relu, avgPool, loss, symmetricLoss
        ]
        + OptimizerKind.byCode.map(update) + [ema, step, embed]

    // Whole-network functions: outputs are the step's own (loss, grad.*, the next
    // state's arrays) or the features; their bounds come from StepBounds.
    static let step =
        Op(
            name: "step", inputs: ["view1", "view2"], outputs: ["loss"], params: ["optimizer", "bn_views"], abi: [], abiVersion: 1,
            kind: .network,
            plugin: nil,
            compute: { e, c in
                guard let state = c.state else { throw NumPyIOError(file: c.inputs.path, "a step case needs its state.npz") }
                let o = e.step(
                    from: state, view1: try c.x("view1"), view2: try c.x("view2"),
                    config: try Conformance.stepConfig(params: c.params, inputs: c.inputs))
                return Conformance.stepOutputs(o, arch: state.arch)
            }, errorModel: nil)

    static let embed =
        Op(
            name: "embed", inputs: ["images"], outputs: ["features"], params: [], abi: [], abiVersion: 1, kind: .network,
            plugin: nil,
            compute: { e, c in
                guard let state = c.state else { throw NumPyIOError(file: c.inputs.path, "an embed case needs its state.npz") }
                return LayerResult([("features", e.embed(state, images: try c.x("images"), network: "online"))])
            }, errorModel: nil)

    /// Every layer op's samples, each op's from a stream of its own (seeded by its name),
    /// so that adding an op leaves every other op's inputs as they were: the same inputs
    /// for every engine and every run.
    public static func samples() -> [(op: Op, sample: OpSample)] {
        all.filter { $0.kind == .layer }.flatMap { op in
            var rng = CaseDraws(seed: 99 &+ Conformance.fnv1a(op.name))
            return op.samples(&rng).map { (op, $0) }
        }
    }

    /// The op named `name`.
    public static func named(_ name: String) -> Op? { byName[name] }
    private static let byName = Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0) })
}
