import ArgumentParser
import Augment
import BYOLModel
import Data
import Distributed
import Fast
import Foundation
import NumPyIO
import Signals
import Training

struct PretrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pretrain",
        abstract: "Pretrain BYOL on CIFAR-10 (or the embedded synthetic set), with checkpoints, resume and a kNN monitor.",
        usage: """
            byol pretrain [--data <cifar-10-binary.tar.gz>] [--preset small] [--epochs N] [--batch N] [--optimizer sgd] [--lr X] \
            [--precision float32] [--out DIR] [--resume] [<other options>]
            """,
        discussion: """
            Per-sample augmentation from (seed, epoch, index, view), shuffling from the seed, learning-rate warmup and cosine \
            decay, the tau schedule, the float32 path by default. After each epoch: weighted kNN accuracy of the online backbone \
            (eval mode; bank = the train set with the test transform; k and T from --knn-k and --knn-temperature, 200 and 0.1 by \
            default). The run folder (--out) holds metrics.jsonl, plot.svg, manifest.json, checkpoint.npz (atomic, every \
            --checkpoint-every steps and at each epoch end) and final.npz. Under `mpirun -np P` (or srun), P processes share each \
            batch's --sample-groups and end with the bytes of one process: see docs/training.md.
            """)

    @OptionGroup var options: PretrainOptions

    func run() throws {
        var c = options.configuration
        // Under a launcher, one rank of a data-parallel run (MPI is never touched otherwise).
        let mpi = MPICollective.launched ? MPICollective() : nil
        // (Byol.main ends MPI once any error line is out.)
        if let mpi { c.comm = mpi }
        try MPIRank.checkLaunch(mpiSize: c.comm.size)
        let root = c.comm.isRoot
        let engine = try ProgramEngines.require(c.precision.rawValue, threads: c.threads)
        // The kernel check needs the data's size; the loop calls it once the data is
        // loaded, before it writes anything.
        // This process's sample groups: the GEMM shapes of its share of a step.
        let groups =
            c.comm.size <= c.resolvedSampleGroups
            ? SampleGroups(batch: c.batch, count: c.sampleGroups, ranks: c.comm.size, rank: c.comm.rank)
            : SampleGroups(batch: c.batch, count: c.sampleGroups)
        c.beforeCompute = { arch, train, test in
            try KernelPolicy.process.require(
                GEMMPlan.step(arch: arch, batch: c.batch, height: 32, width: 32, groups: groups)
                    .union(KernelPolicy.monitorShapes(arch, train: train, test: test)), for: engine)
            return engine.name == "openblas" ? KernelPolicy.process.facts : [:]
        }
        // Fault injection for tests: BYOL_FAULT_AT_STEP=K sends this process
        // BYOL_FAULT_SIGNAL (KILL, TERM, INT or USR1; default KILL) right after step K (0: after
        // the initial kNN pass, before the first checkpoint); under MPI only rank
        // BYOL_FAULT_RANK (default 0) does.
        // BYOL_FAULT_IN_KNN=E: the same signal during the kNN pass after epoch E (0: the
        // pass at initialization), once its first chunk of images is embedded.
        let env = ProcessInfo.processInfo.environment
        if c.comm.rank == env["BYOL_FAULT_RANK"].flatMap(Int.init) ?? 0 {
            let sig = ["TERM": SIGTERM, "INT": SIGINT, "USR1": SIGUSR1][env["BYOL_FAULT_SIGNAL"] ?? ""] ?? SIGKILL
            if let k = env["BYOL_FAULT_AT_STEP"].flatMap(Int.init) { c.afterStep = { if $0 == k { kill(getpid(), sig) } } }
            if let e = env["BYOL_FAULT_IN_KNN"].flatMap(Int.init) { c.duringKNN = { if $0 == e { kill(getpid(), sig) } } }
        }
        Interrupt.install()
        let s: Pretrain.Summary
        do {
            s = try Pretrain.run(
                c, engine: engine,
                log: {
                    print($0)
                    fflush(stdout)
                }, progress: Progress())
        } catch is QuietFailure {
            // Rank 0 reports the error; this rank only ends.
            throw ExitCode(ExitStatus.failure)
        }
        if let sig = s.interrupted {
            if root {
                let line =
                    s.stopped
                    ? "byol: interrupted at step \(s.steps): continue with --resume\n"
                    : "byol: stopped by a signal after the last step; the run is complete (\(s.steps) steps, final.npz written)\n"
                FileHandle.standardError.write(Data(line.utf8))
            }
            throw ExitCode(ExitStatus.signalled(sig))
        }
        if s.stopped || !root { return }
        if s.stepsThisRun == 0 {
            print("the run in \(c.out) is already complete (\(s.steps) steps); final.npz is up to date")
            return
        }
        print(
            String(
                format: "done: %d steps, %.1f images/s; kNN accuracy at initialization %.2f%%, last %.2f%%, best %.2f%%; run folder %@",
                s.steps, s.imagesPerSecond, 100 * (s.knnAtStart ?? .nan), 100 * (s.lastKNN ?? .nan), 100 * (s.bestKNN ?? .nan), c.out))
        if let share = s.exchangeShare {
            print(String(format: "%d processes: %.1f%% of rank 0's time exchanging sums", c.comm.size, 100 * share))
        }
    }
}
