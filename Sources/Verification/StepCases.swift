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
    static let optimizers = OptimizerKind.allCases

    static func cases(arch: Architecture, batch: Int, size: Int, seed: UInt64, steps: [OptimizerKind]) -> [Conformance.Case] {
        var draws = CaseDraws(seed: seed &+ 0x53_5445_50)
        let base = warmState(arch: arch, seed: seed, draws: &draws)
        let v1 = draws.tensor([batch, 3, size, size], -2, 2), v2 = draws.tensor([batch, 3, size, size], -2, 2)
        let images = draws.tensor([batch, 3, size, size], -2, 2)
        let dims = "\(batch)x\(size)x\(size)"
        var out: [Conformance.Case] = []
        let stepKinds = Set(steps)
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
        for kind in optimizers where stepKinds.contains(kind) {
            var state = base
            addBuffers(&state, kind, draws: &draws)
            let config = kind.stepCase
            let (optimizer, tau, views) = (config.optimizer, config.tau, config.bnViews)
            let (expected, bounds, margin) = StepBounds.step(state, view1: v1, view2: v2, config: config, seed: seed)
            var inputs: [(name: String, array: NDArray)] = [("view1", NDArray(v1)), ("view2", NDArray(v2))]
            // The hyperparameters as 0-d inputs: lr first, weight decay and tau last.
            let middle = kind.hyperparameters.filter { $0 != "lr" && $0 != "weight_decay" }
            let hyper = ["lr"] + middle + ["weight_decay"]
            inputs += hyper.map { (name: $0, array: NDArray.scalar(optimizer[hyperparameter: $0] ?? .nan)) } + [("tau", .scalar(tau))]
            let code = kind.code
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
            for b in kind.bufferNames {
                let (lo, hi) = OptimizerKind.bufferRange(b, stepCase: true)
                put(b, lo, hi)
            }
        }
    }
}
