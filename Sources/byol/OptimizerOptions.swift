import ArgumentParser
import BYOLModel

/// The optimizer and EMA flags of `byol step` (docs/contract.md §3).
struct OptimizerOptions: ParsableArguments {
    @Option(help: "lars, sgd or adam.")
    var optimizer: OptimizerKind = .lars

    @Option(help: "Learning rate (default: 0.2 for lars, 0.05 for sgd, 0.001 for adam).")
    var lr: Double?

    @Option(help: "Momentum of sgd and lars.")
    var momentum: Double = 0.9

    @Option(name: .customLong("weight-decay"), help: "Weight decay added to the gradient (default 1.5e-6 for lars, 0 otherwise).")
    var weightDecay: Double?

    @Option(name: .customLong("lars-eta"), help: "LARS trust coefficient.")
    var larsEta: Double = 0.001

    @Option(name: .customLong("adam-beta1")) var adamBeta1: Double = 0.9
    @Option(name: .customLong("adam-beta2")) var adamBeta2: Double = 0.999
    @Option(name: .customLong("adam-eps")) var adamEps: Double = 1e-8

    @Option(help: "EMA decay of the target: target += (1 - tau) (online - target).")
    var tau: Double = 0.996

    @Option(name: .customLong("bn-views"), help: "separate: each view its own BN batch; joint: one batch of 2N.")
    var bnViews: BNViews = .separate

    func validate() throws {
        for (flag, v) in [("--lr", lr ?? 0), ("--momentum", momentum), ("--weight-decay", weightDecay ?? 0), ("--lars-eta", larsEta),
                          ("--adam-beta1", adamBeta1), ("--adam-beta2", adamBeta2), ("--adam-eps", adamEps), ("--tau", tau)] {
            guard v.isFinite else { throw ValidationError("\(flag) must be a finite number") }
        }
        guard (0...1).contains(tau) else { throw ValidationError("--tau \(tau) is outside [0, 1]") }
        guard (0..<1).contains(adamBeta1), (0..<1).contains(adamBeta2) else { throw ValidationError("Adam betas must be in [0, 1)") }
    }

    var stepConfig: StepConfig {
        let defaultLR: Double = optimizer == .lars ? 0.2 : (optimizer == .sgd ? 0.05 : 1e-3)
        let opt = OptimizerConfig(kind: optimizer, lr: lr ?? defaultLR, momentum: momentum,
                                  weightDecay: weightDecay ?? (optimizer == .lars ? 1.5e-6 : 0), larsEta: larsEta,
                                  adamBeta1: adamBeta1, adamBeta2: adamBeta2, adamEps: adamEps)
        return StepConfig(optimizer: opt, tau: tau, bnViews: bnViews)
    }
}
