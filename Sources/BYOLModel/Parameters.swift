/// What an entry of a network's `state_dict` is, which decides its initialization and
/// how optimizers treat it.
public enum ParamKind: Sendable, Equatable {
    case convWeight  // [out, in, k, k]
    case linearWeight  // [out, in]
    case linearBias  // [out]
    case bnWeight  // [C]
    case bnBias  // [C]
    case bnRunningMean  // [C], buffer
    case bnRunningVar  // [C], buffer
    case bnBatchCount  // (), int64 buffer num_batches_tracked

    /// Trained by the optimizer (as opposed to a BN buffer).
    public var isLearnable: Bool {
        switch self {
        case .convWeight, .linearWeight, .linearBias, .bnWeight, .bnBias: return true
        default: return false
        }
    }
}

/// One named array of a network, as PyTorch's `state_dict` names it.
public struct ParamSpec: Sendable, Equatable {
    public var name: String
    public var shape: [Int]
    public var kind: ParamKind
    /// Fan-in for the weights and biases that PyTorch initializes from it.
    public var fanIn: Int

    public var count: Int { shape.reduce(1, *) }

    public init(name: String, shape: [Int], kind: ParamKind, fanIn: Int) {
        (self.name, self.shape, self.kind, self.fanIn) = (name, shape, kind, fanIn)
    }
}

/// One residual BasicBlock of the backbone: `layer{stage+1}.{index}`.
public struct BlockSpec: Sendable, Equatable {
    public var prefix: String  // "layer2.0"
    public var inChannels: Int
    public var outChannels: Int
    public var stride: Int
    /// A 1x1 conv + BN shortcut when the stride or the channel count changes.
    public var hasDownsample: Bool { stride != 1 || inChannels != outChannels }
}

public enum NetworkPart: String, CaseIterable, Sendable {
    case backbone, projector, predictor
}

extension Architecture {
    /// The backbone's blocks in forward order.
    public var blockSpecs: [BlockSpec] {
        var specs: [BlockSpec] = []
        var inC = widths[0]
        for s in 0..<4 {
            for b in 0..<blocks[s] {
                let stride = (s > 0 && b == 0) ? 2 : 1
                specs.append(BlockSpec(prefix: "layer\(s + 1).\(b)", inChannels: inC, outChannels: widths[s], stride: stride))
                inC = widths[s]
            }
        }
        return specs
    }

    /// The arrays of one part, in PyTorch `state_dict` order.
    public func specs(_ part: NetworkPart) -> [ParamSpec] {
        var out: [ParamSpec] = []
        func conv(_ name: String, _ o: Int, _ i: Int, _ k: Int) {
            out.append(ParamSpec(name: name + ".weight", shape: [o, i, k, k], kind: .convWeight, fanIn: i * k * k))
        }
        func bn(_ name: String, _ c: Int) {
            out.append(ParamSpec(name: name + ".weight", shape: [c], kind: .bnWeight, fanIn: 0))
            out.append(ParamSpec(name: name + ".bias", shape: [c], kind: .bnBias, fanIn: 0))
            out.append(ParamSpec(name: name + ".running_mean", shape: [c], kind: .bnRunningMean, fanIn: 0))
            out.append(ParamSpec(name: name + ".running_var", shape: [c], kind: .bnRunningVar, fanIn: 0))
            out.append(ParamSpec(name: name + ".num_batches_tracked", shape: [], kind: .bnBatchCount, fanIn: 0))
        }
        func linear(_ name: String, _ o: Int, _ i: Int) {
            out.append(ParamSpec(name: name + ".weight", shape: [o, i], kind: .linearWeight, fanIn: i))
            out.append(ParamSpec(name: name + ".bias", shape: [o], kind: .linearBias, fanIn: i))
        }
        func convBN(_ c: ConvBNSpec) {
            conv(c.conv, c.outChannels, c.inChannels, c.kernel)
            bn(c.bn, c.outChannels)
        }
        func head(_ h: HeadSpec) {
            linear(h.firstLinear, h.hidden, h.inFeatures)
            bn(h.bn, h.hidden)
            linear(h.secondLinear, h.outFeatures, h.hidden)
        }
        switch part {
        case .backbone:
            convBN(stem)
            for b in blockSpecs {
                convBN(b.first)
                convBN(b.second)
                if let d = b.downsample { convBN(d) }
            }
        case .projector: head(projector)
        case .predictor: head(predictor)
        }
        // Heads are named without the part prefix inside their own module
        // (`projector.0.weight` lives in the module `online.projector` as `0.weight`).
        if part != .backbone {
            out = out.map {
                var s = $0
                s.name = String(s.name.dropFirst(part.rawValue.count + 1))
                return s
            }
        }
        return out
    }

    /// Online network state: `online.backbone.*`, `online.projector.*`, `online.predictor.*`.
    public var onlineSpecs: [ParamSpec] {
        NetworkPart.allCases.flatMap { part in
            specs(part).map {
                var s = $0
                s.name = "online.\(part.rawValue).\(s.name)"
                return s
            }
        }
    }

    /// Target network state: `target.backbone.*`, `target.projector.*` (no predictor).
    public var targetSpecs: [ParamSpec] {
        [NetworkPart.backbone, .projector].flatMap { part in
            specs(part).map {
                var s = $0
                s.name = "target.\(part.rawValue).\(s.name)"
                return s
            }
        }
    }

    /// The online learnable parameters: what the optimizer updates and gradients cover.
    public var learnableSpecs: [ParamSpec] { onlineSpecs.filter { $0.kind.isLearnable } }

    /// Number of learnable backbone parameters (ResNet-18 at CIFAR stem: 11,168,832).
    public var backboneParameterCount: Int {
        specs(.backbone).filter { $0.kind.isLearnable }.reduce(0) { $0 + $1.count }
    }
}
