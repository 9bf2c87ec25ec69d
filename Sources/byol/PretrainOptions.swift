import ArgumentParser
import Augment
import BYOLModel
import Foundation
import Training

/// The flags of `byol pretrain`, checked, and the configuration they build: the command
/// parses, calls Pretrain.run, and prints.
struct PretrainOptions: ParsableArguments {
    @Option(help: "CIFAR-10: the cifar-10-binary.tar.gz archive or the extracted folder (default: the embedded synthetic set).") var data: String?
    @Option(help: "small, resnet18 or tiny.") var preset = "small"
    @Option(parsing: .unconditional, help: "Epochs, >= 1.") var epochs = 10
    @Option(parsing: .unconditional, help: "Images per step, >= 2 (each gives two views).") var batch = 256
    @Option(help: "The optimizer (docs/contract.md §3.2).") var optimizer: OptimizerKind = .sgd
    @Option(parsing: .unconditional, help: "Base learning rate, > 0 (after warmup; cosine decay to 0).") var lr = 0.12
    @Option(parsing: .unconditional, help: "Momentum of sgd and lars, in [0, 1).") var momentum = 0.9
    @Option(
        name: .customLong("weight-decay"), parsing: .unconditional,
        help: "L2 weight decay, >= 0, added to the gradient as wd * p (lars: conv and linear weights only).") var weightDecay = 5e-4
    @Option(name: .customLong("tau-base"), parsing: .unconditional, help: "EMA decay at the start, in [0, 1]; cosine schedule to 1.") var tauBase =
        0.99
    @Option(name: .customLong("warmup-epochs"), parsing: .unconditional, help: "Linear learning-rate warmup, in epochs, in [0, --epochs].")
    var warmupEpochs = 0.0
    @Option(parsing: .unconditional, help: "Seed of initialization, shuffling and augmentation.") var seed: UInt64 = 0
    @Option(help: "float32 (OpenBLAS) or float64 (the reference).") var precision: Precision = .float32
    @Option(parsing: .unconditional, help: "Threads of the augmentation and the float32 path, >= 1.")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "cifar or byol augmentation recipe.") var recipe: Recipe = .cifar
    @Option(name: .customLong("bn-views"), help: "separate: each view its own BN batch; joint: one batch of 2N.") var bnViews: BNViews = .separate
    @Option(name: .customLong("checkpoint-every"), parsing: .unconditional, help: "Steps between checkpoints, >= 1.") var checkpointEvery = 100
    @Option(name: .customLong("knn-k"), parsing: .unconditional, help: "Neighbours of the kNN monitor, >= 1 (k = N when k > N).") var knnK = 200
    @Option(name: .customLong("knn-temperature"), parsing: .unconditional, help: "Temperature T of the kNN monitor's exp(s / T) weights, >= 1/700.")
    var knnTemperature = 0.1
    @Option(name: .customLong("train-limit"), parsing: .unconditional, help: "Use only the first N training images, N >= --batch.") var trainLimit:
        Int?
    @Option(name: .customLong("test-limit"), parsing: .unconditional, help: "Use only the first N test images, N >= 1.") var testLimit: Int?
    @Option(help: "Run folder.") var out = "runs/pretrain"
    @Flag(help: "Continue the run in --out from its checkpoint (byte-identical to an uninterrupted run).") var resume = false
    @Option(name: .customLong("stop-after"), parsing: .unconditional, help: "Stop after N steps of this invocation, N >= 0 (to resume later).")
    var stopAfter: Int?
    @Option(
        name: .customLong("sample-groups"), parsing: .unconditional,
        help:
            "Sample groups per batch, in [1, --batch] (default min(16, --batch / 16), at least 1): float32 bytes depend on them, not on the process count; at most this many processes."
    )
    var sampleGroups: Int?

    func validate() throws {
        try FlagCheck.output("--out", out)
        _ = try FlagCheck.preset("--preset", preset)
        try FlagCheck.require("--epochs", epochs, atLeast: 1)
        try FlagCheck.require("--batch", batch, atLeast: 2)
        try FlagCheck.require("--lr", lr, .positive)
        try FlagCheck.require("--momentum", momentum, .unitOpen)
        try FlagCheck.require("--weight-decay", weightDecay, .nonNegative)
        try FlagCheck.require("--tau-base", tauBase, .unit)
        // Past --epochs, Schedule.learningRate's precondition (warmup <= total steps) would trap.
        try FlagCheck.require(
            "--warmup-epochs", warmupEpochs,
            FlagRange(text: "in [0, --epochs] = [0, \(epochs)]") { [epochs] in $0 >= 0 && $0 <= Double(epochs) })
        try FlagCheck.require("--threads", threads, atLeast: 1)
        try FlagCheck.require("--checkpoint-every", checkpointEvery, atLeast: 1)
        try FlagCheck.require("--knn-k", knnK, atLeast: 1)
        try FlagCheck.require("--knn-temperature", knnTemperature, .temperature)
        if let trainLimit { try FlagCheck.require("--train-limit", trainLimit, atLeast: batch, "--batch = \(batch)") }
        if let testLimit { try FlagCheck.require("--test-limit", testLimit, atLeast: 1) }
        if let stopAfter { try FlagCheck.require("--stop-after", stopAfter, atLeast: 0) }
        if let sampleGroups {
            try FlagCheck.require("--sample-groups", sampleGroups, atLeast: 1)
            guard sampleGroups <= batch else { throw ValidationError("--sample-groups must be <= --batch = \(batch), got \(sampleGroups)") }
        }
    }

    /// The run's configuration from these flags (the command adds the processes, the
    /// kernel check and the test hooks).
    var configuration: PretrainConfig {
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
        c.sampleGroups = sampleGroups
        return c
    }
}
