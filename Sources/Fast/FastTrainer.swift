import BYOLModel
import Foundation
import NumPyIO

/// The float32 BYOL step and embed on OpenBLAS: parameters, gradients and optimizer
/// buffers live in contiguous float buffers, allocated once for an architecture, batch
/// and image size, and reused by every step.
public final class FastTrainer {
    public let arch: Architecture
    public let batch: Int, height: Int, width: Int
    public let bnViews: BNViews
    let pool: WorkerPool
    let net: FastNetwork
    let online: ParamStore, target: ParamStore, grads: ParamStore
    /// Optimizer buffers by buffer name (`momentum_buffer`, `exp_avg`, `exp_avg_sq`),
    /// and which of them the incoming state had (absent ones are zeros).
    var optimizerBuffers: [String: ParamStore] = [:]
    /// Other state arrays carried unchanged (e.g. another optimizer's buffers).
    var passthrough: [String: NDArray] = [:]
    public private(set) var step: Int64 = 0
    let learnable: [ParamSpec]   // relative names
    let z: FloatBuffer, dp: FloatBuffer

    public init(arch: Architecture, batch: Int, height: Int, width: Int, bnViews: BNViews, threads: Int) {
        self.arch = arch
        self.batch = batch
        self.height = height
        self.width = width
        self.bnViews = bnViews
        pool = WorkerPool(workers: threads)
        net = FastNetwork(arch: arch, nTotal: 2 * batch, height: height, width: width,
                          bnGroups: bnViews == .separate ? 2 : 1, pool: pool, training: true)
        func rel(_ specs: [ParamSpec], _ prefix: String) -> [ParamSpec] {
            specs.map { var s = $0; s.name = String(s.name.dropFirst(prefix.count)); return s }
        }
        online = ParamStore(specs: rel(arch.onlineSpecs, "online."))
        target = ParamStore(specs: rel(arch.targetSpecs, "target."))
        learnable = rel(arch.learnableSpecs, "online.")
        grads = ParamStore(specs: learnable)
        z = FloatBuffer(arch.projOut * 2 * batch)
        dp = FloatBuffer(arch.projOut * 2 * batch)
    }

    /// Loads a state (float32 or float64 arrays, converted).
    public func load(_ state: BYOLState) {
        online.load(state, prefix: "online.")
        target.load(state, prefix: "target.")
        step = state.step
        optimizerBuffers = [:]
        passthrough = [:]
        for b in BYOLState.optimizerBufferNames {
            guard state.arch.learnableSpecs.contains(where: { state.arrays["optimizer.\($0.name).\(b)"] != nil }) else { continue }
            let store = ParamStore(specs: learnable)
            for s in learnable {
                let p = store.ptr(s.name)
                if let a = state.arrays["optimizer.online.\(s.name).\(b)"] {
                    let v = a.floats
                    for i in 0..<s.count { p[i] = v[i] }
                } else {
                    p.update(repeating: 0, count: s.count)
                }
            }
            optimizerBuffers[b] = store
        }
    }

    /// The whole state as float32 arrays (plus int64 counters and step).
    public func exportState() -> BYOLState {
        var arrays = online.export(prefix: "online.")
        arrays.merge(target.export(prefix: "target."), uniquingKeysWith: { a, _ in a })
        for (b, store) in optimizerBuffers {
            for s in learnable {
                arrays["optimizer.online.\(s.name).\(b)"] = NDArray(float32: Array(UnsafeBufferPointer(start: store.ptr(s.name), count: s.count)), shape: s.shape)
            }
        }
        arrays.merge(passthrough, uniquingKeysWith: { a, _ in a })
        arrays["step"] = .scalar(step)
        return BYOLState(arch: arch, arrays: arrays)
    }

    /// Gradients of the last step, `online.<name>` -> float32.
    public func exportGradients() -> [(name: String, array: NDArray)] {
        learnable.map { s in ("online." + s.name, NDArray(float32: Array(UnsafeBufferPointer(start: grads.ptr(s.name), count: s.count)), shape: s.shape)) }
    }

    /// The first learnable parameter (full name) whose last gradient has a NaN or Inf.
    public func firstNonFiniteGradient() -> String? {
        for s in learnable {
            let g = grads.ptr(s.name)
            for i in 0..<s.count where !g[i].isFinite { return "online." + s.name }
        }
        return nil
    }

