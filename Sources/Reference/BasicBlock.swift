import BYOLModel

/// torchvision's BasicBlock: y = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)),
/// shortcut = identity, or bn(conv1x1(x, stride)) (`downsample.0`, `downsample.1`).
/// x [N, Cin, H, W] -> y [N, Cout, H / stride, W / stride].
public enum BasicBlock {
    public struct Cache {
        var branch1: ConvBNCache
        var act1: Tensor  // bn1 output, the first ReLU's input
        var branch2: ConvBNCache
        var shortcut: ConvBNCache?
        var sum: Tensor  // bn2 output + shortcut, the second ReLU's input
        public var reluInputs: [Tensor] { [act1, sum] }
    }

    public static func forward(_ x: Tensor, _ spec: BlockSpec, prefix: String, _ params: inout NetParams, _ mode: BNMode) -> (Tensor, Cache) {
        let (a1, c1) = convBN(x, spec.first, prefix: prefix, &params, mode)
        let r1 = ReLU.forward(a1)
        let (a2, c2) = convBN(r1, spec.second, prefix: prefix, &params, mode)
        var shortcut = x
        var cs: ConvBNCache?
        if let d = spec.downsample {
            let (s, c) = convBN(x, d, prefix: prefix, &params, mode)
            shortcut = s
            cs = c
        }
        let exactSum = a2 + shortcut
        var sum = exactSum
        RoundingNoise.site(&sum.data, ElementwiseErrors.add(y: exactSum))
        return (ReLU.forward(sum), Cache(branch1: c1, act1: a1, branch2: c2, shortcut: cs, sum: sum))
    }

    /// dx [N, Cin, H, W] from dy; accumulates every parameter gradient of the block.
    public static func backward(
        _ dy: Tensor, _ spec: BlockSpec, prefix: String, _ cache: Cache, _ params: NetParams, _ grads: inout Gradients
    ) -> Tensor {
        let dsum = ReLU.backward(dy, x: cache.sum)
        let dr1 = convBNBackward(dsum, spec.second, prefix: prefix, cache.branch2, params, &grads)
        let da1 = ReLU.backward(dr1, x: cache.act1)
        var dx = convBNBackward(da1, spec.first, prefix: prefix, cache.branch1, params, &grads)
        if let cs = cache.shortcut, let d = spec.downsample {
            dx = dx + convBNBackward(dsum, d, prefix: prefix, cs, params, &grads)
        } else {
            dx = dx + dsum
        }
        let exact = dx
        RoundingNoise.site(&dx.data, ElementwiseErrors.add(y: exact))
        return dx
    }
}
