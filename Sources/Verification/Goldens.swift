import BYOLModel
import Foundation
import NumPyIO
import Reference

/// goldens/: inputs and expected outputs of the golden cases, their manifest, and the
/// PyTorch float64 outputs for the same cases under goldens/torch/.
///
/// Layout of a case directory `goldens/<case>/`:
/// - `input_state.npz` (whole-tensor cases; digest cases start from `byol init --seed`),
/// - `views_<k>.npz` (`view1`, `view2` of step k) or `images.npz` (embed),
/// - `expected_<k>.npz`: the output of step k (the whole `byol step --out` file, or its
///   digest), `grads_<k>.npz`: its `--grads` file; `expected_online.npz`,
///   `expected_target.npz` for embed.
public enum Goldens {
    public static let formatVersion = 1
    public static let generator = "byol-swift goldens 1"
    /// Reference vs PyTorch float64, docs/contract.md §4.
    public static let torchTolerance = Tolerance.scaled(1e-10)

    // MARK: Inputs

    /// Views or images of a case, from the project's Philox test stream: U(-2, 2).
    static func images(_ c: GoldenCase, stream: UInt64) -> Tensor {
        var rng = CaseDraws(seed: c.inputSeed &* 1000 &+ stream)
        return rng.tensor([c.batch, 3, c.size, c.size], -2, 2)
    }

    static func inputState(_ c: GoldenCase, dir: String) throws -> BYOLState {
        c.storage == .full ? try BYOLState.read(dir + "/input_state.npz") : Initializer.initialState(arch: c.arch, seed: c.initSeed)
    }

    // MARK: Running a case

    /// The files a case produces, by file name, in the form stored (whole or digest).
    static func outputs(
        _ c: GoldenCase, goldens: String, onStep: (String) -> Void = { _ in }
    ) throws -> [(file: String, arrays: [(name: String, array: NDArray)])] {
        let dir = goldens + "/" + c.name
        var out: [(file: String, arrays: [(name: String, array: NDArray)])] = []
        func store(_ a: [(name: String, array: NDArray)]) -> [(name: String, array: NDArray)] {
            c.storage == .digest ? Digest.arrays(a) : a
        }
        switch c.kind {
        case .step(let steps, let wantGrads, let config):
            let engine = ReferenceEngine()
            let start = try inputState(c, dir: dir)
            engine.load(start)
            for k in 1...steps {
                let views = try NPZ.load(dir + "/views_\(k).npz")
                let loss = engine.step(view1: try views.require("view1"), view2: try views.require("view2"), config: config)
                var next = engine.exportState()
                next.arrays["loss"] = .scalar(loss)
                out.append(("expected_\(k).npz", store(next.members)))
                if wantGrads {
                    let grads = engine.exportGradients()
                    out.append(("grads_\(k).npz", store(start.arch.learnableSpecs.map { s in ("grad." + s.name, grads[s.name]!) })))
                }
                onStep("\(c.name): step \(k) of \(steps), loss \(loss)")
            }
        case .embed(let stateFile):
            let engine = ReferenceEngine()
            engine.load(try BYOLState.read(goldens + "/" + stateFile))
            let images = try NPZ.load(dir + "/images.npz").require("images")
            for network in ["online", "target"] {
                out.append(("expected_\(network).npz", store([("features", engine.embed(images, network: network))])))
            }
        }
        return out
    }

    // MARK: Regenerate

