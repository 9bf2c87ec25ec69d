import BYOLModel
import Foundation
import NumPyIO
import Reference

/// What the conformance kit knows of each optimizer beyond its declaration
/// (`OptimizerKind`): the hyperparameters of its update case and of its whole-step case,
/// its randomized float32 update for the trials, and its call of the C ABI. The switches
/// are exhaustive, so a new optimizer does not compile until each is written; the op
/// table, the cases' inputs and the manifest code come from the declaration.
extension OptimizerKind {
    /// The update case's hyperparameters. Weight decay 0.01, above BYOL's, so that leaving
    /// it out (or applying it where it does not belong) moves every element far past
    /// rounding; LARS's trust ratio scales its whole update.
    var updateCase: OptimizerConfig {
        switch self {
        case .sgd: return OptimizerConfig(kind: self, lr: 0.1, momentum: 0.9, weightDecay: 0.01)
        case .lars: return OptimizerConfig(kind: self, lr: 0.2, momentum: 0.9, weightDecay: 0.01, larsEta: 0.001)
        case .adam: return OptimizerConfig(kind: self, lr: 1e-3, weightDecay: 0.01)
        }
    }

    /// The whole-step case: the optimizer as BYOL or a common recipe runs it, the EMA
    /// decay and the BN mode (each BN mode appears in some step case).
    var stepCase: StepConfig {
        switch self {
        case .lars: return StepConfig(optimizer: OptimizerConfig(kind: self, lr: 0.2, weightDecay: 1.5e-6), tau: 0.99, bnViews: .separate)
        case .sgd: return StepConfig(optimizer: OptimizerConfig(kind: self, lr: 0.05, weightDecay: 5e-4), tau: 0.996, bnViews: .joint)
        case .adam: return StepConfig(optimizer: OptimizerConfig(kind: self, lr: 1e-3, weightDecay: 1e-4), tau: 0.99, bnViews: .separate)
        }
    }

    /// The range buffer `name` is drawn from: in an update case (of the size of the
    /// parameters drawn there) or in a step case's state (as after a few steps: momentum of
    /// gradient size times the learning rates' scale, a positive second moment).
    static func bufferRange(_ name: String, stepCase: Bool) -> (Double, Double) {
        switch (name, stepCase) {
        case ("exp_avg", false): return (-0.1, 0.1)
        case ("exp_avg_sq", false): return (1e-4, 1e-2)
        case ("exp_avg_sq", true): return (1e-6, 1e-4)
        case (_, false): return (-0.5, 0.5)
        case (_, true): return (-0.01, 0.01)
        }
    }

    /// An update case's inputs after param and grad: buffers, the step count where the
    /// update reads one, hyperparameters (the op's `inputs`, in order).
    var updateInputs: [String] { bufferNames + (readsStep ? ["step"] : []) + hyperparameters }

    /// The C ABI version that added its update function (byol_kernels.h).
    var abiVersion: Int32 {
        switch self {
        case .sgd, .lars, .adam: return 1
        }
    }

    /// An update case's count of finished steps, from its 0-d `step` (int64, or a float
    /// holding an integer); 0 where the case has none.
    static func stepCount(_ step: NDArray?) -> Int64 {
        guard let a = step else { return 0 }
        if case .int64(let v) = a.storage { return v.first ?? 0 }
        return a.doubles.first.map(Int64.init) ?? 0
    }

    /// The step count an update case records (Adam's bias correction then has t = 4).
    var updateCaseStep: Int64 { readsStep ? 3 : 0 }
}

