import BYOLModel
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
///
/// One value per process (`process`), decided before anything else runs: how the set
/// was chosen never changes afterwards, and the shapes checked so far sit behind a lock.
public final class KernelPolicy: @unchecked Sendable {
    public enum Origin: String, Sendable {
        case openblas  // OpenBLAS's own choice, kept (top tier for the CPU, below AVX2, or unknown)
        case environment  // OPENBLAS_CORETYPE, set by the user, honoured
        case byol  // chosen by byol over OpenBLAS's lower-tier choice
        case fallback  // OpenBLAS's own, after byol's choice failed the check
    }

    public let origin: Origin
    /// What OpenBLAS picked by itself, when byol replaced it.
    public let replaced: String?
    /// The set that failed the check, after a fallback.
    public let failed: String?
    /// OPENBLAS_CORETYPE as the user set it.
    public let pinned: String?
    public let cpu: CPUFeatures
    public var core: String { KernelSelection.loadedCore }
    /// Shapes checked so far in this process, and the last result (under `lock`).
    private var checked = Set<GEMMShape>()
    private var lastCheck: KernelCheck.Result?
    private let lock = NSLock()

    private init(origin: Origin, replaced: String? = nil, failed: String? = nil, pinned: String? = nil, cpu: CPUFeatures) {
        (self.origin, self.replaced, self.failed, self.pinned, self.cpu) = (origin, replaced, failed, pinned, cpu)
    }

    /// This process's policy: the first use decides the kernel set, and re-executes the
    /// command when byol picks another one (main touches it first thing).
    public static let process = decide()

    private static func decide() -> KernelPolicy {
        let env = ProcessInfo.processInfo.environment
        let cpu = CPUFeatures.detect()
        let core = KernelSelection.loadedCore
        if let own = env["BYOL_KERNELS_REPLACED"] {
            unsetenv("BYOL_KERNELS_REPLACED")
            unsetenv("OPENBLAS_CORETYPE")
            return KernelPolicy(origin: .byol, replaced: own, cpu: cpu)
        } else if let bad = env["BYOL_KERNELS_FAILED"] {
            unsetenv("BYOL_KERNELS_FAILED")
            unsetenv("OPENBLAS_CORETYPE")
            return KernelPolicy(origin: .fallback, failed: bad, cpu: cpu)
        } else if let pin = env["OPENBLAS_CORETYPE"], !pin.isEmpty {
            // OpenBLAS ignores a name it does not know (or a set this CPU cannot run) and
            // silently chooses by itself: say so, since the bytes depend on the set.
            if pin.lowercased() != core.lowercased() {
                warn("OPENBLAS_CORETYPE=\(pin) is not a kernel set this OpenBLAS can run here; it runs \(core), its own choice for \(cpu.summary)")
            }
            return KernelPolicy(origin: .environment, pinned: pin, cpu: cpu)
        } else {
            // Test hook: pretend OpenBLAS loaded this set by itself.
            let loaded = env["BYOL_TEST_OPENBLAS_CORE"] ?? core
            if let best = KernelSelection.replacement(loaded: loaded, cpu: cpu) {
                reexec(["OPENBLAS_CORETYPE": best, "BYOL_KERNELS_REPLACED": loaded], staying: core)
            }
            return KernelPolicy(origin: .openblas, cpu: cpu)
        }
    }

    /// Runs this program again with `env` added; returns only if that fails.
    static func reexec(_ env: [String: String], staying core: String) {
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
    public func check(_ shapes: Set<GEMMShape>) -> KernelCheck.Result {
        lock.lock()
        defer { lock.unlock() }
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
            Self.warn("OpenBLAS kernels \(core) fail the kernel check (\(r.failure ?? "")); falling back to \(own), OpenBLAS's own choice")
            // OpenBLAS's own choice is what it loads with the variable unset (naming the
            // set would not do: OpenBLAS cannot be forced to every set it reports). Under
            // the test hook, the set it pretends OpenBLAS chose.
            if let pretend = ProcessInfo.processInfo.environment["BYOL_TEST_OPENBLAS_CORE"] {
                Self.reexec(["OPENBLAS_CORETYPE": pretend, "BYOL_KERNELS_FAILED": core], staying: core)
            } else {
                unsetenv("OPENBLAS_CORETYPE")
                Self.reexec(["BYOL_KERNELS_FAILED": core], staying: core)
            }
        }
        return r
    }

