import BYOLModel
import Foundation
import NumPyIO
import TestSupport
import Testing

/// The command line as a user meets it: files written, byte-identical reruns, and bad
/// input ending in one stderr line, a non-zero exit and no output file.
@Suite struct CommandLineTests {
    /// One stderr line naming the problem, and the exact status: 64 for a bad flag, 1 for
    /// bad input (docs/contract.md §1.3).
    func expectOneLineError(_ r: CLI.Result, status: Int32, mentions: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(r.status == status, "status \(r.status), expected \(status): \(r.stderr)", sourceLocation: sourceLocation)
        let lines = r.stderr.split(separator: "\n")
        #expect(lines.count == 1, "stderr: \(r.stderr)", sourceLocation: sourceLocation)
        #expect(r.stderr.hasPrefix("byol: error: "), sourceLocation: sourceLocation)
        #expect(r.stderr.contains(mentions), "stderr: \(r.stderr)", sourceLocation: sourceLocation)
    }

    @Test func initIsDeterministicAndComplete() throws {
        let d = TemporaryDirectory()
        for name in ["a.npz", "b.npz"] {
            let r = try CLI.run(["init", "--seed", "5", "--preset", "tiny", "--out", d.file(name)])
            #expect(r.status == 0, "\(r.stderr)")
        }
        #expect(readBytes(d.file("a.npz")) == readBytes(d.file("b.npz")))
        let f = try NPZ.load(d.file("a.npz"))
        #expect(f.names == Initializer.initialState(arch: .tiny, seed: 5).orderedNames)
        let custom = try CLI.run([
            "init", "--seed", "1", "--widths", "2,3,4,5", "--blocks", "1,2,1,1", "--proj-hidden", "6",
            "--proj-out", "3", "--pred-hidden", "7", "--out", d.file("c.npz")
        ])
        #expect(custom.status == 0, "\(custom.stderr)")
        let state = try BYOLState.read(d.file("c.npz"))
        #expect(state.arch == Architecture(widths: [2, 3, 4, 5], blocks: [1, 2, 1, 1], projHidden: 6, projOut: 3, predHidden: 7))
    }

