import ArgumentParser
import Augment
import BYOLModel
import Data
import Distributed
import Fast
import Foundation
import NumPyIO
import Training

struct PretrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pretrain",
        abstract: "Pretrain BYOL on CIFAR-10 (or the embedded synthetic set), with checkpoints, resume and a kNN monitor.",
        usage: """
            byol pretrain [--data <cifar-10-binary.tar.gz>] [--preset small] [--epochs N] [--batch N] [--optimizer sgd] [--lr X] \
            [--precision float32] [--out DIR] [--resume] [<other options>]
            """,
        discussion: """
            Per-sample augmentation from (seed, epoch, index, view), shuffling from the seed, learning-rate warmup and cosine \
            decay, the tau schedule, the float32 path by default. After each epoch: weighted kNN accuracy of the online backbone \
            (eval mode; bank = the train set with the test transform; k and T from --knn-k and --knn-temperature, 200 and 0.1 by \
            default). The run folder (--out) holds metrics.jsonl, plot.svg, manifest.json, checkpoint.npz (atomic, every \
            --checkpoint-every steps and at each epoch end) and final.npz. Under `mpirun -np P` (or srun), P processes share each \
            batch's --sample-groups and end with the bytes of one process: see docs/training.md.
            """)

    @Option(help: "CIFAR-10: the cifar-10-binary.tar.gz archive or the extracted folder (default: the embedded synthetic set).") var data: String?
    @Option(help: "small, resnet18 or tiny.") var preset = "small"
    @Option(parsing: .unconditional, help: "Epochs, >= 1.") var epochs = 10
    @Option(parsing: .unconditional, help: "Images per step, >= 2 (each gives two views).") var batch = 256
    @Option(help: "lars, sgd or adam.") var optimizer: OptimizerKind = .sgd
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
        c.sampleGroups = sampleGroups
        // Under a launcher, one rank of a data-parallel run (MPI is never touched otherwise).
        let mpi = MPICollective.launched ? MPICollective() : nil
        // (Byol.main ends MPI once any error line is out.)
        if let mpi { c.comm = mpi }
        try MPIRank.checkLaunch(mpiSize: c.comm.size)
        let root = c.comm.isRoot
        let engine = try ProgramEngines.require(precision.rawValue, threads: threads)
        // The kernel check needs the data's size; the loop calls it once the data is
        // loaded, before it writes anything.
        // This process's sample groups: the GEMM shapes of its share of a step.
        let groups =
            c.comm.size <= c.resolvedSampleGroups
            ? SampleGroups(batch: batch, count: sampleGroups, ranks: c.comm.size, rank: c.comm.rank) : SampleGroups(batch: batch, count: sampleGroups)
        c.beforeCompute = { arch, train, test in
            try KernelPolicy.process.require(
                GEMMPlan.step(arch: arch, batch: batch, height: 32, width: 32, groups: groups)
                    .union(KernelPolicy.monitorShapes(arch, train: train, test: test)), for: engine)
            return engine.name == "openblas" ? KernelPolicy.process.facts : [:]
        }
        // Fault injection for tests: BYOL_FAULT_AT_STEP=K sends this process
        // BYOL_FAULT_SIGNAL (KILL, TERM, INT or USR1; default KILL) right after step K (0: after
        // the initial kNN pass, before the first checkpoint); under MPI only rank
        // BYOL_FAULT_RANK (default 0) does.
        let env = ProcessInfo.processInfo.environment
        if let k = env["BYOL_FAULT_AT_STEP"].flatMap(Int.init), c.comm.rank == env["BYOL_FAULT_RANK"].flatMap(Int.init) ?? 0 {
            let sig = ["TERM": SIGTERM, "INT": SIGINT, "USR1": SIGUSR1][env["BYOL_FAULT_SIGNAL"] ?? ""] ?? SIGKILL
            c.afterStep = { if $0 == k { kill(getpid(), sig) } }
        }
        // BYOL_FAULT_IN_KNN=E: the same signal during the kNN pass after epoch E (0: the
        // pass at initialization), once its first chunk of images is embedded.
        if let e = env["BYOL_FAULT_IN_KNN"].flatMap(Int.init), c.comm.rank == env["BYOL_FAULT_RANK"].flatMap(Int.init) ?? 0 {
            let sig = ["TERM": SIGTERM, "INT": SIGINT, "USR1": SIGUSR1][env["BYOL_FAULT_SIGNAL"] ?? ""] ?? SIGKILL
            c.duringKNN = { if $0 == e { kill(getpid(), sig) } }
        }
        Interrupt.install()
        let s: Pretrain.Summary
        do {
            s = try Pretrain.run(
                c, engine: engine,
                log: {
                    print($0)
                    fflush(stdout)
                }, progress: Progress())
        } catch is QuietFailure {
            // Rank 0 reports the error; this rank only ends.
            throw ExitCode(1)
        }
        if let sig = s.interrupted {
            if root {
                let line =
                    s.stopped
                    ? "byol: interrupted at step \(s.steps): continue with --resume\n"
                    : "byol: stopped by a signal after the last step; the run is complete (\(s.steps) steps, final.npz written)\n"
                FileHandle.standardError.write(Data(line.utf8))
            }
            throw ExitCode(ExitStatus.signalled(sig))
        }
        if s.stopped || !root { return }
        if s.stepsThisRun == 0 {
            print("the run in \(out) is already complete (\(s.steps) steps); final.npz is up to date")
            return
        }
        print(
            String(
                format: "done: %d steps, %.1f images/s; kNN accuracy at initialization %.2f%%, last %.2f%%, best %.2f%%; run folder %@",
                s.steps, s.imagesPerSecond, 100 * (s.knnAtStart ?? .nan), 100 * (s.lastKNN ?? .nan), 100 * (s.bestKNN ?? .nan), out))
        if let share = s.exchangeShare {
            print(String(format: "%d processes: %.1f%% of rank 0's time exchanging sums", c.comm.size, 100 * share))
        }
    }
}
