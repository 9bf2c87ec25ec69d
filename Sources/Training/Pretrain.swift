import Augment
import BYOLModel
import Data
import Foundation
import NumPyIO
import Signals

/// `byol pretrain`: BYOL on a data set, reproducibly, with checkpoints that resume to the
/// same bytes, a kNN monitor after each epoch, and a run folder of metrics, plot and
/// manifest.
public enum Pretrain {
    public struct Summary {
        public var knnAtStart: Double?
        public var lastKNN: Double?
        public var bestKNN: Double?
        public var steps: Int
        public var imagesPerSecond: Double
        public var stopped: Bool
        /// Steps this invocation trained (0 when it resumed a finished run).
        public var stepsThisRun = 0
        /// The signal (SIGINT, SIGTERM, SIGUSR1) that stopped the run after a checkpoint, if any.
        public var interrupted: Int32? = nil
        /// The share of this invocation's time this process spent exchanging sums with
        /// the others (data-parallel runs).
        public var exchangeShare: Double? = nil
    }

    /// Loads the configured data set.
    public static func loadData(_ c: PretrainConfig) throws -> DataSplits {
        var d = try c.data.map { try CIFAR10.load($0) } ?? SyntheticShapes.make()
        if let n = c.trainLimit { d.train = d.train.prefix(n) }
        if let n = c.testLimit { d.test = d.test.prefix(n) }
        return d
    }

    /// SHA-256 of the images a run uses, after --train-limit and --test-limit: train
    /// pixels, train labels, test pixels, test labels (not the archive's bytes: the same
    /// images in another archive give the same sum). The manifest's `images_sha256`.
    public static func checksum(_ d: DataSplits) -> String {
        SHA256.hex(d.train.pixels + d.train.labels.map { UInt8($0) } + d.test.pixels + d.test.labels.map { UInt8($0) })
    }

    /// Fisher-Yates permutation of 0..<n for an epoch, from Philox key [seed, 3],
    /// counter [0, epoch, 0, 0].
    public static func permutation(_ n: Int, seed: UInt64, epoch: Int) -> [Int] {
        var rng = PhiloxStream(seed: seed, .shuffle, counter: (0, UInt64(epoch), 0, 0))
        var p = Array(0..<n)
        if n < 2 { return p }
        for i in stride(from: n - 1, through: 1, by: -1) {
            let j = Int((rng.nextUniform() * Double(i + 1)).rounded(.down))
            p.swapAt(i, j)
        }
        return p
    }