    /// Issue #25: the network description is written by the package (`byol arch`) and
    /// committed for each preset in Fixtures/arch/, which ci/byol_arch.py (the PyTorch
    /// scripts' architecture) is checked against in CI: the two must stay the same bytes.
    @Test func archWritesTheCommittedDescriptions() throws {
        let d = TemporaryDirectory()
        for preset in ["tiny", "small", "resnet18"] {
            let r = try CLI.run(["arch", "--preset", preset, "--out", d.file(preset + ".json")])
            #expect(r.status == 0, "\(r.stderr)")
            #expect(
                readBytes(d.file(preset + ".json")) == readBytes(Repo.fixture("arch/\(preset).json")),
                "Fixtures/arch/\(preset).json is stale: byol arch --preset \(preset) --out Fixtures/arch/\(preset).json")
        }
        let json = try JSONSerialization.jsonObject(with: Data(readBytes(Repo.fixture("arch/tiny.json")))) as? [String: Any]
        let online = json?["online"] as? [[Any]] ?? []
        #expect(online.count == Architecture.tiny.onlineSpecs.count && (online.first?.first as? String) == "online.backbone.conv1.weight")
        let blocks = json?["residual_blocks"] as? [[String: Any]] ?? []
        #expect(blocks.map { $0["stride"] as? Int ?? 0 } == [1, 2, 2, 2])
    }

    /// Issue #25: 64 is for flags only. A launch that is not one MPI job (srun without
    /// an MPI plugin) was a 64; it is a run-time failure, 1.
    @Test func aBrokenLaunchIsStatusOne() throws {
        let d = TemporaryDirectory()
        let r = try CLI.run(
            [
                "pretrain", "--preset", "tiny", "--epochs", "1", "--batch", "16", "--train-limit", "32", "--test-limit", "16",
                "--out", d.file("run")
            ], environment: ["SLURM_STEP_NUM_TASKS": "2"])
        expectOneLineError(r, status: 1, mentions: "srun started 2 tasks that are not one MPI job")
        #expect(!FileManager.default.fileExists(atPath: d.file("run")))
    }

    @Test func initRejectsBadFlagsAndPaths() throws {
        let d = TemporaryDirectory()
        expectOneLineError(
            try CLI.run(["init", "--seed", "0", "--preset", "huge", "--out", d.file("x.npz")]), status: 64, mentions: "unknown preset 'huge'")
        expectOneLineError(try CLI.run(["init", "--seed", "0", "--bogus", "--out", d.file("x.npz")]), status: 64, mentions: "--bogus")
        expectOneLineError(
            try CLI.run([
                "init", "--seed", "0", "--widths", "1,2,3", "--blocks", "1,1,1,1", "--proj-hidden", "2",
                "--proj-out", "2", "--pred-hidden", "2", "--out", d.file("x.npz")
            ]), status: 64, mentions: "--widths")
        // A path under a regular file cannot be written, even by root.
        writeBytes([1], d.file("file"))
        expectOneLineError(try CLI.run(["init", "--seed", "0", "--preset", "tiny", "--out", d.file("file/x.npz")]), status: 1, mentions: "file/x.npz")
        #expect(try FileManager.default.contentsOfDirectory(atPath: d.path) == ["file"])
    }

    /// A tiny state and views of the given shape, NaN optional.
    func setUp(_ d: TemporaryDirectory, views shape: [Int] = [3, 3, 8, 8], view2Shape: [Int]? = nil, nan: Bool = false) throws {
        _ = try CLI.run(["init", "--seed", "1", "--preset", "tiny", "--out", d.file("s.npz")])
        func arr(_ s: [Int]) -> NDArray {
            var v = (0..<s.reduce(1, *)).map { sin(Double($0)) }
            if nan { v[1] = .nan }
            return NDArray(float64: v, shape: s)
        }
        try NPZ.write([("view1", arr(shape)), ("view2", arr(view2Shape ?? shape))], to: d.file("v.npz"))
    }

    @Test func stepWritesStateLossAndGradients() throws {
        let d = TemporaryDirectory()
        try setUp(d)
        let r = try CLI.run([
            "step", "--state", d.file("s.npz"), "--views", d.file("v.npz"), "--out", d.file("n.npz"),
            "--grads", d.file("g.npz"), "--optimizer", "adam", "--bn-views", "joint"
        ])
        #expect(r.status == 0, "\(r.stderr)")
        let next = try NPZ.load(d.file("n.npz"))
        #expect(try next.require("step") == .scalar(Int64(1)))
        #expect(try next.require("loss").shape == [])
        #expect(next["optimizer.online.backbone.conv1.weight.exp_avg_sq"] != nil)
        let grads = try NPZ.load(d.file("g.npz"))
        #expect(grads.names == Architecture.tiny.learnableSpecs.map { "grad." + $0.name })
        // Same inputs, same bytes.
        _ = try CLI.run([
            "step", "--state", d.file("s.npz"), "--views", d.file("v.npz"), "--out", d.file("n2.npz"),
            "--optimizer", "adam", "--bn-views", "joint"
        ])
        #expect(readBytes(d.file("n.npz")) == readBytes(d.file("n2.npz")))
    }

    @Test func stepRejectsBadInputAndWritesNothing() throws {
        let d = TemporaryDirectory()
        try setUp(d, views: [1, 3, 8, 8])
        let args = ["step", "--state", d.file("s.npz"), "--views", d.file("v.npz"), "--out", d.file("n.npz")]
        expectOneLineError(try CLI.run(args), status: 1, mentions: "array 'view1': batch of 1, need at least 2 (with --bn-views separate")
        try setUp(d, views: [3, 4, 8, 8])
        expectOneLineError(try CLI.run(args), status: 1, mentions: "array 'view1': shape (3, 4, 8, 8), expected (N, 3, H, W)")
        try setUp(d, views: [3, 3, 8, 8], view2Shape: [3, 3, 16, 16])
        expectOneLineError(try CLI.run(args), status: 1, mentions: "array 'view2': shape (3, 3, 16, 16) differs from view1's (3, 3, 8, 8)")
        try setUp(d, nan: true)
        expectOneLineError(try CLI.run(args), status: 1, mentions: "array 'view1': non-finite value nan at flat index 1")
        try setUp(d)
        expectOneLineError(try CLI.run(args + ["--optimizer", "rmsprop"]), status: 64, mentions: "rmsprop")
        expectOneLineError(try CLI.run(args + ["--tau", "1.5"]), status: 64, mentions: "--tau")
        expectOneLineError(
            try CLI.run(["step", "--state", d.file("none.npz"), "--views", d.file("v.npz"), "--out", d.file("n.npz")]),
            status: 1, mentions: "none.npz: no such file")
        expectOneLineError(
            try CLI.run(["step", "--state", d.file("v.npz"), "--views", d.file("v.npz"), "--out", d.file("n.npz")]),
            status: 1, mentions: "array 'online.backbone.layer1.0.conv1.weight': missing")
        #expect(!FileManager.default.fileExists(atPath: d.file("n.npz")))
    }

    /// One image per view is a valid joint step: the shared BN batches hold 2 samples
    /// (PyTorch accepts it; the 3-sample rule of docs/contract.md §4 bounds only float32 accuracy).
    @Test func jointStepAcceptsOneImagePerView() throws {
        let d = TemporaryDirectory()
        try setUp(d, views: [1, 3, 8, 8])
        for precision in ["float64", "float32"] {
            let r = try CLI.run([
                "step", "--state", d.file("s.npz"), "--views", d.file("v.npz"), "--out", d.file("n.npz"),
                "--bn-views", "joint", "--precision", precision
            ])
            #expect(r.status == 0, "\(precision): \(r.stderr)")
            let next = try BYOLState.read(d.file("n.npz"))
            #expect(next.step == 1)
        }
    }

    /// --out and --grads appear together or not at all; a bad destination fails before
    /// the step runs.
    @Test func stepWritesBothOutputsOrNeither() throws {
        let d = TemporaryDirectory()
        try setUp(d)
        let base = ["step", "--state", d.file("s.npz"), "--views", d.file("v.npz")]
        expectOneLineError(try CLI.run(base + ["--out", d.file("missing/n.npz"), "--grads", d.file("g.npz")]), status: 1, mentions: "missing/n.npz")
        expectOneLineError(try CLI.run(base + ["--out", d.file("n.npz"), "--grads", d.file("missing/g.npz")]), status: 1, mentions: "missing/g.npz")
        try FileManager.default.createDirectory(atPath: d.file("dir.npz"), withIntermediateDirectories: false)
        expectOneLineError(try CLI.run(base + ["--out", d.file("n.npz"), "--grads", d.file("dir.npz")]), status: 1, mentions: "is a directory")
        #expect(try FileManager.default.contentsOfDirectory(atPath: d.path).sorted() == ["dir.npz", "s.npz", "v.npz"])
    }

    /// An optimizer array of a real parameter with an unknown buffer name says so.
    @Test func stepNamesAnUnknownOptimizerBuffer() throws {
        let d = TemporaryDirectory()
        try setUp(d)
        var state = try NPZ.read(d.file("s.npz"))
        state.append(("optimizer.online.backbone.conv1.weight.step", .scalar(Int64(3))))
        try NPZ.write(state, to: d.file("s.npz"))
        expectOneLineError(
            try CLI.run(["step", "--state", d.file("s.npz"), "--views", d.file("v.npz"), "--out", d.file("n.npz")]),
            status: 1,
            mentions:
                "array 'optimizer.online.backbone.conv1.weight.step': unknown optimizer buffer 'step' (known: momentum_buffer, exp_avg, exp_avg_sq)")
        #expect(!FileManager.default.fileExists(atPath: d.file("n.npz")))
    }

    @Test func embedWritesFeaturesAndRejectsBadNetwork() throws {
        let d = TemporaryDirectory()
        try setUp(d)
        try NPZ.write([("images", NDArray(float32: (0..<(2 * 3 * 8 * 8)).map { Float(cos(Double($0))) }, shape: [2, 3, 8, 8]))], to: d.file("i.npz"))
        let r = try CLI.run(["embed", "--state", d.file("s.npz"), "--images", d.file("i.npz"), "--out", d.file("f.npz"), "--network", "target"])
        #expect(r.status == 0, "\(r.stderr)")
        let f = try NPZ.load(d.file("f.npz")).require("features")
        #expect(f.shape == [2, 8] && f.dtype == .float64)
        expectOneLineError(
            try CLI.run(["embed", "--state", d.file("s.npz"), "--images", d.file("i.npz"), "--out", d.file("g.npz"), "--network", "both"]),
            status: 64, mentions: "--network")
        expectOneLineError(
            try CLI.run(["embed", "--state", d.file("s.npz"), "--images", d.file("v.npz"), "--out", d.file("g.npz")]),
            status: 1, mentions: "array 'images': missing")
        #expect(!FileManager.default.fileExists(atPath: d.file("g.npz")))
    }
}

