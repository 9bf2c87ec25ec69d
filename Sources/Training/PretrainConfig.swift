import Augment
import BYOLModel
import Foundation

/// `byol pretrain`: BYOL on a data set, reproducibly, with checkpoints that resume to the
/// same bytes, a kNN monitor after each epoch, and a run folder of metrics, plot and
/// manifest.
public struct PretrainConfig: Sendable {
    public var data: String?          // nil: the embedded synthetic set
    public var preset = "small"
    public var epochs = 10
    public var batch = 256
    public var optimizer = OptimizerKind.sgd
    public var lr = 0.12
    public var momentum = 0.9
    public var weightDecay = 5e-4
    public var tauBase = 0.99
    public var warmupEpochs = 0.0
    public var seed: UInt64 = 0
    public var precision = Precision.float32
    public var threads = 2
    public var recipe = Recipe.cifar
    public var bnViews = BNViews.separate
    public var checkpointEvery = 100
    public var knnK = 200
    public var knnTemperature = 0.1
    public var trainLimit: Int?
    public var testLimit: Int?
    public var out = "runs/pretrain"
    public var resume = false
    /// Stop after this many steps of this invocation (a planned interruption; resume continues).
    public var stopAfter: Int?

    /// Called after each finished step with its number (1-based, counted over the whole
    /// run), once its metrics line and any checkpoint are written, and with 0 after the
    /// initial kNN pass, before the first checkpoint: a fault-injection point for tests
    /// that stop a run at an exact moment instead of after a sleep.
    public var afterStep: (@Sendable (Int) -> Void)?

    /// What the float32 bytes also depend on besides the flags (the OpenBLAS kernel set,
    /// how it was chosen, the kernel check): recorded in the manifest, not compared on
    /// resume (a run may continue on another machine; docs/training.md).
    public var kernels: [String: String] = [:]

    /// Called once the data is loaded and before anything is written or computed, with
    /// the architecture and the train and test image counts: the command checks its
    /// engine's kernels here (and may end the process); returns `kernels`.
    public var beforeCompute: (@Sendable (Architecture, Int, Int) throws -> [String: String])?

    public init() {}

    /// Every setting, for the manifest and the resume check.
    public var asDictionary: [String: Any] {
        ["data": data ?? "embedded", "preset": preset, "epochs": epochs, "batch": batch, "optimizer": optimizer.rawValue, "lr": lr,
         "momentum": momentum, "weight_decay": weightDecay, "tau_base": tauBase, "warmup_epochs": warmupEpochs, "seed": seed,
         "precision": precision.rawValue, "threads": threads, "recipe": recipe.rawValue, "bn_views": bnViews.rawValue,
         "checkpoint_every": checkpointEvery, "knn_k": knnK, "knn_temperature": knnTemperature,
         "train_limit": trainLimit ?? -1, "test_limit": testLimit ?? -1]
    }

    /// Settings that must not change across a resume (threads may), as they read back
    /// from the manifest's JSON.
    var identity: [String: String] {
        // The data is compared by its checksum (the same archive may be named by another path).
        let d = asDictionary.filter { $0.key != "threads" && $0.key != "checkpoint_every" && $0.key != "data" }
        let json = (try? JSONSerialization.data(withJSONObject: d)).flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] } ?? d
        return json.mapValues { "\($0)" }
    }
}
