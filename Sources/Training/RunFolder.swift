import BYOLModel
import Data
import Foundation
import NumPyIO

/// The run folder of `byol pretrain`: which files it holds, when a run may start or
/// continue there, and its manifest.
extension Pretrain {
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
        removeStaleTemporaries(c.out)
        let present = runFiles.filter { fm.fileExists(atPath: c.out + "/" + $0) }
        if c.resume {
            if present.contains("checkpoint.npz") { return true }
            // Stopped before its first checkpoint (during the initial kNN pass): nothing
            // was trained, so the same run starts over, once the manifest says it is the
            // same run.
            if Set(present).isSubset(of: ["manifest.json", "metrics.jsonl"]), present.contains("manifest.json"),
                !Metrics.hasSteps(c.out + "/metrics.jsonl")
            {
                try checkSameRun(manifestPath: c.out + "/manifest.json", config: c, checksum: nil)
                try AtomicFile.write(c.out + "/metrics.jsonl", data: Data())
                return false
            }
            if !present.isEmpty {
                throw DataError(
                    "\(c.out): no checkpoint.npz to resume from, but files of a run (\(present.joined(separator: ", "))); use another --out")
            }
            return false
        }
        if !present.isEmpty {
            throw DataError("\(c.out): already holds a run (\(present.joined(separator: ", "))); continue it with --resume, or choose another --out")
        }
        return false
    }

    /// Takes the run folder's lock: an exclusive flock on the folder itself, which the
    /// kernel releases when the process ends however it ends, so a killed run never blocks
    /// its resume. A second `pretrain` on a folder in use is refused (two runs interleaved
    /// metrics.jsonl and replaced each other's final.npz; issue #23 row 7). Returns the
    /// descriptor to keep open for the run.
    static func lockRunFolder(_ folder: String) throws -> Int32 {
        let fd = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw DataError("\(folder): cannot open the run folder: \(String(cString: strerror(errno)))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let why =
                errno == EWOULDBLOCK
                ? "another byol pretrain is using this run folder; wait for it to end or choose another --out"
                : "cannot lock the run folder: \(String(cString: strerror(errno)))"
            close(fd)
            throw DataError("\(folder): \(why)")
        }
        return fd
    }

    /// Removes the temporary files of atomic writes that a killed run left behind
    /// (`.NAME.PID.tmp`, see AtomicFile): they were never renamed into place.
    static func removeStaleTemporaries(_ folder: String) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        for n in names where n.hasPrefix(".") && n.hasSuffix(".tmp") && runFiles.contains(where: { n.hasPrefix("." + $0 + ".") }) {
            try? FileManager.default.removeItem(atPath: folder + "/" + n)
        }
    }

    /// A checkpoint this run can continue from: the run folder's manifest has the same
    /// flags and data; the state is one of the run's architecture (every array's name and
    /// shape, BYOLState.read); and its position, epoch and step within it, is a 0-d int64
    /// pair inside the run that agrees with the state's `step` (issue #23 rows 4, 9, 10:
    /// a negative or huge epoch trapped, another architecture trained under this manifest,
    /// a position that disagreed with `step` ended early or trained to other bytes).
    static func checkResumable(_ f: NPZFile, config: PretrainConfig, checksum: String, arch: Architecture, stepsPerEpoch: Int) throws {
        guard f["pretrain.epoch"] != nil, f["pretrain.step_in_epoch"] != nil else {
            throw DataError("\(f.path): not a byol pretrain checkpoint (no pretrain.epoch)")
        }
        try checkSameRun(manifestPath: (f.path as NSString).deletingLastPathComponent + "/manifest.json", config: config, checksum: checksum)
        let state = try BYOLState.read(f)
        guard state.arch == arch else {
            throw DataError("\(f.path): a state of architecture \(state.arch); this run (--preset \(config.preset)) trains \(arch)")
        }
        func position(_ name: String) throws -> Int64 {
            let a = try f.requireInt(name, shape: [])
            guard case .int64(let v) = a.storage, let x = v.first else { throw NumPyIOError(file: f.path, array: name, "expected one int64") }
            return x
        }
        let epoch = try position("pretrain.epoch"), inEpoch = try position("pretrain.step_in_epoch")
        guard (0...Int64(config.epochs)).contains(epoch) else {
            throw NumPyIOError(file: f.path, array: "pretrain.epoch", "epoch \(epoch) is outside this run's 0...\(config.epochs)")
        }
        let perEpoch = Int64(stepsPerEpoch)
        // step_in_epoch = steps per epoch: every step of the epoch done, its kNN pass not yet.
        guard (0...perEpoch).contains(inEpoch), epoch < Int64(config.epochs) || inEpoch == 0 else {
            throw NumPyIOError(
                file: f.path, array: "pretrain.step_in_epoch",
                "step \(inEpoch) of epoch \(epoch) is outside the run's \(stepsPerEpoch) steps per epoch")
        }
        guard state.step == epoch * perEpoch + inEpoch else {
            throw NumPyIOError(
                file: f.path, array: "step",
                "step \(state.step) disagrees with the position epoch \(epoch), step \(inEpoch) of \(stepsPerEpoch) (expected \(epoch * perEpoch + inEpoch))"
            )
        }
    }

    /// A line saying the float32 kernel set differs from the one the manifest recorded
    /// (bytes then differ from an uninterrupted run's), or nil.
    static func kernelChange(manifestPath: String, config: PretrainConfig) -> String? {
        guard let now = config.kernels["openblas_core"], let data = FileManager.default.contents(atPath: manifestPath),
            let m = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let before = (m["kernels"] as? [String: Any])?["openblas_core"] as? String, before != now
        else { return nil }
        return "warning: this run ran on OpenBLAS kernels \(before) and continues on \(now): float32 bytes will differ from an uninterrupted run's"
    }

    /// The run folder's manifest was written for the same flags (threads aside) and, when
    /// `checksum` is given, the same data.
    static func checkSameRun(manifestPath: String, config: PretrainConfig, checksum: String?) throws {
        guard let data = FileManager.default.contents(atPath: manifestPath),
            let m = try? JSONSerialization.jsonObject(with: data) as? [String: Any], let flags = m["flags"] as? [String: Any]
        else {
            throw DataError("\(manifestPath): missing or unreadable; cannot check that --resume continues the same run")
        }
        // In a fixed order, the derived sample_groups (its default follows --batch) last,
        // so that the message names the flag the user changed.
        let identity = config.identity.sorted { ($0.key == "sample_groups" ? 1 : 0, $0.key) < ($1.key == "sample_groups" ? 1 : 0, $1.key) }
        for (k, _) in identity where flags[k] == nil {
            throw DataError(
                "\(manifestPath): the run has no \(k) setting (an earlier byol-swift started it); this version cannot continue it to the same bytes: start a new run"
            )
        }
        for (k, v) in identity where "\(flags[k] ?? "")" != v {
            throw DataError("\(manifestPath): the run was started with \(k) = \(flags[k] ?? "none"), now \(v); resume with the same flags")
        }
        // images_sha256; runs started before it was named for what it hashes say data_sha256.
        if let checksum, let sum = (m["images_sha256"] ?? m["data_sha256"]) as? String, sum != checksum {
            throw DataError("\(manifestPath): the data changed since the run started (sha256 \(sum.prefix(12))... vs \(checksum.prefix(12))...)")
        }
    }

    static func writeManifest(_ c: PretrainConfig, arch: Architecture, data: DataSplits, checksum: String, stepsPerEpoch: Int) throws {
        var m: [String: Any] = [
            "flags": c.asDictionary, "version": "byol-swift 0.1.0", "data": data.name, "images_sha256": checksum,
            "train_images": data.train.count, "test_images": data.test.count, "classes": data.classNames,
            "architecture": arch.description, "steps_per_epoch": stepsPerEpoch,
            "knn": "online backbone, eval mode, bank = train set with the test transform, cosine, k \(c.knnK), T \(c.knnTemperature)"
        ]
        if !c.kernels.isEmpty { m["kernels"] = c.kernels }
        // How many processes the latest invocation ran on (not part of the run's identity:
        // a resume may use another count and reaches the same bytes).
        m["processes"] = c.comm.size
        let json = try JSONSerialization.data(withJSONObject: m, options: [.prettyPrinted, .sortedKeys])
        try AtomicFile.write(c.out + "/manifest.json", data: json + Data("\n".utf8))
    }
}
