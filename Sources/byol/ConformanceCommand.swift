import ArgumentParser
import BYOLModel
import Foundation
import NumPyIO
import Verification

/// `byol conformance`: case files for validating kernels outside this package, and the
/// check of their results (docs/conformance.md).
struct ConformanceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conformance",
        abstract: "Export layer cases (inputs and the float64 reference's outputs) and check another implementation's results against them.",
        subcommands: [Export.self, Run.self, Check.self, Trials.self, Functions.self, PluginWorker.self])

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write every layer function the network uses, at every distinct shape, as .npz inputs and expected outputs with a manifest.")

        @Option(help: "The folder to write (created; cases are overwritten).") var out: String
        @Option(help: "tiny, small or resnet18.") var preset = "tiny"
        @Option(parsing: .unconditional, help: "Seed of the input draws.") var seed: UInt64 = 0
        @Option(parsing: .unconditional, help: "Samples per case, >= 3 (BN batches of fewer are ill-conditioned in float32).") var batch = 4
        @Option(parsing: .unconditional, help: "Height and width of the images, >= 8.") var size = 16
        @Option(
            help:
                "Whole-step cases: a comma-separated list of \(OptimizerKind.names), or none (default: all of them for tiny, lars for the larger presets)."
        )
        var steps: String?
        @Flag(
            name: .customLong("layers-only"),
            help: "No whole steps and no embed: the cases of an implementation of the layer functions alone, whose results then check without --only."
        )
        var layersOnly = false

        var stepKinds: [OptimizerKind]? {
            guard let steps else { return nil }
            return steps == "none" ? [] : steps.split(separator: ",").compactMap { OptimizerKind(rawValue: String($0)) }
        }

        func validate() throws {
            try FlagCheck.output("--out", out)
            _ = try FlagCheck.preset("--preset", preset)
            if let steps, steps != "none" {
                let bad = steps.split(separator: ",", omittingEmptySubsequences: false).filter { OptimizerKind(rawValue: String($0)) == nil }
                if let b = bad.first { throw ValidationError("--steps: unknown optimizer '\(b)' (\(OptimizerKind.names), or none)") }
            }
            if layersOnly && steps != nil { throw ValidationError("--layers-only exports no steps: leave out --steps") }
            try FlagCheck.require("--batch", batch, atLeast: 3)
            try FlagCheck.require("--size", size, atLeast: 8)
        }

        func run() throws {
            let arch = Architecture.preset(named: preset)!

            let header: [String: Any] = [
                "byol_version": BYOLVersion.string, "preset": preset, "architecture": arch.description,
                "seed": seed, "batch": batch, "size": size, "layers_only": layersOnly
            ]
            let (count, functions) = try Conformance.export(
                arch: arch, batch: batch, size: size, seed: seed, steps: stepKinds, layersOnly: layersOnly, header: header, to: out)
            print("wrote \(count) cases of \(functions) functions to \(out) (manifest.json, ID/inputs.npz, ID/expected.npz, ID/bounds.npz)")
        }
    }

    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Run the exported cases through a shared library implementing byol_kernels.h (--plugin; checked and reported as `check` does) or an engine of this package (--engine; results written for `check`)."
        )

        @Option(help: "The exported cases.") var cases: String
        @Option(help: "A shared library exporting byol_kernels.h functions.") var plugin: String?
        @Option(
            name: [.customLong("engine"), .customLong("backend")],
            help: "An engine of this package instead: openblas (float32) or reference (float64).")
        var engine: String?
        @Option(help: "With --engine: the folder to write results to.") var results: String?
        @Option(
            help:
                "With --plugin: the tier whose bounds apply (float64 runs the _f64 functions, every other tier the _f32 ones): float64, float32, tf32, fp16, bf16, or auto (each function's tightest tier)."
        ) var precision: Conformance.Judged = .tier(.float32)
        @Option(help: "With --plugin: write a JUnit XML report here.") var junit: String?
        @Option(help: "With --plugin: write a JSON report here.") var json: String?
        @Option(help: "Comma-separated functions to run, e.g. conv2d,linear.") var only: String?
        @Option(parsing: .unconditional, help: "Threads of the engine, >= 1.") var threads: Int = ProcessInfo.processInfo.activeProcessorCount
        @Option(
            parsing: .unconditional,
            help: "With --plugin: seconds each case may take (the library runs in a child process per case, stopped after this), 1 to 86400.")
        var timeout: Int = 120

        func validate() throws {
            for (flag, path) in [("--results", results), ("--junit", junit), ("--json", json)] { try FlagCheck.output(flag, path) }
            guard (plugin == nil) != (engine == nil) else { throw ValidationError("give one of --plugin PATH and --engine NAME") }
            if engine != nil && results == nil { throw ValidationError("--engine needs --results DIR") }
            try FlagCheck.require("--threads", threads, atLeast: 1)
            guard (1...86400).contains(timeout) else { throw ValidationError("--timeout must be in [1, 86400] seconds, got \(timeout)") }
            if let engine { _ = try ProgramEngines.require(engine, threads: 1) }
            try Check.validateOnly(only)
        }

        func run() throws {
            let onlySet = only.map { Set($0.split(separator: ",").map(String.init)) }
            if let engine, let results {
                let e = try ProgramEngines.require(engine, threads: threads)
                let n = try Conformance.run(cases: cases, engine: e, results: results)
                print("wrote \(n) results of \(e.name) (\(e.precision.rawValue)) to \(results)")
                return
            }
            // The library runs in child processes (this program's hidden plugin-worker):
            // a crash, an exit or a hang fails its case, never this process's verdict.
            let isolation = ConformancePlugin.Isolation(
                worker: [ConformancePlugin.Isolation.executable, "conformance", "plugin-worker"],
                timeout: Double(timeout))
            let r = try ConformancePlugin.run(library: plugin!, cases: cases, judged: precision, only: onlySet, isolation: isolation)
            let notes = r.skipped.map { "skipped: \($0.function) (\($0.reason))" }
            guard !r.findings.isEmpty else {
                for n in notes { print(n) }
                throw ConformancePlugin.PluginError(
                    description:
                        "\(plugin!): exports none of the \(ConformancePlugin.storage(precision).rawValue) functions the cases need; nothing checked")
            }
            try Check.report(r.findings, judged: precision, junit: junit, json: json, notes: notes)
        }
    }

    /// One child process of `run --plugin`: loads the library and runs one case (or,
    /// without --case, reports its ABI version and symbols), leaving OUT/status.json
    /// (and OUT/result.npz). Not for people: its flags may change with any release.
    struct PluginWorker: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "plugin-worker", abstract: "Internal: one case of `conformance run --plugin` in a child process.", shouldDisplay: false)

        @Option var plugin: String
        @Option var precision: Precision = .float32
        @Option var cases: String?
        @Option(name: .customLong("case")) var caseID: String?
        @Option var out: String
        /// The harness's process id: the worker ends when its parent is gone.
        @Option var parent: Int32?

        func run() throws {
            // No core files from a library that crashes.
            var core = rlimit()
            #if canImport(Glibc)
                let resource = __rlimit_resource_t(RLIMIT_CORE.rawValue)
            #else
                let resource = RLIMIT_CORE
            #endif
            if getrlimit(resource, &core) == 0 {
                core.rlim_cur = 0
                setrlimit(resource, &core)
            }
            if let parent {
                // A hung library must not outlive a harness that was interrupted.
                Thread.detachNewThread {
                    while getppid() == parent { usleep(200_000) }
                    _exit(75)
                }
            }
            do {
                try ConformancePlugin.work(library: plugin, cases: cases, caseID: caseID, precision: precision, out: out)
            } catch {
                FileHandle.standardError.write(Data("byol: error: \(error)\n".utf8))
                _exit(1)
            }
            // Nothing more of the library runs: no destructors, no atexit handlers.
            _exit(0)
        }
    }

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Compare RESULTS/ID.npz with each case's expected outputs, element by element, at the bounds of a precision tier (from the cases' bounds.npz); exits non-zero on any violation."
        )

        @Option(help: "The exported cases.") var cases: String
        @Option(help: "The folder of results, one ID.npz per case holding the case's output names.") var results: String
        @Option(
            help:
                "The tier whose bounds apply: float64, float32, tf32, fp16, bf16, or auto (report each function's tightest tier; fail only what meets none)."
        ) var precision: Conformance.Judged = .tier(.float32)
        @Option(help: "Write a JUnit XML report here.") var junit: String?
        @Option(help: "Write a JSON report here.") var json: String?
        @Option(help: "Comma-separated functions to check (the others are not counted), e.g. conv2d,linear.") var only: String?

        func validate() throws {
            for (flag, path) in [("--junit", junit), ("--json", json)] { try FlagCheck.output(flag, path) }
            try Self.validateOnly(only)
        }

        static func validateOnly(_ only: String?) throws {
            guard let only else { return }
            let known = Conformance.functions
            let unknown = only.split(separator: ",").map(String.init).filter { !known.contains($0) }
            if !unknown.isEmpty {
                throw ValidationError("--only: unknown function \(unknown[0]) (known: \(known.joined(separator: ", ")))")
            }
        }

        func run() throws {
            let findings = try Conformance.check(
                cases: cases, results: results, judged: precision,
                only: only.map { Set($0.split(separator: ",").map(String.init)) })
            try Self.report(findings, judged: precision, junit: junit, json: json, notes: [])
        }

        /// The per-tensor table (whole names), the failures, under `auto` the precision
        /// fingerprint, the reports; exit 1 on any violation.
        static func report(_ findings: [Conformance.Finding], judged: Conformance.Judged, junit: String?, json: String?, notes: [String]) throws {
            let caseWidth = max(4, findings.map(\.caseID.count).max() ?? 0), tensorWidth = max(6, findings.map(\.tensor.count).max() ?? 0)
            func pad(_ s: String, _ n: Int) -> String { s.padding(toLength: max(n, s.count), withPad: " ", startingAt: 0) }
            let tierColumn = judged == .auto ? "tightest  " : ""
            print(pad("case", caseWidth) + "  " + pad("tensor", tensorWidth) + "  max |error|  ratio      worst index    " + tierColumn + "result")
            for f in findings {
                let compared = !f.ratios.isEmpty
                let idx = Conformance.indexTextShort(f.worstIndex)
                let numbers = compared ? String(format: "%.3e    %-9.3g  ", f.maxAbs, f.ratio) : pad("-", 13) + pad("-", 11)
                let tier = judged == .auto ? pad(f.tightest?.rawValue ?? "none", 10) : ""
                let verdict = f.missing ? "MISSING" : (f.passed ? "PASS" : "FAIL")
                print(pad(f.caseID, caseWidth) + "  " + pad(f.tensor, tensorWidth) + "  " + numbers + pad(idx, 15) + tier + verdict)
            }
            let failed = findings.filter { !$0.passed }
            // One line per distinct failure: a missing result file is one line, not one per tensor.
            var said = Set<String>()
            for f in failed where said.insert("\(f.caseID): \(f.message)").inserted { print("  \(f.caseID): \(f.message)") }
            if judged == .auto {
                print("precision fingerprint (the tightest tier every case of the function meets):")
                for (function, tier) in Conformance.fingerprint(findings) {
                    print("  " + pad(function, 18) + " " + (tier?.rawValue ?? "none (fails bf16)"))
                }
            }
            for n in notes { print(n) }
            if let junit { try AtomicFile.write(junit, data: Data(Conformance.junit(findings, judged: judged).utf8)) }
            if let json { try AtomicFile.write(json, data: try Conformance.json(findings, judged: judged)) }
            let cases = Set(findings.map(\.caseID)).count
            let missing = findings.filter(\.missing).count
            print(
                "\(findings.count - failed.count) tensors passed, \(failed.count) failed, in \(cases) cases (\(judged) bounds)"
                    + (missing > 0 ? "; \(missing) of the failures without a result" : ""))
            if !failed.isEmpty {
                let what = [
                    failed.count - missing > 0 ? "\(failed.count - missing) tensors out of bounds" : nil,
                    missing > 0 ? "\(missing) tensors without a result" : nil
                ].compactMap { $0 }.joined(separator: ", ")
                FileHandle.standardError.write(Data("byol: error: \(what); first: \(failed[0].caseID): \(failed[0].message)\n".utf8))
                throw ExitCode(1)
            }
        }
    }
}