@Suite struct AugmentAndKNNCommandLine {
    @Test func augmentIsByteIdenticalAcrossThreadCounts() throws {
        let d = TemporaryDirectory()
        let images = Repo.fixture("augment/images.npz")
        for (t, name) in [("1", "a.npz"), ("2", "b.npz"), ("2", "c.npz")] {
            let r = try CLI.run([
                "augment", "--seed", "9", "--epoch", "2", "--recipe", "byol", "--images", images, "--out", d.file(name), "--threads", t
            ])
            #expect(r.status == 0, "\(r.stderr)")
        }
        #expect(readBytes(d.file("a.npz")) == readBytes(d.file("b.npz")))
        #expect(readBytes(d.file("b.npz")) == readBytes(d.file("c.npz")))
        let f = try NPZ.load(d.file("a.npz"))
        #expect(try f.require("view1").shape == [16, 3, 32, 32])
        #expect(try f.require("view2.crop").shape == [16, 4])
    }

    @Test func augmentRejectsFloatImages() throws {
        let d = TemporaryDirectory()
        try NPZ.write([("images", NDArray(float64: [Double](repeating: 0.5, count: 3 * 4 * 4), shape: [1, 3, 4, 4]))], to: d.file("i.npz"))
        let r = try CLI.run(["augment", "--seed", "1", "--images", d.file("i.npz"), "--out", d.file("o.npz")])
        #expect(r.status == 1)
        #expect(r.stderr == "byol: error: \(d.file("i.npz")): array 'images': dtype <f8, expected |u1 (uint8 pixels)\n")
        #expect(!FileManager.default.fileExists(atPath: d.file("o.npz")))
    }

