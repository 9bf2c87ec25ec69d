import Augment
import BYOLModel
import Data
import Foundation

/// `byol pretrain`: BYOL on a data set, reproducibly, with checkpoints that resume to the
/// same bytes, a kNN monitor after each epoch, and a run folder of metrics, plot and
/// manifest.
public struct PretrainConfig: Sendable {
    public var data: String?  // nil: the embedded synthetic set
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
    /// The batch's sample groups (nil: `SampleGroups.defaultCount`): the float32 bytes
    /// depend on them, never on how many processes share them.
    public var sampleGroups: Int?
    /// The processes of a data-parallel run (`mpirun -np P byol pretrain`): rank 0 alone
    /// writes the run folder and prints; each rank augments and computes its samples.
    public var comm: Collective = SingleProcess()

    /// The sample groups in use.
    public var resolvedSampleGroups: Int { sampleGroups ?? SampleGroups.defaultCount(batch: batch) }

    /// Called after each finished step with its number (1-based, counted over the whole
    /// run), once its metrics line and any checkpoint are written, and with 0 after the
    /// initial kNN pass, before the first checkpoint: a fault-injection point for tests
    /// that stop a run at an exact moment instead of after a sleep.
    public var afterStep: (@Sendable (Int) -> Void)?

    /// Called during the kNN pass after `epoch` epochs (0: the pass at initialization),
    /// after each chunk of images embedded: the fault-injection point for a stop signal
    /// in the middle of a pass.
    public var duringKNN: (@Sendable (Int) -> Void)?

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
        [
            "data": data ?? "embedded", "preset": preset, "epochs": epochs, "batch": batch, "optimizer": optimizer.rawValue, "lr": lr,
            "momentum": momentum, "weight_decay": weightDecay, "tau_base": tauBase, "warmup_epochs": warmupEpochs, "seed": seed,
            "precision": precision.rawValue, "threads": threads, "recipe": recipe.rawValue, "bn_views": bnViews.rawValue,
            "checkpoint_every": checkpointEvery, "knn_k": knnK, "knn_temperature": knnTemperature,
            "train_limit": trainLimit ?? -1, "test_limit": testLimit ?? -1, "sample_groups": resolvedSampleGroups
        ]
    }

    /// Settings that must not change across a resume (threads and processes may), as
    /// they read back from the manifest's JSON.
    var identity: [String: String] {
        // The data is compared by its checksum (the same archive may be named by another path).
        let d = asDictionary.filter { $0.key != "threads" && $0.key != "checkpoint_every" && $0.key != "data" }
        let json = (try? JSONSerialization.data(withJSONObject: d)).flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] } ?? d
        return json.mapValues { "\($0)" }
    }
}

/// The end of a data-parallel run on a rank other than 0 when the run failed: rank 0
/// reports the error (once); the others exit non-zero without a word.
public struct QuietFailure: Error {
    public init() {}
}

extension Collective {
    /// Every rank learns whether any rank failed: rank 0 then throws the first failing
    /// rank's error (its own, or the other rank's message, naming the rank), the others
    /// throw `QuietFailure`. Collective: every rank calls it at the same point.
    func agree(_ error: Error?) throws {
        guard size > 1 else {
            if let error { throw error }
            return
        }
        // One integer when all is well; the messages only when a rank failed.
        guard max(error == nil ? 0 : 1) == 1 else { return }
        let text = error.map { "\($0)" } ?? ""
        let bytes = Array(text.utf8.prefix(1000))
        // Each rank's message as 1001 integers: a length (-1: no failure), then its bytes.
        let mine = [Int64(error == nil ? -1 : bytes.count)] + (0..<1000).map { $0 < bytes.count ? Int64(bytes[$0]) : 0 }
        let all = allgather(mine)
        guard let failed = (0..<size).first(where: { all[$0 * 1001] >= 0 }) else { return }
        guard isRoot else { throw QuietFailure() }
        if let error, failed == 0 { throw error }
        let n = Int(all[failed * 1001])
        let message = String(decoding: all[(failed * 1001 + 1)..<(failed * 1001 + 1 + n)].map { UInt8($0) }, as: UTF8.self)
        throw DataError("rank \(failed): \(message)")
    }
}
