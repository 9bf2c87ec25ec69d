import BYOLModel
import Foundation
import NumPyIO
import Reference

/// The conformance kit's whole-network cases: one step per optimizer (LARS with separate
/// BN, BYOL's; SGD with joint BN; Adam) and an embed, from a state built as after several
/// steps (docs/conformance.md): nonzero momentum and Adam moments, a target apart from the
/// online network, BN affine parameters and running statistics away from their initial
/// values, step 5. It is well conditioned by construction, in one draw: every BN weight
/// is small (0.05 to 0.15) and every BN bias 1 to 1.5 in size, positive where the ReLU
/// follows a residual sum, so each ReLU input stays far from the kink whatever the
/// batch (the margin is measured and recorded).
enum StepCases {
    /// The step cases' optimizers, in export order (each with its BN mode).
    static let optimizers: [OptimizerKind] = [.lars, .sgd, .adam]

    static func cases(arch: Architecture, batch: Int, size: Int, seed: UInt64, steps: [OptimizerKind]) -> [Conformance.Case] {
        var draws = CaseDraws(seed: seed &+ 0x53_5445_50)
        let base = warmState(arch: arch, seed: seed, draws: &draws)
        let v1 = draws.tensor([batch, 3, size, size], -2, 2), v2 = draws.tensor([batch, 3, size, size], -2, 2)
        let images = draws.tensor([batch, 3, size, size], -2, 2)
        let dims = "\(batch)x\(size)x\(size)"
        var out: [Conformance.Case] = []
        let stepKinds = Set(steps)
        let steps: [(OptimizerConfig, Double, BNViews)] = [
            (OptimizerConfig(kind: .lars, lr: 0.2, momentum: 0.9, weightDecay: 1.5e-6, larsEta: 0.001), 0.99, .separate),
            (OptimizerConfig(kind: .sgd, lr: 0.05, momentum: 0.9, weightDecay: 5e-4), 0.996, .joint),
            (OptimizerConfig(kind: .adam, lr: 1e-3, weightDecay: 1e-4), 0.99, .separate)
        ]
        // The embed (from the LARS state) runs beside the steps: its passes are short and
        // fill the time the steps' single-threaded recording leaves free.
        var embedState = base
        addBuffers(&embedState, .lars, draws: &draws)
        let embedCase = Locked<Conformance.Case?>(nil)
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) { [embedState] in
            let (features, bounds, margin) = StepBounds.embed(embedState, images: images, seed: seed)
            let c = Conformance.Case(
                id: "embed-\(dims)", function: "embed", params: [:], inputs: [("images", NDArray(images))],
                expected: [("features", features)], bounds: bounds, reluMargin: margin, state: embedState)
            embedCase.update { $0 = c }
        }
        for (optimizer, tau, views) in steps where stepKinds.contains(optimizer.kind) {
            var state = base
            addBuffers(&state, optimizer.kind, draws: &draws)
            let config = StepConfig(optimizer: optimizer, tau: tau, bnViews: views)
            let (expected, bounds, margin) = StepBounds.step(state, view1: v1, view2: v2, config: config, seed: seed)
            var inputs: [(name: String, array: NDArray)] = [("view1", NDArray(v1)), ("view2", NDArray(v2))]
            var hyper = [("lr", optimizer.lr), ("weight_decay", optimizer.weightDecay), ("tau", tau)]
            switch optimizer.kind {
            case .sgd: hyper.insert(("momentum", optimizer.momentum), at: 1)
            case .lars: hyper.insert(contentsOf: [("momentum", optimizer.momentum), ("eta", optimizer.larsEta)], at: 1)
            case .adam: hyper.insert(contentsOf: [("beta1", optimizer.adamBeta1), ("beta2", optimizer.adamBeta2), ("eps", optimizer.adamEps)], at: 1)
            }
            inputs += hyper.map { (name: $0.0, array: NDArray.scalar($0.1)) }
            let code = Conformance.optimizerCodes.first { $0.value == optimizer.kind }?.key ?? -1  // every kind has a code
            out.append(
                Conformance.Case(
                    id: "step-\(optimizer.kind.rawValue)-\(views.rawValue)-\(dims)", function: "step",
                    params: ["optimizer": code, "bn_views": views == .joint ? 1 : 0], inputs: inputs,
                    expected: expected.arrays, bounds: bounds, reluMargin: margin, state: state))
        }
        group.wait()
        out.append(embedCase.value!)
        return out
    }

    /// The initial state of `arch` moved as described above.
    static func warmState(arch: Architecture, seed: UInt64, draws: inout CaseDraws) -> BYOLState {
        var state = Initializer.initialState(arch: arch, seed: seed)
        // BN layers whose output is summed with a shortcut before its ReLU.
        func beforeSum(_ name: String) -> Bool { name.contains(".bn2.") || name.contains(".downsample.1.") }
        for spec in arch.onlineSpecs {
            let n = spec.count
            let values: [Double]
            switch spec.kind {
            case .bnWeight: values = (0..<n).map { _ in draws.uniform(0.05, 0.15) }
            case .bnBias:
                values = (0..<n).map { _ in
                    let m = draws.uniform(1, 1.5)
                    return beforeSum(spec.name) || draws.uniform(0, 1) < 0.5 ? m : -m
                }
            case .bnRunningMean: values = (0..<n).map { _ in draws.uniform(-0.5, 0.5) }
            case .bnRunningVar: values = (0..<n).map { _ in draws.uniform(0.5, 2) }
            case .bnBatchCount:
                state.arrays[spec.name] = .scalar(Int64(5))
                continue
            case .convWeight, .linearWeight, .linearBias: continue
            }
            state.arrays[spec.name] = NDArray(float64: values, shape: spec.shape)
        }
        // The target: the online network moved by a few percent (its BN affine by 2%, which
        // keeps the margins), with running statistics of its own.
        for spec in arch.targetSpecs {
            let online = state.arrays["online." + spec.name.dropFirst("target.".count)]!
            switch spec.kind {
            case .bnBatchCount: state.arrays[spec.name] = .scalar(Int64(5))
            case .bnRunningMean: state.arrays[spec.name] = NDArray(float64: (0..<spec.count).map { _ in draws.uniform(-0.5, 0.5) }, shape: spec.shape)
            case .bnRunningVar: state.arrays[spec.name] = NDArray(float64: (0..<spec.count).map { _ in draws.uniform(0.5, 2) }, shape: spec.shape)
            default:
                let r = spec.kind == .bnWeight || spec.kind == .bnBias ? 0.02 : 0.05
                state.arrays[spec.name] = NDArray(float64: online.doubles.map { $0 * (1 + draws.uniform(-r, r)) }, shape: spec.shape)
            }
        }
        state.step = 5
        return state
    }

    /// The buffers `kind` keeps, as after a few steps: momentum of gradient size times the
    /// learning rates' scale, Adam's moments with a positive second moment.
    static func addBuffers(_ state: inout BYOLState, _ kind: OptimizerKind, draws: inout CaseDraws) {
        for spec in state.arch.learnableSpecs {
            let n = spec.count
            func put(_ b: String, _ lo: Double, _ hi: Double) {
                state.arrays["optimizer.\(spec.name).\(b)"] = NDArray(float64: (0..<n).map { _ in draws.uniform(lo, hi) }, shape: spec.shape)
            }
            switch kind {
            case .sgd, .lars: put("momentum_buffer", -0.01, 0.01)
            case .adam:
                put("exp_avg", -0.01, 0.01)
                put("exp_avg_sq", 1e-6, 1e-4)
            }
        }
    }
}
