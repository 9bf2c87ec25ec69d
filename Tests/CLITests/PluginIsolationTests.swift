import Foundation
import NumPyIO
import TestSupport
import Testing
import Verification

/// `byol conformance run --plugin` with libraries that misbehave (issue #22, items 3 and
/// 4): the library runs in child processes, so a crash, an exit(), an abort or a hang
/// fails its case, named, and the run goes on to a verdict; and ABI version 2's
/// running-statistics update. The libraries are compiled here with `cc` ($CC).
@Suite struct PluginIsolation {
    /// A version-1 library: correct ReLU and EMA, and an SGD update that misbehaves as
    /// the -D macro says (none: correct).
    static let misbehaving = #"""
        #include <signal.h>
        #include <stdint.h>
        #include <stdio.h>
        #include <stdlib.h>
        #include <unistd.h>
        int byol_kernels_abi_version(void) { return 1; }
        int byol_relu_forward_f32(const float *x, int64_t count, float *y) { for (int64_t i = 0; i < count; i++) y[i] = x[i] > 0 ? x[i] : 0; return 0; }
        int byol_relu_backward_f32(const float *dy, const float *x, int64_t count, float *dx) { for (int64_t i = 0; i < count; i++) dx[i] = x[i] > 0 ? dy[i] : 0; return 0; }
        int byol_ema_update_f32(const float *t, const float *o, int64_t count, double tau, float *out) {
            for (int64_t i = 0; i < count; i++) out[i] = t[i] + (float)(1 - tau) * (o[i] - t[i]);
            return 0;
        }
        int byol_sgd_update_f32(const float *param, const float *grad, const float *buf, int64_t count, double lr, double momentum, double wd,
                                float *param_out, float *buf_out) {
        #if defined(SEGV)
            volatile int *volatile p = 0;
            *p = 1;
        #elif defined(EXIT0)
            exit(0);
        #elif defined(ABORT)
            fprintf(stderr, "sgd: cannot go on\n");
            abort();
        #elif defined(HANG)
            for (;;) pause();
        #endif
            for (int64_t i = 0; i < count; i++) {
                buf_out[i] = (float)momentum * buf[i] + grad[i] + (float)wd * param[i];
                param_out[i] = param[i] - (float)lr * buf_out[i];
            }
            return 0;
        }
        #ifdef CONSTRUCTOR_SEGV
        __attribute__((constructor)) static void init(void) { volatile int *volatile p = 0; *p = 1; }
        #endif
        """#

    static var include: String { Repo.root.appendingPathComponent("Sources/CByolKernels/include").path }

    /// Compiles C `sources` into the shared library `out`.
    static func compile(_ sources: [String], _ out: String, _ flags: [String] = []) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments =
            [ProcessInfo.processInfo.environment["CC"] ?? "cc", "-O1", "-shared", "-fPIC", "-I", include] + flags + sources + ["-o", out, "-lm"]
        try p.run()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "cc \(sources) \(flags) failed")
    }

    static func library(_ d: TemporaryDirectory, define: String?) throws -> String {
        let source = d.file("misbehaving.c")
        try Data(misbehaving.utf8).write(to: URL(fileURLWithPath: source))
        let out = d.file("lib\(define ?? "ok").so")
        try compile([source], out, define.map { ["-D" + $0] } ?? [])
        return out
    }

    static func export(_ d: TemporaryDirectory) throws -> String {
        let r = try CLI.run(["conformance", "export", "--out", d.file("cases"), "--preset", "tiny", "--size", "8"])
        #expect(r.status == 0, "\(r.stderr)")
        return d.file("cases")
    }

    /// A function that crashes, exits, aborts or hangs fails its case's tensors in the
    /// table, the JUnit report and the JSON report with a message naming the case, the
    /// symbol and what happened; the other functions are still checked; exit status 1.
    @Test(arguments: [
        ("SEGV", "the library crashed (SIGSEGV) in byol_sgd_update_f32"),
        ("EXIT0", "the library ended the process (exit status 0) in byol_sgd_update_f32, leaving no result"),
        ("ABORT", "the library aborted (SIGABRT) in byol_sgd_update_f32; its last stderr line: \"sgd: cannot go on\""),
        ("HANG", "no result within the timeout of 2 s, still in byol_sgd_update_f32: stopped with SIGTERM")
    ])
    func aMisbehavingFunctionFailsItsCaseOnly(define: String, expected: String) throws {
        let d = TemporaryDirectory()
        let cases = try Self.export(d), lib = try Self.library(d, define: define)
        let r = try CLI.run([
            "conformance", "run", "--plugin", lib, "--cases", cases, "--timeout", "2",
            "--junit", d.file("report.xml"), "--json", d.file("report.json")
        ])
        #expect(r.status == 1 && !r.signaled, "\(r.stdout)\(r.stderr)")
        let lines = r.stdout.split(separator: "\n")
        #expect(lines.contains { $0.hasPrefix("sgd-") && $0.hasSuffix("FAIL") }, "\(r.stdout)")
        #expect(
            lines.contains { $0.hasPrefix("relu-") && $0.hasSuffix("PASS") } && lines.contains { $0.hasPrefix("ema-") && $0.hasSuffix("PASS") },
            "\(r.stdout)")
        #expect(lines.contains { $0.hasPrefix("  sgd-") && $0.hasSuffix(": " + expected) }, "\(r.stdout)")
        #expect(r.stdout.contains(" tensors passed, 2 failed, in "), "\(r.stdout)")
        let err = r.stderr.split(separator: "\n")
        #expect(
            err.count == 1 && err[0].hasPrefix("byol: error: 2 tensors out of bounds; first: sgd-") && err[0].hasSuffix(": " + expected),
            "\(r.stderr)")
        let junit = String(decoding: readBytes(d.file("report.xml")), as: UTF8.self)
        #expect(junit.contains("<failure message=\"" + expected.replacingOccurrences(of: "\"", with: "&quot;")), "\(junit)")
        let json = try JSONSerialization.jsonObject(with: Data(readBytes(d.file("report.json")))) as? [String: Any]
        let rows = json?["tensors"] as? [[String: Any]] ?? []
        let sgd = rows.filter { ($0["case"] as? String)?.hasPrefix("sgd-") == true }
        #expect(json?["passed"] as? Bool == false && sgd.count == 2)
        #expect(sgd.allSatisfy { $0["passed"] as? Bool == false && $0["message"] as? String == expected }, "\(sgd)")
    }

    /// A library whose constructor crashes is refused in one line before any case runs:
    /// it is loaded in a child process, never in the harness.
    @Test func aCrashingConstructorIsRefusedBeforeAnyCase() throws {
        let d = TemporaryDirectory()
        let cases = try Self.export(d), lib = try Self.library(d, define: "CONSTRUCTOR_SEGV")
        let r = try CLI.run(["conformance", "run", "--plugin", lib, "--cases", cases, "--junit", d.file("report.xml")])
        #expect(r.status == 1 && r.stdout.isEmpty, "\(r.stdout)")
        #expect(r.stderr == "byol: error: \(lib): the library crashed (SIGSEGV) while being loaded (its initializers)\n", "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: d.file("report.xml")))
    }

    /// Versions 1 to the header's load (version 1 without the running-statistics update,
    /// named as skipped with its version); 0 and the next version are refused; --timeout
    /// is range-checked.
    @Test func abiVersionsAndTimeoutFlag() throws {
        let d = TemporaryDirectory()
        let cases = try Self.export(d), lib = try Self.library(d, define: nil)
        let v1 = try CLI.run(["conformance", "run", "--plugin", lib, "--cases", cases])
        #expect(
            v1.status == 0 && v1.stdout.contains("skipped: batchnorm_running (needs byol_batchnorm_running_update_f32 (ABI version 2))"),
            "\(v1.stdout)\(v1.stderr)")
        let latest = Int(ConformancePlugin.versions.upperBound)
        for v in [0, latest + 1] {
            try Data("int byol_kernels_abi_version(void) { return \(v); }\n".utf8).write(to: URL(fileURLWithPath: d.file("v\(v).c")))
            try Self.compile([d.file("v\(v).c")], d.file("v\(v).so"))
            let r = try CLI.run(["conformance", "run", "--plugin", d.file("v\(v).so"), "--cases", cases])
            #expect(
                r.status == 1
                    && r.stderr == "byol: error: \(d.file("v\(v).so")): ABI version \(v), this byol loads versions 1 to \(latest) (byol_kernels.h)\n",
                "\(r.stderr)")
        }
        for t in ["0", "86401", "-1"] {
            let r = try CLI.run(["conformance", "run", "--plugin", lib, "--cases", cases, "--timeout", t])
            #expect(r.status == 64 && r.stderr.contains("--timeout must be in [1, 86400] seconds, got \(t)"), "\(r.stderr)")
        }
    }

    /// batchnorm_running through the C examples, on the export's cases: both pass, and
    /// the planted fault is caught on the first running-statistics case.
    @Test func runningStatisticsThroughTheExamples() throws {
        let d = TemporaryDirectory()
        let cases = try Self.export(d)
        let examples = Repo.root.appendingPathComponent("Examples").path
        try Self.compile([examples + "/c-reference/byol_kernels_ref.c"], d.file("ref.so"))
        try Self.compile([examples + "/c-openblas/byol_kernels_openblas.c"], d.file("openblas.so"), ["-lopenblas"])
        try Self.compile([examples + "/c-reference/byol_kernels_ref.c"], d.file("swapped.so"), ["-DFAULT_RUNNING_MOMENTUM_SWAPPED"])
        for (lib, precision) in [("ref.so", "float32"), ("ref.so", "float64"), ("openblas.so", "float32")] {
            let r = try CLI.run([
                "conformance", "run", "--plugin", d.file(lib), "--cases", cases, "--precision", precision, "--only", "batchnorm_running"
            ])
            #expect(
                r.status == 0 && r.stdout.contains(" 0 failed") && r.stdout.contains("batchnorm1d-running-"),
                "\(lib) \(precision): \(r.stdout)\(r.stderr)")
        }
        let bad = try CLI.run(["conformance", "run", "--plugin", d.file("swapped.so"), "--cases", cases, "--only", "batchnorm_running"])
        #expect(
            bad.status == 1 && bad.stderr.contains("first: batchnorm2d-running-") && bad.stderr.contains(": running_mean: |error| "), "\(bad.stderr)")
    }
}
