import BYOLModel
import Reference

/// The finite-difference cases: every layer op of the table (each input with a gradient,
/// from its samples), eval-mode BN, a residual block of each kind, an MLP head, and the
/// whole online network plus loss. Layer objectives are L = sum(y * R) with a fixed
/// random R, so backward runs with dy = R.
public enum GradCheckCases {
    /// Smallest |ReLU input| a drawn case must keep, far beyond the ~1e-6 moves that
    /// finite-difference steps cause; the checker verifies the signs on every step anyway.
    public static let reluMargin = 1e-4

    static func dot(_ a: Tensor, _ b: Tensor) -> Double {
        var s = 0.0
        for i in 0..<a.count { s += a.data[i] * b.data[i] }
        return s
    }

    static func vec(_ v: [Double]) -> Tensor { Tensor(shape: [v.count], data: v) }

    // MARK: Single layers

    /// The finite-difference case of a layer op's sample (OpSample.gradCheck), through
    /// the op's reference computation: the objective is sum(OUT * dOUT) over the outputs
    /// OUT with an input dOUT, plus `loss`; output dNAME is the analytic gradient for
    /// input NAME. Nil when the op has no gradient output (an eval-mode forward).
    public static func derived(_ op: Op, _ sample: OpSample) -> GradCheck.Case? {
        let reference = ReferenceEngine()
        func run(_ t: [String: Tensor]) -> LayerResult { (try? op.compute(reference, sample.opCase(t))) ?? LayerResult([]) }
        let base = run([:])
        let checked = sample.inputs.filter { base["d" + $0.name] != nil }
        guard !checked.isEmpty else { return nil }
        let upstream = sample.inputs.compactMap { m in m.name.hasPrefix("d") ? (output: String(m.name.dropFirst()), dy: Tensor(m.array)) : nil }
        return GradCheck.Case(
            name: sample.label, inputs: checked.map { ($0.name, Tensor($0.array)) },
            analytic: Dictionary(uniqueKeysWithValues: checked.map { ($0.name, Tensor(base["d" + $0.name]!)) })
        ) { t in
            let out = run(t)
            var value = out["loss"]?.doubles.first ?? 0
            for u in upstream { if let y = out[u.output] { value += dot(Tensor(y), u.dy) } }
            // A kink input is a checked input (ReLU's x), so `t` holds it.
            return (value, sample.kinks.compactMap { t[$0] })
        }
    }

    /// Eval-mode BatchNorm's backward, which no op of the table has (the kit's eval
    /// function is a forward only) and the embed's features do not need, checked here.
    public static func batchNormEval(spatial: Bool, seed: UInt64 = 2) -> GradCheck.Case {
        var rng = CaseDraws(seed: seed)
        let shape = spatial ? [3, 4, 3, 3] : [4, 6]
        let c = shape[1]
        var x = rng.tensor(shape, -2, 3)
        x.data = x.data.map { $0 * 1.5 }
        let gamma = rng.tensor([c], 0.5, 1.5)
        let beta = rng.tensor([c], -0.5, 0.5)
        let running = BatchNorm.Running(mean: rng.tensor([c], -0.5, 0.5).data, variance: rng.tensor([c], 0.5, 2).data, batches: 3)
        let r = rng.tensor(shape)
        let analytic = BatchNorm.backwardEval(r, x: x, gamma: gamma.data, running: running)
        return GradCheck.Case(
            name: "batchnorm\(spatial ? "2d" : "1d") eval",
            inputs: [("x", x), ("weight", gamma), ("bias", beta)],
            analytic: ["x": analytic.dx, "weight": vec(analytic.dgamma), "bias": vec(analytic.dbeta)]
        ) { t in
            (dot(BatchNorm.forwardEval(t["x"]!, gamma: t["weight"]!.data, beta: t["bias"]!.data, running: running), r), [])
        }
    }

    // MARK: Composites (train-mode BN, ReLUs kept clear of their kinks)

    /// Random parameters for `specs` (weights at PyTorch's init scale, BN affine away
    /// from 1/0 so that their gradients are exercised).
    static func randomParams(_ specs: [ParamSpec], _ rng: inout CaseDraws) -> NetParams {
        var p = NetParams()
        for s in specs {
            switch s.kind {
            case .convWeight, .linearWeight, .linearBias:
                let b = 1 / Double(s.fanIn).squareRoot()
                p.tensors[s.name] = rng.tensor(s.shape, -b, b)
            case .bnWeight: p.tensors[s.name] = rng.tensor(s.shape, 0.5, 1.5)
            case .bnBias: p.tensors[s.name] = rng.tensor(s.shape, -0.5, 0.5)
            case .bnRunningMean: p.tensors[s.name] = Tensor(zeros: s.shape)
            case .bnRunningVar: p.tensors[s.name] = Tensor(shape: s.shape, data: [Double](repeating: 1, count: s.count))
            case .bnBatchCount: p.batchCounts[s.name] = 0
            }
        }
        return p
    }

    /// A case over `x` and every learnable parameter in `params`: the objective runs
    /// `forward` on a copy of the parameters with the perturbed values.
    static func composite(
        name: String, x: Tensor, params: NetParams, learnable: [String], analytic: [String: Tensor],
        forward: @escaping (Tensor, inout NetParams) -> (Double, [Tensor])
    ) -> GradCheck.Case {
        GradCheck.Case(name: name, inputs: [("x", x)] + learnable.map { ($0, params[$0]) }, analytic: analytic) { t in
            var p = params
            for n in learnable { p.tensors[n] = t[n]! }
            return forward(t["x"]!, &p)
        }
    }

