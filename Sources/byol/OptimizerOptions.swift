import ArgumentParser
import BYOLModel

/// The optimizer and EMA flags of `byol step` (docs/contract.md §3).
struct OptimizerOptions: ParsableArguments {
    @Option(help: "The optimizer (docs/contract.md §3.2).")
    var optimizer: OptimizerKind = .lars

    @Option(
        parsing: .unconditional,
        help: "Learning rate, > 0 (default: \(OptimizerKind.allCases.map { "\($0.defaultLR) for \($0.rawValue)" }.joined(separator: ", "))).")
    var lr: Double?

    @Option(parsing: .unconditional, help: "Momentum of sgd and lars, in [0, 1) (adam ignores it).")
    var momentum: Double = 0.9

    @Option(
        name: .customLong("weight-decay"), parsing: .unconditional,
        help: "L2 weight decay, >= 0, added to the gradient as wd * p (lars: conv and linear weights only; default 1.5e-6 for lars, 0 otherwise).")
    var weightDecay: Double?

    @Option(
        name: .customLong("lars-eta"), parsing: .unconditional,
        help: "LARS trust coefficient eta, > 0: a conv or linear weight's update d is scaled by eta ||p|| / ||d||.")
    var larsEta: Double = 0.001

    @Option(name: .customLong("adam-beta1"), parsing: .unconditional, help: "Adam's decay of the gradient average (exp_avg), in [0, 1).")
    var adamBeta1: Double = 0.9

    @Option(name: .customLong("adam-beta2"), parsing: .unconditional, help: "Adam's decay of the squared-gradient average (exp_avg_sq), in [0, 1).")
    var adamBeta2: Double = 0.999

    @Option(name: .customLong("adam-eps"), parsing: .unconditional, help: "Adam's epsilon, > 0, added to the bias-corrected sqrt(exp_avg_sq).")
    var adamEps: Double = 1e-8

    @Option(parsing: .unconditional, help: "EMA decay of the target, in [0, 1]: target += (1 - tau) (online - target).")
    var tau: Double = 0.996

    @Option(name: .customLong("bn-views"), help: "separate: each view its own BN batch; joint: one batch of 2N.")
    var bnViews: BNViews = .separate

    func validate() throws {
        if let lr { try FlagCheck.require("--lr", lr, .positive) }
        try FlagCheck.require("--momentum", momentum, .unitOpen)
        if let weightDecay { try FlagCheck.require("--weight-decay", weightDecay, .nonNegative) }
        try FlagCheck.require("--lars-eta", larsEta, .positive)
        try FlagCheck.require("--adam-beta1", adamBeta1, .unitOpen)
        try FlagCheck.require("--adam-beta2", adamBeta2, .unitOpen)
        try FlagCheck.require("--adam-eps", adamEps, .positive)
        try FlagCheck.require("--tau", tau, .unit)
    }

    var stepConfig: StepConfig {
        let opt = OptimizerConfig(
            kind: optimizer, lr: lr ?? optimizer.defaultLR, momentum: momentum,
            weightDecay: weightDecay ?? optimizer.defaultWeightDecay, larsEta: larsEta,
            adamBeta1: adamBeta1, adamBeta2: adamBeta2, adamEps: adamEps)
        return StepConfig(optimizer: opt, tau: tau, bnViews: bnViews)
    }
}
