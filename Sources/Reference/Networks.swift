import BYOLModel

/// The online network (backbone -> projector -> predictor) and the target network
/// (backbone -> projector), forward and backward.
public enum OnlineNetwork {
    public struct Cache {
        var backbone: Backbone.Cache
        var projector: MLPHead.Cache
        var predictor: MLPHead.Cache
        /// Every ReLU input of the pass, for checks that must stay clear of the kink.
        public var reluInputs: [Tensor] { backbone.reluInputs + projector.reluInputs + predictor.reluInputs }
    }

    /// x [N, 3, H, W] -> prediction p [N, D].
    public static func forward(_ x: Tensor, arch: Architecture, _ params: inout NetParams, _ mode: BNMode) -> (p: Tensor, cache: Cache) {
        let (f, bc) = Backbone.forward(x, arch: arch, &params, mode)
        let (z, pc) = MLPHead.forward(f, arch.projector, &params, mode)
        let (p, qc) = MLPHead.forward(z, arch.predictor, &params, mode)
        return (p, Cache(backbone: bc, projector: pc, predictor: qc))
    }

    /// Gradients of every online parameter from dL/dp (and dL/dx, unused by training).
    public static func backward(_ dp: Tensor, arch: Architecture, _ cache: Cache, _ params: NetParams) -> (grads: Gradients, dx: Tensor) {
        var grads = Gradients()
        let dz = MLPHead.backward(dp, arch.predictor, cache.predictor, params, &grads)
        let df = MLPHead.backward(dz, arch.projector, cache.projector, params, &grads)
        let dx = Backbone.backward(df, arch: arch, cache.backbone, params, &grads)
        return (grads, dx)
    }
}

public enum TargetNetwork {
    /// x [N, 3, H, W] -> projection z [N, D] (no gradient is ever taken through it).
    public static func forward(_ x: Tensor, arch: Architecture, _ params: inout NetParams, _ mode: BNMode) -> Tensor {
        forwardRecording(x, arch: arch, &params, mode).z
    }

    /// The projection and every ReLU input of the pass.
    public static func forwardRecording(
        _ x: Tensor, arch: Architecture, _ params: inout NetParams, _ mode: BNMode
    ) -> (z: Tensor, reluInputs: [Tensor]) {
        let (f, bc) = Backbone.forward(x, arch: arch, &params, mode)
        let (z, pc) = MLPHead.forward(f, arch.projector, &params, mode)
        return (z, bc.reluInputs + pc.reluInputs)
    }
}
