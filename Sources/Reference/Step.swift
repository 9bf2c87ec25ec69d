import BYOLModel
import NumPyIO

/// One BYOL training step on already augmented views (docs/contract.md §3, `byol step`):
/// 1. target forward (train mode) -> z1, z2; online forward -> p1, p2;
/// 2. loss = mean l(p1, z2) + mean l(p2, z1), z constant;
/// 3. gradients of every online parameter;
/// 4. optimizer update of the online parameters;
/// 5. EMA of the target parameters towards the updated online ones;
/// 6. step + 1.
public enum BYOLStep {
    public struct Result {
        /// The whole next state (float64), `loss` included.
        public var next: BYOLState
        public var loss: Double
        /// d loss / d parameter, by full name (`online.backbone.conv1.weight`), taken
        /// before the update.
        public var grads: [String: Tensor]
    }

    /// views [N, 3, H, W] each.
    public static func run(_ state: BYOLState, view1: Tensor, view2: Tensor, config: StepConfig) -> Result {
        let arch = state.arch
        var online = NetParams(state: state, network: "online")
        var target = NetParams(state: state, network: "target")
        let (z1, z2) = BYOLLoss.targetProjections(view1: view1, view2: view2, arch: arch, target: &target, bnViews: config.bnViews)
        let r = BYOLLoss.onlineStep(view1: view1, view2: view2, z1: z1, z2: z2, arch: arch, online: &online, bnViews: config.bnViews)

        var next = state.asFloat64()
        var grads: [String: Tensor] = [:]
        for spec in arch.learnableSpecs {
            let rel = String(spec.name.dropFirst("online.".count))
            let g = r.grads[rel]!
            grads[spec.name] = g
            var buffers: [String: [Double]] = [:]
            for b in config.optimizer.bufferNames {
                if let a = state.arrays["optimizer.\(spec.name).\(b)"] { buffers[b] = a.doubles }
            }
            var (p, newBuffers) = Optimizer.update(
                online[rel].data, grad: g.data, buffers: buffers,
                isMatrix: spec.shape.count > 1, step: state.step, config: config.optimizer)
            if RoundingNoise.current != nil {
                let e =
                    RoundingNoise.recording
                    ? UpdateErrors.update(
                        param: online[rel].data, grad: g.data, buffers: buffers, isMatrix: spec.shape.count > 1,
                        step: state.step, config: config.optimizer, out: p, newBuffers: newBuffers) : [:]
                RoundingNoise.site(&p, e["param"]!)
                for b in config.optimizer.bufferNames { RoundingNoise.site(&newBuffers[b]!, e[b]!) }
            }
            online.tensors[rel]!.data = p
            for (b, v) in newBuffers { next.arrays["optimizer.\(spec.name).\(b)"] = NDArray(float64: v, shape: spec.shape) }
        }
        for spec in arch.targetSpecs where spec.kind.isLearnable {
            let rel = String(spec.name.dropFirst("target.".count))
            let exact = EMA.update(target: target[rel].data, online: online[rel].data, tau: config.tau)
            var t = exact
            RoundingNoise.site(&t, UpdateErrors.ema(target: target[rel].data, online: online[rel].data, tau: config.tau, out: exact))
            target.tensors[rel]!.data = t
        }
        online.store(into: &next, network: "online")
        target.store(into: &next, network: "target")
        next.step = state.step + 1
        next.arrays["loss"] = .scalar(r.loss)
        return Result(next: next, loss: r.loss, grads: grads)
    }
}

/// Backbone features in eval mode (docs/contract.md §3, `byol embed`).
public enum Embed {
    /// images [N, 3, H, W] -> features [N, w3], BN with running statistics.
    public static func features(_ state: BYOLState, images: Tensor, network: String) -> Tensor {
        var params = NetParams(state: state, network: network)
        return Backbone.forward(images, arch: state.arch, &params, .eval).0
    }
}