extension RandomizedKernels {
    /// One update in float32 in a drawn operation order and summation.
    mutating func update(_ kind: OptimizerKind, _ inputs: NPZFile, _ shape: [Int]) throws -> [(name: String, array: NDArray)] {
        let p = try inputs.requireFloat("param").floats, g = try inputs.requireFloat("grad").floats
        func h(_ n: String) -> Float { Float(inputs[n]?.doubles.first ?? 0) }
        func out(_ n: String, _ v: [Float]) -> (name: String, array: NDArray) { (n, NDArray(float32: v, shape: shape)) }
        let (lr, wd) = (h("lr"), h("weight_decay"))
        let sm = summer()
        var d = p.indices.map { g[$0] + wd * p[$0] }
        switch kind {
        case .adam:
            let (b1, b2, eps) = (h("beta1"), h("beta2"), h("eps"))
            let t = Float(try inputs.requireInt("step").doubles[0] + 1)
            let m0 = try inputs.requireFloat("exp_avg").floats, v0 = try inputs.requireFloat("exp_avg_sq").floats
            let lerp = rng.next() % 2 == 0
            let m = p.indices.map { lerp ? m0[$0] + (1 - b1) * (d[$0] - m0[$0]) : b1 * m0[$0] + (1 - b1) * d[$0] }
            let v = p.indices.map { b2 * v0[$0] + (1 - b2) * d[$0] * d[$0] }
            let (c1, c2) = (1 - powf(b1, t), (1 - powf(b2, t)).squareRoot())
            return [
                out("param", p.indices.map { p[$0] - lr / c1 * (m[$0] / (v[$0].squareRoot() / c2 + eps)) }), out("exp_avg", m), out("exp_avg_sq", v)
            ]
        case .lars, .sgd:
            if kind == .lars {
                if shape.count > 1 {
                    let (pn, dn) = (sm.dot(p, p, &rng).squareRoot(), sm.dot(d, d, &rng).squareRoot())
                    if pn > 0 && dn > 0 {
                        let trust = h("eta") * pn / dn
                        d = d.map { $0 * trust }
                    }
                } else {
                    d = g
                }
            }
            let buf0 = try inputs.requireFloat("momentum_buffer").floats, m = h("momentum")
            let buf = p.indices.map { m * buf0[$0] + d[$0] }
            return [out("param", p.indices.map { p[$0] - lr * buf[$0] }), out("momentum_buffer", buf)]
        }
    }
}

extension ConformancePlugin {
    // The update functions' signatures (the raw-pointer convention of PluginCalls).
    typealias SGDUpdate = @convention(c) (P, P, P, I, Double, Double, Double, M, M) -> Int32
    typealias LARSUpdate = @convention(c) (P, P, P, I, Int32, Double, Double, Double, Double, M, M) -> Int32
    typealias AdamUpdate = @convention(c) (P, P, P, P, I, I, Double, Double, Double, Double, Double, M, M, M) -> Int32

    /// An optimizer's update through its C ABI function.
    static func update<T: Scalar>(_ kind: OptimizerKind, _ call: Call<T>) throws {
        let (p, ps) = try call.input("param"), (g, _) = try call.input("grad")
        func h(_ n: String) -> Double { call.inputs[n]?.doubles.first ?? .nan }
        let n = i64(p.count), fn = kind.rawValue + "_update"
        var pOut = [T](repeating: .nan, count: p.count), b1 = [T](repeating: .nan, count: p.count), b2 = [T](repeating: .nan, count: p.count)
        switch kind {
        case .adam:
            let (m, _) = try call.input("exp_avg"), (v, _) = try call.input("exp_avg_sq")
            let step = Int64(call.inputs["step"]?.doubles.first ?? 0)
            call.check(
                fn, call.fn(fn, AdamUpdate.self)(p, g, m, v, n, step, h("lr"), h("beta1"), h("beta2"), h("eps"), h("weight_decay"), &pOut, &b1, &b2))
        case .sgd:
            let (buf, _) = try call.input("momentum_buffer")
            call.check(fn, call.fn(fn, SGDUpdate.self)(p, g, buf, n, h("lr"), h("momentum"), h("weight_decay"), &pOut, &b1))
        case .lars:
            let (buf, _) = try call.input("momentum_buffer")
            call.check(
                fn,
                call.fn(fn, LARSUpdate.self)(p, g, buf, n, ps.count > 1 ? 1 : 0, h("lr"), h("momentum"), h("weight_decay"), h("eta"), &pOut, &b1))
        }
        call.emit("param", pOut, ps)
        for (name, values) in zip(kind.bufferNames, [b1, b2]) { call.emit(name, values, ps) }
    }
}

extension Ops {

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
                return UpdateErrors.update(
                    param: v.d(i, "param"), grad: v.d(i, "grad"), buffers: old, isMatrix: (i["param"]?.shape.count ?? 0) > 1,
                    step: OptimizerKind.stepCount(i["step"]), config: config, out: v.d(e, "param"), newBuffers: next)
            },
            randomized: { k, c in try k.update(kind, c.inputs, c.shape("param")) })
    }
}
