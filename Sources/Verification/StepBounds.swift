import BYOLModel
import Foundation
import NumPyIO
import Reference

/// Per-element bounds of whole steps and embeds by Monte Carlo propagation of the layers'
/// own error models (Reference/ErrorModel/RoundingNoise; docs/design.md "Error bounds").
/// One recording pass of the float64 reference keeps every rounding site's standard
/// deviations; `passes` perturbed passes add float32 arithmetic's noise, and as many add
/// unit operand and product rounding (scaled by 2^-20, in the linear regime): 8 of each
/// for the tiny preset, 2 for the larger ones, whose passes take seconds each (the local
/// noise is the layers' conservative bound, which leaves the engine's step gradients at
/// 0.001-0.003 of the result: few draws cost little). Per output
/// element, S1 and S2 are the root mean square deviations of the two kinds. The bound at
/// tier t is
///     lambda sqrt(c^2 (S1^2 + R1^2 / 16) + o^2 (S2^2 + R2^2 / 16)) + 2 c 2^-24 |expected|
/// with c = t.accumulation / 2^-24, o = t.operand, R1 and R2 the tensor's root mean square
/// of S1 and S2 (a floor against an element whose few draws came out small), and the last
/// term the storage of the output itself.
enum StepBounds {
    /// Perturbed passes of each kind for a network of `parameters` learnable values.
    static func passes(parameters: Int) -> Int { parameters < 100_000 ? 8 : 2 }
    static let epsilon = 0x1p-20

    /// A step's outputs, their bounds, and the smallest |ReLU input| of its passes.
    static func step(
        _ state: BYOLState, view1: Tensor, view2: Tensor, config: StepConfig, seed: UInt64
    )
        -> (expected: LayerResult, bounds: [String: [Tier: [Double]]], margin: Double)
    {
        let (v1, v2) = (NDArray(view1), NDArray(view2))
        return propagate(seed: seed, passes: passes(parameters: state.arch.learnableSpecs.reduce(0) { $0 + $1.count })) {
            Conformance.stepOutputs(ReferenceEngine().step(from: state, view1: v1, view2: v2, config: config), arch: state.arch)
        }
    }

    static func embed(_ state: BYOLState, images: Tensor, seed: UInt64) -> (features: NDArray, bounds: [String: [Tier: [Double]]], margin: Double) {
        let r = propagate(seed: seed, passes: passes(parameters: state.arch.learnableSpecs.reduce(0) { $0 + $1.count })) {
            LayerResult([("features", NDArray(Embed.features(state, images: images, network: "online")))])
        }
        return (r.expected["features"]!, r.bounds, r.margin)
    }

    /// Runs `body` once recording and 2 x `passes` times perturbed (two at a time).
    static func propagate(
        seed: UInt64, passes: Int, _ body: @escaping @Sendable () -> LayerResult
    )
        -> (expected: LayerResult, bounds: [String: [Tier: [Double]]], margin: Double)
    {
        let recorder = RoundingNoise()
        let expected = RoundingNoise.$current.withValue(recorder) { body() }
        let modes: [RoundingNoise.Mode] = Array(repeating: .accumulation, count: passes) + Array(repeating: .operand(epsilon: epsilon), count: passes)
        let results = Locked([LayerResult?](repeating: nil, count: modes.count))
        DispatchQueue.concurrentPerform(iterations: modes.count) { k in
            let noise = RoundingNoise(replaying: recorder, mode: modes[k], seed: seed &+ UInt64(k) &* 0x9E37_79B9)
            let r = RoundingNoise.$current.withValue(noise) { body() }
            results.update { $0[k] = r }
        }
        let runs = results.value.map { $0! }
        var bounds: [String: [Tier: [Double]]] = [:]
        for (name, e) in expected.arrays where e.dtype != .int64 {
            let base = e.doubles
            var s1 = [Double](repeating: 0, count: base.count), s2 = s1
            for (k, run) in runs.enumerated() {
                let got = run[name]!.doubles
                let operand = k >= passes
                for i in base.indices {
                    let d = operand ? (got[i] - base[i]) / epsilon : got[i] - base[i]
                    if operand { s2[i] += d * d / Double(passes) } else { s1[i] += d * d / Double(passes) }
                }
            }
            let r1 = s1.reduce(0, +) / Double(max(base.count, 1)) / 16, r2 = s2.reduce(0, +) / Double(max(base.count, 1)) / 16
            var perTier: [Tier: [Double]] = [:]
            for t in Tier.allCases {
                let c = t.accumulation / 0x1p-24, o = t.operand
                perTier[t] = base.indices.map { i in
                    ErrorTerms.lambda * (c * c * (s1[i] + r1) + o * o * (s2[i] + r2)).squareRoot() + 2 * t.accumulation * abs(base[i])
                }
            }
            bounds[name] = perTier
        }
        return (expected, bounds, recorder.reluMargin)
    }
}

/// A value shared by concurrent iterations, behind a lock.
final class Locked<T>: @unchecked Sendable {
    private var stored: T
    private let lock = NSLock()
    init(_ value: T) { stored = value }
    var value: T {
        lock.lock()
        defer { lock.unlock() }
        return stored
    }
    func update(_ f: (inout T) -> Void) {
        lock.lock()
        defer { lock.unlock() }
        f(&stored)
    }
}