    /// The first array of the state (parameters, BN running statistics, optimizer
    /// buffers; full name) holding a NaN or Inf: an update can overflow where the loss
    /// and gradients were still finite.
    public func firstNonFiniteStateArray() -> String? {
        var stores: [(fullName: (String) -> String, store: ParamStore)] = [({ "online." + $0 }, online), ({ "target." + $0 }, target)]
        for (buffer, store) in optimizerBuffers.sorted(by: { $0.key < $1.key }) {
            stores.append(({ "optimizer.online.\($0).\(buffer)" }, store))
        }
        for (fullName, store) in stores {
            // One pass over the whole store; names only when something is wrong.
            guard UnsafeBufferPointer(start: store.buffer.pointer, count: store.total).contains(where: { !$0.isFinite }) else { continue }
            for sp in store.specs where UnsafeBufferPointer(start: store.ptr(sp.name), count: sp.count).contains(where: { !$0.isFinite }) {
                return fullName(sp.name)
            }
        }
        return nil
    }

    /// One BYOL step on views [batch, 3, H, W] each (NCHW, float32). Returns the loss.
    @discardableResult
    public func train(view1: [Float], view2: [Float], config: StepConfig) -> Double {
        precondition(config.bnViews == bnViews, "the trainer was built for \(bnViews) BN")
        let d = arch.projOut
        let cols = 2 * batch
        let prof = PhaseProfile.shared
        prof.measure("load input") { net.loadInput([view1, view2]) }
        // 1. Target projections (train-mode BN, running statistics updated).
        net.backboneForward(params: target, train: true)
        prof.measure("heads forward") { net.headForward(net.projector, x: net.feat.pointer, params: target, train: true) }
        z.pointer.update(from: net.projector.out.pointer, count: d * cols)
        // 2. Online forward.
        net.backboneForward(params: online, train: true)
        prof.measure("heads forward") {
            net.headForward(net.projector, x: net.feat.pointer, params: online, train: true)
            net.headForward(net.predictor, x: net.projector.out.pointer, params: online, train: true)
        }
        // 3. Loss: p1 (columns 0..<N) against z2 (N..<2N), p2 against z1.
        let loss = FastLoss.forwardBackward(p: net.predictor.out.pointer, z: z.pointer, dp: dp.pointer, d: d, n: batch)
        // 4. Backward.
        prof.measure("heads backward") {
            net.headBackward(net.predictor, dy: dp.pointer, x: net.projector.out.pointer, dx: net.headGrad[2].pointer, params: online, grads: grads)
            // (headBackward uses headGrad[0] and [1] only, so headGrad[2] holds dz meanwhile.)
            net.headBackward(net.projector, dy: net.headGrad[2].pointer, x: net.feat.pointer, dx: net.dfeat.pointer, feeding: net.predictor,
                             params: online, grads: grads)
        }
        net.backboneBackward(params: online, grads: grads)
        // 5. Optimizer, 6. EMA, 7. step.
        prof.measure("optimizer + EMA") {
            FastOptimizer.update(specs: learnable, params: online, grads: grads, buffers: &optimizerBuffers, step: step,
                                 config: config.optimizer, pool: pool)
            FastOptimizer.ema(target: target, online: online, tau: config.tau, pool: pool)
        }
        step += 1
        return loss
    }
}

/// BYOL's normalized MSE on feature-major p, z [D, 2N]: loss = mean_i l(p1_i, z2_i) +
/// mean_i l(p2_i, z1_i); dp gets dloss/dp. Row norms and the loss in float64.
enum FastLoss {
    static func forwardBackward(p: UnsafePointer<Float>, z: UnsafePointer<Float>, dp: UnsafeMutablePointer<Float>, d: Int, n: Int) -> Double {
        let cols = 2 * n
        var loss1 = 0.0, loss2 = 0.0
        for i in 0..<cols {
            let j = i < n ? i + n : i - n  // the other view's column
            var pp = 0.0, zz = 0.0
            for r in 0..<d {
                pp += Double(p[r * cols + i]) * Double(p[r * cols + i])
                zz += Double(z[r * cols + j]) * Double(z[r * cols + j])
            }
            let pn = max(pp.squareRoot(), 1e-12), zn = max(zz.squareRoot(), 1e-12)
            var l = 0.0, ug = 0.0
            var g = [Double](repeating: 0, count: d)
            for r in 0..<d {
                let u = Double(p[r * cols + i]) / pn
                let diff = u - Double(z[r * cols + j]) / zn
                l += diff * diff
                g[r] = 2 * diff / Double(n)
                ug += u * g[r]
            }
            if i < n { loss1 += l } else { loss2 += l }
            for r in 0..<d {
                let u = Double(p[r * cols + i]) / pn
                dp[r * cols + i] = Float(pp.squareRoot() > 1e-12 ? (g[r] - u * ug) / pn : g[r] / 1e-12)
            }
        }
        return loss1 / Double(n) + loss2 / Double(n)
    }
}