    @Test func knnWritesPredictionsScoresAccuracy() throws {
        let d = TemporaryDirectory()
        try NPZ.write(
            [("features", NDArray(float64: [1, 0, 0, 1, 1, 1], shape: [3, 2])), ("labels", NDArray(int64: [0, 1, 1], shape: [3]))],
            to: d.file("b.npz"))
        try NPZ.write([("features", NDArray(float32: [2, 0.1], shape: [1, 2])), ("labels", NDArray(int64: [0], shape: [1]))], to: d.file("q.npz"))
        let r = try CLI.run(["knn", "--bank", d.file("b.npz"), "--queries", d.file("q.npz"), "--out", d.file("o.npz"), "--k", "1"])
        #expect(r.status == 0, "\(r.stderr)")
        let o = try NPZ.load(d.file("o.npz"))
        #expect(try o.require("predictions") == NDArray(int64: [0], shape: [1]))
        #expect(try o.require("accuracy") == .scalar(1.0))
        #expect(try o.require("scores").shape == [1, 2])
    }

    /// Issue #23, row 14: SIGTERM or SIGINT during a write (what `timeout` does to a CI
    /// job) left the hidden temporary file behind; it is removed, and the status is
    /// 128 + the signal.
    @Test(arguments: [("TERM", SIGTERM), ("INT", SIGINT)])
    func aStopSignalDuringAWriteLeavesNoTemporaryFile(_ name: String, _ sig: Int32) throws {
        let d = TemporaryDirectory()
        // The signals' default action, as in a shell (the test runner may ignore them, and
        // ignored dispositions are inherited).
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["--default-signal=TERM,INT", CLI.executable, "init", "--seed", "1", "--preset", "tiny", "--out", d.file("s.npz")]
        p.environment = ProcessInfo.processInfo.environment.merging(["BYOL_FAULT_SIGNAL_DURING_WRITE": name]) { $1 }
        p.standardError = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        #expect(p.terminationReason == .exit && p.terminationStatus == 128 + sig, "\(p.terminationStatus)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: d.path).isEmpty)
        let step = try CLI.run(["init", "--seed", "1", "--preset", "tiny", "--out", d.file("s.npz")])
        #expect(step.status == 0 && FileManager.default.fileExists(atPath: d.file("s.npz")))
    }