    /// Draws seeds from `seed` on until the built case's ReLU inputs all clear the margin.
    static func clearOfKinks(from seed: UInt64, _ build: (UInt64) -> (GradCheck.Case, margin: Double)) -> GradCheck.Case {
        for s in seed..<seed + 1000 {
            let (c, margin) = build(s)
            if margin >= reluMargin { return c }
        }
        preconditionFailure("no seed in 1000 keeps every ReLU input \(reluMargin) away from 0")
    }

    public static func basicBlock(downsample: Bool, seed: UInt64 = 10) -> GradCheck.Case {
        // layer1.0: 3 -> 3 channels, stride 1 (identity); layer2.0: 3 -> 4, stride 2.
        let arch = Architecture(widths: [3, 4, 4, 4], blocks: [1, 1, 1, 1], projHidden: 1, projOut: 1, predHidden: 1)
        let spec = arch.blockSpecs[downsample ? 1 : 0]
        let specs = arch.specs(.backbone).filter { $0.name.hasPrefix(spec.prefix + ".") }
        let learnable = specs.filter { $0.kind.isLearnable }.map { $0.name }
        return clearOfKinks(from: seed) { s in
            var rng = CaseDraws(seed: s)
            let x = rng.tensor([3, 3, 6, 6])
            var params = randomParams(specs, &rng)
            let (y, cache) = BasicBlock.forward(x, spec, prefix: "", &params, .train)
            let r = rng.tensor(y.shape)
            var grads = Gradients()
            let dx = BasicBlock.backward(r, spec, prefix: "", cache, params, &grads)
            grads["x"] = dx
            let c = composite(
                name: "basic block (\(downsample ? "downsample" : "identity") shortcut)", x: x, params: params,
                learnable: learnable, analytic: grads
            ) { x, p in
                let (y, cache) = BasicBlock.forward(x, spec, prefix: "", &p, .train)
                return (dot(y, r), cache.reluInputs)
            }
            return (c, margin(cache.reluInputs))
        }
    }

    public static func mlpHead(seed: UInt64 = 20) -> GradCheck.Case {
        let arch = Architecture(widths: [1, 1, 1, 6], blocks: [1, 1, 1, 1], projHidden: 5, projOut: 3, predHidden: 1)
        let specs = arch.specs(.projector).map { s -> ParamSpec in
            var s = s
            s.name = "projector." + s.name
            return s
        }
        let learnable = specs.filter { $0.kind.isLearnable }.map { $0.name }
        return clearOfKinks(from: seed) { s in
            var rng = CaseDraws(seed: s)
            let x = rng.tensor([4, 6])
            var params = randomParams(specs, &rng)
            let (y, cache) = MLPHead.forward(x, arch.projector, &params, .train)
            let r = rng.tensor(y.shape)
            var grads = Gradients()
            grads["x"] = MLPHead.backward(r, arch.projector, cache, params, &grads)
            let c = composite(name: "MLP head (linear, BN1d, ReLU, linear)", x: x, params: params, learnable: learnable, analytic: grads) { x, p in
                let (y, cache) = MLPHead.forward(x, arch.projector, &p, .train)
                return (dot(y, r), cache.reluInputs)
            }
            return (c, margin(cache.reluInputs))
        }
    }

    /// The whole online network (backbone, projector, predictor) with the BYOL loss
    /// against a target's projections, on an initialized state of `arch`.
    public static func network(arch: Architecture = .tiny, batch: Int = 4, size: Int = 8, bnViews: BNViews, seed: UInt64 = 30) -> GradCheck.Case {
        clearOfKinks(from: seed) { s in
            let state = Initializer.initialState(arch: arch, seed: s)
            let online = NetParams(state: state, network: "online")
            var target = NetParams(state: state, network: "target")
            var rng = CaseDraws(seed: s)
            let v1 = rng.tensor([batch, 3, size, size])
            let v2 = rng.tensor([batch, 3, size, size])
            // A target that differs from the online network, as after some training.
            // (Sorted: dictionary order changes from run to run, the draws must not.)
            for name in target.tensors.keys.sorted() where !name.contains("running") {
                target.tensors[name]!.data = target.tensors[name]!.data.map { $0 * rng.uniform(0.8, 1.2) }
            }
            let (z1, z2) = BYOLLoss.targetProjections(view1: v1, view2: v2, arch: arch, target: &target, bnViews: bnViews)
            var o = online
            let result = BYOLLoss.onlineStep(view1: v1, view2: v2, z1: z1, z2: z2, arch: arch, online: &o, bnViews: bnViews)
            let learnable = arch.learnableSpecs.map { String($0.name.dropFirst("online.".count)) }
            let c = GradCheck.Case(
                name: "online network + loss (\(arch == .tiny ? "tiny" : "\(arch)"), \(bnViews.rawValue) BN)",
                inputs: learnable.map { ($0, online[$0]) }, analytic: result.grads
            ) { t in
                var p = online
                for n in learnable { p.tensors[n] = t[n]! }
                let r = BYOLLoss.onlineStep(view1: v1, view2: v2, z1: z1, z2: z2, arch: arch, online: &p, bnViews: bnViews)
                return (r.loss, r.reluInputs)
            }
            return (c, margin(result.reluInputs))
        }
    }

    static func margin(_ ts: [Tensor]) -> Double { ts.flatMap(\.data).map(abs).min() ?? .infinity }

    /// Every single-layer case (cheap: checked element by element in full): each layer
    /// op's samples marked for finite differences, and eval-mode BatchNorm's backward.
    public static var layers: [GradCheck.Case] {
        Ops.samples().filter { $0.sample.gradCheck }.compactMap { derived($0.op, $0.sample) }
            + [batchNormEval(spatial: true), batchNormEval(spatial: false)]
    }

    public static var composites: [GradCheck.Case] {
        [basicBlock(downsample: false), basicBlock(downsample: true), mlpHead()]
    }
}
