import Augment
import BYOLModel
import Data
import Foundation
import NumPyIO
import Reference

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
    public var float32 = true
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

    public init() {}

    /// Every setting, for the manifest and the resume check.
    public var asDictionary: [String: Any] {
        ["data": data ?? "embedded", "preset": preset, "epochs": epochs, "batch": batch, "optimizer": optimizer.rawValue, "lr": lr,
         "momentum": momentum, "weight_decay": weightDecay, "tau_base": tauBase, "warmup_epochs": warmupEpochs, "seed": seed,
         "precision": float32 ? "float32" : "float64", "threads": threads, "recipe": recipe.rawValue, "bn_views": bnViews.rawValue,
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

public enum Pretrain {
    public struct Summary {
        public var knnAtStart: Double?
        public var lastKNN: Double?
        public var bestKNN: Double?
        public var steps: Int
        public var imagesPerSecond: Double
        public var stopped: Bool
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
        var rng = PhiloxStream(key: (seed, 3), counter: (0, UInt64(epoch), 0, 0))
        var p = Array(0..<n)
        if n < 2 { return p }
        for i in stride(from: n - 1, through: 1, by: -1) {
            let j = Int((rng.nextUniform() * Double(i + 1)).rounded(.down))
            p.swapAt(i, j)
        }
        return p
    }

    public static func run(_ c: PretrainConfig, log: @escaping (String) -> Void, progress: Progress) throws -> Summary {
        guard let arch = Architecture.preset(named: c.preset) else { throw DataError("unknown preset '\(c.preset)'") }
        let fm = FileManager.default
        let resuming = try checkRunFolder(c)
        // The data first: a bad archive must not leave an empty run folder behind.
        let data = try loadData(c)
        guard data.train.count >= c.batch else { throw DataError("\(c.data ?? "embedded data"): \(data.train.count) training images, fewer than one batch of \(c.batch)") }
        do {
            try fm.createDirectory(atPath: c.out, withIntermediateDirectories: true)
        } catch {
            throw DataError("\(c.out): cannot create the run folder: \((error as NSError).localizedFailureReason ?? error.localizedDescription)")
        }
        let stepsPerEpoch = data.train.count / c.batch
        let totalSteps = stepsPerEpoch * c.epochs
        let warmup = Int((c.warmupEpochs * Double(stepsPerEpoch)).rounded())
        let ckptPath = c.out + "/checkpoint.npz"
        let metricsPath = c.out + "/metrics.jsonl"
        let checksum = checksum(data)
        log("data: \(data.name): \(data.train.count) train, \(data.test.count) test images, sha256 \(checksum.prefix(16))...")

        let engine: PretrainEngine = c.float32
            ? FastEngine(arch: arch, batch: c.batch, bnViews: c.bnViews, threads: c.threads)
            : ReferenceEngine(arch: arch)
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
            let acc = knnAccuracy(engine, data: data, k: c.knnK, temperature: c.knnTemperature, threads: c.threads)
            atStart = acc
            try metrics.append(["type": "epoch", "epoch": 0, "step": 0, "knn_accuracy": acc, "knn_k": c.knnK, "knn_temperature": c.knnTemperature])
            log(String(format: "epoch 0 (initialization): kNN accuracy %.2f%%", 100 * acc))
            try checkpoint(epoch: 0, stepInEpoch: 0)
        }

        var stepsThisRun = 0
        let runStart = Date()
        var lastLoss = Double.nan
        let per = 3 * 32 * 32
        while epoch < c.epochs {
            let perm = permutation(data.train.count, seed: c.seed, epoch: epoch)
            let aug = Augmenter(seed: c.seed, epoch: UInt64(epoch), recipe: c.recipe, size: 32)
            let epochStart = Date()
            while stepInEpoch < stepsPerEpoch {
                let k = epoch * stepsPerEpoch + stepInEpoch
                if let stop = c.stopAfter, stepsThisRun >= stop {
                    try checkpoint(epoch: epoch, stepInEpoch: stepInEpoch)
                    log("stopping after \(stepsThisRun) steps as asked (checkpoint at step \(k)); resume with --resume")
                    return Summary(knnAtStart: atStart, lastKNN: last, bestKNN: best, steps: Int(engine.exportState().step), imagesPerSecond: 0, stopped: true)
                }
                let idx = perm[stepInEpoch * c.batch..<(stepInEpoch + 1) * c.batch]
                var pixels = [UInt8]()
                pixels.reserveCapacity(c.batch * per)
                for i in idx { pixels += data.train.image(i) }
                let t0 = Date()
                let views = aug.run(images: pixels, count: c.batch, height: 32, width: 32, indices: idx.map(Int64.init), threads: c.threads)
                let lr = Schedule.learningRate(step: k, total: totalSteps, warmup: warmup, base: c.lr)
                let tau = Schedule.tau(step: k, total: totalSteps, base: c.tauBase)
                let config = BYOLStep.Config(optimizer: OptimizerConfig(kind: c.optimizer, lr: lr, momentum: c.momentum, weightDecay: c.weightDecay),
                                             tau: tau, bnViews: c.bnViews)
                let loss = engine.step(view1: views.views[0].map(Float.init), view2: views.views[1].map(Float.init), config: config)
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
            }
            progress.finish()
            let acc = knnAccuracy(engine, data: data, k: c.knnK, temperature: c.knnTemperature, threads: c.threads)
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
                       imagesPerSecond: Double(stepsThisRun * c.batch) / max(elapsed, 1e-9), stopped: false)
    }

    /// What a run leaves in its folder.
    static let runFiles = ["manifest.json", "checkpoint.npz", "metrics.jsonl", "plot.svg", "final.npz"]

    /// Whether `c` continues a run in `c.out` (true: it holds a checkpoint and --resume
    /// asks for it). Never lets a new run write over an earlier one: without --resume, a
    /// folder holding any run file is refused; with it, a folder with run files but no
    /// checkpoint is too (nothing there could be continued, and starting over would
    /// overwrite its metrics).
    static func checkRunFolder(_ c: PretrainConfig) throws -> Bool {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: c.out, isDirectory: &isDir) else { return false }
        guard isDir.boolValue else { throw DataError("\(c.out): exists and is not a folder; --out names the run folder") }
        let present = runFiles.filter { fm.fileExists(atPath: c.out + "/" + $0) }
        if c.resume {
            if present.contains("checkpoint.npz") { return true }
            if !present.isEmpty {
                throw DataError("\(c.out): no checkpoint.npz to resume from, but files of a run (\(present.joined(separator: ", "))); use another --out")
            }
            return false
        }
        if !present.isEmpty {
            throw DataError("\(c.out): already holds a run (\(present.joined(separator: ", "))); continue it with --resume, or choose another --out")
        }
        return false
    }

    static func checkResumable(_ f: NPZFile, config: PretrainConfig, checksum: String) throws {
        guard f["pretrain.epoch"] != nil, f["pretrain.step_in_epoch"] != nil else {
            throw DataError("\(f.path): not a byol pretrain checkpoint (no pretrain.epoch)")
        }
        let manifestPath = (f.path as NSString).deletingLastPathComponent + "/manifest.json"
        guard let data = FileManager.default.contents(atPath: manifestPath),
              let m = try? JSONSerialization.jsonObject(with: data) as? [String: Any], let flags = m["flags"] as? [String: Any] else {
            throw DataError("\(manifestPath): missing or unreadable; cannot check that --resume continues the same run")
        }
        for (k, v) in config.identity where "\(flags[k] ?? "")" != v {
            throw DataError("\(manifestPath): the run was started with \(k) = \(flags[k] ?? "none"), now \(v); resume with the same flags")
        }
        if let sum = m["data_sha256"] as? String, sum != checksum {
            throw DataError("\(manifestPath): the data changed since the run started (sha256 \(sum.prefix(12))... vs \(checksum.prefix(12))...)")
        }
    }

    static func writeManifest(_ c: PretrainConfig, arch: Architecture, data: DataSplits, checksum: String, stepsPerEpoch: Int) throws {
        let m: [String: Any] = ["flags": c.asDictionary, "version": "byol-swift 0.1.0", "data": data.name, "data_sha256": checksum,
                                "train_images": data.train.count, "test_images": data.test.count, "classes": data.classNames,
                                "architecture": arch.description, "steps_per_epoch": stepsPerEpoch,
                                "knn": "online backbone, eval mode, bank = train set with the test transform, cosine, k \(c.knnK), T \(c.knnTemperature)"]
        let json = try JSONSerialization.data(withJSONObject: m, options: [.prettyPrinted, .sortedKeys])
        try AtomicFile.write(c.out + "/manifest.json", data: json + Data("\n".utf8))
    }
}

