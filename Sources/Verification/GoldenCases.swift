import BYOLModel
import Reference

/// One golden case: a command run on fixed inputs, whose outputs are frozen in goldens/.
public struct GoldenCase: Sendable {
    public enum Kind: Sendable {
        /// `steps` `byol step` runs in a row from the input state, fresh views each time.
        case step(steps: Int, grads: Bool, config: StepConfig)
        /// `byol embed` (online and target) on the state file `stateFile` (relative to
        /// goldens/), itself the output of another case.
        case embed(stateFile: String)
    }

    /// Whole tensors, or digests for states too large to commit (small, resnet18).
    public enum Storage: String, Sendable { case full, digest }

    public var name: String
    public var preset: String
    public var initSeed: UInt64
    public var batch: Int
    public var size: Int
    public var inputSeed: UInt64
    public var kind: Kind
    public var storage: Storage
    /// Too slow for `swift test` in a debug build; run by `byol goldens verify` and
    /// `byol verify`, and by the tests only with BYOL_HEAVY=1.
    public var heavy: Bool

    public var arch: Architecture { Architecture.preset(named: preset)! }

    /// The `byol step` flags of this case, every one explicit.
    public var flags: [String] {
        guard case .step(_, _, let c) = kind else { return [] }
        let o = c.optimizer
        return [
            "--optimizer", o.kind.rawValue, "--lr", "\(o.lr)", "--momentum", "\(o.momentum)",
            "--weight-decay", "\(o.weightDecay)", "--lars-eta", "\(o.larsEta)", "--adam-beta1", "\(o.adamBeta1)",
            "--adam-beta2", "\(o.adamBeta2)", "--adam-eps", "\(o.adamEps)", "--tau", "\(c.tau)", "--bn-views", c.bnViews.rawValue
        ]
    }
}

extension GoldenCase {
    static func step(
        _ name: String, _ preset: String, seed: UInt64, batch: Int, size: Int, steps: Int, grads: Bool = true,
        _ opt: OptimizerConfig, tau: Double, _ bn: BNViews, storage: Storage = .full, heavy: Bool = false
    ) -> GoldenCase {
        GoldenCase(
            name: name, preset: preset, initSeed: seed, batch: batch, size: size, inputSeed: seed + 100,
            kind: .step(steps: steps, grads: grads, config: StepConfig(optimizer: opt, tau: tau, bnViews: bn)),
            storage: storage, heavy: heavy)
    }

    /// `cases` with, before them, the cases whose outputs they read (tiny-embed embeds
    /// with tiny-adam-separate-3steps' last state), so that regenerating one case alone
    /// into a new folder works.
    public static func withDependencies(_ cases: [GoldenCase]) -> [GoldenCase] {
        let needed = Set(
            cases.flatMap { c -> [String] in
                guard case .embed(let stateFile) = c.kind else { return [c.name] }
                return [c.name, String(stateFile.split(separator: "/")[0])]
            })
        return all.filter { needed.contains($0.name) }  // the suite's order: dependencies first
    }

    /// The golden suite: each optimizer, both BN modes, single and chained steps, image
    /// sizes 8 to 32, batches 2 to 8, embed; tiny stored whole, small and resnet18 as digests.
    public static let all: [GoldenCase] = [
        step(
            "tiny-lars-separate", "tiny", seed: 1, batch: 4, size: 16, steps: 1,
            OptimizerConfig(kind: .lars, lr: 0.2, weightDecay: 1.5e-6), tau: 0.99, .separate),
        step(
            "tiny-sgd-joint-2steps", "tiny", seed: 2, batch: 3, size: 16, steps: 2,
            OptimizerConfig(kind: .sgd, lr: 0.05, momentum: 0.9, weightDecay: 5e-4), tau: 0.996, .joint),
        step(
            "tiny-adam-separate-3steps", "tiny", seed: 3, batch: 3, size: 16, steps: 3,
            OptimizerConfig(kind: .adam, lr: 1e-3, weightDecay: 1e-4), tau: 0.99, .separate),
        step(
            "tiny-lars-joint-2steps-batch2", "tiny", seed: 4, batch: 2, size: 8, steps: 2,
            OptimizerConfig(kind: .lars, lr: 0.3, momentum: 0.8, weightDecay: 1e-4, larsEta: 0.002), tau: 0.9, .joint),
        GoldenCase(
            name: "tiny-embed", preset: "tiny", initSeed: 3, batch: 5, size: 32, inputSeed: 105,
            kind: .embed(stateFile: "tiny-adam-separate-3steps/expected_3.npz"), storage: .full, heavy: false),
        step(
            "small-lars-separate", "small", seed: 6, batch: 3, size: 16, steps: 1,
            OptimizerConfig(kind: .lars, lr: 0.2, weightDecay: 1.5e-6), tau: 0.996, .separate, storage: .digest),
        step(
            "small-sgd-joint-2steps", "small", seed: 7, batch: 3, size: 16, steps: 2, grads: false,
            OptimizerConfig(kind: .sgd, lr: 0.1, momentum: 0.9, weightDecay: 5e-4), tau: 0.99, .joint, storage: .digest),
        step(
            "resnet18-lars-separate-batch8", "resnet18", seed: 8, batch: 8, size: 32, steps: 1,
            OptimizerConfig(kind: .lars, lr: 0.2, weightDecay: 1.5e-6), tau: 0.996, .separate, storage: .digest, heavy: true)
    ]
}
