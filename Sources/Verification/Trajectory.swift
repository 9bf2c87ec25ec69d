import BYOLModel
import Foundation
import NumPyIO
import Reference

/// A multi-step run of the reference and another engine from the same state on the same
/// views: loss curves and parameter drift, reported, not asserted (float32 rounding
/// compounds over steps, and a ReLU flip early on changes the path).
public enum Trajectory {
    public struct Report {
        public var referenceLoss: [Double] = []
        public var engineLoss: [Double] = []
        /// max |online param difference| / max(1, max |reference param|), per step.
        public var drift: [Double] = []

        public var json: Data {
            let obj: [String: Any] = ["reference_loss": referenceLoss, "engine_loss": engineLoss, "param_drift": drift]
            return (try? JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys])) ?? Data()
        }
    }

    /// Small preset, batch 8 of 16x16 views, LARS, separate BN.
    public static func run(steps: Int, engine: NetworkEngine, log: (String) -> Void) -> Report {
        let arch = Architecture.small
        let reference = ReferenceEngine()
        let start = Initializer.initialState(arch: arch, seed: 11)
        reference.load(start)
        engine.load(start)
        let config = StepConfig(optimizer: OptimizerConfig(kind: .lars, lr: 0.2, weightDecay: 1.5e-6), tau: 0.99, bnViews: .separate)
        var rng = CaseDraws(seed: 12)
        var report = Report()
        log("step  reference loss      \(engine.name) loss   param drift")
        for k in 0..<steps {
            let v1 = rng.tensor([8, 3, 16, 16], -2, 2), v2 = rng.tensor([8, 3, 16, 16], -2, 2)
            let refLoss = reference.step(view1: NDArray(v1), view2: NDArray(v2), config: config)
            let loss = engine.step(view1: NDArray(v1), view2: NDArray(v2), config: config)
            let ref = reference.exportState(), other = engine.exportState()
            var drift = 0.0
            for s in arch.learnableSpecs {
                let a = ref.arrays[s.name]!.doubles, b = other.arrays[s.name]!.doubles
                let scale = max(1, a.map(abs).max() ?? 0)
                for i in 0..<a.count { drift = max(drift, abs(a[i] - b[i]) / scale) }
            }
            report.referenceLoss.append(refLoss)
            report.engineLoss.append(loss)
            report.drift.append(drift)
            log(String(format: "%4d  %.10f  %.10f  %.3e", k + 1, refLoss, loss, drift))
        }
        return report
    }
}