    /// Rewrites every case's inputs and expected outputs and the manifest. Byte-identical
    /// when run twice. `cases` filters by name (all when empty).
    public static func regenerate(goldens: String, cases: [GoldenCase] = GoldenCase.all, log: (String) -> Void = { _ in }) throws {
        try FileManager.default.createDirectory(atPath: goldens, withIntermediateDirectories: true)
        for c in cases {
            let dir = goldens + "/" + c.name
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            switch c.kind {
            case .step(let steps, _, _):
                if c.storage == .full {
                    try Initializer.initialState(arch: c.arch, seed: c.initSeed).write(to: dir + "/input_state.npz")
                }
                for k in 1...steps {
                    let v1 = images(c, stream: UInt64(2 * k - 1)), v2 = images(c, stream: UInt64(2 * k))
                    try NPZ.write(
                        [
                            ("view1", NDArray(float64: v1.data, shape: v1.shape)),
                            ("view2", NDArray(float64: v2.data, shape: v2.shape))
                        ], to: dir + "/views_\(k).npz")
                }
            case .embed:
                let x = images(c, stream: 0)
                try NPZ.write([("images", NDArray(float64: x.data, shape: x.shape))], to: dir + "/images.npz")
            }
            for (file, arrays) in try outputs(c, goldens: goldens, onStep: log) {
                try NPZ.write(arrays, to: dir + "/" + file)
            }
            log("\(c.name): written")
        }
        try writeManifest(goldens: goldens, cases: cases)
    }

