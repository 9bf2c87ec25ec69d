import BYOLModel
import Foundation
import NumPyIO

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// `byol conformance run --plugin`'s parent side: the library runs in child processes,
/// never in this one. A child (`byol conformance plugin-worker`) first loads it and
/// reports its ABI version and symbols; then one child per case loads it again, runs
/// the case, and leaves the outputs in a .npz and a status file, both written whole. A
/// child that crashes, aborts, exits without a status or outlives the timeout fails
/// every output tensor of its case, with a message naming what happened and in which
/// symbol, and the run goes on with the next case. Loading untrusted code here would
/// already run it (constructors), which is why even the first check is a child's.
extension ConformancePlugin {
    /// How workers are started and how long they may take.
    public struct Isolation {
        /// The command line of the worker subcommand without its flags: this program and
        /// `conformance plugin-worker`.
        public var worker: [String]
        /// Seconds a worker may run (load the library and run one case) before it is
        /// stopped with SIGTERM.
        public var timeout: Double
        /// Seconds between SIGTERM and SIGKILL for a worker that ignores SIGTERM.
        public var grace: Double

        public init(worker: [String], timeout: Double, grace: Double = 2) {
            (self.worker, self.timeout, self.grace) = (worker, timeout, grace)
        }

        /// The path of the running executable (to start workers of this very program).
        public static var executable: String {
            #if os(Linux)
                if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return path }
            #endif
            return Bundle.main.executablePath ?? CommandLine.arguments[0]
        }
    }

    /// Runs every case whose function the library exports (and `only` admits) through its
    /// `_f64` functions for the float64 tier and its `_f32` ones otherwise, each in its own
    /// worker process, and judges the outputs here at `judged`. Throws
    /// (one line) when the library itself is unusable: not loadable, no version symbol,
    /// an ABI version this harness does not speak, or a crash, exit or hang while loading.
    public static func run(
        library: String, cases dir: String, judged: Conformance.Judged, only: Set<String>? = nil,
        isolation: Isolation
    ) throws -> Report {
        let precision = storage(judged)
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("byol-plugin-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let flags = ["--plugin", library, "--precision", precision.rawValue]

        let probe = try isolation.launch(flags, job: scratch + "/probe")
        guard let status = probe.status, probe.clean else {
            throw PluginError(description: "\(library): " + probe.whatHappened(timeout: isolation.timeout, function: nil))
        }
        switch status["result"] as? String {
        case Status.ok.rawValue: break
        default: throw PluginError(description: status["message"] as? String ?? "\(library): the worker gave no reason")
        }
        let version = Int32(status["abi_version"] as? Int ?? 0)
        let symbols = Set(status["symbols"] as? [String] ?? [])
        let (skipped, available) = Self.skipped(
            has: { symbol, function in (introduced[function] ?? 1) <= version && symbols.contains(symbol) },
            precision: precision, only: only)
        var report = Report(findings: [], skipped: skipped)
        for (index, c) in try Conformance.readManifest(dir).enumerated() where (only?.contains(c.function) ?? true) && available.contains(c.function)
        {
            let job = scratch + "/\(index)"
            let w = try isolation.launch(flags + ["--cases", dir, "--case", c.id], job: job)
            let outcome: Result<[String: NDArray], PluginError>
            if let status = w.status, w.clean {
                let message = status["message"] as? String ?? "the worker gave no reason"
                switch status["result"] as? String {
                case Status.ok.rawValue:
                    do {
                        let file = try NPZ.load(job + "/result.npz")
                        outcome = .success(Dictionary(uniqueKeysWithValues: try file.names.map { ($0, try file.require($0)) }))
                    } catch {
                        outcome = .failure(PluginError(description: "the worker's result file is unreadable: \(error)"))
                    }
                case Status.failed.rawValue: outcome = .failure(PluginError(description: message))
                // The library was fine a moment ago; the harness's own errors end the run as they did in process.
                default: throw PluginError(description: message)
                }
            } else {
                outcome = .failure(PluginError(description: w.whatHappened(timeout: isolation.timeout, function: c.function)))
            }
            report.findings += try judge(c, outcome, cases: dir, file: library, judged: judged)
            try? FileManager.default.removeItem(atPath: job)  // outputs of large cases add up
        }
        return report
    }

    /// How a worker ended.
    enum Ending: Equatable {
        case exited(Int32)
        case signaled(Int32)
        /// Stopped after the timeout, with this signal (SIGTERM, or SIGKILL after SIGTERM).
        case timedOut(Int32)
    }

    /// A finished worker: how it ended, its status file, its trace and its stderr.
    struct Worker {
        var ending: Ending
        var status: [String: Any]?
        var trace: [String]
        var stderr: String

        /// Ended on its own with status 0 after writing its status: the only ending whose
        /// result counts.
        var clean: Bool { ending == .exited(0) && status != nil }

        /// One line: what happened and where, "the library crashed (SIGSEGV) in
        /// byol_conv2d_forward_f32", from the ending and the trace's last event.
        func whatHappened(timeout: Double, function: String?) -> String {
            var place: String
            let last = trace.last ?? ""
            let lastDone = trace.last(where: { $0.hasPrefix("done ") }).map { String($0.dropFirst(5)) }
            if last.hasPrefix("call ") {
                place = "in " + last.dropFirst(5)
            } else if last.hasPrefix("done ") || last == "write", let lastDone {
                place = "after \(lastDone) returned"
            } else if last.hasPrefix("load ") {
                place = "while being loaded (its initializers)" + (function.map { ", to run \($0)" } ?? "")
            } else {
                place = "before the library was loaded"
            }
            if lastDone == "byol_kernels_abi_version" && last.hasPrefix("done "), let function {
                place = "after loading, before calling any function of \(function)"
            }
            var line: String
            switch ending {
            case .signaled(let s) where s == SIGABRT: line = "the library aborted (SIGABRT) \(place)"
            case .signaled(let s) where s == SIGKILL: line = "the worker was killed (SIGKILL, from outside: out of memory?) \(place)"
            case .signaled(let s): line = "the library crashed (\(signalName(s))) \(place)"
            case .exited(let code) where status == nil: line = "the library ended the process (exit status \(code)) \(place), leaving no result"
            case .exited(let code): line = "the library ended the process (exit status \(code)) \(place)"
            case .timedOut(let s):
                let t = timeout == timeout.rounded() ? String(Int(timeout)) : "\(timeout)"
                line = "no result within the timeout of \(t) s, still \(place): stopped with " + (s == SIGKILL ? "SIGKILL after SIGTERM" : "SIGTERM")
            }
            if let said = stderr.split(separator: "\n").last(where: { !$0.trimmingCharacters(in: .whitespaces).isEmpty }) {
                line += "; its last stderr line: \"\(said.prefix(200))\""
            }
            return line
        }
    }

    static func signalName(_ s: Int32) -> String {
        let names: [Int32: String] = [
            SIGSEGV: "SIGSEGV", SIGBUS: "SIGBUS", SIGILL: "SIGILL", SIGFPE: "SIGFPE", SIGABRT: "SIGABRT",
            SIGTRAP: "SIGTRAP", SIGKILL: "SIGKILL", SIGTERM: "SIGTERM", SIGINT: "SIGINT", SIGQUIT: "SIGQUIT",
            SIGHUP: "SIGHUP", SIGPIPE: "SIGPIPE", SIGALRM: "SIGALRM", SIGUSR1: "SIGUSR1", SIGUSR2: "SIGUSR2",
            SIGSYS: "SIGSYS", SIGXCPU: "SIGXCPU", SIGXFSZ: "SIGXFSZ"
        ]
        return names[s] ?? "signal \(s)"
    }
}