    /// Issue #23, row 8: an output only replaces a regular file; a device (as root, the
    /// rename replaced /dev/full with a file), a FIFO or a directory is refused in one line
    /// before any work; an empty --out is a flag error.
    @Test func outputsOnlyReplaceRegularFiles() throws {
        let d = TemporaryDirectory()
        #expect(mkfifo(d.file("fifo"), 0o644) == 0)
        for (path, kind) in [("/dev/full", "a character device"), (d.file("fifo"), "a FIFO"), (d.path, "a directory")] {
            let r = try CLI.run(["init", "--seed", "1", "--preset", "tiny", "--out", path])
            #expect(
                r.status == 1 && r.stderr == "byol: error: \(path): cannot write: is \(kind); an output only replaces a regular file\n", "\(r.stderr)"
            )
        }
        var st = stat()
        #expect(lstat("/dev/full", &st) == 0 && st.st_mode & S_IFMT == S_IFCHR)
        for args in [
            ["init", "--seed", "1", "--preset", "tiny", "--out", ""], ["knn", "--bank", "b", "--queries", "q", "--out", ""],
            ["step", "--state", "s", "--views", "v", "--out", ""], ["pretrain", "--out", ""],
            ["conformance", "export", "--out", ""], ["conformance", "check", "--cases", "c", "--results", "r", "--json", ""]
        ] {
            let r = try CLI.run(args)
            #expect(r.status == 64 && r.stderr.contains("must name a file or folder, got an empty path"), "\(args): \(r.stderr)")
        }
    }

    /// Issue #23, row 11: a small valid-looking temperature wrote Inf scores with exit 0,
    /// and features of 1e308 normalized to zeros (all scores equal); both are refused.
    @Test func knnNeverWritesNonFiniteScores() throws {
        let d = TemporaryDirectory()
        try NPZ.write(
            [("features", NDArray(float64: [1, 0, 0, 1, 1, 1], shape: [3, 2])), ("labels", NDArray(int64: [0, 1, 1], shape: [3]))],
            to: d.file("b.npz"))
        try NPZ.write([("features", NDArray(float64: [1, 0], shape: [1, 2]))], to: d.file("q.npz"))
        let flag = try CLI.run(["knn", "--bank", d.file("b.npz"), "--queries", d.file("q.npz"), "--out", d.file("o.npz"), "--temperature", "5e-4"])
        #expect(flag.status == 64 && flag.stderr.contains("--temperature must be >= 1/700"), "\(flag.stderr)")
        try NPZ.write([("features", NDArray(float64: [1e308, 1e308], shape: [1, 2]))], to: d.file("q.npz"))
        let huge = try CLI.run(["knn", "--bank", d.file("b.npz"), "--queries", d.file("q.npz"), "--out", d.file("o.npz")])
        #expect(
            huge.status == 1
                && huge.stderr
                    == "byol: error: \(d.file("q.npz")): array 'features': row 0: its norm overflows float64, so it cannot be normalized\n",
            "\(huge.stderr)")
        #expect(!FileManager.default.fileExists(atPath: d.file("o.npz")))
        try NPZ.write([("features", NDArray(float64: [1, 0], shape: [1, 2]))], to: d.file("q.npz"))
        let ok = try CLI.run([
            "knn", "--bank", d.file("b.npz"), "--queries", d.file("q.npz"), "--out", d.file("o.npz"), "--temperature", "0.0015", "--k", "3"
        ])
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(try NPZ.load(d.file("o.npz")).require("scores").isFinite)
    }

    /// Issue #23, row 2: labels are range-checked before they size the scores (2^62
    /// trapped, 2^40 exhausted memory), and features need at least one column; each is
    /// one line, exit 1, nothing written.
    @Test func knnRefusesLabelsAndShapesItCannotScore() throws {
        let d = TemporaryDirectory()
        func files(bankLabels: [Int64], queryLabels: [Int64], features: Int = 2) throws {
            try NPZ.write(
                [
                    ("features", NDArray(float64: [Double](repeating: 1, count: 3 * features), shape: [3, features])),
                    ("labels", NDArray(int64: bankLabels, shape: [3]))
                ], to: d.file("b.npz"))
            try NPZ.write(
                [
                    ("features", NDArray(float64: [Double](repeating: 1, count: features), shape: [1, features])),
                    ("labels", NDArray(int64: queryLabels, shape: [1]))
                ], to: d.file("q.npz"))
        }
        for (bank, query, features, file, text) in [
            ([0, 1, 1 << 62] as [Int64], [0] as [Int64], 2, "b.npz", "label 4611686018427387904 at position 2 is outside 0..<65536"),
            ([0, 1, Int64.max], [0], 2, "b.npz", "label 9223372036854775807 at position 2"),
            ([0, 1, 1], [1 << 40], 2, "q.npz", "label 1099511627776 at position 0 is outside"),
            ([0, 1, 1], [0], 0, "b.npz", "expected (N, F) with N > 0 and F > 0")
        ] {
            try files(bankLabels: bank, queryLabels: query, features: features)
            let r = try CLI.run(["knn", "--bank", d.file("b.npz"), "--queries", d.file("q.npz"), "--out", d.file("o.npz")])
            #expect(
                r.status == 1 && r.stderr.hasPrefix("byol: error: \(d.file(file)): ") && r.stderr.contains(text)
                    && r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: d.file("o.npz")))
        }
    }
}

@Suite struct BenchCommandLine {
    /// The --json contract of the issue: one object with these keys (values not timed,
    /// only checked to be consistent with each other), plus the OpenBLAS kernel set.
    @Test(arguments: ["float32", "float64"])
    func jsonHasTheDocumentedKeys(precision: String) throws {
        let r = try CLI.run([
            "bench", "--precision", precision, "--preset", "tiny", "--batch", "3", "--size", "8", "--steps", "1",
            "--threads", "1", "--json"
        ])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n")
        #expect(lines.count == 1)
        let o = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let ips = try #require(o["images_per_second"] as? Double), step = try #require(o["step_seconds_median"] as? Double)
        let gflops = try #require(o["gflops"] as? Double), rss = try #require(o["peak_rss_bytes"] as? Int)
        #expect(step > 0 && ips > 0 && gflops > 0 && rss > 0)
        #expect(abs(ips * step - 3) < 1e-9 * 3)  // images/s = batch / median step
        if precision == "float32" {
            #expect(!((o["openblas_core"] as? String) ?? "").isEmpty)
        }
    }
}
