import Foundation
import NumPyIO
import TestSupport
import Testing

/// The OpenBLAS kernel choice (issue #15): byol replaces a lower-tier set OpenBLAS picked,
/// checks the set before computing, falls back when its own choice fails, and reports
/// both everywhere a number depends on them.
@Suite struct KernelChoice {
    /// A tiny state and views in `d`.
    func inputs(_ d: TemporaryDirectory) throws {
        let r = try CLI.run(["init", "--seed", "1", "--preset", "tiny", "--out", d.file("s.npz")])
        #expect(r.status == 0, "\(r.stderr)")
        try FileManager.default.copyItem(
            atPath: Repo.root.appendingPathComponent("goldens/tiny-lars-separate/views_1.npz").path, toPath: d.file("v.npz"))
    }

    func step(_ d: TemporaryDirectory, out: String, _ env: [String: String]) throws -> CLI.Result {
        try CLI.run(
            ["step", "--state", d.file("s.npz"), "--views", d.file("v.npz"), "--out", d.file(out), "--precision", "float32"],
            environment: env)
    }

    /// OPENBLAS_CORETYPE unset for the child; "" reads as unset (KernelPolicy.process).
    let unset = ["OPENBLAS_CORETYPE": ""]

    func bench(_ env: [String: String]) throws -> [String: Any] {
        let r = try CLI.run(
            ["bench", "--preset", "tiny", "--batch", "4", "--size", "8", "--steps", "1", "--threads", "1", "--json"], environment: env)
        #expect(r.status == 0, "\(r.stderr)")
        return (try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8))) as? [String: Any] ?? [:]
    }

    /// Pretending OpenBLAS picked Prescott: byol runs its own choice for this CPU (on a
    /// CPU with AVX2; below it OpenBLAS's choice stands) and says so.
    @Test func aLowerTierChoiceIsReplaced() throws {
        let j = try bench(unset.merging(["BYOL_TEST_OPENBLAS_CORE": "Prescott"]) { $1 })
        #expect(j["kernel_check"] as? String == "passed")
        let cpu = j["cpu"] as? String ?? ""
        if cpu.contains("AVX2") || cpu.contains("AVX-512") {
            #expect(j["openblas_core_origin"] as? String == "byol")
            #expect(["SkylakeX", "Haswell", "Zen"].contains(j["openblas_core"] as? String ?? ""), "\(j)")
            #expect((j["openblas_core_how"] as? String ?? "").contains("OpenBLAS picked Prescott"))
        } else {
            #expect(j["openblas_core_origin"] as? String == "openblas")
        }
    }

    @Test func anExplicitCoreTypeIsHonouredAndChecked() throws {
        let j = try bench(["OPENBLAS_CORETYPE": "Prescott"])
        #expect(j["openblas_core"] as? String == "Prescott")
        #expect(j["openblas_core_origin"] as? String == "environment")
        #expect(j["kernel_check"] as? String == "passed")
    }

    /// Issue #24: a name OpenBLAS does not know ran its own choice without a word. Now one
    /// warning line names the variable and the set that runs; a known name says nothing.
    @Test func anUnknownCoreTypeWarnsInOneLine() throws {
        let d = TemporaryDirectory()
        let r = try CLI.run(["init", "--seed", "1", "--preset", "tiny", "--out", d.file("s.npz")], environment: ["OPENBLAS_CORETYPE": "Bogus"])
        let lines = r.stderr.split(separator: "\n")
        #expect(
            r.status == 0 && lines.count == 1
                && lines[0].hasPrefix("byol: warning: OPENBLAS_CORETYPE=Bogus is not a kernel set this OpenBLAS can run here; it runs "),
            "\(r.stderr)")
        let known = try CLI.run(["init", "--seed", "1", "--preset", "tiny", "--out", d.file("t.npz")], environment: ["OPENBLAS_CORETYPE": "Prescott"])
        #expect(known.status == 0 && known.stderr.isEmpty, "\(known.stderr)")
    }

    /// byol's choice fails the check (a corrupted expected value): one warning line, and
    /// the command re-runs on OpenBLAS's own set, with that set's bytes.
    @Test func aFailingChoiceFallsBackWithOneWarning() throws {
        let d = TemporaryDirectory()
        try inputs(d)
        let chosen = try bench(unset.merging(["BYOL_TEST_OPENBLAS_CORE": "Prescott"]) { $1 })
        guard chosen["openblas_core_origin"] as? String == "byol", let core = chosen["openblas_core"] as? String else {
            return  // no AVX2 here: byol never replaces OpenBLAS's choice, nothing to fall back from
        }
        let env = unset.merging(["BYOL_TEST_OPENBLAS_CORE": "Prescott", "BYOL_TEST_KERNEL_CHECK_FAIL": core]) { $1 }
        let r = try step(d, out: "fallback.npz", env)
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stderr.split(separator: "\n")
        #expect(
            lines.count == 1 && lines[0].hasPrefix("byol: warning: OpenBLAS kernels \(core) fail the kernel check (sgemm ")
                && lines[0].hasSuffix("falling back to Prescott, OpenBLAS's own choice"), "\(r.stderr)")
        let direct = try step(d, out: "prescott.npz", ["OPENBLAS_CORETYPE": "Prescott"])
        #expect(direct.status == 0 && direct.stderr.isEmpty, "\(direct.stderr)")
        #expect(FileManager.default.contents(atPath: d.file("fallback.npz")) == FileManager.default.contents(atPath: d.file("prescott.npz")))
        let j = try bench(env)
        #expect(j["openblas_core"] as? String == "Prescott" && j["openblas_core_origin"] as? String == "fallback", "\(j)")
    }

    /// A set the user pinned that fails: nothing computed, one line, exit 1.
    @Test func aFailingPinnedSetIsRefused() throws {
        let d = TemporaryDirectory()
        try inputs(d)
        let r = try step(d, out: "n.npz", ["OPENBLAS_CORETYPE": "Prescott", "BYOL_TEST_KERNEL_CHECK_FAIL": "Prescott"])
        #expect(r.status == 1)
        #expect(
            r.stderr.hasPrefix("byol: error: OpenBLAS kernels Prescott fail the kernel check (sgemm ") && r.stderr.split(separator: "\n").count == 1,
            "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: d.file("n.npz")))
        // The reference needs no kernels.
        let f64 = try CLI.run(
            ["step", "--state", d.file("s.npz"), "--views", d.file("v.npz"), "--out", d.file("n.npz")],
            environment: ["OPENBLAS_CORETYPE": "Prescott", "BYOL_TEST_KERNEL_CHECK_FAIL": "Prescott"])
        #expect(f64.status == 0, "\(f64.stderr)")
    }

    @Test func theRunManifestRecordsTheKernels() throws {
        let d = TemporaryDirectory()
        let r = try CLI.run([
            "pretrain", "--preset", "tiny", "--epochs", "1", "--batch", "16", "--train-limit", "32", "--test-limit", "16",
            "--threads", "1", "--out", d.file("run")
        ])
        #expect(r.status == 0, "\(r.stderr)")
        let m =
            (try? JSONSerialization.jsonObject(with: FileManager.default.contents(atPath: d.file("run/manifest.json")) ?? Data())) as? [String: Any]
        let k = m?["kernels"] as? [String: String] ?? [:]
        #expect(k["kernel_check"] == "passed" && k["openblas_core"] != nil && k["openblas_core_origin"] != nil, "\(k)")
    }

    /// A run resumed on another kernel set continues and says its bytes will differ.
    @Test func aResumeOnOtherKernelsSaysSo() throws {
        let d = TemporaryDirectory()
        let args = [
            "pretrain", "--preset", "tiny", "--epochs", "1", "--batch", "16", "--train-limit", "48", "--test-limit", "16",
            "--threads", "1", "--out", d.file("run")
        ]
        // Prescott and Core2: SSE kernel sets that every x86-64 CPU runs.
        let first = try CLI.run(args + ["--stop-after", "1"], environment: ["OPENBLAS_CORETYPE": "Prescott"])
        #expect(first.status == 0, "\(first.stderr)")
        let same = try CLI.run(args + ["--resume", "--stop-after", "2"], environment: ["OPENBLAS_CORETYPE": "Prescott"])
        #expect(same.status == 0 && !same.stdout.contains("warning"), "\(same.stdout)")
        let other = try CLI.run(args + ["--resume"], environment: ["OPENBLAS_CORETYPE": "Core2"])
        #expect(other.status == 0, "\(other.stderr)")
        #expect(other.stdout.contains("warning: this run ran on OpenBLAS kernels Prescott and continues on Core2"), "\(other.stdout)")
    }

    /// verify reports the kernel check as its first row, and a failing set fails verify
    /// (the other checks still run).
    @Test func verifyReportsTheKernelCheck() throws {
        let r = try CLI.run(
            ["verify", "--quick"], in: Repo.root.path,
            environment: ["OPENBLAS_CORETYPE": "Prescott", "BYOL_TEST_KERNEL_CHECK_FAIL": "Prescott"])
        #expect(r.status == 1)
        let rows = r.stdout.split(separator: "\n")
        #expect(rows.count > 10 && rows[1].hasPrefix("OpenBLAS kernels Prescott: sgemm exact on ") && rows[1].contains("FAIL"), "\(rows.prefix(3))")
        #expect(r.stdout.contains("1 failed"), "\(rows.suffix(2))")
    }
}