/// metrics.jsonl: one JSON object per line, appended and flushed as the run goes.
final class Metrics {
    let handle: FileHandle

    init(path: String) throws {
        if !FileManager.default.fileExists(atPath: path) { try Data().write(to: URL(fileURLWithPath: path)) }
        guard let h = FileHandle(forWritingAtPath: path) else { throw DataError("\(path): cannot open for writing") }
        handle = h
        handle.seekToEndOfFile()
    }

    func append(_ obj: [String: Any]) throws {
        let line = try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys])
        handle.write(line + Data("\n".utf8))
    }

    /// Keeps the lines a resumed run would have written up to its checkpoint.
    static func truncate(_ path: String, throughStep step: Int, epochsDone: Int) throws {
        guard let d = FileManager.default.contents(atPath: path) else { return }
        let kept = String(decoding: d, as: UTF8.self).split(separator: "\n").filter { line in
            guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return false }
            if o["type"] as? String == "epoch" { return (o["epoch"] as? Int ?? 0) <= epochsDone }
            return (o["step"] as? Int ?? 0) <= step
        }
        try AtomicFile.write(path, data: Data((kept.joined(separator: "\n") + (kept.isEmpty ? "" : "\n")).utf8))
    }
}

/// Progress on stderr: a bar redrawn in place on a terminal, a line per 10% otherwise.
public final class Progress {
    let isTTY = isatty(STDERR_FILENO) != 0
    var lastPrinted = -1
    public init() {}

    func update(epoch: Int, epochs: Int, step: Int, stepsPerEpoch: Int, loss: Double, imagesPerSecond: Double, eta: Double) {
        let frac = Double(step) / Double(stepsPerEpoch)
        let width = 30
        let filled = Int(frac * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let etaText = String(format: "%d:%02d:%02d", Int(eta) / 3600, Int(eta) / 60 % 60, Int(eta) % 60)
        let text = String(format: "epoch %d/%d [%@] %d/%d loss %.4f %.1f img/s ETA %@", epoch, epochs, bar, step, stepsPerEpoch, loss,
                          imagesPerSecond, etaText)
        if isTTY {
            FileHandle.standardError.write(Data(("\r" + text).utf8))
        } else {
            let decile = Int(frac * 10)
            if decile != lastPrinted { lastPrinted = decile; FileHandle.standardError.write(Data((text + "\n").utf8)) }
        }
    }

    func finish() {
        if isTTY { FileHandle.standardError.write(Data("\n".utf8)) }
        lastPrinted = -1
    }
}
