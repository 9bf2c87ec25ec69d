import BYOLModel
import Foundation
import NumPyIO
import Reference

/// Float32 against the float64 reference (docs/contract.md §4): per layer and per step,
/// on well-conditioned cases (every ReLU input of the float64 computation at least 1e-5
/// from 0, at least 3 samples per BN batch, Adam only with non-zero second moments).
public enum CrossCheck {
    /// Loss and features: 1e-4 x max(1, max|expected|).
    public static let outputBound = Tolerance.scaled(1e-4)
    /// Gradients and next state: 1e-3 x max(1, max|expected|).
    public static let gradientBound = Tolerance.scaled(1e-3)
    /// The distance from 0 every float64 ReLU input must keep.
    public static let reluMargin = 1e-5

    public struct StepCase {
        public var name: String
        public var state: BYOLState
        public var view1: Tensor, view2: Tensor
        public var config: StepConfig
        /// Smallest |ReLU input| of the reference's forward passes.
        public var margin: Double
        public var seed: UInt64
    }

    /// Smallest |ReLU input| of every forward pass of a reference step (online and target,
    /// both views).
    public static func reluMargin(_ state: BYOLState, _ v1: Tensor, _ v2: Tensor, bnViews: BNViews) -> Double {
        var online = NetParams(state: state, network: "online")
        var target = NetParams(state: state, network: "target")
        var inputs: [Tensor] = []
        let xs = bnViews == .separate ? [v1, v2] : [Tensor.concatRows(v1, v2)]
        for x in xs {
            inputs += OnlineNetwork.forward(x, arch: state.arch, &online, .train).cache.reluInputs
            inputs += TargetNetwork.forwardRecording(x, arch: state.arch, &target, .train).reluInputs
        }
        return inputs.flatMap(\.data).map(abs).min() ?? .infinity
    }

    /// Draws (init seed, views) from `seed` on until the case is well conditioned. With
    /// `warmup` > 0 the state first takes that many reference steps (Adam's second
    /// moments become non-zero; the target departs from the online network).
    public static func wellConditioned(
        name: String, arch: Architecture, batch: Int, size: Int, config: StepConfig,
        seed: UInt64, warmup: Int = 0, attempts: Int = 200
    ) -> StepCase? {
        for s in seed..<seed + UInt64(attempts) {
            var state = Initializer.initialState(arch: arch, seed: s)
            var rng = CaseDraws(seed: s &+ 7_000)
            for _ in 0..<warmup {
                let a = rng.tensor([batch, 3, size, size], -2, 2), b = rng.tensor([batch, 3, size, size], -2, 2)
                state = BYOLStep.run(state, view1: a, view2: b, config: config).next
            }
            let v1 = rng.tensor([batch, 3, size, size], -2, 2), v2 = rng.tensor([batch, 3, size, size], -2, 2)
            let m = reluMargin(state, v1, v2, bnViews: config.bnViews)
            if m >= reluMargin {
                state.arrays["loss"] = nil
                return StepCase(name: name, state: state, view1: v1, view2: v2, config: config, margin: m, seed: s)
            }
        }
        return nil
    }

    /// Every output of one step of `engine` against the reference: loss, each gradient,
    /// each next-state array (float bounds of docs/contract.md §4; integers exact).
    public static func step(_ c: StepCase, engine: NetworkEngine) -> [TensorComparison] {
        let ref = ReferenceEngine().step(from: c.state, view1: NDArray(c.view1), view2: NDArray(c.view2), config: c.config)
        let got = engine.step(from: c.state, view1: NDArray(c.view1), view2: NDArray(c.view2), config: c.config)
        var out = [Compare.tensors("loss", actual: .scalar(got.loss), expected: .scalar(ref.loss), tolerance: outputBound)]
        for s in c.state.arch.learnableSpecs {
            out.append(Compare.tensors("grad." + s.name, actual: got.grads[s.name], expected: ref.grads[s.name]!, tolerance: gradientBound))
        }
        for name in ref.next.orderedNames where name != "loss" {
            let e = ref.next.arrays[name]!
            out.append(Compare.tensors(name, actual: got.next.arrays[name], expected: e, tolerance: e.dtype == .int64 ? .exact : gradientBound))
        }
        return out
    }

    /// The standard cases: tiny with each optimizer and BN mode (Adam after warm-up
    /// steps, at lr 1e-3 and 1e-2), and the small preset at 8x8 with batch 4. Not batch 3
    /// there: layer4 is 1x1, so its BN normalizes 3 values, and float32 rounding alone
    /// then moves gradients past 1e-3 (measured: PyTorch's own float32 step misses by
    /// 1.05e-3 to 6.4e-3 on three such seeds, where at batch 4 it stays within 2.3e-4).
    public static func standardCases(quick: Bool) -> [StepCase] {
        standardSpecs(quick: quick).compactMap { $0.draw() }
    }