extension ConformancePlugin.Isolation {
    /// Starts a worker with `flags` and its folder `job`, and waits for it (stopping it
    /// after the timeout).
    func launch(_ flags: [String], job: String) throws -> ConformancePlugin.Worker {
        try FileManager.default.createDirectory(atPath: job, withIntermediateDirectories: true)
        let argv = worker + flags + ["--out", job, "--parent", String(getpid())]
        let pid = try spawn(argv, stdout: job + "/stdout", stderr: job + "/stderr")
        let ending = wait(pid)
        let status = FileManager.default.contents(atPath: job + "/status.json").flatMap {
            try? JSONSerialization.jsonObject(with: $0) as? [String: Any]
        }
        let trace = String(decoding: FileManager.default.contents(atPath: job + "/trace") ?? Data(), as: UTF8.self).split(separator: "\n").map(
            String.init)
        let stderr = String(decoding: FileManager.default.contents(atPath: job + "/stderr") ?? Data(), as: UTF8.self)
        return ConformancePlugin.Worker(ending: ending, status: status, trace: trace, stderr: stderr)
    }

    /// posix_spawn of `argv` in a process group of its own (so that a timeout stops
    /// whatever it started too, and nothing it signals reaches this process), stdin from
    /// /dev/null, stdout and stderr to files, default signal dispositions, and no Swift
    /// crash backtracer (a crash ends the worker at once).
    func spawn(_ argv: [String], stdout: String, stderr: String) throws -> pid_t {
        #if canImport(Glibc)
            var actions = posix_spawn_file_actions_t()
            var attr = posix_spawnattr_t()
        #else
            var actions: posix_spawn_file_actions_t? = nil
            var attr: posix_spawnattr_t? = nil
        #endif
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        posix_spawnattr_setpgroup(&attr, 0)
        var defaults = sigset_t(), mask = sigset_t()
        sigemptyset(&defaults)
        for s in [SIGTERM, SIGINT, SIGPIPE, SIGHUP, SIGQUIT, SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT] { sigaddset(&defaults, s) }
        sigemptyset(&mask)
        posix_spawnattr_setsigdefault(&attr, &defaults)
        posix_spawnattr_setsigmask(&attr, &mask)

        var env = ProcessInfo.processInfo.environment
        env["SWIFT_BACKTRACE"] = "enable=no"
        let cArgs = argv.map { strdup($0) } + [nil]
        let cEnv = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for p in cArgs + cEnv { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, argv[0], &actions, &attr, cArgs, cEnv)
        guard rc == 0 else {
            throw ConformancePlugin.PluginError(description: "cannot start the worker \(argv[0]): \(String(cString: strerror(rc)))")
        }
        return pid
    }

