import ArgumentParser
import BYOLModel
import Fast
import Foundation

/// This process's OpenBLAS kernel set: which one, how it was chosen, and whether it
/// passed the kernel check.
///
/// OpenBLAS picks its kernels once, when the library loads, from the CPU or from
/// `OPENBLAS_CORETYPE`. To run on another set `byol` re-executes itself (execv of
/// /proc/self/exe, same arguments) with the variable set, before it parses a flag or
/// reads a file. Loading OpenBLAS with dlopen after choosing was the alternative; it
/// would turn every cblas call into a function pointer, keep two ways of linking
/// OpenBLAS (the library targets and tests link it directly), and still need a restart
/// to fall back after a failed check, since OpenBLAS cannot be unloaded and loaded
/// again in one process. A re-exec costs a few milliseconds and changes nothing else.
///
/// Markers between the two processes (removed from the environment once read):
/// BYOL_KERNELS_REPLACED=<OpenBLAS's own set> (byol chose) and BYOL_KERNELS_FAILED=<set>
/// (byol's choice failed the check; OpenBLAS's own is back).
enum Kernels {
    enum Origin: String {
        case openblas  // OpenBLAS's own choice, kept (top tier for the CPU, below AVX2, or unknown)
        case environment  // OPENBLAS_CORETYPE, set by the user, honoured
        case byol  // chosen by byol over OpenBLAS's lower-tier choice
        case fallback  // OpenBLAS's own, after byol's choice failed the check
    }

    nonisolated(unsafe) static var origin = Origin.openblas
    /// What OpenBLAS picked by itself, when byol replaced it.
    nonisolated(unsafe) static var replaced: String?
    /// The set that failed the check, after a fallback.
    nonisolated(unsafe) static var failed: String?
    /// OPENBLAS_CORETYPE as the user set it.
    nonisolated(unsafe) static var pinned: String?
    /// Shapes checked so far in this process, and the last result.
    nonisolated(unsafe) static var checked = Set<GEMMShape>()
    nonisolated(unsafe) static var lastCheck: KernelCheck.Result?
    static let cpu = CPUFeatures.detect()
    static var core: String { KernelSelection.loadedCore }

    /// Decides the kernel set; re-executes this command when byol picks another one.
    /// First thing in main.
    static func select() {
        let env = ProcessInfo.processInfo.environment
        if let own = env["BYOL_KERNELS_REPLACED"] {
            (origin, replaced) = (.byol, own)
            unsetenv("BYOL_KERNELS_REPLACED")
            unsetenv("OPENBLAS_CORETYPE")
        } else if let bad = env["BYOL_KERNELS_FAILED"] {
            (origin, failed) = (.fallback, bad)
            unsetenv("BYOL_KERNELS_FAILED")
            unsetenv("OPENBLAS_CORETYPE")
        } else if let pin = env["OPENBLAS_CORETYPE"], !pin.isEmpty {
            (origin, pinned) = (.environment, pin)
            // OpenBLAS ignores a name it does not know (or a set this CPU cannot run) and
            // silently chooses by itself: say so, since the bytes depend on the set.
            if pin.lowercased() != core.lowercased() {
                warn("OPENBLAS_CORETYPE=\(pin) is not a kernel set this OpenBLAS can run here; it runs \(core), its own choice for \(cpu.summary)")
            }
        } else {
            // Test hook: pretend OpenBLAS loaded this set by itself.
            let loaded = env["BYOL_TEST_OPENBLAS_CORE"] ?? core
            if let best = KernelSelection.replacement(loaded: loaded, cpu: cpu) {
                reexec(["OPENBLAS_CORETYPE": best, "BYOL_KERNELS_REPLACED": loaded])
            }
        }
    }

    /// Runs this program again with `env` added; returns only if that fails.
    static func reexec(_ env: [String: String]) {
        #if os(Linux)
            for (k, v) in env { setenv(k, v, 1) }
            fflush(stdout)
            execv("/proc/self/exe", CommandLine.unsafeArgv)
            for k in env.keys { unsetenv(k) }
            warn("could not restart with other OpenBLAS kernels (\(String(cString: strerror(errno)))); staying on \(core)")
        #endif
    }

    static func warn(_ message: String) {
        FileHandle.standardError.write(Data("byol: warning: \(message)\n".utf8))
    }

