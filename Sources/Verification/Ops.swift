import BYOLModel
import NumPyIO
import Reference

/// The op table: every function the conformance kit knows, declared once, in the order
/// cases are generated. The kit's function list, the C ABI functions the plugin route
/// needs (and the ABI version that added them), the plugin's calls into a library, what
/// an engine computes for a case (the reference engine's answer is the expected value),
/// and each function's rounding-error model all come from here.
///
/// Adding a layer function: an entry here (its inputs, outputs, ABI functions, C calls
/// in PluginCalls.swift, engine call and error model), its cases in ConformanceCases,
/// and the C header (tests fail until each knows it).
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
    /// Small inputs for this package's own checks of a layer op (OpSample), drawn in op
    /// order from one stream: every layer op needs at least one with a gradient.
    var samples: @Sendable (inout CaseDraws) -> [OpSample] = { _ in [] }

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
    /// Every op, in the order cases are generated and reported.
    public static let all: [Op] =
        [
            Op(
                name: "conv2d", inputs: ["x", "weight", "dy"], outputs: ["y", "dx", "dweight"], params: ["stride", "pad"],
                abi: ["conv2d_forward", "conv2d_backward_data", "conv2d_backward_weights"], abiVersion: 1, kind: .layer,
                plugin: .init(f32: ConformancePlugin.conv2d, f64: ConformancePlugin.conv2d),
                compute: { e, c in
                    e.conv2d(
                        x: try c.x("x"), weight: try c.x("weight"), stride: c.params["stride"] ?? 1, pad: c.params["pad"] ?? 0, dy: try c.x("dy"))
                },
                errorModel: { v in
                    let (i, e) = (v.inputs, v.expected)
                    let x = v.t(i, "x"), w = v.t(i, "weight"), dy = v.t(i, "dy")
                    let (stride, pad) = (v.params["stride"] ?? 1, v.params["pad"] ?? 0)
                    let b = MatrixProductErrors.conv2dBackward(x: x, w: w, dy: dy, stride: stride, pad: pad, dx: v.t(e, "dx"), dw: v.t(e, "dweight"))
                    return ["y": MatrixProductErrors.conv2dForward(x: x, w: w, stride: stride, pad: pad, y: v.t(e, "y")), "dx": b.dx, "dweight": b.dw]
                },
                samples: { rng in
                    // Each shape class the network uses: 3x3 stride 1 with 6 input channels runs Winograd,
                    // with 3 (the RGB stem) im2col; the 33x32 row has the row lengths of resnet's stride-2
                    // convolutions at 32x32. Then small ones for finite differences.
                    var out: [OpSample] = []
                    for (stride, pad, r, c, h, w) in [
                        (1, 1, 3, 6, 9, 9), (1, 1, 3, 3, 9, 9), (2, 1, 3, 6, 9, 9), (2, 0, 1, 6, 9, 9), (2, 1, 3, 4, 33, 32)
                    ] {
                        let x = rng.tensor([5, c, h, w]), wt = rng.tensor([7, c, r, r], -0.3, 0.3)
                        let dy = rng.tensor([5, 7, (h + 2 * pad - r) / stride + 1, (w + 2 * pad - r) / stride + 1])
                        let size = h == 9 && w == 9 ? "" : " at \(h)x\(w)"
                        out.append(
                            OpSample(
                                "conv2d \(r)x\(r) stride \(stride) pad \(pad), \(c) channels\(size)", params: ["stride": stride, "pad": pad],
                                [("x", x), ("weight", wt), ("dy", dy)], gradCheck: false))
                    }
                    for (stride, pad, r) in [(1, 1, 3), (2, 1, 3), (2, 0, 1)] {
                        let ho = (6 + 2 * pad - r) / stride + 1
                        let x = rng.tensor([3, 2, 6, 6]), wt = rng.tensor([3, 2, r, r]), dy = rng.tensor([3, 3, ho, ho])
                        out.append(
                            OpSample(
                                "conv2d \(r)x\(r) stride \(stride) pad \(pad)", params: ["stride": stride, "pad": pad],
                                [("x", x), ("weight", wt), ("dy", dy)]))
                    }
                    return out
                }),
            batchNormTrain("batchnorm2d_train"),
            batchNormEval("batchnorm2d_eval"),
            batchNormTrain("batchnorm1d_train"),
            batchNormEval("batchnorm1d_eval"),
            Op(
                name: "batchnorm_running", inputs: ["x", "running_mean", "running_var", "num_batches_tracked", "momentum"],
                outputs: ["running_mean", "running_var", "num_batches_tracked"], params: [], abi: ["batchnorm_running_update"], abiVersion: 2,
                kind: .update,
                plugin: .init(f32: ConformancePlugin.batchNormRunning, f64: ConformancePlugin.batchNormRunning),
                compute: { e, c in
                    let batches = try c.inputs.requireInt("num_batches_tracked", shape: [])
                    guard case .int64(let b) = batches.storage, let count = b.first else {
                        throw NumPyIOError(file: c.inputs.path, array: "num_batches_tracked", "not an int64 scalar")
                    }
                    return e.batchNormRunning(
                        x: try c.x("x"), runningMean: try c.x("running_mean"), runningVar: try c.x("running_var"), batches: count)
                },
                errorModel: { v in
                    let (i, e) = (v.inputs, v.expected)
                    let next = BatchNorm.Running(mean: v.d(e, "running_mean"), variance: v.d(e, "running_var"), batches: 0)
                    let r = BatchNormErrors.running(
                        x: v.t(i, "x"), runningMean: v.d(i, "running_mean"), runningVar: v.d(i, "running_var"),
                        momentum: v.s("momentum"), next: next)
                    return ["running_mean": r.mean, "running_var": r.variance]
                }),
            Op(
                name: "linear", inputs: ["x", "weight", "bias", "dy"], outputs: ["y", "dx", "dweight", "dbias"], params: [],
                abi: ["linear_forward", "linear_backward"], abiVersion: 1, kind: .layer,
                plugin: .init(f32: ConformancePlugin.linear, f64: ConformancePlugin.linear),
                compute: { e, c in e.linear(x: try c.x("x"), weight: try c.x("weight"), bias: try c.x("bias"), dy: try c.x("dy")) },
                errorModel: { v in
                    let (i, e) = (v.inputs, v.expected)
                    let r = MatrixProductErrors.linearBackward(
                        x: v.t(i, "x"), w: v.t(i, "weight"), dy: v.t(i, "dy"), dx: v.t(e, "dx"), dw: v.t(e, "dweight"),
                        db: v.d(e, "dbias"))
                    return [
                        "y": MatrixProductErrors.linearForward(x: v.t(i, "x"), w: v.t(i, "weight"), b: v.d(i, "bias"), y: v.t(e, "y")), "dx": r.dx,
                        "dweight": r.dw, "dbias": r.db
                    ]
                },
                samples: { rng in
                    let x = rng.tensor([6, 20]), w = rng.tensor([9, 20], -0.3, 0.3), b = rng.tensor([9]), dy = rng.tensor([6, 9])
                    return [OpSample("linear", [("x", x), ("weight", w), ("bias", b), ("dy", dy)])]
                }),
            Op(
                name: "relu", inputs: ["x", "dy"], outputs: ["y", "dx"], params: [], abi: ["relu_forward", "relu_backward"], abiVersion: 1,
                kind: .layer,
                plugin: .init(f32: ConformancePlugin.relu, f64: ConformancePlugin.relu),
                compute: { e, c in e.relu(x: try c.x("x"), dy: try c.x("dy")) },
                errorModel: { v in
                    let r = ElementwiseErrors.relu(y: v.t(v.expected, "y"), dx: v.t(v.expected, "dx"))
                    return ["y": r.y, "dx": r.dx]
                },
                samples: { rng in
                    // Inputs kept 1e-3 from the kink: neither float32 rounding nor a finite-difference step flips a sign.
                    [OpSample("relu", [("x", rng.awayFromZero([4, 3, 5, 5], minMagnitude: 1e-3)), ("dy", rng.tensor([4, 3, 5, 5]))], kinks: ["x"])]
                }),
            Op(
                name: "avgpool", inputs: ["x", "dy"], outputs: ["y", "dx"], params: [], abi: ["avgpool_forward", "avgpool_backward"], abiVersion: 1,
                kind: .layer,
                plugin: .init(f32: ConformancePlugin.avgPool, f64: ConformancePlugin.avgPool),
                compute: { e, c in e.avgPool(x: try c.x("x"), dy: try c.x("dy")) },
                errorModel: { v in
                    [
                        "y": ElementwiseErrors.avgPoolForward(x: v.t(v.inputs, "x"), y: v.t(v.expected, "y")),
                        "dx": ElementwiseErrors.avgPoolBackward(dx: v.t(v.expected, "dx"))
                    ]
                },
                samples: { rng in [OpSample("global average pooling", [("x", rng.tensor([4, 6, 3, 5])), ("dy", rng.tensor([4, 6]))])] }),
            Op(
                name: "loss", inputs: ["p", "z"], outputs: ["loss", "dp"], params: [], abi: ["loss_forward", "loss_backward"], abiVersion: 1,
                kind: .layer,
                plugin: .init(f32: ConformancePlugin.loss, f64: ConformancePlugin.loss),
                compute: { e, c in e.loss(p: try c.x("p"), z: try c.x("z")) },
                errorModel: { v in
                    let r = LossErrors.loss(p: v.t(v.inputs, "p"), z: v.t(v.inputs, "z"), dp: v.t(v.expected, "dp"))
                    return ["loss": r.loss, "dp": r.dp]
                },
                samples: { rng in
                    // Rows of quite different norms (x10, x0.1).
                    var p = rng.tensor([5, 8])
                    for j in 0..<8 {
                        p.data[8 + j] *= 10
                        p.data[16 + j] *= 0.1
                    }
                    return [OpSample("normalized MSE loss", [("p", p), ("z", rng.tensor([5, 8]))])]
                }),
            Op(
                name: "symmetric_loss", inputs: ["p1", "p2", "z1", "z2"], outputs: ["loss", "dp1", "dp2"], params: [],
                abi: ["symmetric_loss_forward", "symmetric_loss_backward"], abiVersion: 1, kind: .layer,
                plugin: .init(f32: ConformancePlugin.symmetricLoss, f64: ConformancePlugin.symmetricLoss),
                compute: { e, c in Conformance.symmetricLoss(e, p1: try c.x("p1"), p2: try c.x("p2"), z1: try c.x("z1"), z2: try c.x("z2")) },
                errorModel: { v in
                    let (i, e) = (v.inputs, v.expected)
                    let a = LossErrors.loss(p: v.t(i, "p1"), z: v.t(i, "z2"), dp: v.t(e, "dp1"))
                    let b = LossErrors.loss(p: v.t(i, "p2"), z: v.t(i, "z1"), dp: v.t(e, "dp2"))
                    let total = v.d(e, "loss").first ?? 0
                    return ["loss": ErrorTerms(a: [a.loss.a[0] + b.loss.a[0] + ErrorTerms.slack * abs(total)]), "dp1": a.dp, "dp2": b.dp]
                },
                samples: { rng in
                    [
                        OpSample(
                            "symmetric loss",
                            [("p1", rng.tensor([5, 8])), ("p2", rng.tensor([5, 8])), ("z1", rng.tensor([5, 8])), ("z2", rng.tensor([5, 8]))])
                    ]
                })
        ] + OptimizerKind.byCode.map(update) + [
            Op(
                name: "ema", inputs: ["target", "online", "tau"], outputs: ["target"], params: [], abi: ["ema_update"], abiVersion: 1, kind: .update,
                plugin: .init(f32: ConformancePlugin.ema, f64: ConformancePlugin.ema),
                compute: { e, c in e.emaUpdate(target: try c.x("target"), online: try c.x("online"), tau: try c.scalar("tau")) },
                errorModel: { v in
                    [
                        "target": UpdateErrors.ema(
                            target: v.d(v.inputs, "target"), online: v.d(v.inputs, "online"), tau: v.s("tau"),
                            out: v.d(v.expected, "target"))
                    ]
                }),
            // Whole-network functions: outputs are the step's own (loss, grad.*, the next
            // state's arrays) or the features; their bounds come from StepBounds.
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
                }, errorModel: nil),
            Op(
                name: "embed", inputs: ["images"], outputs: ["features"], params: [], abi: [], abiVersion: 1, kind: .network,
                plugin: nil,
                compute: { e, c in
                    guard let state = c.state else { throw NumPyIOError(file: c.inputs.path, "an embed case needs its state.npz") }
                    return LayerResult([("features", e.embed(state, images: try c.x("images"), network: "online"))])
                }, errorModel: nil)
        ]

    /// Every layer op's samples, drawn in op order from one stream (seed 99): the same
    /// inputs for every engine and every run.
    public static func samples() -> [(op: Op, sample: OpSample)] {
        var rng = CaseDraws(seed: 99)
        return all.filter { $0.kind == .layer }.flatMap { op in op.samples(&rng).map { (op, $0) } }
    }

    /// The op named `name`.
    public static func named(_ name: String) -> Op? { byName[name] }
    private static let byName = Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0) })

    static func batchNormTrain(_ name: String) -> Op {
        Op(
            name: name, inputs: ["x", "weight", "bias", "dy"], outputs: ["y", "dx", "dweight", "dbias"], params: [],
            abi: ["batchnorm_train_forward", "batchnorm_train_backward"], abiVersion: 1, kind: .layer,
            plugin: .init(f32: ConformancePlugin.batchNormTrain, f64: ConformancePlugin.batchNormTrain),
            compute: { e, c in e.batchNormTrain(x: try c.x("x"), weight: try c.x("weight"), bias: try c.x("bias"), dy: try c.x("dy")) },
            errorModel: { v in
                let (i, e) = (v.inputs, v.expected)
                let r = BatchNormErrors.trainBackward(x: v.t(i, "x"), gamma: v.d(i, "weight"), dy: v.t(i, "dy"), dx: v.t(e, "dx"))
                return [
                    "y": BatchNormErrors.trainForward(x: v.t(i, "x"), gamma: v.d(i, "weight"), beta: v.d(i, "bias")), "dx": r.dx,
                    "dweight": r.dweight, "dbias": r.dbias
                ]
            },
            samples: { rng in
                let shape = name.contains("2d") ? [6, 5, 4, 4] : [7, 9]
                let c = shape[1]
                let x = rng.tensor(shape, -1, 3), gamma = rng.tensor([c], 0.5, 1.5), beta = rng.tensor([c], -0.5, 0.5)
                return [
                    OpSample(name.replacingOccurrences(of: "_", with: " "), [("x", x), ("weight", gamma), ("bias", beta), ("dy", rng.tensor(shape))])
                ]
            })
    }

    static func batchNormEval(_ name: String) -> Op {
        Op(
            name: name, inputs: ["x", "weight", "bias", "running_mean", "running_var"], outputs: ["y"], params: [],
            abi: ["batchnorm_eval_forward"], abiVersion: 1, kind: .layer,
            plugin: .init(f32: ConformancePlugin.batchNormEval, f64: ConformancePlugin.batchNormEval),
            compute: { e, c in
                e.batchNormEval(
                    x: try c.x("x"), weight: try c.x("weight"), bias: try c.x("bias"), runningMean: try c.x("running_mean"),
                    runningVar: try c.x("running_var"))
            },
            errorModel: { v in
                let i = v.inputs
                return [
                    "y": BatchNormErrors.eval(
                        x: v.t(i, "x"), gamma: v.d(i, "weight"), beta: v.d(i, "bias"), runningMean: v.d(i, "running_mean"),
                        runningVar: v.d(i, "running_var"), y: v.t(v.expected, "y"))
                ]
            },
            samples: { rng in
                let shape = name.contains("2d") ? [6, 5, 4, 4] : [7, 9]
                let c = shape[1]
                let x = rng.tensor(shape, -1, 3), gamma = rng.tensor([c], 0.5, 1.5), beta = rng.tensor([c], -0.5, 0.5)
                let mean = rng.tensor([c], -0.5, 0.5), variance = rng.tensor([c], 0.5, 2)
                return [
                    OpSample(
                        name.replacingOccurrences(of: "_", with: " "),
                        [("x", x), ("weight", gamma), ("bias", beta), ("running_mean", mean), ("running_var", variance)])
                ]
            })
    }

    /// An optimizer's update of one tensor: param and grad, then its buffers, step count
    /// and hyperparameters (OptimizerKind), the new param and buffers out.
    static func update(_ kind: OptimizerKind) -> Op {
        Op(
            name: kind.rawValue, inputs: ["param", "grad"] + kind.updateInputs, outputs: ["param"] + kind.bufferNames, params: [],
            abi: [kind.rawValue + "_update"], abiVersion: kind.abiVersion, kind: .update,
            plugin: .init(f32: { try ConformancePlugin.update(kind, $0) }, f64: { try ConformancePlugin.update(kind, $0) }),
            compute: { e, c in try Conformance.update(e, kind: kind, c.inputs) },
            errorModel: { v in
                let (i, e) = (v.inputs, v.expected)
                let config = OptimizerConfig(kind: kind) { i[$0]?.doubles.first }
                var old: [String: [Double]] = [:], next: [String: [Double]] = [:]
                for b in config.bufferNames {
                    old[b] = i[b]?.doubles
                    next[b] = e[b]?.doubles
                }
                let step =
                    i["step"].flatMap { a -> Int64? in
                        if case .int64(let s) = a.storage { return s.first }
                        return nil
                    } ?? 0
                return UpdateErrors.update(
                    param: v.d(i, "param"), grad: v.d(i, "grad"), buffers: old, isMatrix: (i["param"]?.shape.count ?? 0) > 1,
                    step: step, config: config, out: v.d(e, "param"), newBuffers: next)
            })
    }
}