    /// `check`, and an error when the kernels fail: nothing is computed on them. Only
    /// the OpenBLAS engine is checked; other engines bring their own arithmetic.
    public func require(_ shapes: @autoclosure () -> Set<GEMMShape>, for engine: EngineIdentity) throws {
        guard engine.name == "openblas" else { return }
        let r = check(shapes())
        guard r.passed else {
            throw KernelCheckFailure(
                "OpenBLAS kernels \(core) fail the kernel check (\(r.failure ?? "")); set OPENBLAS_CORETYPE to another kernel set, or use --precision float64"
            )
        }
    }

    /// `engine` once its kernels passed the check on `standardShapes`.
    public func checked(_ engine: Engine) throws -> Engine {
        try require(Self.standardShapes, for: engine)
        return engine
    }

    /// The kNN monitor's and knn-eval's shapes: embedding `train` and `test` images of
    /// 32 x 32, and the vote of the test features against the train features.
    public static func monitorShapes(_ arch: Architecture, train: Int, test: Int) -> Set<GEMMShape> {
        GEMMPlan.embed(arch: arch, images: train, height: 32, width: 32)
            .union(GEMMPlan.embed(arch: arch, images: test, height: 32, width: 32))
            .union(GEMMPlan.knn(bank: train, queries: test, features: arch.featureSize))
    }

    /// For commands whose shapes vary case by case (cross-check, goldens, verify): the
    /// shapes of a small-preset step at batch 16 and of the resnet18 step at batch 64
    /// that `bench` times, and of their embeds.
    public static var standardShapes: Set<GEMMShape> {
        var s = Set<GEMMShape>()
        for (preset, batch) in [("small", 16), ("resnet18", 64)] {
            guard let arch = Architecture.preset(named: preset) else { continue }  // both are presets
            s.formUnion(GEMMPlan.step(arch: arch, batch: batch, height: 32, width: 32))
            s.formUnion(GEMMPlan.embed(arch: arch, images: batch, height: 32, width: 32))
        }
        return s
    }

    /// How the set was chosen, in words: "chosen by byol for Intel family 6 model 207,
    /// AVX-512 (OpenBLAS picked Prescott)".
    public var how: String {
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
    public var checkSummary: String {
        guard let r = last else { return "not run" }
        if !r.passed { return "failed: \(r.failure ?? "")" }
        return String(format: "passed (%d sgemm shapes, %d entries exact, %.3f s)", r.shapes, r.entries, r.seconds)
    }

    /// `facts` as JSON members after an object's others: `, "openblas_core": "Haswell", ...`.
    public var jsonFields: String {
        facts.sorted { $0.key < $1.key }.map { k, v in
            let quoted = (try? JSONSerialization.data(withJSONObject: [v], options: [])).map {
                String(decoding: $0, as: UTF8.self).dropFirst().dropLast()
            }
            return ", \"\(k)\": \(quoted ?? "\"\"")"
        }.joined()
    }

    /// The facts a float32 result depends on, for JSON reports and the run manifest.
    public var facts: [String: String] {
        let lastCheck = last
        return [
            "openblas_core": core, "openblas_core_origin": origin.rawValue, "openblas_core_how": how,
            "kernel_check": lastCheck.map { $0.passed ? "passed" : "failed" } ?? "not run", "cpu": cpu.summary
        ]
    }

    /// The last check's result, if any ran.
    public var last: KernelCheck.Result? {
        lock.lock()
        defer { lock.unlock() }
        return lastCheck
    }
}

/// The kernels fail their check: a run-time refusal (exit 1), not a flag error.
public struct KernelCheckFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