    /// Checks the kernels on `shapes` (those not checked yet in this process). When a set
    /// byol chose fails, says so in one line and re-runs the command on OpenBLAS's own
    /// set; any other failing set is returned as failed (callers refuse it, or report it).
    @discardableResult
    static func check(_ shapes: Set<GEMMShape>) -> KernelCheck.Result {
        let todo = shapes.subtracting(checked)
        if todo.isEmpty, let lastCheck { return lastCheck }
        // Test hook: make the check fail on this set (a corrupted expected value).
        let corrupt = ProcessInfo.processInfo.environment["BYOL_TEST_KERNEL_CHECK_FAIL"].map { $0.lowercased() == core.lowercased() } ?? false
        var r = KernelCheck.run(todo, corrupt: corrupt)
        checked.formUnion(todo)
        // Cumulative over the process: a failure stays a failure.
        if let prior = lastCheck {
            r.entries += prior.entries
            r.seconds += prior.seconds
            if !prior.passed { (r.passed, r.failure) = (false, prior.failure) }
        }
        r.shapes = checked.count
        lastCheck = r
        if !r.passed, origin == .byol, let own = replaced {
            warn("OpenBLAS kernels \(core) fail the kernel check (\(r.failure ?? "")); falling back to \(own), OpenBLAS's own choice")
            // OpenBLAS's own choice is what it loads with the variable unset (naming the
            // set would not do: OpenBLAS cannot be forced to every set it reports). Under
            // the test hook, the set it pretends OpenBLAS chose.
            if let pretend = ProcessInfo.processInfo.environment["BYOL_TEST_OPENBLAS_CORE"] {
                reexec(["OPENBLAS_CORETYPE": pretend, "BYOL_KERNELS_FAILED": core])
            } else {
                unsetenv("OPENBLAS_CORETYPE")
                reexec(["BYOL_KERNELS_FAILED": core])
            }
        }
        return r
    }

    /// `check`, and an error when the kernels fail: nothing is computed on them. Only
    /// the OpenBLAS engine is checked; other engines bring their own arithmetic.
    static func require(_ shapes: @autoclosure () -> Set<GEMMShape>, for engine: Engine) throws {
        guard engine.name == "openblas" else { return }
        let r = check(shapes())
        guard r.passed else {
            throw KernelCheckFailure(
                "OpenBLAS kernels \(core) fail the kernel check (\(r.failure ?? "")); set OPENBLAS_CORETYPE to another kernel set, or use --precision float64"
            )
        }
    }

    /// `engine` once its kernels passed the check on `standardShapes`.
    static func checked(_ engine: Engine) throws -> Engine {
        try require(standardShapes, for: engine)
        return engine
    }

    /// The kNN monitor's and knn-eval's shapes: embedding `train` and `test` images of
    /// 32 x 32, and the vote of the test features against the train features.
    static func monitorShapes(_ arch: Architecture, train: Int, test: Int) -> Set<GEMMShape> {
        GEMMPlan.embed(arch: arch, images: train, height: 32, width: 32)
            .union(GEMMPlan.embed(arch: arch, images: test, height: 32, width: 32))
            .union(GEMMPlan.knn(bank: train, queries: test, features: arch.featureSize))
    }

    /// For commands whose shapes vary case by case (cross-check, goldens, verify): the
    /// shapes of a small-preset step at batch 16 and of the resnet18 step at batch 64
    /// that `bench` times, and of their embeds.
    static var standardShapes: Set<GEMMShape> {
        var s = Set<GEMMShape>()
        for (preset, batch) in [("small", 16), ("resnet18", 64)] {
            let arch = Architecture.preset(named: preset)!
            s.formUnion(GEMMPlan.step(arch: arch, batch: batch, height: 32, width: 32))
            s.formUnion(GEMMPlan.embed(arch: arch, images: batch, height: 32, width: 32))
        }
        return s
    }

    /// How the set was chosen, in words: "chosen by byol for Intel family 6 model 207,
    /// AVX-512 (OpenBLAS picked Prescott)".
    static var how: String {
        switch origin {
        case .openblas: return "OpenBLAS's own choice for \(cpu.summary)"
        case .environment:
            let honoured = pinned.map { $0.lowercased() == core.lowercased() } ?? true
            return "OPENBLAS_CORETYPE=\(pinned ?? "")" + (honoured ? "" : " (not a set this OpenBLAS knows: it chose by itself)")
                + " on \(cpu.summary)"
        case .byol: return "chosen by byol for \(cpu.summary) (OpenBLAS picked \(replaced ?? "?"))"
        case .fallback: return "OpenBLAS's own choice for \(cpu.summary), after byol's \(failed ?? "?") failed the kernel check"
        }
    }

    /// "passed (412 entries of 37 shapes, 0.031 s)", "failed: ..." or "not run".
    static var checkSummary: String {
        guard let r = lastCheck else { return "not run" }
        if !r.passed { return "failed: \(r.failure ?? "")" }
        return String(format: "passed (%d sgemm shapes, %d entries exact, %.3f s)", r.shapes, r.entries, r.seconds)
    }

    /// `facts` as JSON members after an object's others: `, "openblas_core": "Haswell", ...`.
    static var jsonFields: String {
        facts.sorted { $0.key < $1.key }.map { k, v in
            let quoted = (try? JSONSerialization.data(withJSONObject: [v], options: [])).map {
                String(decoding: $0, as: UTF8.self).dropFirst().dropLast()
            }
            return ", \"\(k)\": \(quoted ?? "\"\"")"
        }.joined()
    }

    /// The facts a float32 result depends on, for JSON reports and the run manifest.
    static var facts: [String: String] {
        [
            "openblas_core": core, "openblas_core_origin": origin.rawValue, "openblas_core_how": how,
            "kernel_check": lastCheck.map { $0.passed ? "passed" : "failed" } ?? "not run", "cpu": cpu.summary
        ]
    }
}

/// The kernels fail their check: a run-time refusal (exit 1), not a flag error.
struct KernelCheckFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
