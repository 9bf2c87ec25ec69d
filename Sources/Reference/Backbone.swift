import BYOLModel

/// The CIFAR-stem ResNet: conv1 (3x3, stride 1, pad 1) -> bn1 -> ReLU (no max-pool) ->
/// layer1..layer4 of BasicBlocks -> global average pooling.
/// x [N, 3, H, W] -> features [N, w3].
public enum Backbone {
    public struct Cache {
        var stem: ConvBNCache
        var stemAct: Tensor  // bn1 output, the stem ReLU's input
        var blocks: [BasicBlock.Cache]
        var lastShape: [Int]  // layer4 output shape, for the pooling backward
        public var reluInputs: [Tensor] { [stemAct] + blocks.flatMap(\.reluInputs) }
    }

    static let prefix = "backbone."

    public static func forward(_ x: Tensor, arch: Architecture, _ params: inout NetParams, _ mode: BNMode) -> (Tensor, Cache) {
        precondition(x.shape.count == 4 && x.shape[1] == 3, "backbone input must be [N, 3, H, W], got \(x.shape)")
        let (a, stem) = convBN(x, arch.stem, prefix: prefix, &params, mode)
        var h = ReLU.forward(a)
        var caches: [BasicBlock.Cache] = []
        for spec in arch.blockSpecs {
            let (y, c) = BasicBlock.forward(h, spec, prefix: prefix, &params, mode)
            h = y
            caches.append(c)
        }
        let pooled = GlobalAvgPool.forward(h)
        var f = pooled
        RoundingNoise.site(&f.data, ElementwiseErrors.avgPoolForward(x: h, y: pooled))
        return (f, Cache(stem: stem, stemAct: a, blocks: caches, lastShape: h.shape))
    }

    /// dx [N, 3, H, W] from d(features); accumulates every backbone gradient.
    public static func backward(_ dFeatures: Tensor, arch: Architecture, _ cache: Cache, _ params: NetParams, _ grads: inout Gradients) -> Tensor {
        let dPooled = GlobalAvgPool.backward(dFeatures, inputShape: cache.lastShape)
        var dh = dPooled
        RoundingNoise.site(&dh.data, ElementwiseErrors.avgPoolBackward(dx: dPooled))
        for (spec, c) in zip(arch.blockSpecs, cache.blocks).reversed() {
            dh = BasicBlock.backward(dh, spec, prefix: prefix, c, params, &grads)
        }
        let da = ReLU.backward(dh, x: cache.stemAct)
        return convBNBackward(da, arch.stem, prefix: prefix, cache.stem, params, &grads)
    }
}
