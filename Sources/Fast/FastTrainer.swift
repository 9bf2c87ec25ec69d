import BYOLModel
import Foundation
import NumPyIO

/// The float32 BYOL step on OpenBLAS: parameters, gradients and optimizer buffers live
/// in contiguous float buffers, allocated once for an architecture, batch and image
/// size, and reused by every step. A trainer computes its process's sample groups
/// (all of them without MPI); every process of a run holds the whole state and ends
/// each step with the same bytes.
public final class FastTrainer {
    public let arch: Architecture
    public let batch: Int, height: Int, width: Int
    public let bnViews: BNViews
    public let groups: SampleGroups
    let pool: WorkerPool
    let net: FastNetwork
    let reduction: GroupReduction
    let online: ParamStore, target: ParamStore, grads: ParamStore
    let blocks: GradientBlocks
    /// Optimizer buffers by buffer name (`momentum_buffer`, `exp_avg`, `exp_avg_sq`),
    /// and which of them the incoming state had (absent ones are zeros).
    var optimizerBuffers: [String: ParamStore] = [:]
    /// Other state arrays carried unchanged (e.g. another optimizer's buffers).
    var passthrough: [String: NDArray] = [:]
    public private(set) var step: Int64 = 0
    let learnable: [ParamSpec]  // relative names
    let z: FloatBuffer, dp: FloatBuffer

    /// `groups` (default: the batch's default groups on one process) says which samples
    /// this process computes; `comm` connects it to the others.
    public init(
        arch: Architecture, batch: Int, height: Int, width: Int, bnViews: BNViews, threads: Int,
        groups: SampleGroups? = nil, comm: Collective = SingleProcess()
    ) {
        self.arch = arch
        self.batch = batch
        self.height = height
        self.width = width
        self.bnViews = bnViews
        let groups = groups ?? SampleGroups(batch: batch)
        precondition(groups.batch == batch)
        self.groups = groups
        pool = WorkerPool(workers: threads)
        reduction = GroupReduction(groups: groups, comm: comm, pool: pool)
        net = FastNetwork(
            arch: arch, seg: Segments(groups: groups, bnBatches: bnViews == .separate ? 2 : 1), height: height, width: width,
            pool: pool, training: true, reduction: reduction)
        func rel(_ specs: [ParamSpec], _ prefix: String) -> [ParamSpec] {
            specs.map {
                var s = $0
                s.name = String(s.name.dropFirst(prefix.count))
                return s
            }
        }
        online = ParamStore(specs: rel(arch.onlineSpecs, "online."))
        target = ParamStore(specs: rel(arch.targetSpecs, "target."))
        learnable = rel(arch.learnableSpecs, "online.")
        grads = ParamStore(specs: learnable)
        blocks = GradientBlocks(count: reduction.blocks.count, root: groups.ranks == 1, specs: learnable, grads: grads)
        let cols = net.nTotal
        z = FloatBuffer(arch.projOut * cols)
        dp = FloatBuffer(arch.projOut * cols)
    }

