import BYOLModel
import Foundation
import NumPyIO
import Reference

extension Conformance {
    /// The optimizers whose whole steps `cases` exports by default: all three for the tiny
    /// preset; for the larger ones BYOL's LARS step only (each step case holds the whole
    /// state three times over, with its bounds: 0.2 GB for the small preset).
    public static func defaultSteps(_ arch: Architecture) -> [OptimizerKind] { arch == .tiny ? StepCases.optimizers : [.lars] }

    /// The cases of `arch` on `batch` images of size x size, inputs drawn from `seed`, with
    /// a whole step for each of `steps` (nil: `defaultSteps`) and an embed, unless `layersOnly`.
    public static func cases(
        arch: Architecture, batch: Int, size: Int, seed: UInt64, steps: [OptimizerKind]? = nil,
        layersOnly: Bool = false
    ) -> [Case] {
        var out: [Case] = []
        generate(arch: arch, batch: batch, size: size, seed: seed, steps: steps, layersOnly: layersOnly) { out.append($0) }
        return out
    }

    /// The same cases handed to `emit` one by one, in order, as each is ready (the
    /// whole-network ones last): export writes each while the next is computed.
    /// `layersOnly`: no whole steps and no embed (for implementations of layer functions
    /// alone: their results then check without `--only`).
    static func generate(
        arch: Architecture, batch: Int, size: Int, seed: UInt64, steps: [OptimizerKind]?, layersOnly: Bool = false,
        emit: (Case) throws -> Void
    ) rethrows {
        // The whole-network cases (most of the work: Monte Carlo passes of the reference)
        // draw from streams of their own, so they run beside the layer cases.
        let wholeNetwork = Locked<[Case]>([])
        let stepKinds = steps ?? defaultSteps(arch)
        let group = DispatchGroup()
        if !layersOnly {
            DispatchQueue.global().async(group: group) {
                let made = StepCases.cases(arch: arch, batch: batch, size: size, seed: seed, steps: stepKinds)
                wholeNetwork.update { $0 = made }
            }
        }
        // An error from `emit` must not leave the whole-network cases running.
        defer { group.wait() }
        var rng = CaseDraws(seed: seed)
        // The running-statistics cases draw from a stream of their own, so that adding them
        // left every other case's inputs as they were.
        var runningDraws = CaseDraws(seed: seed &+ 0x52_554E)
        let reference = ReferenceEngine()
        var seen = Set<String>()
        var pending: [Case] = []
        func add(
            _ id: String, _ function: String, params: [String: Int] = [:], inputs: [(String, NDArray)], margin: Double? = nil,
            run: () -> LayerResult
        ) {
            guard seen.insert(id).inserted else { return }
            let named = inputs.map { (name: $0.0, array: $0.1) }
            let expected = run().arrays
            pending.append(
                Case(
                    id: id, function: function, params: params, inputs: named, expected: expected,
                    bounds: ConformanceBounds.tiers(ConformanceBounds.terms(function: function, params: params, inputs: named, expected: expected)),
                    reluMargin: margin))
        }
        func nd(_ t: Tensor) -> NDArray { NDArray(t) }

        func batchNorm(shape: [Int], label: String, function: String) {
            let c = shape[1]
            let x = nd(rng.tensor(shape, -1, 3)), gamma = nd(rng.tensor([c], 0.5, 1.5)), beta = nd(rng.tensor([c], -0.5, 0.5))
            let dy = nd(rng.tensor(shape)), mean = nd(rng.tensor([c], -0.5, 0.5)), variance = nd(rng.tensor([c], 0.5, 2))
            add(
                label.replacingOccurrences(of: function, with: function + "-train"), function + "_train",
                inputs: [("x", x), ("weight", gamma), ("bias", beta), ("dy", dy)]
            ) {
                reference.batchNormTrain(x: x, weight: gamma, bias: beta, dy: dy)
            }
            add(
                label.replacingOccurrences(of: function, with: function + "-eval"), function + "_eval",
                inputs: [("x", x), ("weight", gamma), ("bias", beta), ("running_mean", mean), ("running_var", variance)]
            ) {
                reference.batchNormEval(x: x, weight: gamma, bias: beta, runningMean: mean, runningVar: variance)
            }
            // Running statistics away from their initial 0 and 1, after a few batches.
            let rx = nd(runningDraws.tensor(shape, -1, 3)), rm = nd(runningDraws.tensor([c], -0.5, 0.5))
            let rv = nd(runningDraws.tensor([c], 0.5, 2))
            add(
                label.replacingOccurrences(of: function, with: function + "-running"), "batchnorm_running",
                inputs: [
                    ("x", rx), ("running_mean", rm), ("running_var", rv), ("num_batches_tracked", .scalar(Int64(7))),
                    ("momentum", .scalar(BNConstants.momentum))
                ]
            ) {
                reference.batchNormRunning(x: rx, runningMean: rm, runningVar: rv, batches: 7)
            }
        }
        func relu(shape: [Int], label: String) {
            // Inputs kept 1e-3 from the kink: float32 rounding must not flip a sign.
            let xt = rng.awayFromZero(shape, minMagnitude: 1e-3)
            let x = nd(xt), dy = nd(rng.tensor(shape))
            let margin = x.doubles.map(abs).min() ?? 0
            add(label, "relu", inputs: [("x", x), ("dy", dy)], margin: margin) { reference.relu(x: x, dy: dy) }
        }

        // Convolutions and the BN that follows each, in network order.
        var convs: [(c: Int, k: Int, r: Int, stride: Int, pad: Int, h: Int)] = [(3, arch.widths[0], 3, 1, 1, size)]
        var h = size
        for b in arch.blockSpecs {
            let ho = (h + 2 - 3) / b.stride + 1
            convs.append((b.inChannels, b.outChannels, 3, b.stride, 1, h))
            convs.append((b.outChannels, b.outChannels, 3, 1, 1, ho))
            if b.hasDownsample { convs.append((b.inChannels, b.outChannels, 1, b.stride, 0, h)) }
            h = ho
        }
        for cv in convs {
            let ho = (cv.h + 2 * cv.pad - cv.r) / cv.stride + 1
            let id = "conv2d-\(cv.r)x\(cv.r)-s\(cv.stride)-p\(cv.pad)-\(cv.c)to\(cv.k)-\(cv.h)x\(cv.h)"
            // Weights at He-like scale keep outputs of order 1 whatever the fan-in.
            let s = (3.0 / Double(cv.c * cv.r * cv.r)).squareRoot()
            let x = nd(rng.tensor([batch, cv.c, cv.h, cv.h])), w = nd(rng.tensor([cv.k, cv.c, cv.r, cv.r], -s, s))
            let dy = nd(rng.tensor([batch, cv.k, ho, ho]))
            add(id, "conv2d", params: ["stride": cv.stride, "pad": cv.pad], inputs: [("x", x), ("weight", w), ("dy", dy)]) {
                reference.conv2d(x: x, weight: w, stride: cv.stride, pad: cv.pad, dy: dy)
            }
            batchNorm(shape: [batch, cv.k, ho, ho], label: "batchnorm2d-\(cv.k)x\(ho)x\(ho)", function: "batchnorm2d")
            relu(shape: [batch, cv.k, ho, ho], label: "relu-\(cv.k)x\(ho)x\(ho)")
        }
        // Pooling, heads, loss.
        let last = arch.widths[3]
        let px = nd(rng.tensor([batch, last, h, h])), pdy = nd(rng.tensor([batch, last]))
        add("avgpool-\(last)x\(h)x\(h)", "avgpool", inputs: [("x", px), ("dy", pdy)]) { reference.avgPool(x: px, dy: pdy) }
        for (i, o) in [
            (arch.featureSize, arch.projHidden), (arch.projHidden, arch.projOut), (arch.projOut, arch.predHidden),
            (arch.predHidden, arch.projOut)
        ] {
            let s = (3.0 / Double(i)).squareRoot()
            let x = nd(rng.tensor([batch, i])), w = nd(rng.tensor([o, i], -s, s)), b = nd(rng.tensor([o])), dy = nd(rng.tensor([batch, o]))
            add("linear-\(i)to\(o)", "linear", inputs: [("x", x), ("weight", w), ("bias", b), ("dy", dy)]) {
                reference.linear(x: x, weight: w, bias: b, dy: dy)
            }
        }
        for hidden in [arch.projHidden, arch.predHidden] {
            batchNorm(shape: [batch, hidden], label: "batchnorm1d-\(hidden)", function: "batchnorm1d")
            relu(shape: [batch, hidden], label: "relu-\(hidden)")
        }
        let p = nd(rng.tensor([batch, arch.projOut])), z = nd(rng.tensor([batch, arch.projOut]))
        add("loss-\(batch)x\(arch.projOut)", "loss", inputs: [("p", p), ("z", z)]) { reference.loss(p: p, z: z) }
        // BYOL's loss over both views: each view's prediction against the other view's target.
        let (p1, p2) = (nd(rng.tensor([batch, arch.projOut])), nd(rng.tensor([batch, arch.projOut])))
        let (z1, z2) = (nd(rng.tensor([batch, arch.projOut])), nd(rng.tensor([batch, arch.projOut])))
        add("symmetric_loss-\(batch)x\(arch.projOut)", "symmetric_loss", inputs: [("p1", p1), ("p2", p2), ("z1", z1), ("z2", z2)]) {
            symmetricLoss(reference, p1: p1, p2: p2, z1: z1, z2: z2)
        }

        // The updates, on the stem's weight shape (an optimizer that treats vectors apart,
        // LARS, also on a bias); hyperparameters as 0-d inputs (OptimizerKit).
        let wShape = [arch.widths[0], 3, 3, 3]
        func update(_ kind: OptimizerKind, shape: [Int], draws: inout CaseDraws) {
            let param = nd(draws.tensor(shape, -0.5, 0.5)), grad = nd(draws.tensor(shape))
            var inputs: [(String, NDArray)] = [("param", param), ("grad", grad)]
            var buffers: [String: NDArray] = [:]
            for b in kind.bufferNames {
                let (lo, hi) = OptimizerKind.bufferRange(b, stepCase: false)
                buffers[b] = nd(draws.tensor(shape, lo, hi))
                inputs.append((b, buffers[b]!))
            }
            if kind.readsStep { inputs.append(("step", .scalar(kind.updateCaseStep))) }
            let config = kind.updateCase
            inputs += kind.hyperparameters.map { ($0, NDArray.scalar(config[hyperparameter: $0] ?? .nan)) }
            add("\(kind.rawValue)-" + shape.map(String.init).joined(separator: "x"), kind.rawValue, inputs: inputs) {
                reference.optimizerUpdate(param: param, grad: grad, buffers: buffers, step: kind.updateCaseStep, config: config)
            }
        }
        for kind in OptimizerKind.byCode {
            // Optimizers after the first three draw from streams of their own, so that adding
            // one leaves every other case's inputs as they were.
            var own = CaseDraws(seed: seed &+ 0x4F50_5400 &+ UInt64(kind.code))
            for shape in [wShape] + (kind.readsIsMatrix ? [[arch.widths[0]]] : []) {
                if kind.code < 3 { update(kind, shape: shape, draws: &rng) } else { update(kind, shape: shape, draws: &own) }
            }
        }
        let target = nd(rng.tensor(wShape, -0.5, 0.5)), online = nd(rng.tensor(wShape, -0.5, 0.5))
        add("ema-" + wShape.map(String.init).joined(separator: "x"), "ema", inputs: [("target", target), ("online", online), ("tau", .scalar(0.996))])
        {
            reference.emaUpdate(target: target, online: online, tau: 0.996)
        }
        // Functions the network does not use, each from a stream of its own.
        for op in Ops.all {
            guard let kitCases = op.kitCases else { continue }
            var own = CaseDraws(seed: seed &+ fnv1a(op.name))
            for s in kitCases(arch, batch, size, &own) {
                add(s.label, op.name, params: s.params, inputs: s.inputs.map { ($0.name, $0.array) }) {
                    (try? op.compute(reference, s.opCase())) ?? LayerResult([])
                }
            }
        }

        // Whole steps and an embed from a warmed-up state built to be well conditioned.
        for c in pending { try emit(c) }
        group.wait()
        for c in wholeNetwork.value { try emit(c) }
    }

