/// Nominal floating-point operation counts (a multiply-add counts 2), as benchmarks
/// quote them: forward of a conv layer 2 K C R^2 Ho Wo, of a linear layer 2 O I, per
/// image; backward twice the forward (input and weight gradients).
extension Architecture {
    /// Forward FLOPs per image of the backbone at H x W input.
    public func backboneForwardFLOPs(height: Int, width: Int) -> Double {
        var h = height, w = width
        var flops = 2.0 * Double(widths[0] * 3 * 9 * h * w)
        for b in blockSpecs {
            let ho = (h - 1) / b.stride + 1, wo = (w - 1) / b.stride + 1
            flops += 2.0 * Double(b.outChannels * b.inChannels * 9 * ho * wo)
            flops += 2.0 * Double(b.outChannels * b.outChannels * 9 * ho * wo)
            if b.hasDownsample { flops += 2.0 * Double(b.outChannels * b.inChannels * ho * wo) }
            h = ho
            w = wo
        }
        return flops
    }

    public var projectorFLOPs: Double { 2.0 * Double(projHidden * featureSize + projOut * projHidden) }
    public var predictorFLOPs: Double { 2.0 * Double(predHidden * projOut + projOut * predHidden) }

    /// One BYOL step per image: for each of its two views, the online network forward
    /// and backward (3x forward) and the target forward.
    public func stepFLOPsPerImage(height: Int, width: Int) -> Double {
        let b = backboneForwardFLOPs(height: height, width: width)
        let online = b + projectorFLOPs + predictorFLOPs
        let target = b + projectorFLOPs
        return 2 * (3 * online + target)
    }
}
