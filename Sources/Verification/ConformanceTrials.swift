import BYOLModel
import Foundation
import NumPyIO

extension Conformance {
    /// The outcome of `trials`: per function the worst ratio to the tier's bound over every
    /// trial, and every violation (a correct implementation that failed: a defect of the
    /// bounds).
    public struct TrialReport {
        public var tier: Tier
        public var trials: Int
        public var tensors = 0
        public var worst: [String: (ratio: Double, caseID: String, tensor: String)] = [:]
        public var violations: [String] = []
    }

    /// `count` randomized correct implementations (RandomizedKernels: summation orders,
    /// blockings, FMA, variance and loss formulas, update orders; at `tier`'s operand and
    /// product rounding) through every layer and update case of `dir`, judged at `tier`.
    /// With `engine`, whole steps and embeds run on it at a random thread count per trial
    /// (`engine(threads)`).
    public static func trials(
        cases dir: String, count: Int, seed: UInt64, tier: Tier, engine: ((Int) throws -> Engine)?,
        progress: (Int) -> Void = { _ in }
    ) throws -> TrialReport {
        var report = TrialReport(tier: tier, trials: count)
        let listed = try readManifest(dir)
        var inputs: [String: NPZFile] = [:], states: [String: BYOLState] = [:]
        for c in listed {
            inputs[c.id] = try NPZ.load("\(dir)/\(c.id)/inputs.npz")
            if wholeNetworkFunctions.contains(c.function), engine != nil { states[c.id] = try BYOLState.read("\(dir)/\(c.id)/state.npz") }
        }
        var threads = SplitMix(seed: seed ^ 0x7448_5245_4144)
        for t in 0..<count {
            var kernels = RandomizedKernels(seed: seed &+ UInt64(t) &* 0x1_0000_0001, tier: tier)
            let e = try engine.map { try $0(1 + Int(threads.next() % 16)) }
            for c in listed {
                let outputs: [(name: String, array: NDArray)]
                if wholeNetworkFunctions.contains(c.function) {
                    guard let e, tier.storage == .float32 else { continue }
                    outputs = try compute(function: c.function, params: c.params, inputs: inputs[c.id]!, state: states[c.id], engine: e).arrays
                } else {
                    guard let o = try kernels.compute(function: c.function, params: c.params, inputs: inputs[c.id]!) else { continue }
                    outputs = o
                }
                let dtypes = Dictionary(uniqueKeysWithValues: outputs.map { ($0.name, $0.array.dtype.rawValue) })
                for f in try judge(c, cases: dir, outputs: outputs, dtypes: dtypes, failure: "", file: "trial \(t)", judged: .tier(tier)) {
                    report.tensors += 1
                    if f.ratio > report.worst[f.function]?.ratio ?? -1 { report.worst[f.function] = (f.ratio, f.caseID, f.tensor) }
                    if !f.passed { report.violations.append("trial \(t): \(f.caseID): \(f.message)") }
                }
            }
            progress(t + 1)
        }
        return report
    }
}