    /// Seconds this trainer's steps spent exchanging sums with other processes since the
    /// last call (0 on one process).
    public func takeExchangeSeconds() -> Double {
        defer { reduction.exchangeSeconds = 0 }
        return reduction.exchangeSeconds
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
                arrays["optimizer.online.\(s.name).\(b)"] = NDArray(
                    float32: Array(UnsafeBufferPointer(start: store.ptr(s.name), count: s.count)), shape: s.shape)
            }
        }
        arrays.merge(passthrough, uniquingKeysWith: { a, _ in a })
        arrays["step"] = .scalar(step)
        return BYOLState(arch: arch, arrays: arrays)
    }

    /// Gradients of the last step, `online.<name>` -> float32.
    public func exportGradients() -> [(name: String, array: NDArray)] {
        learnable.map { s in
            ("online." + s.name, NDArray(float32: Array(UnsafeBufferPointer(start: grads.ptr(s.name), count: s.count)), shape: s.shape))
        }
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

    /// One BYOL step on this process's samples' views (NCHW, float32, each
    /// [groups.localSamples.count, 3, H, W]: all of the batch on one process). Returns
    /// the loss of the whole batch.
    @discardableResult
    public func train(view1: [Float], view2: [Float], config: StepConfig) -> Double {
        precondition(config.bnViews == bnViews, "the trainer was built for \(bnViews) BN")
        let d = arch.projOut
        let prof = PhaseProfile.shared
        prof.measure("load input") { net.loadViews(view1, view2) }
        // 1. Target projections (train-mode BN, running statistics updated).
        net.backboneForward(params: target, train: true)
        prof.measure("heads forward") { net.headForward(net.projector, x: net.feat.pointer, params: target, train: true) }
        z.pointer.update(from: net.projector.out.pointer, count: d * net.nTotal)
        // 2. Online forward.
        net.backboneForward(params: online, train: true)
        prof.measure("heads forward") {
            net.headForward(net.projector, x: net.feat.pointer, params: online, train: true)
            net.headForward(net.predictor, x: net.projector.out.pointer, params: online, train: true)
        }
        // 3. Loss: in each group, p1 against z2 and p2 against z1.
        let loss = FastLoss.forwardBackward(
            p: net.predictor.out.pointer, z: z.pointer, dp: dp.pointer, d: d, seg: net.seg, batch: batch,
            reduction: reduction)
        // 4. Backward.
        prof.measure("heads backward") {
            net.headBackward(
                net.predictor, dy: dp.pointer, x: net.projector.out.pointer, dx: net.headGrad[2].pointer, params: online,
                grads: grads, sink: blocks)
            // (headBackward uses headGrad[0] and [1] only, so headGrad[2] holds dz meanwhile.)
            net.headBackward(
                net.projector, dy: net.headGrad[2].pointer, x: net.feat.pointer, dx: net.dfeat.pointer, feeding: net.predictor,
                params: online, grads: grads, sink: blocks)
        }
        net.backboneBackward(params: online, grads: grads, sink: blocks)
        // Weight gradients of several processes: the tree above the blocks.
        if groups.ranks > 1 {
            prof.measure("gradient exchange") {
                reduction.combine(blockSums: blocks.stores.map { UnsafePointer($0.buffer.pointer) }, count: blocks.stores[0].total) { all in
                    blocks.write(all, into: grads)
                }
            }
        }
        // 5. Optimizer, 6. EMA, 7. step.
        prof.measure("optimizer + EMA") {
            FastOptimizer.update(
                specs: learnable, params: online, grads: grads, buffers: &optimizerBuffers, step: step,
                config: config.optimizer, pool: pool)
            FastOptimizer.ema(target: target, online: online, tau: config.tau, pool: pool)
        }
        step += 1
        return loss
    }
}

/// BYOL's normalized MSE on feature-major p, z [D, cols]: in each sample group (m
/// samples, columns o ..< o + 2m), p1_i = column o + i is compared with z2_i = column
/// o + m + i and p2_i with z1_i; loss = mean_i l(p1_i, z2_i) + mean_i l(p2_i, z1_i)
/// over the whole batch of N, the per-group sums added by the reduction tree; dp gets
/// dloss/dp. Row norms and the loss in float64.
enum FastLoss {
    static func forwardBackward(
        p: UnsafePointer<Float>, z: UnsafePointer<Float>, dp: UnsafeMutablePointer<Float>, d: Int,
        seg: Segments, batch n: Int, reduction: GroupReduction?
    ) -> Double {
        precondition(reduction != nil || seg.ranges.count == 1, "several segments need a reduction")
        let cols = seg.images
        var partial = [Double](repeating: 0, count: 2 * seg.ranges.count)
        for (si, r) in seg.ranges.enumerated() {
            let m = r.count / 2
            var loss1 = 0.0, loss2 = 0.0
            var g = [Double](repeating: 0, count: d)
            for i in r {
                let j = i < r.lowerBound + m ? i + m : i - m  // the other view's column
                var pp = 0.0, zz = 0.0
                for row in 0..<d {
                    pp += Double(p[row * cols + i]) * Double(p[row * cols + i])
                    zz += Double(z[row * cols + j]) * Double(z[row * cols + j])
                }
                let pn = max(pp.squareRoot(), 1e-12), zn = max(zz.squareRoot(), 1e-12)
                var l = 0.0, ug = 0.0
                for row in 0..<d {
                    let u = Double(p[row * cols + i]) / pn
                    let diff = u - Double(z[row * cols + j]) / zn
                    l += diff * diff
                    g[row] = 2 * diff / Double(n)
                    ug += u * g[row]
                }
                if i < r.lowerBound + m { loss1 += l } else { loss2 += l }
                for row in 0..<d {
                    let u = Double(p[row * cols + i]) / pn
                    dp[row * cols + i] = Float(pp.squareRoot() > 1e-12 ? (g[row] - u * ug) / pn : g[row] / 1e-12)
                }
            }
            partial[2 * si] = loss1
            partial[2 * si + 1] = loss2
        }
        let total = reduction?.fold(partial, n: 2) ?? partial
        return total[0] / Double(n) + total[1] / Double(n)
    }
}
