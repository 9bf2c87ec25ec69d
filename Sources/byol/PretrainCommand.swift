import ArgumentParser
import Augment
import BYOLModel
import Data
import Foundation
import Training
import NumPyIO

struct PretrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pretrain",
        abstract: "Pretrain BYOL on CIFAR-10 (or the embedded synthetic set), with checkpoints, resume and a kNN monitor.",
        discussion: """
        Per-sample augmentation from (seed, epoch, index, view), shuffling from the seed, learning-rate warmup and cosine \
        decay, the tau schedule, the float32 path by default. After each epoch: weighted kNN accuracy of the online backbone \
        (eval mode; bank = the train set with the test transform; k 200, T 0.1). The run folder (--out) holds metrics.jsonl, \
        plot.svg, manifest.json, checkpoint.npz (atomic, every --checkpoint-every steps and at each epoch end) and final.npz.
        """)

    @Option(help: "CIFAR-10: the cifar-10-binary.tar.gz archive or the extracted folder (default: the embedded synthetic set).") var data: String?
    @Option(help: "small, resnet18 or tiny.") var preset = "small"
    @Option(help: "Epochs.") var epochs = 10
    @Option(help: "Images per step.") var batch = 256
    @Option(help: "lars, sgd or adam.") var optimizer: OptimizerKind = .sgd
    @Option(help: "Base learning rate (after warmup; cosine decay to 0).") var lr = 0.12
    @Option(help: "Momentum (sgd, lars).") var momentum = 0.9
    @Option(name: .customLong("weight-decay")) var weightDecay = 5e-4
    @Option(name: .customLong("tau-base"), help: "EMA decay at the start; cosine schedule to 1.") var tauBase = 0.99
    @Option(name: .customLong("warmup-epochs"), help: "Linear learning-rate warmup, in epochs.") var warmupEpochs = 0.0
    @Option(help: "Seed of initialization, shuffling and augmentation.") var seed: UInt64 = 0
    @Option(help: "float32 (OpenBLAS) or float64 (the reference).") var precision: Precision = .float32
    @Option(help: "Threads.") var threads: Int = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "cifar or byol augmentation recipe.") var recipe: Recipe = .cifar
    @Option(name: .customLong("bn-views")) var bnViews: BNViews = .separate
    @Option(name: .customLong("checkpoint-every"), help: "Steps between checkpoints.") var checkpointEvery = 100
    @Option(name: .customLong("knn-k")) var knnK = 200
    @Option(name: .customLong("knn-temperature")) var knnTemperature = 0.1
    @Option(name: .customLong("train-limit"), help: "Use only the first N training images.") var trainLimit: Int?
    @Option(name: .customLong("test-limit"), help: "Use only the first N test images.") var testLimit: Int?
    @Option(help: "Run folder.") var out = "runs/pretrain"
    @Flag(help: "Continue the run in --out from its checkpoint (byte-identical to an uninterrupted run).") var resume = false
    @Option(name: .customLong("stop-after"), help: "Stop after N steps of this invocation (to resume later).") var stopAfter: Int?

    func validate() throws {
        guard Architecture.preset(named: preset) != nil else { throw ValidationError("unknown preset '\(preset)'") }
        guard epochs > 0, batch >= 2, threads > 0, checkpointEvery > 0, knnK > 0 else {
            throw ValidationError("need --epochs > 0, --batch >= 2, --threads > 0, --checkpoint-every > 0, --knn-k > 0")
        }
        guard lr.isFinite, lr > 0, (0...1).contains(tauBase), warmupEpochs >= 0 else { throw ValidationError("need --lr > 0, --tau-base in [0, 1], --warmup-epochs >= 0") }
        if let trainLimit, trainLimit < batch { throw ValidationError("--train-limit \(trainLimit) is less than one batch (--batch \(batch))") }
        if let testLimit, testLimit < 1 { throw ValidationError("--test-limit must be at least 1, got \(testLimit)") }
    }

    func run() throws {
        var c = PretrainConfig()
        c.data = data
        c.preset = preset
        c.epochs = epochs
        c.batch = batch
        c.optimizer = optimizer
        c.lr = lr
        c.momentum = momentum
        c.weightDecay = weightDecay
        c.tauBase = tauBase
        c.warmupEpochs = warmupEpochs
        c.seed = seed
        c.precision = precision
        c.threads = threads
        c.recipe = recipe
        c.bnViews = bnViews
        c.checkpointEvery = checkpointEvery
        c.knnK = knnK
        c.knnTemperature = knnTemperature
        c.trainLimit = trainLimit
        c.testLimit = testLimit
        c.out = out
        c.resume = resume
        c.stopAfter = stopAfter
        let engine = try ProgramEngines.require(precision.rawValue, threads: threads)
        let s = try Pretrain.run(c, engine: engine, log: { print($0); fflush(stdout) }, progress: Progress())
        if s.stopped { return }
        print(String(format: "done: %d steps, %.1f images/s; kNN accuracy at initialization %.2f%%, last %.2f%%, best %.2f%%; run folder %@",
                     s.steps, s.imagesPerSecond, 100 * (s.knnAtStart ?? .nan), 100 * (s.lastKNN ?? .nan), 100 * (s.bestKNN ?? .nan), out))
    }
}
