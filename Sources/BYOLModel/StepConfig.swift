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

/// The optimizers of `byol step` (docs/contract.md §3, point 4), each declared here once:
/// the kit's cases, the manifest code, the flags' defaults and the state's buffer names
/// are read from these properties, not listed again. Declaration order is the order of
/// the kit's step cases.
public enum OptimizerKind: String, Sendable, CaseIterable {
    case lars, sgd, adam

    /// Its number in a conformance manifest (a step case's `params.optimizer`). Codes are
    /// never reused: a new optimizer takes the next one.
    public var code: Int {
        switch self {
        case .sgd: return 0
        case .lars: return 1
        case .adam: return 2
        }
    }

    /// Its hyperparameters, named as a conformance case's 0-d inputs (and as
    /// `OptimizerConfig[hyperparameter:]` reads them), in the order its C ABI update
    /// function takes them.
    public var hyperparameters: [String] {
        switch self {
        case .sgd: return ["lr", "momentum", "weight_decay"]
        case .lars: return ["lr", "momentum", "weight_decay", "eta"]
        case .adam: return ["lr", "beta1", "beta2", "eps", "weight_decay"]
        }
    }

    /// The buffers it keeps per parameter (`optimizer.<param>.<buffer>` in a state).
    public var bufferNames: [String] {
        switch self {
        case .sgd, .lars: return ["momentum_buffer"]
        case .adam: return ["exp_avg", "exp_avg_sq"]
        }
    }

    /// Whether its update reads the count of finished steps (Adam's bias correction).
    public var readsStep: Bool { self == .adam }

    /// Whether it treats a matrix or conv kernel apart from a vector (LARS adapts only
    /// those): its C ABI function then takes `is_matrix`.
    public var readsIsMatrix: Bool { self == .lars }

    /// `byol step`'s learning rate and weight decay where the flags are not given.
    public var defaultLR: Double {
        switch self {
        case .lars: return 0.2
        case .sgd: return 0.05
        case .adam: return 1e-3
        }
    }
    public var defaultWeightDecay: Double { self == .lars ? 1.5e-6 : 0 }

    /// Every kind in code order (the order of the kit's update cases).
    public static var byCode: [OptimizerKind] { allCases.sorted { $0.code < $1.code } }
    /// The kinds' names, for help texts and errors ("lars, sgd, adam").
    public static var names: String { allCases.map(\.rawValue).joined(separator: ", ") }
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
    public var bufferNames: [String] { kind.bufferNames }

    /// A configuration of `kind` from hyperparameters by name (`OptimizerKind.hyperparameters`,
    /// as a conformance case's 0-d inputs hold them); a name `value` does not give keeps
    /// the memberwise default (learning rate 0).
    public init(kind: OptimizerKind, value: (String) -> Double?) {
        self.init(kind: kind, lr: 0)
        for name in Self.hyperparameterNames { if let v = value(name) { self[hyperparameter: name] = v } }
    }

    /// Every hyperparameter name any optimizer reads.
    public static let hyperparameterNames = ["lr", "momentum", "weight_decay", "eta", "beta1", "beta2", "eps"]

    /// The hyperparameter `name` (one of `hyperparameterNames`; nil for another name).
    public subscript(hyperparameter name: String) -> Double? {
        get {
            switch name {
            case "lr": return lr
            case "momentum": return momentum
            case "weight_decay": return weightDecay
            case "eta": return larsEta
            case "beta1": return adamBeta1
            case "beta2": return adamBeta2
            case "eps": return adamEps
            default: return nil
            }
        }
        set {
            guard let v = newValue else { return }
            switch name {
            case "lr": lr = v
            case "momentum": momentum = v
            case "weight_decay": weightDecay = v
            case "eta": larsEta = v
            case "beta1": adamBeta1 = v
            case "beta2": adamBeta2 = v
            case "eps": adamEps = v
            default: break
            }
        }
    }
}

/// BatchNorm's constants, PyTorch's defaults (docs/contract.md §2).
public enum BNConstants {
    public static let eps = 1e-5
    /// Weight of the batch statistic in the running statistics' update.
    public static let momentum = 0.1
}
