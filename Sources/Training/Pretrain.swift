import Augment
import BYOLModel
import Data
import Foundation
import NumPyIO

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
        /// The signal (SIGINT, SIGTERM) that stopped the run after a checkpoint, if any.
        public var interrupted: Int32? = nil
    }

    /// Loads the configured data set.
    public static func loadData(_ c: PretrainConfig) throws -> DataSplits {
        var d = try c.data.map { try CIFAR10.load($0) } ?? SyntheticShapes.make()
        if let n = c.trainLimit { d.train = d.train.prefix(n) }
        if let n = c.testLimit { d.test = d.test.prefix(n) }
        return d
    }

    /// SHA-256 of the data: train pixels, train labels, test pixels, test labels.
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

    /// Trains with `engine`, whose precision must be the configuration's.
    public static func run(_ c: PretrainConfig, engine: Engine, log: @escaping (String) -> Void, progress: Progress) throws -> Summary {
        guard let arch = Architecture.preset(named: c.preset) else { throw DataError("unknown preset '\(c.preset)'") }
        precondition(engine.precision == c.precision, "a \(engine.precision) engine for a \(c.precision) run")
        let fm = FileManager.default
        let resuming = try checkRunFolder(c)
        // The data first: a bad archive must not leave an empty run folder behind.
        let data = try loadData(c)
        guard data.train.count >= c.batch else { throw DataError("\(c.data ?? "embedded data"): \(data.train.count) training images, fewer than one batch of \(c.batch)") }
        var c = c
        if let check = c.beforeCompute { c.kernels = try check(arch, data.train.count, data.test.count) }
        let stepsPerEpoch = data.train.count / c.batch
        let totalSteps = stepsPerEpoch * c.epochs
        let warmup = Int((c.warmupEpochs * Double(stepsPerEpoch)).rounded())
        // Checked before any file is written (the schedule's precondition would trap later).
        guard c.warmupEpochs >= 0, warmup <= totalSteps else {
            throw DataError("--warmup-epochs \(c.warmupEpochs) is longer than the run's \(c.epochs) epochs")
        }
        do {
            try fm.createDirectory(atPath: c.out, withIntermediateDirectories: true)
        } catch {
            throw DataError("\(c.out): cannot create the run folder: \((error as NSError).localizedFailureReason ?? error.localizedDescription)")
        }
        let ckptPath = c.out + "/checkpoint.npz"
        let metricsPath = c.out + "/metrics.jsonl"
        let checksum = checksum(data)
        log("data: \(data.name): \(data.train.count) train, \(data.test.count) test images, sha256 \(checksum.prefix(16))...")

        var epoch = 0, stepInEpoch = 0
        var best: Double?, last: Double?, atStart: Double?
        var state = Initializer.initialState(arch: arch, seed: c.seed)
        if resuming {
            let f = try NPZ.load(ckptPath)
            try checkResumable(f, config: c, checksum: checksum)
            state = try BYOLState.read(ckptPath)
            epoch = Int(try f.requireInt("pretrain.epoch").doubles[0])
            stepInEpoch = Int(try f.requireInt("pretrain.step_in_epoch").doubles[0])
            best = f["pretrain.best_knn"]?.doubles.first.flatMap { $0 >= 0 ? $0 : nil }
            last = f["pretrain.last_knn"]?.doubles.first.flatMap { $0 >= 0 ? $0 : nil }
            atStart = f["pretrain.knn_at_start"]?.doubles.first.flatMap { $0 >= 0 ? $0 : nil }
            try Metrics.truncate(metricsPath, throughStep: Int(state.step), epochsDone: epoch)
            log("resuming from \(ckptPath): epoch \(epoch + 1), step \(state.step) of \(totalSteps)")
            if let w = kernelChange(manifestPath: c.out + "/manifest.json", config: c) { log(w) }
        } else if c.resume {
            log("no checkpoint in \(c.out): starting a new run")
        }
        engine.load(state)
        try writeManifest(c, arch: arch, data: data, checksum: checksum, stepsPerEpoch: stepsPerEpoch)
        let metrics = try Metrics(path: metricsPath)

        func checkpoint(epoch e: Int, stepInEpoch s: Int) throws {
            var st = engine.exportState()
            st.arrays["pretrain.epoch"] = .scalar(Int64(e))
            st.arrays["pretrain.step_in_epoch"] = .scalar(Int64(s))
            st.arrays["pretrain.seed"] = .scalar(Int64(bitPattern: c.seed))
            st.arrays["pretrain.best_knn"] = .scalar(best ?? -1)
            st.arrays["pretrain.last_knn"] = .scalar(last ?? -1)
            st.arrays["pretrain.knn_at_start"] = .scalar(atStart ?? -1)
            try st.write(to: ckptPath)
        }

        if epoch == 0 && stepInEpoch == 0 && atStart == nil {
            log("kNN at initialization (k \(c.knnK), T \(c.knnTemperature))...")
            let acc = KNNMonitor.accuracy(engine, data: data, k: c.knnK, temperature: c.knnTemperature)
            atStart = acc
            try metrics.append(["type": "epoch", "epoch": 0, "step": 0, "knn_accuracy": acc, "knn_k": c.knnK, "knn_temperature": c.knnTemperature])
            log(String(format: "epoch 0 (initialization): kNN accuracy %.2f%%", 100 * acc))
            c.afterStep?(0)  // between the first metrics line and the first checkpoint
            try checkpoint(epoch: 0, stepInEpoch: 0)
        }

        var stepsThisRun = 0
        let runStart = Date()
        var lastLoss = Double.nan
        let (height, width) = (data.train.height, data.train.width)
        let per = 3 * height * width
        while epoch < c.epochs {
            let perm = permutation(data.train.count, seed: c.seed, epoch: epoch)
            // Views keep the images' size (square images: CIFAR-10 and the synthetic set).
            let aug = Augmenter(seed: c.seed, epoch: UInt64(epoch), recipe: c.recipe, size: height)
            let epochStart = Date()
            while stepInEpoch < stepsPerEpoch {
                let k = epoch * stepsPerEpoch + stepInEpoch
                // A signal, or --stop-after: checkpoint here and stop; --resume continues.
                let signal = Interrupt.signal
                if signal != nil || c.stopAfter.map({ stepsThisRun >= $0 }) == true {
                    try checkpoint(epoch: epoch, stepInEpoch: stepInEpoch)
                    if signal == nil { log("stopping after \(stepsThisRun) steps as asked (checkpoint at step \(k)); resume with --resume") }
                    return Summary(knnAtStart: atStart, lastKNN: last, bestKNN: best, steps: k, imagesPerSecond: 0, stopped: true, interrupted: signal)
                }
                let idx = perm[stepInEpoch * c.batch..<(stepInEpoch + 1) * c.batch]
                var pixels = [UInt8]()
                pixels.reserveCapacity(c.batch * per)
                for i in idx { pixels += data.train.image(i) }
                let t0 = Date()
                let views = aug.run(images: pixels, count: c.batch, height: height, width: width, indices: idx.map(Int64.init), threads: c.threads)
                let lr = Schedule.learningRate(step: k, total: totalSteps, warmup: warmup, base: c.lr)
                let tau = Schedule.tau(step: k, total: totalSteps, base: c.tauBase)
                let config = StepConfig(optimizer: OptimizerConfig(kind: c.optimizer, lr: lr, momentum: c.momentum, weightDecay: c.weightDecay),
                                             tau: tau, bnViews: c.bnViews)
                // Float64 views; a float32 engine rounds them to nearest.
                let shape = [c.batch, 3, height, height]
                let loss = engine.step(view1: NDArray(float64: views.views[0], shape: shape), view2: NDArray(float64: views.views[1], shape: shape),
                                       config: config)
                guard loss.isFinite else { throw DataError("step \(k + 1): the loss is \(loss); stopped, the last good checkpoint is \(ckptPath)") }
                if let bad = engine.firstNonFiniteGradient() {
                    throw DataError("step \(k + 1): the gradient of \(bad) has a NaN or Inf; stopped, the last good checkpoint is \(ckptPath)")
                }
                if let bad = engine.firstNonFiniteStateArray() {
                    throw DataError("step \(k + 1): \(bad) has a NaN or Inf after the update; stopped, the last good checkpoint is \(ckptPath)")
                }
                let dt = Date().timeIntervalSince(t0)
                lastLoss = loss
                stepsThisRun += 1
                stepInEpoch += 1
                try metrics.append(["type": "step", "step": k + 1, "epoch": epoch + 1, "loss": loss, "lr": lr, "tau": tau,
                                    "images_per_second": Double(c.batch) / dt])
                let elapsed = Date().timeIntervalSince(runStart)
                let rate = Double(stepsThisRun * c.batch) / max(elapsed, 1e-9)
                progress.update(epoch: epoch + 1, epochs: c.epochs, step: stepInEpoch, stepsPerEpoch: stepsPerEpoch, loss: loss,
                                imagesPerSecond: rate, eta: Double((totalSteps - k - 1) * c.batch) / max(rate, 1e-9))
                if (k + 1) % c.checkpointEvery == 0 && stepInEpoch < stepsPerEpoch { try checkpoint(epoch: epoch, stepInEpoch: stepInEpoch) }
                c.afterStep?(k + 1)
            }
            progress.finish()
            let acc = KNNMonitor.accuracy(engine, data: data, k: c.knnK, temperature: c.knnTemperature)
            last = acc
            best = max(best ?? acc, acc)
            let seconds = Date().timeIntervalSince(epochStart)
            try metrics.append(["type": "epoch", "epoch": epoch + 1, "step": (epoch + 1) * stepsPerEpoch, "knn_accuracy": acc, "best_knn_accuracy": best!,
                                "loss": lastLoss, "seconds": seconds, "knn_k": c.knnK, "knn_temperature": c.knnTemperature])
            log(String(format: "epoch %d/%d: loss %.4f, kNN accuracy %.2f%% (best %.2f%%, at initialization %.2f%%), %.0f s",
                       epoch + 1, c.epochs, lastLoss, 100 * acc, 100 * best!, 100 * (atStart ?? .nan), seconds))
            epoch += 1
            stepInEpoch = 0
            try checkpoint(epoch: epoch, stepInEpoch: 0)
            try Plot.write(metricsPath: metricsPath, to: c.out + "/plot.svg", title: "BYOL \(c.preset) on \(data.name)")
        }
        let finalState = engine.exportState()
        try finalState.write(to: c.out + "/final.npz")
        let elapsed = Date().timeIntervalSince(runStart)
        return Summary(knnAtStart: atStart, lastKNN: last, bestKNN: best, steps: Int(finalState.step),
                       imagesPerSecond: Double(stepsThisRun * c.batch) / max(elapsed, 1e-9), stopped: false, stepsThisRun: stepsThisRun)
    }
}
