import Foundation

/// The network as data (docs/contract.md §2): the stem, the blocks with their strides and
/// shortcuts, the heads, and the module names, in one place. `specs` (every array's name
/// and shape), both engines and `byol arch` (the JSON the PyTorch scripts are checked
/// against) read it; nothing else spells a module's name.

/// A convolution and the BatchNorm after it, by module name (arrays: CONV.weight,
/// BN.weight, BN.bias, BN.running_mean, BN.running_var, BN.num_batches_tracked).
public struct ConvBNSpec: Sendable, Equatable {
    public var conv: String
    public var bn: String
    public var inChannels: Int
    public var outChannels: Int
    public var kernel: Int
    public var stride: Int
    public var pad: Int
}

extension BlockSpec {
    /// conv1 (3x3, the block's stride) and bn1, then the first ReLU.
    public var first: ConvBNSpec {
        ConvBNSpec(conv: prefix + ".conv1", bn: prefix + ".bn1", inChannels: inChannels, outChannels: outChannels, kernel: 3, stride: stride, pad: 1)
    }
    /// conv2 (3x3, stride 1) and bn2, before the residual sum.
    public var second: ConvBNSpec {
        ConvBNSpec(conv: prefix + ".conv2", bn: prefix + ".bn2", inChannels: outChannels, outChannels: outChannels, kernel: 3, stride: 1, pad: 1)
    }
    /// The 1x1 conv + BN shortcut (`downsample.0`, `downsample.1`), or nil: identity.
    public var downsample: ConvBNSpec? {
        guard hasDownsample else { return nil }
        return ConvBNSpec(
            conv: prefix + ".downsample.0", bn: prefix + ".downsample.1", inChannels: inChannels, outChannels: outChannels,
            kernel: 1, stride: stride, pad: 0)
    }
}

/// A projector or predictor MLP: `NAME.0` Linear -> `NAME.1` BatchNorm1d -> ReLU ->
/// `NAME.3` Linear (`NAME.2` is the ReLU, which has no arrays).
public struct HeadSpec: Sendable, Equatable {
    public var part: NetworkPart
    public var inFeatures: Int
    public var hidden: Int
    public var outFeatures: Int
    public var name: String { part.rawValue }
    public var firstLinear: String { name + ".0" }
    public var bn: String { name + ".1" }
    public var secondLinear: String { name + ".3" }
}

extension Architecture {
    /// conv1 (3x3, stride 1, pad 1) and bn1 on the RGB input, then ReLU (no max-pool).
    public var stem: ConvBNSpec {
        ConvBNSpec(conv: "conv1", bn: "bn1", inChannels: 3, outChannels: widths[0], kernel: 3, stride: 1, pad: 1)
    }

    public var projector: HeadSpec { HeadSpec(part: .projector, inFeatures: featureSize, hidden: projHidden, outFeatures: projOut) }
    public var predictor: HeadSpec { HeadSpec(part: .predictor, inFeatures: projOut, hidden: predHidden, outFeatures: projOut) }

    /// The whole description as JSON-ready values (`byol arch`): the shape parameters,
    /// stem, blocks and heads, and every array of the online and target networks as
    /// [name, shape, kind, fan_in], in state order.
    public var descriptionJSON: [String: Any] {
        func convBN(_ c: ConvBNSpec) -> [String: Any] {
            ["conv": c.conv, "bn": c.bn, "in": c.inChannels, "out": c.outChannels, "kernel": c.kernel, "stride": c.stride, "pad": c.pad]
        }
        func head(_ h: HeadSpec) -> [String: Any] {
            ["in": h.inFeatures, "hidden": h.hidden, "out": h.outFeatures, "linear1": h.firstLinear, "bn": h.bn, "linear2": h.secondLinear]
        }
        func arrays(_ specs: [ParamSpec]) -> [[Any]] { specs.map { [$0.name, $0.shape, $0.kind.jsonName, $0.fanIn] } }
        return [
            "widths": widths, "blocks": blocks, "proj_hidden": projHidden, "proj_out": projOut, "pred_hidden": predHidden,
            "stem": convBN(stem),
            "residual_blocks": blockSpecs.map { b -> [String: Any] in
                [
                    "prefix": b.prefix, "in": b.inChannels, "out": b.outChannels, "stride": b.stride, "conv_bn_1": convBN(b.first),
                    "conv_bn_2": convBN(b.second), "downsample": b.downsample.map(convBN) ?? NSNull()
                ]
            },
            "projector": head(projector), "predictor": head(predictor),
            "online": arrays(onlineSpecs), "target": arrays(targetSpecs)
        ]
    }
}

extension ParamKind {
    /// The kind's name in `byol arch` JSON (and ci/byol_arch.py).
    public var jsonName: String {
        switch self {
        case .convWeight: return "conv"
        case .linearWeight: return "linear"
        case .linearBias: return "bias"
        case .bnWeight: return "bn_weight"
        case .bnBias: return "bn_bias"
        case .bnRunningMean: return "running_mean"
        case .bnRunningVar: return "running_var"
        case .bnBatchCount: return "count"
        }
    }
}