    /// goldens/MANIFEST.json: format, generator, and per case its command, flags, inputs
    /// and the sha256 of each file. Keys sorted, no timestamps. The entries of cases not
    /// regenerated now are kept as they were; entries are in the suite's order.
    static func writeManifest(goldens: String, cases: [GoldenCase]) throws {
        var byName: [String: [String: Any]] = [:]
        if case .success(let kept) = loadManifest(goldens: goldens) {
            for e in kept { if let n = e["name"] as? String { byName[n] = e } }
        }
        for c in cases {
            let dir = goldens + "/" + c.name
            let files = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".npz") }.sorted()
            var hashes: [String: String] = [:]
            for f in files { hashes[f] = SHA256.hex(try [UInt8](Data(contentsOf: URL(fileURLWithPath: dir + "/" + f)))) }
            var e: [String: Any] = [
                "name": c.name, "preset": c.preset, "init_seed": c.initSeed, "batch": c.batch, "size": c.size,
                "storage": c.storage.rawValue, "heavy": c.heavy, "files": hashes
            ]
            switch c.kind {
            case .step(let steps, let grads, _):
                e["command"] = "step"
                e["steps"] = steps
                e["grads"] = grads
                e["flags"] = c.flags
                e["input_state"] = c.storage == .full ? "file" : "init"
                e["example"] =
                    "byol step --state \(c.storage == .full ? "input_state.npz" : "<byol init --seed \(c.initSeed) --preset \(c.preset)>") --views views_1.npz --out expected_1.npz\(grads ? " --grads grads_1.npz" : "") "
                    + c.flags.joined(separator: " ")
            case .embed(let stateFile):
                e["command"] = "embed"
                e["state_file"] = stateFile
                e["example"] = "byol embed --state ../\(stateFile) --images images.npz --out expected_online.npz --network online"
            }
            byName[c.name] = e
        }
        let entries = GoldenCase.all.compactMap { byName[$0.name] }
        let manifest: [String: Any] = [
            "format_version": formatVersion, "generator": generator,
            "torch_tolerance": "1e-10 x max(1, max|expected|) per tensor", "cases": entries
        ]
        let data = try JSONSerialization.data(withJSONObject: manifest, options: [.prettyPrinted, .sortedKeys])
        try AtomicFile.write(goldens + "/MANIFEST.json", data: data + Data("\n".utf8))
    }

    // MARK: Verify

    /// The manifest's case entries, or why they cannot be read.
    static func loadManifest(goldens: String) -> Result<[[String: Any]], ManifestProblem> {
        let path = goldens + "/MANIFEST.json"
        guard let data = FileManager.default.contents(atPath: path) else { return .failure(ManifestProblem("\(path): missing")) }
        guard let m = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any], let cases = m["cases"] as? [[String: Any]] else {
            return .failure(ManifestProblem("\(path): not valid JSON with a \"cases\" list"))
        }
        return .success(cases)
    }

    struct ManifestProblem: Error {
        let message: String
        init(_ m: String) { message = m }
    }

    /// Both ways: every file the manifest lists for the case exists with its sha256, and
    /// every .npz in the case folder is listed.
    static func manifestRow(_ c: GoldenCase, goldens: String, manifest: Result<[[String: Any]], ManifestProblem>) -> CheckRow {
        let dir = goldens + "/" + c.name
        var problems: [String] = []
        switch manifest {
        case .failure(let p):
            problems.append(p.message)
        case .success(let entries):
            if let entry = entries.first(where: { $0["name"] as? String == c.name }), let files = entry["files"] as? [String: String] {
                for (file, hash) in files.sorted(by: { $0.key < $1.key }) {
                    if let bytes = FileManager.default.contents(atPath: dir + "/" + file).map({ [UInt8]($0) }) {
                        if SHA256.hex(bytes) != hash { problems.append("\(c.name)/\(file): sha256 differs from MANIFEST.json") }
                    } else {
                        problems.append("\(c.name)/\(file): missing")
                    }
                }
                let onDisk = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(".npz") }
                for f in onDisk.sorted() where files[f] == nil { problems.append("\(c.name)/\(f): not listed in MANIFEST.json") }
            } else {
                problems.append("\(c.name): not in \(goldens)/MANIFEST.json")
            }
        }
        return CheckRow(
            check: "golden \(c.name): files match MANIFEST sha256", maxAbsError: 0, maxRelError: 0, passed: problems.isEmpty, failures: problems)
    }

    /// Recomputes each case and compares: against the committed expected files bit for
    /// bit, against the manifest's hashes, and against PyTorch's outputs at 1e-10.
    public static func verify(goldens: String, cases: [GoldenCase] = GoldenCase.all, onRow: (CheckRow) -> Void = { _ in }) -> [CheckRow] {
        var rows: [CheckRow] = []
        func add(_ r: CheckRow) {
            rows.append(r)
            onRow(r)
        }
        let manifest = loadManifest(goldens: goldens)
        for c in cases {
            let dir = goldens + "/" + c.name
            // 1. The committed files are the ones the manifest recorded.
            add(manifestRow(c, goldens: goldens, manifest: manifest))
            // 2. Recompute and compare with the expected files and with PyTorch's.
            let produced: [(file: String, arrays: [(name: String, array: NDArray)])]
            do { produced = try outputs(c, goldens: goldens) } catch {
                add(
                    CheckRow(
                        check: "golden \(c.name): recompute", maxAbsError: .infinity, maxRelError: .infinity, passed: false, failures: ["\(error)"]))
                continue
            }
            add(compareRow("golden \(c.name): reference == expected (bitwise)", produced, dir: dir, tolerance: .exact))
            add(
                compareRow(
                    "golden \(c.name): reference vs PyTorch float64 (1e-10)", produced, dir: goldens + "/torch/" + c.name, tolerance: torchTolerance))
        }
        return rows
    }

    static func compareRow(
        _ title: String, _ produced: [(file: String, arrays: [(name: String, array: NDArray)])], dir: String, tolerance: Tolerance
    ) -> CheckRow {
        var failures: [String] = []
        var maxAbs = 0.0, maxRel = 0.0
        for (file, arrays) in produced {
            let expected: NPZFile
            do { expected = try NPZ.load(dir + "/" + file) } catch {
                failures.append("\(error)")
                continue
            }
            for r in Compare.files(actual: arrays, expected: expected.members, tolerance: tolerance) {
                maxAbs = max(maxAbs, r.maxAbs)
                maxRel = max(maxRel, r.maxRel)
                if !r.passed { failures.append("\(dir)/\(file): " + r.report.replacingOccurrences(of: "\n", with: "\n    ")) }
            }
        }
        return CheckRow(check: title, maxAbsError: maxAbs, maxRelError: maxRel, passed: failures.isEmpty, failures: failures)
    }
}
