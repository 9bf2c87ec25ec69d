/// What one BYOL step needs besides the state and the views (docs/contract.md §3,
/// `byol step`): the optimizer, the EMA decay and how the views pass through BatchNorm.
/// Shared by every engine, so that the float32 path needs nothing from the reference.
public struct StepConfig: Sendable, Equatable {
    public var optimizer: OptimizerConfig
    public var tau: Double
    public var bnViews: BNViews

    public init(optimizer: OptimizerConfig, tau: Double, bnViews: BNViews = .separate) {
        self.optimizer = optimizer
        self.tau = tau
        self.bnViews = bnViews
    }
}

/// How the two views pass through BatchNorm: `separate` (each view its own batch, as the
/// official BYOL code does) or `joint` (one batch of 2N).
public enum BNViews: String, Sendable, CaseIterable {
    case separate, joint
}

/// The optimizers of `byol step` (docs/contract.md §3, point 4).
public enum OptimizerKind: String, Sendable, CaseIterable {
    case lars, sgd, adam
}

public struct OptimizerConfig: Sendable, Equatable {
    public var kind: OptimizerKind
    public var lr: Double
    public var momentum: Double
    public var weightDecay: Double
    public var larsEta: Double
    public var adamBeta1: Double
    public var adamBeta2: Double
    public var adamEps: Double

    public init(
        kind: OptimizerKind, lr: Double, momentum: Double = 0.9, weightDecay: Double = 0,
        larsEta: Double = 0.001, adamBeta1: Double = 0.9, adamBeta2: Double = 0.999, adamEps: Double = 1e-8
    ) {
        self.kind = kind
        self.lr = lr
        self.momentum = momentum
        self.weightDecay = weightDecay
        self.larsEta = larsEta
        self.adamBeta1 = adamBeta1
        self.adamBeta2 = adamBeta2
        self.adamEps = adamEps
    }

    /// Names of the buffers this optimizer keeps per parameter (`optimizer.<param>.<buffer>`),
    /// a subset of `BYOLState.optimizerBufferNames`.
    public var bufferNames: [String] {
        switch kind {
        case .sgd, .lars: return ["momentum_buffer"]
        case .adam: return ["exp_avg", "exp_avg_sq"]
        }
    }
}

/// BatchNorm's constants, PyTorch's defaults (docs/contract.md §2).
public enum BNConstants {
    public static let eps = 1e-5
    /// Weight of the batch statistic in the running statistics' update.
    public static let momentum = 0.1
}
