import BYOLModel

/// The online half of a BYOL step: forward both views, the symmetric loss against the
/// target's (constant) projections, and the gradients of every online parameter.
public enum BYOLLoss {
    public struct Result {
        /// mean_i l(p1_i, z2_i) + mean_i l(p2_i, z1_i)
        public var loss: Double
        public var grads: Gradients
        /// Every ReLU input of the online forward passes (for kink checks).
        public var reluInputs: [Tensor]
    }

    /// views [N, 3, H, W]; z1, z2 [N, D] the target projections of view1 and view2.
    /// `online` has its BN running statistics updated (view1's batch first, then view2's).
    public static func onlineStep(
        view1: Tensor, view2: Tensor, z1: Tensor, z2: Tensor, arch: Architecture,
        online: inout NetParams, bnViews: BNViews
    ) -> Result {
        let n = view1.shape[0]
        switch bnViews {
        case .separate:
            let (p1, c1) = OnlineNetwork.forward(view1, arch: arch, &online, .train)
            let (p2, c2) = OnlineNetwork.forward(view2, arch: arch, &online, .train)
            let loss = lossForward(p1, z2) + lossForward(p2, z1)
            let g1 = OnlineNetwork.backward(lossBackward(p1, z2), arch: arch, c1, online).grads
            let g2 = OnlineNetwork.backward(lossBackward(p2, z1), arch: arch, c2, online).grads
            // Sum the two views' contributions, view1's first.
            var grads = g1
            for (name, g) in g2 { grads.accumulate(name, g) }
            return Result(loss: loss, grads: grads, reluInputs: c1.reluInputs + c2.reluInputs)
        case .joint:
            let (p, c) = OnlineNetwork.forward(Tensor.concatRows(view1, view2), arch: arch, &online, .train)
            let (p1, p2) = (p.rows(0..<n), p.rows(n..<2 * n))
            let loss = lossForward(p1, z2) + lossForward(p2, z1)
            let dp = Tensor.concatRows(lossBackward(p1, z2), lossBackward(p2, z1))
            let grads = OnlineNetwork.backward(dp, arch: arch, c, online).grads
            return Result(loss: loss, grads: grads, reluInputs: c.reluInputs)
        }
    }

    /// The target projections z1, z2 of both views, updating the target's running
    /// statistics (view1 first under `separate`).
    public static func targetProjections(
        view1: Tensor, view2: Tensor, arch: Architecture, target: inout NetParams, bnViews: BNViews
    ) -> (z1: Tensor, z2: Tensor) {
        switch bnViews {
        case .separate:
            let z1 = TargetNetwork.forward(view1, arch: arch, &target, .train)
            let z2 = TargetNetwork.forward(view2, arch: arch, &target, .train)
            return (z1, z2)
        case .joint:
            let n = view1.shape[0]
            let z = TargetNetwork.forward(Tensor.concatRows(view1, view2), arch: arch, &target, .train)
            return (z.rows(0..<n), z.rows(n..<2 * n))
        }
    }
}

/// The loss of one pair of batches and its gradient, with their rounding sites.
func lossForward(_ p: Tensor, _ z: Tensor) -> Double {
    var l = NormalizedMSE.forward(p, z)
    RoundingNoise.site(&l, LossErrors.loss(p: p, z: z, dp: NormalizedMSE.backward(p, z)).loss)
    return l
}

func lossBackward(_ p: Tensor, _ z: Tensor) -> Tensor {
    let exact = NormalizedMSE.backward(p, z)
    var dp = exact
    RoundingNoise.site(&dp.data, LossErrors.loss(p: p, z: z, dp: exact).dp)
    return dp
}