    /// FNV-1a of `name`'s UTF-8 bytes: a seed offset that is the same in every process
    /// (Swift's `hashValue` is not).
    static func fnv1a(_ name: String) -> UInt64 {
        name.utf8.reduce(0xcbf2_9ce4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
    }

    /// loss = l(p1, z2) + l(p2, z1) (each the batch mean of `loss`), dp1, dp2: the loss
    /// of a BYOL step (docs/contract.md §3.2) from an engine's `loss` entry point.
    static func symmetricLoss(_ engine: LayerKernels, p1: NDArray, p2: NDArray, z1: NDArray, z2: NDArray) -> LayerResult {
        let a = engine.loss(p: p1, z: z2), b = engine.loss(p: p2, z: z1)
        let total = (a["loss"]?.doubles.first ?? .nan) + (b["loss"]?.doubles.first ?? .nan)
        return LayerResult([("loss", .scalar(total)), ("dp1", a["dp"]!), ("dp2", b["dp"]!)])
    }

    /// A step's outputs: `loss`, `grad.NAME` per learnable array, the next state's arrays.
    static func stepOutputs(_ o: StepOutcome, arch: Architecture) -> LayerResult {
        LayerResult(
            [("loss", .scalar(o.loss))] + arch.learnableSpecs.compactMap { s in o.grads[s.name].map { ("grad." + s.name, $0) } }
                + o.next.members.filter { $0.name != "loss" })
    }

    /// A step case's configuration from its params and 0-d inputs. An optimizer code
    /// this version does not know is an error (it was read as LARS).
    static func stepConfig(params: [String: Int], inputs: NPZFile) throws -> StepConfig {
        let code = params["optimizer"] ?? OptimizerKind.lars.code
        guard let kind = OptimizerKind.allCases.first(where: { $0.code == code }) else {
            let known = OptimizerKind.byCode.map { "\($0.code) \($0.rawValue)" }.joined(separator: ", ")
            throw NumPyIOError(file: inputs.path, "params.optimizer = \(code) is no optimizer this byol knows (\(known))")
        }
        return StepConfig(
            optimizer: OptimizerConfig(kind: kind) { inputs[$0]?.doubles.first }, tau: inputs["tau"]?.doubles.first ?? 0.99,
            bnViews: params["bn_views"] == 1 ? .joint : .separate)
    }

    /// An optimizer case's update on `engine`, from its inputs by name.
    static func update(_ engine: LayerKernels, kind: OptimizerKind, _ inputs: NPZFile) throws -> LayerResult {
        let param = try inputs.requireFloat("param"), grad = try inputs.requireFloat("grad")
        var buffers: [String: NDArray] = [:]
        for b in kind.bufferNames { buffers[b] = try inputs.requireFloat(b) }
        return engine.optimizerUpdate(
            param: param, grad: grad, buffers: buffers, step: OptimizerKind.stepCount(inputs["step"]),
            config: OptimizerConfig(kind: kind) { inputs[$0]?.doubles.first })
    }

    /// Runs a case's function on `engine` (its op's `compute`): what an implementation
    /// in this package returns for the case (`byol conformance run --engine`).
    public static func compute(
        function: String, params: [String: Int], inputs: NPZFile, state: BYOLState? = nil, engine: Engine
    ) throws -> LayerResult {
        guard let op = Ops.named(function) else { throw NumPyIOError(file: inputs.path, "unknown function '\(function)'") }
        return try op.compute(engine, OpCase(inputs: inputs, params: params, state: state))
    }

    /// Every case of the manifest in `dir` through `engine`, written to RESULTS/ID.npz.
    public static func run(cases dir: String, engine: Engine, results: String) throws -> Int {
        let listed = try readManifest(dir)
        do {
            try FileManager.default.createDirectory(atPath: results, withIntermediateDirectories: true)
        } catch {
            throw NumPyIOError(file: results, "cannot create the folder: \((error as NSError).localizedFailureReason ?? error.localizedDescription)")
        }
        for c in listed {
            let inputs = try NPZ.load("\(dir)/\(c.id)/inputs.npz")
            let statePath = "\(dir)/\(c.id)/state.npz"
            let state = FileManager.default.fileExists(atPath: statePath) ? try BYOLState.read(statePath) : nil
            let r = try compute(function: c.function, params: c.params, inputs: inputs, state: state, engine: engine)
            try NPZ.write(r.arrays, to: "\(results)/\(c.id).npz")
        }
        return listed.count
    }
}
