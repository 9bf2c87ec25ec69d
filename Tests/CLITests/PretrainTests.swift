import BYOLModel
import Foundation
import NumPyIO
import Testing
import TestSupport

/// `byol pretrain` on the embedded data with the tiny preset: a run killed with SIGKILL
/// and resumed ends with the same bytes as an uninterrupted run.
@Suite(.serialized) struct PretrainResume {
    let args = ["pretrain", "--preset", "tiny", "--epochs", "2", "--batch", "16", "--train-limit", "640", "--test-limit", "100",
                "--checkpoint-every", "2", "--threads", "1"]

    func step(of checkpoint: String) -> Int64? {
        guard let f = try? NPZ.load(checkpoint), case .int64(let v)? = f["step"]?.storage else { return nil }
        return v[0]
    }

    @Test func killedAndResumedRunEqualsUninterrupted() throws {
        let d = TemporaryDirectory()
        let straight = try CLI.run(args + ["--out", d.file("straight")])
        #expect(straight.status == 0, "\(straight.stderr)")

        // Start the same run, SIGKILL it once a mid-run checkpoint exists, then resume.
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CLI.executable)
        p.arguments = args + ["--out", d.file("killed")]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        var killedAt: Int64?
        // Poll while the run lives (not for a fixed time: on a loaded machine reaching
        // step 6 took longer than the 4 s this loop once allowed, and the run finished).
        let deadline = Date().addingTimeInterval(600)
        while p.isRunning && Date() < deadline {
            if let s = step(of: d.file("killed/checkpoint.npz")), s >= 6 {
                kill(p.processIdentifier, SIGKILL)
                killedAt = s
                break
            }
            usleep(2000)
        }
        p.waitUntilExit()
        #expect(p.terminationReason == .uncaughtSignal, "the run finished before it could be killed")
        #expect(killedAt != nil && killedAt! < 80, "killed at step \(killedAt ?? -1) of 80")
        let resumed = try CLI.run(args + ["--out", d.file("killed"), "--resume"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stdout.contains("resuming from"))
        for f in ["final.npz", "checkpoint.npz"] {
            #expect(readBytes(d.file("straight/\(f)")) == readBytes(d.file("killed/\(f)")), "\(f) differs after kill and resume")
        }
        #expect(FileManager.default.fileExists(atPath: d.file("killed/plot.svg")))
    }

    @Test func resumeRefusesOtherFlags() throws {
        let d = TemporaryDirectory()
        _ = try CLI.run(args + ["--out", d.file("r"), "--stop-after", "3"])
        let r = try CLI.run(args.map { $0 == "16" ? "32" : $0 } + ["--out", d.file("r"), "--resume"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("the run was started with batch = 16, now 32"), "\(r.stderr)")
    }

    /// A diverging run stops at the first non-finite loss, naming the step, and keeps the
    /// last good checkpoint.
    @Test func nonFiniteLossStopsTheRun() throws {
        let d = TemporaryDirectory()
        let r = try CLI.run(["pretrain", "--preset", "tiny", "--epochs", "1", "--batch", "16", "--train-limit", "160", "--test-limit", "50",
                             "--lr", "1e38", "--checkpoint-every", "1", "--out", d.file("nan")])
        #expect(r.status == 1)
        #expect(r.stderr.split(separator: "\n").last!.hasPrefix("byol: error: step 2: the loss is"), "\(r.stderr)")
        #expect(step(of: d.file("nan/checkpoint.npz")) == 1)
    }

    /// An update that overflows (BN running statistics here) while the loss and the
    /// gradients are still finite stops the run too, and the checkpoint it keeps loads.
    @Test func nonFiniteStateStopsTheRunAndKeepsAGoodCheckpoint() throws {
        let d = TemporaryDirectory()
        let r = try CLI.run(["pretrain", "--preset", "tiny", "--epochs", "2", "--batch", "16", "--train-limit", "160", "--test-limit", "50",
                             "--lr", "1e6", "--checkpoint-every", "1", "--threads", "1", "--out", d.file("inf")])
        #expect(r.status == 1)
        let last = String(r.stderr.split(separator: "\n").last ?? "")  // after the progress lines
        #expect(last.hasPrefix("byol: error: step ") && last.contains("has a NaN or Inf after the update"), "\(r.stderr)")
        // BYOLState.read refuses non-finite arrays.
        #expect(throws: Never.self) { _ = try BYOLState.read(d.file("inf/checkpoint.npz")) }
    }

    /// A new run never writes over an earlier one; --stop-after leaves a checkpoint at
    /// the step where it stopped.
    @Test func runFolderIsNeverOverwritten() throws {
        let d = TemporaryDirectory()
        let r = d.file("r")
        let first = try CLI.run(args + ["--out", r, "--stop-after", "5"])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(step(of: r + "/checkpoint.npz") == 5)
        func files() throws -> [String: [UInt8]] {
            Dictionary(uniqueKeysWithValues: try FileManager.default.contentsOfDirectory(atPath: r).map { ($0, readBytes(r + "/" + $0)) })
        }
        var before = try files()
        let again = try CLI.run(args + ["--out", r, "--seed", "7"])
        #expect(again.status == 1 && again.stderr.contains("already holds a run"), "\(again.stderr)")
        #expect(try files() == before)
        try FileManager.default.removeItem(atPath: r + "/checkpoint.npz")
        before["checkpoint.npz"] = nil
        let noCheckpoint = try CLI.run(args + ["--out", r, "--resume"])
        #expect(noCheckpoint.status == 1 && noCheckpoint.stderr.contains("no checkpoint.npz to resume from"), "\(noCheckpoint.stderr)")
        #expect(try files() == before)
        writeBytes([1], d.file("file"))
        let onFile = try CLI.run(args + ["--out", d.file("file")])
        #expect(onFile.status == 1 && onFile.stderr.contains("exists and is not a folder"), "\(onFile.stderr)")
        #expect(onFile.stderr.split(separator: "\n").count == 1)
    }

    @Test func corruptArchiveIsAOneLineError() throws {
        let d = TemporaryDirectory()
        let r = try CLI.run(args + ["--data", Repo.fixture("cifar/truncated.tar.gz"), "--out", d.file("x")])
        #expect(r.status == 1)
        #expect(r.stderr.split(separator: "\n").count == 1 && r.stderr.contains("truncated.tar.gz"), "\(r.stderr)")
        // Nothing was created for the failed run.
        #expect(!FileManager.default.fileExists(atPath: d.file("x")))
    }

    /// Limits that would select no data are flag errors, not crashes.
    @Test func badLimitsAreFlagErrors() throws {
        let d = TemporaryDirectory()
        let pretrain = ["pretrain", "--preset", "tiny", "--epochs", "1", "--batch", "16", "--out", d.file("x")]
        for (cmd, flags, mentions) in [(pretrain, ["--train-limit=-1"], "--train-limit -1 is less than one batch"),
                                       (pretrain, ["--test-limit", "0"], "--test-limit must be at least 1"),
                                       (["knn-eval", "--checkpoint", d.file("none.npz")], ["--train-limit=-1"], "--train-limit must be at least 1")] {
            let r = try CLI.run(cmd + flags)
            #expect(r.status != 0 && r.status < 128, "\(r.status)")
            #expect(r.stderr.contains(mentions), "\(r.stderr)")
        }
    }
}