    /// The standard cases by name, each drawn on demand (`standardCases` draws them all).
    static func standardSpecs(quick: Bool) -> [(name: String, draw: () -> StepCase?)] {
        func spec(
            _ name: String, _ arch: Architecture, batch: Int, size: Int, _ config: StepConfig, seed: UInt64,
            warmup: Int = 0
        ) -> (name: String, draw: () -> StepCase?) {
            (name, { wellConditioned(name: name, arch: arch, batch: batch, size: size, config: config, seed: seed, warmup: warmup) })
        }
        var specs = [
            spec(
                "tiny lars separate", .tiny, batch: 4, size: 16,
                .init(optimizer: .init(kind: .lars, lr: 0.2, weightDecay: 1.5e-6), tau: 0.99, bnViews: .separate), seed: 1),
            spec(
                "tiny sgd joint", .tiny, batch: 3, size: 16,
                .init(optimizer: .init(kind: .sgd, lr: 0.05, weightDecay: 5e-4), tau: 0.996, bnViews: .joint), seed: 2),
            spec(
                "tiny adam separate (after 2 steps)", .tiny, batch: 4, size: 8,
                .init(optimizer: .init(kind: .adam, lr: 1e-3, weightDecay: 1e-4), tau: 0.99, bnViews: .separate), seed: 3, warmup: 2),
            // lr 0.01: Adam scales the noise in the gradients of the biases before a BN
            // (0 in exact arithmetic) to steps near lr; summed in float32 that noise put
            // this case's next state at 5.8x the bound (see FastBN.backward's dxSum).
            spec(
                "tiny adam joint lr 0.01 (after 2 steps)", .tiny, batch: 3, size: 16,
                .init(optimizer: .init(kind: .adam, lr: 1e-2, weightDecay: 0), tau: 0.99, bnViews: .joint), seed: 5, warmup: 2)
        ]
        if !quick {
            specs.append(
                spec(
                    "small lars separate", .small, batch: 4, size: 8,
                    .init(optimizer: .init(kind: .lars, lr: 0.2, weightDecay: 1.5e-6), tau: 0.996, bnViews: .separate), seed: 4))
        }
        return specs
    }

    /// A failing row for each standard case that found no well-conditioned draw (it would
    /// otherwise drop out of the check silently).
    public static func missingCaseRows(_ found: [StepCase], quick: Bool) -> [CheckRow] {
        standardSpecs(quick: quick).map(\.name).filter { n in !found.contains { $0.name == n } }.map { n in
            CheckRow(
                check: "float32 vs float64 step: \(n)", maxAbsError: .infinity, maxRelError: .infinity, passed: false,
                failures: ["\(n): no well-conditioned draw (ReLU margin >= 1e-5) in 200 attempts"])
        }
    }

    // MARK: Layers

    /// One layer case: its name, and a call of the layer entry point on given inputs.
    public struct LayerCase {
        public var name: String
        /// The op of the op table (Ops) it exercises: every `.layer` op has at least one.
        public var op: String
        public var run: (Engine) -> LayerResult
    }

    /// Every sample of every layer op of the table (Ops.samples): inputs drawn once
    /// (float64, seed 99), fed to every engine alike. An engine that cannot run one
    /// returns nothing, and each expected output then fails as missing.
    public static func layerCases() -> [LayerCase] {
        Ops.samples().map { op, sample in
            LayerCase(name: sample.label, op: op.name) { engine in (try? op.compute(engine, sample.opCase())) ?? LayerResult([]) }
        }
    }

    /// Each layer case through `engine` against the reference: `y` and `loss` within the
    /// output bound, gradients within the gradient bound.
    public static func layers(engine: Engine) -> [(name: String, comparisons: [TensorComparison])] {
        let reference = ReferenceEngine()
        return layerCases().map { c in
            let expected = c.run(reference), got = c.run(engine)
            return (
                c.name,
                expected.arrays.map { e in
                    Compare.tensors(
                        e.name, actual: got[e.name], expected: e.array,
                        tolerance: e.name == "y" || e.name == "loss" ? outputBound : gradientBound)
                }
            )
        }
    }

    /// Summary rows for `byol verify`: layers, steps, and byte identity across threads.
    public static func verifyRows(quick: Bool, float32: (_ threads: Int) -> Engine) -> [CheckRow] {
        var rows: [CheckRow] = []
        let fast2 = float32(2), fast1 = float32(1)
        for (name, cs) in layers(engine: fast2) {
            rows.append(summary("float32 vs float64: \(name)", cs))
        }
        let cases = standardCases(quick: quick)
        rows += missingCaseRows(cases, quick: quick)
        for c in cases {
            rows.append(summary(String(format: "float32 vs float64 step: %@ (ReLU margin %.1e)", c.name, c.margin), step(c, engine: fast2)))
            let a = fast1.step(from: c.state, view1: NDArray(c.view1), view2: NDArray(c.view2), config: c.config)
            let b = fast2.step(from: c.state, view1: NDArray(c.view1), view2: NDArray(c.view2), config: c.config)
            let same = a.next.arrays == b.next.arrays && a.grads == b.grads
            rows.append(
                CheckRow(
                    check: "float32 step 1 vs 2 threads identical: \(c.name)", maxAbsError: 0, maxRelError: 0, passed: same,
                    failures: same ? [] : ["\(c.name): float32 output differs between 1 and 2 threads"]))
        }
        return rows
    }

    /// The check `byol bench` runs before timing an engine: the first standard step case
    /// (tiny, LARS, separate BN) against the reference. Returns the failure reports.
    public static func benchGate(engine: Engine) -> [String] {
        guard let c = standardSpecs(quick: true)[0].draw() else { return ["the tiny step case found no well-conditioned draw"] }
        return step(c, engine: engine).filter { !$0.passed }.map(\.report)
    }

    public static func summary(_ title: String, _ cs: [TensorComparison]) -> CheckRow {
        CheckRow(
            check: title, maxAbsError: cs.map(\.maxAbs).max() ?? 0, maxRelError: cs.map(\.maxRel).max() ?? 0,
            passed: cs.allSatisfy(\.passed), failures: cs.filter { !$0.passed }.map(\.report))
    }
}