extension ConformanceCommand {
    /// `byol conformance trials`: shows that no correct implementation fails its tier.
    struct Trials: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Run randomized correct implementations (summation orders, blockings, FMA, formula variants, the tier's rounding) through exported cases and report the worst ratio to the bounds per function; exits 1 if any fails."
        )

        @Option(help: "The exported cases.") var cases: String
        @Option(parsing: .unconditional, help: "Randomized implementations to run, 1 to 100000.") var trials = 100
        @Option(parsing: .unconditional, help: "Seed of the randomization.") var seed: UInt64 = 0
        @Option(help: "The tier the implementations compute at and are judged against: float32, tf32, fp16 or bf16.") var precision: Tier = .float32
        @Option(help: "Also run whole steps and embeds on this engine (openblas) at a random thread count (1 to 16) per trial.") var engine: String?

        func validate() throws {
            try FlagCheck.require("--trials", trials, atLeast: 1)
            if trials > 100_000 { throw ValidationError("--trials: at most 100000, got \(trials)") }
            if precision == .float64 { throw ValidationError("--precision: float64 has no randomized implementations here (the reference is one)") }
            if let engine { _ = try ProgramEngines.require(engine, threads: 1) }
        }

        func run() throws {
            let started = Date()
            var shown = 0
            let make: ((Int) throws -> Engine)? = engine.map { name in { (threads: Int) in try ProgramEngines.require(name, threads: threads) } }
            let r = try Conformance.trials(cases: cases, count: trials, seed: seed, tier: precision, engine: make) { done in
                // A line per tenth on stderr: long runs show they are alive.
                if done * 10 / trials > shown {
                    shown = done * 10 / trials
                    FileHandle.standardError.write(Data("trials: \(done)/\(trials)\n".utf8))
                }
            }
            for f in Conformance.functions {
                guard let w = r.worst[f] else { continue }
                print(
                    f.padding(toLength: 18, withPad: " ", startingAt: 0) + String(format: " worst %.3g of the bound", w.ratio)
                        + "  (\(w.caseID) \(w.tensor))")
            }
            for v in r.violations.prefix(20) { print("  " + v) }
            print(
                String(
                    format: "%d trials at %@: %d tensors, %d over their bound, worst ratio %.3g (%.1f s)", r.trials, precision.rawValue, r.tensors,
                    r.violations.count, r.worst.values.map(\.ratio).max() ?? 0, Date().timeIntervalSince(started)))
            if !r.violations.isEmpty {
                FileHandle.standardError.write(
                    Data("byol: error: \(r.violations.count) tensors of correct implementations over their bounds; first: \(r.violations[0])\n".utf8))
                throw ExitCode(1)
            }
        }
    }
}

extension Tier: ExpressibleByArgument {}

extension Conformance.Judged: ExpressibleByArgument {
    public init?(argument: String) { self.init(argument) }
    public static var allValueStrings: [String] { Tier.allCases.map(\.rawValue) + ["auto"] }
}