    /// Trains with `engine`, whose precision must be the configuration's. With several
    /// processes (`c.comm`), every rank calls this with the same configuration: each loads
    /// the data, augments and computes its samples; rank 0 alone reads and writes the
    /// run folder, logs and shows progress, and every failure ends every rank.
    public static func run(
        _ c: PretrainConfig, engine: DataParallelEngine, log rootLog: @escaping (String) -> Void, progress: Progress
    ) throws -> Summary {
        let comm = c.comm
        let root = comm.isRoot
        let log: (String) -> Void = { if root { rootLog($0) } }
        guard let arch = Architecture.preset(named: c.preset) else { throw DataError("unknown preset '\(c.preset)'") }
        precondition(engine.precision == c.precision, "a \(engine.precision) engine for a \(c.precision) run")
        guard c.resolvedSampleGroups >= comm.size else {
            throw DataError("\(comm.size) processes need at least \(comm.size) sample groups; --sample-groups is \(c.resolvedSampleGroups)")
        }
        guard engine.shareSteps(comm, batch: c.batch, sampleGroups: c.sampleGroups) else {
            throw DataError("--precision \(c.precision.rawValue) runs on one process; data-parallel runs (mpirun -np \(comm.size)) use float32")
        }
        let fm = FileManager.default
        var c = c
        var resuming = false
        var loaded: DataSplits?
        var stepsPerEpoch = 0, totalSteps = 0, warmup = 0
        // Set-up: any rank's failure ends every rank before anything is computed.
        var failure: Error?
        // Rank 0 holds the run folder's lock from before it looks inside until the run ends.
        var lock: Int32 = -1
        defer { if lock >= 0 { close(lock) } }
        do {
            var isFolder: ObjCBool = false
            if root && fm.fileExists(atPath: c.out, isDirectory: &isFolder) && isFolder.boolValue { lock = try lockRunFolder(c.out) }
            if root { resuming = try checkRunFolder(c) }
            // The data first: a bad archive must not leave an empty run folder behind.
            let data = try loadData(c)
            loaded = data
            guard data.train.count >= c.batch else {
                throw DataError("\(c.data ?? "embedded data"): \(data.train.count) training images, fewer than one batch of \(c.batch)")
            }
            if let check = c.beforeCompute { c.kernels = try check(arch, data.train.count, data.test.count) }
            stepsPerEpoch = data.train.count / c.batch
            totalSteps = stepsPerEpoch * c.epochs
            warmup = Int((c.warmupEpochs * Double(stepsPerEpoch)).rounded())
            // Checked before any file is written (the schedule's precondition would trap later).
            guard c.warmupEpochs >= 0, warmup <= totalSteps else {
                throw DataError("--warmup-epochs \(c.warmupEpochs) is longer than the run's \(c.epochs) epochs")
            }
            if root {
                do {
                    try fm.createDirectory(atPath: c.out, withIntermediateDirectories: true)
                } catch {
                    throw DataError(
                        "\(c.out): cannot create the run folder: \((error as NSError).localizedFailureReason ?? error.localizedDescription)")
                }
                if lock < 0 {
                    // A new folder: locked now, then looked at again, in case another run
                    // created it in between and wrote there first.
                    lock = try lockRunFolder(c.out)
                    resuming = try checkRunFolder(c)
                }
            }
        } catch {
            failure = error
        }
        try comm.agree(failure)
        // Partial sums are float32 GEMMs: every rank must run rank 0's kernel set to give its bytes.
        if comm.size > 1 {
            let mine = c.kernels["openblas_core"] ?? ""
            let rootCore = String(decoding: comm.broadcast(Array(mine.utf8)), as: UTF8.self)
            try comm.agree(
                rootCore == mine
                    ? nil
                    : DataError(
                        "runs OpenBLAS kernels \(mine) where rank 0 runs \(rootCore): set OPENBLAS_CORETYPE=\(rootCore) for every rank"))
        }
        // Set when the set-up above did not fail (and comm.agree threw if it did).
        guard let data = loaded else { throw DataError("\(c.out): the data did not load") }
        resuming = comm.max(resuming ? 1 : 0) == 1
        let ckptPath = c.out + "/checkpoint.npz"
        let metricsPath = c.out + "/metrics.jsonl"
        let checksum = checksum(data)
        log("data: \(data.name): \(data.train.count) train, \(data.test.count) test images, images sha256 \(checksum.prefix(16))...")
        if comm.size > 1 {
            log("\(comm.size) processes, \(SampleGroups(batch: c.batch, count: c.sampleGroups, ranks: comm.size)) per batch")
        }

        // A resume continues the same run: rank 0 checks, everyone learns the verdict
        // before anything else is exchanged.
        var checked: NPZFile?  // rank 0's checkpoint, read once
        if resuming {
            var refused: Error?
            if root {
                do {
                    let f = try NPZ.load(ckptPath)
                    try checkResumable(f, config: c, checksum: checksum, arch: arch, stepsPerEpoch: stepsPerEpoch)
                    checked = f
                } catch { refused = error }
            }
            try comm.agree(refused)
        }
        var epoch = 0, stepInEpoch = 0
        var best: Double?, last: Double?, atStart: Double?
        var resumedLoss = Double.nan
        var state = Initializer.initialState(arch: arch, seed: c.seed)
        var metrics: Metrics?
        do {
            failure = nil
            if resuming {
                // Rank 0 reads the checkpoint; the others get its bytes (no shared run folder needed).
                var path = ckptPath
                if comm.size > 1 {
                    let bytes = comm.broadcast(root ? (fm.contents(atPath: ckptPath).map { [UInt8]($0) } ?? []) : [])
                    if !root {
                        path = fm.temporaryDirectory.appendingPathComponent("byol-resume-\(getpid()).npz").path
                        try Data(bytes).write(to: URL(fileURLWithPath: path))
                    }
                }
                defer { if path != ckptPath { try? fm.removeItem(atPath: path) } }
                let f = try checked ?? NPZ.load(path)
                state = try BYOLState.read(f)
                epoch = Int(try f.requireInt("pretrain.epoch").doubles[0])
                stepInEpoch = Int(try f.requireInt("pretrain.step_in_epoch").doubles[0])
                best = f["pretrain.best_knn"]?.doubles.first.flatMap { $0 >= 0 ? $0 : nil }
                last = f["pretrain.last_knn"]?.doubles.first.flatMap { $0 >= 0 ? $0 : nil }
                atStart = f["pretrain.knn_at_start"]?.doubles.first.flatMap { $0 >= 0 ? $0 : nil }
                resumedLoss = f["pretrain.last_loss"]?.doubles.first.flatMap { $0 >= 0 ? $0 : nil } ?? .nan
                if root { try Metrics.truncate(metricsPath, throughStep: Int(state.step), epochsDone: epoch) }
                log("resuming from \(ckptPath): epoch \(epoch + 1), step \(state.step) of \(totalSteps)")
                if root, let w = kernelChange(manifestPath: c.out + "/manifest.json", config: c) { log(w) }
            } else if c.resume {
                log("no checkpoint in \(c.out): starting a new run")
            }
            if root {
                try writeManifest(c, arch: arch, data: data, checksum: checksum, stepsPerEpoch: stepsPerEpoch)
                metrics = try Metrics(path: metricsPath)
            }
        } catch {
            failure = error
        }
        try comm.agree(failure)
        engine.load(state)

        var lastLoss = resumedLoss
        /// Rank 0 writes; every rank learns whether it could.
        func rootWrites(_ body: () throws -> Void) throws {
            var failure: Error?
            if root { do { try body() } catch { failure = error } }
            try comm.agree(failure)
        }
        func checkpoint(epoch e: Int, stepInEpoch s: Int) throws {
            var st = engine.exportState()
            st.arrays["pretrain.epoch"] = .scalar(Int64(e))
            st.arrays["pretrain.step_in_epoch"] = .scalar(Int64(s))
            st.arrays["pretrain.seed"] = .scalar(Int64(bitPattern: c.seed))
            st.arrays["pretrain.best_knn"] = .scalar(best ?? -1)
            st.arrays["pretrain.last_knn"] = .scalar(last ?? -1)
            st.arrays["pretrain.knn_at_start"] = .scalar(atStart ?? -1)
            // The last step's loss: an epoch line written after a resume at the epoch's end
            // reports it as an uninterrupted run does.
            st.arrays["pretrain.last_loss"] = .scalar(lastLoss.isFinite ? lastLoss : -1)  // -1: no step yet
            try rootWrites { try st.write(to: ckptPath) }
        }
        // The stop signal any rank received (a collective: every rank calls it at the same points).
        func agreedSignal() -> Int32 { Int32(comm.max(Int64(Interrupt.signal ?? 0))) }
        /// The monitor's accuracy after `epoch` epochs, or nil when a stop signal came during
        /// the pass (checked after every chunk of images: issue #23 row 15).
        func knn(after epoch: Int) -> Double? {
            KNNMonitor.accuracy(engine, arch: arch, data: data, k: c.knnK, temperature: c.knnTemperature, comm: comm) {
                c.duringKNN?(epoch)
                return agreedSignal() != 0
            }
        }

        if epoch == 0 && stepInEpoch == 0 && atStart == nil {
            log("kNN at initialization (k \(c.knnK), T \(c.knnTemperature))...")
            guard let acc = knn(after: 0) else {
                // Nothing to keep but the position: a resume starts with this pass again.
                try checkpoint(epoch: 0, stepInEpoch: 0)
                return Summary(knnAtStart: nil, lastKNN: nil, bestKNN: nil, steps: 0, imagesPerSecond: 0, stopped: true, interrupted: agreedSignal())
            }
            atStart = acc
            try rootWrites {
                try metrics?.append([
                    "type": "epoch", "epoch": 0, "step": 0, "knn_accuracy": acc, "knn_k": c.knnK, "knn_temperature": c.knnTemperature
                ])
            }
            log(String(format: "epoch 0 (initialization): kNN accuracy %.2f%%", 100 * acc))
            c.afterStep?(0)  // between the first metrics line and the first checkpoint
            try checkpoint(epoch: 0, stepInEpoch: 0)
        }

        var stepsThisRun = 0
        let runStart = Date()
        var exchange = 0.0
        let (height, width) = (data.train.height, data.train.width)
        let per = 3 * height * width
        // This process's samples of each batch (all of them on one process).
        let mine = SampleGroups(batch: c.batch, count: c.sampleGroups, ranks: comm.size, rank: comm.rank).localSamples
        while epoch < c.epochs {
            let perm = permutation(data.train.count, seed: c.seed, epoch: epoch)
            // Views keep the images' size (square images: CIFAR-10 and the synthetic set).
            let aug = Augmenter(seed: c.seed, epoch: UInt64(epoch), recipe: c.recipe, size: height)
            let epochStart = Date()
            while stepInEpoch < stepsPerEpoch {
                let k = epoch * stepsPerEpoch + stepInEpoch
                // A signal (on any rank), or --stop-after: checkpoint here and stop; --resume continues.
                let signal = agreedSignal()
                if signal != 0 || c.stopAfter.map({ stepsThisRun >= $0 }) == true {
                    try checkpoint(epoch: epoch, stepInEpoch: stepInEpoch)
                    if signal == 0 { log("stopping after \(stepsThisRun) steps as asked (checkpoint at step \(k)); resume with --resume") }
                    return Summary(
                        knnAtStart: atStart, lastKNN: last, bestKNN: best, steps: k, imagesPerSecond: 0, stopped: true,
                        interrupted: signal == 0 ? nil : signal)
                }
                let batch = perm[stepInEpoch * c.batch..<(stepInEpoch + 1) * c.batch]
                let idx = batch[(batch.startIndex + mine.lowerBound)..<(batch.startIndex + mine.upperBound)]
                var pixels = [UInt8]()
                pixels.reserveCapacity(idx.count * per)
                for i in idx { pixels += data.train.image(i) }
                let t0 = Date()
                let views = aug.run(images: pixels, count: idx.count, height: height, width: width, indices: idx.map(Int64.init), threads: c.threads)
                let lr = Schedule.learningRate(step: k, total: totalSteps, warmup: warmup, base: c.lr)
                let tau = Schedule.tau(step: k, total: totalSteps, base: c.tauBase)
                let config = StepConfig(
                    optimizer: OptimizerConfig(kind: c.optimizer, lr: lr, momentum: c.momentum, weightDecay: c.weightDecay),
                    tau: tau, bnViews: c.bnViews)
                // Float64 views; a float32 engine rounds them to nearest.
                let shape = [idx.count, 3, height, height]
                let loss = engine.step(
                    view1: NDArray(float64: views.views[0], shape: shape), view2: NDArray(float64: views.views[1], shape: shape),
                    config: config)
                // Loss, gradients and state are the same on every rank: so is any failure.
                guard loss.isFinite else { throw DataError("step \(k + 1): the loss is \(loss); stopped, the last good checkpoint is \(ckptPath)") }
                if let bad = engine.firstNonFiniteGradient() {
                    throw DataError("step \(k + 1): the gradient of \(bad) has a NaN or Inf; stopped, the last good checkpoint is \(ckptPath)")
                }
                if let bad = engine.firstNonFiniteStateArray() {
                    throw DataError("step \(k + 1): \(bad) has a NaN or Inf after the update; stopped, the last good checkpoint is \(ckptPath)")
                }
                let dt = Date().timeIntervalSince(t0)
                let exchanged = engine.takeExchangeSeconds()
                exchange += exchanged
                lastLoss = loss
                stepsThisRun += 1
                stepInEpoch += 1
                var line: [String: Any] = [
                    "type": "step", "step": k + 1, "epoch": epoch + 1, "loss": loss, "lr": lr, "tau": tau,
                    "images_per_second": Double(c.batch) / dt
                ]
                if comm.size > 1 { line["exchange_seconds"] = exchanged }
                try rootWrites { try metrics?.append(line) }
                let elapsed = Date().timeIntervalSince(runStart)
                let rate = Double(stepsThisRun * c.batch) / max(elapsed, 1e-9)
                if root {
                    progress.update(
                        epoch: epoch + 1, epochs: c.epochs, step: stepInEpoch, stepsPerEpoch: stepsPerEpoch, loss: loss,
                        imagesPerSecond: rate, eta: Double((totalSteps - k - 1) * c.batch) / max(rate, 1e-9))
                }
                if (k + 1) % c.checkpointEvery == 0 && stepInEpoch < stepsPerEpoch { try checkpoint(epoch: epoch, stepInEpoch: stepInEpoch) }
                c.afterStep?(k + 1)
            }
            if root { progress.finish() }
            // A stop signal during the epoch's last step is honoured before its kNN pass:
            // the checkpoint holds every step of the epoch, and a resume starts with the pass.
            // A signal during the pass ends it within one chunk, with the same checkpoint.
            let signal = agreedSignal()
            let acc = signal == 0 ? knn(after: epoch + 1) : nil
            guard let acc else {
                try checkpoint(epoch: epoch, stepInEpoch: stepsPerEpoch)
                return Summary(
                    knnAtStart: atStart, lastKNN: last, bestKNN: best, steps: (epoch + 1) * stepsPerEpoch, imagesPerSecond: 0,
                    stopped: true, interrupted: signal != 0 ? signal : agreedSignal())
            }
            last = acc
            let bestSoFar = max(best ?? acc, acc)
            best = bestSoFar
            let seconds = Date().timeIntervalSince(epochStart)
            try rootWrites {
                try metrics?.append([
                    "type": "epoch", "epoch": epoch + 1, "step": (epoch + 1) * stepsPerEpoch, "knn_accuracy": acc,
                    "best_knn_accuracy": bestSoFar, "loss": lastLoss, "seconds": seconds, "knn_k": c.knnK,
                    "knn_temperature": c.knnTemperature
                ])
            }
            log(
                String(
                    format: "epoch %d/%d: loss %.4f, kNN accuracy %.2f%% (best %.2f%%, at initialization %.2f%%), %.0f s",
                    epoch + 1, c.epochs, lastLoss, 100 * acc, 100 * bestSoFar, 100 * (atStart ?? .nan), seconds))
            epoch += 1
            stepInEpoch = 0
            try checkpoint(epoch: epoch, stepInEpoch: 0)
            try rootWrites { try Plot.write(metricsPath: metricsPath, to: c.out + "/plot.svg", title: "BYOL \(c.preset) on \(data.name)") }
        }
        let finalState = engine.exportState()
        try rootWrites { try finalState.write(to: c.out + "/final.npz") }
        let elapsed = Date().timeIntervalSince(runStart)
        // A stop signal after the last step (during the last kNN pass or the final writes)
        // is reported, not swallowed: the run is complete, and the status says it was asked
        // to stop (issue #23 row 15).
        let late = agreedSignal()
        return Summary(
            knnAtStart: atStart, lastKNN: last, bestKNN: best, steps: Int(finalState.step),
            imagesPerSecond: Double(stepsThisRun * c.batch) / max(elapsed, 1e-9), stopped: false, stepsThisRun: stepsThisRun,
            interrupted: late == 0 ? nil : late, exchangeShare: elapsed > 0 && comm.size > 1 ? exchange / elapsed : nil)
    }
}
