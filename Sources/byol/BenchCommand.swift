import ArgumentParser
import BYOLModel
import Fast
import Foundation
import NumPyIO
import Verification

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Time BYOL training steps: median step time, images/s, GFLOP/s, peak RSS.")

    @Option(help: "float32 (OpenBLAS) or float64 (the reference).") var precision: Precision = .float32
    @Option(help: "resnet18, small or tiny.") var preset: String = "resnet18"
    @Option(parsing: .unconditional, help: "Images per step, >= 2 (each gives two views).") var batch: Int = 64
    @Option(parsing: .unconditional, help: "Height and width of the random views, >= 8.") var size: Int = 32
    @Option(parsing: .unconditional, help: "Timed steps, >= 1 (after one warm-up step).") var steps: Int = 5
    @Option(parsing: .unconditional, help: "Threads of the float32 path, >= 1.") var threads: Int = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "The optimizer (docs/contract.md §3.2).") var optimizer: OptimizerKind = .lars
    @Option(name: .customLong("bn-views"), help: "separate (each view its own BN batch) or joint.") var bnViews: BNViews = .separate
    @Option(
        name: .customLong("sample-groups"), parsing: .unconditional,
        help: "Sample groups per batch, in [1, --batch] (default min(16, --batch / 16), at least 1), as in pretrain.") var sampleGroups: Int?
    @Flag(help: "Print one JSON object.") var json = false
    @Flag(
        help:
            "Also print where the float32 step's time goes: wall time per phase, its tasks, the largest task's share, and the speed-up the fixed partition allows at 2 to 16 threads."
    ) var profile = false

    func validate() throws {
        _ = try FlagCheck.preset("--preset", preset)
        try FlagCheck.require("--batch", batch, atLeast: 2)
        try FlagCheck.require("--size", size, atLeast: 8)
        try FlagCheck.require("--steps", steps, atLeast: 1)
        try FlagCheck.require("--threads", threads, atLeast: 1)
        if let sampleGroups {
            try FlagCheck.require("--sample-groups", sampleGroups, atLeast: 1)
            guard sampleGroups <= batch else { throw ValidationError("--sample-groups must be <= --batch = \(batch), got \(sampleGroups)") }
        }
    }

    func run() throws {
        let arch = Architecture.preset(named: preset)!
        let engine = try ProgramEngines.require(precision.rawValue, threads: threads)
        let groups = SampleGroups(batch: batch, count: sampleGroups)
        try KernelPolicy.process.require(GEMMPlan.step(arch: arch, batch: batch, height: size, width: size, groups: groups), for: engine)
        // Validate before timing: a fast wrong engine is no result.
        if engine.precision == .float32 {
            let failures = CrossCheck.benchGate(engine: engine)
            guard failures.isEmpty else {
                throw CommandFailure("the \(engine.name) engine fails its cross-check, not timing it: \(failures[0])")
            }
            if !json { FileHandle.standardError.write(Data("  cross-check of \(engine.name) on the tiny step case: within bounds\n".utf8)) }
        }
        engine.load(Initializer.initialState(arch: arch, seed: 0))
        if sampleGroups != nil { _ = engine.shareSteps(SingleProcess(), batch: batch, sampleGroups: sampleGroups) }
        var rng = CaseDraws(seed: 1)
        let v1 = NDArray(rng.tensor([batch, 3, size, size], -2, 2)), v2 = NDArray(rng.tensor([batch, 3, size, size], -2, 2))
        let config = StepConfig(optimizer: OptimizerConfig(kind: optimizer, lr: 0.01), tau: 0.99, bnViews: bnViews)
        var times: [Double] = []
        for i in 0...steps {
            PhaseProfile.shared.enabled = profile && i > 0
            let t0 = Timing.now()
            let loss = engine.step(view1: v1, view2: v2, config: config)
            let dt = Timing.now() - t0
            if i > 0 {
                times.append(dt)
                PhaseProfile.shared.addStep(seconds: dt)
            }
            if !json { FileHandle.standardError.write(Data(String(format: "  step %d: %.3f s, loss %.6f\n", i, dt, loss).utf8)) }
        }
        if profile && precision == .float32 {
            for line in PhaseProfile.shared.report(steps: steps) { FileHandle.standardError.write(Data((line + "\n").utf8)) }
        }
        let median = Timing.median(times)
        let boundField =
            profile && precision == .float32
            ? ", \"speedup_bound\": {"
                + zip(PhaseProfile.boundThreads, PhaseProfile.shared.wholeStepBound())
                .map { String(format: "\"%d\": %.2f", $0, $1) }.joined(separator: ", ") + "}"
            : ""
        let flops = arch.stepFLOPsPerImage(height: size, width: size) * Double(batch)
        let rss = Timing.peakRSS()
        if json {
            print(
                "{\"images_per_second\": \(Double(batch) / median), \"step_seconds_median\": \(median), \"gflops\": \(flops / median / 1e9), \"peak_rss_bytes\": \(rss), \"precision\": \"\(precision.rawValue)\", \"preset\": \"\(preset)\", \"batch\": \(batch), \"threads\": \(threads), \"steps\": \(steps), \"sample_groups\": \(groups.count)"
                    + (precision == .float32 ? KernelPolicy.process.jsonFields : "") + boundField + "}")
        } else {
            print(
                String(
                    format:
                        "byol %@ %@ batch %d (%d sample groups), %d threads: median step %.3f s, %.2f images/s, %.1f GFLOP/s (%.3f GFLOP per image), peak RSS %.0f MB",
                    precision.rawValue, preset, batch, groups.count, threads, median, Double(batch) / median, flops / median / 1e9,
                    flops / Double(batch) / 1e9, Double(rss) / 1e6))
            if precision == .float32 {
                print(
                    "OpenBLAS kernels: \(BLASInfo.core), \(KernelPolicy.process.how); kernel check \(KernelPolicy.process.checkSummary) (\(BLASInfo.config))"
                )
            }
        }
    }
}