    /// Waits for `pid`; after `timeout` seconds sends its process group SIGTERM, and
    /// SIGKILL `grace` seconds later if it is still there.
    func wait(_ pid: pid_t) -> ConformancePlugin.Ending {
        func ended(within seconds: Double) -> Int32? {
            let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(seconds * 1e9)
            var pause: UInt32 = 500
            while true {
                var status: Int32 = 0
                let r = waitpid(pid, &status, WNOHANG)
                if r == pid { return status }
                if r < 0 && errno != EINTR { return 0 }  // not our child any more: nothing to wait for
                let now = DispatchTime.now().uptimeNanoseconds
                if now >= deadline { return nil }
                usleep(min(pause, UInt32((deadline - now) / 1000) + 1))
                pause = min(pause * 2, 20_000)
            }
        }
        func decode(_ status: Int32) -> ConformancePlugin.Ending {
            // WIFEXITED / WEXITSTATUS / WTERMSIG, which Swift does not import (macros).
            status & 0x7f == 0 ? .exited((status >> 8) & 0xff) : .signaled(status & 0x7f)
        }
        if let status = ended(within: timeout) { return decode(status) }
        kill(-pid, SIGTERM)
        kill(pid, SIGTERM)
        if ended(within: grace) != nil { return .timedOut(SIGTERM) }
        kill(-pid, SIGKILL)
        kill(pid, SIGKILL)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return .timedOut(SIGKILL)
    }
}
