import BYOLModel
import Foundation

/// SIGINT, SIGTERM and SIGUSR1 during pretraining: the handler only records the signal;
/// the loop finishes the step it is in, writes a checkpoint and stops
/// (`Pretrain.Summary.interrupted`).
///
/// One rank of a data-parallel run that gets SIGTERM inside a collective call
/// (`CollectiveWait`) cannot finish its step: the other ranks are gone or going (the
/// launcher sends SIGTERM to all once one rank ends). It prints its line and exits at
/// once; the last checkpoint, written atomically, stays. SIGUSR1 (mpirun passes it on to
/// every rank: the clean way to stop a job), SIGINT, or SIGTERM outside a call, is
/// honoured as on one process: every rank stops after the same step and rank 0 writes a
/// checkpoint, within `graceSeconds`; past that, the rank prints the same line and exits.
public enum Interrupt {
    nonisolated(unsafe) private static var received: sig_atomic_t = 0

    /// The signal received since `install`, if any.
    public static var signal: Int32? { received == 0 ? nil : Int32(received) }

    /// Routes SIGINT, SIGTERM and SIGUSR1 to the flag. A second signal of the same kind, while the
    /// first is being honoured, still only sets the flag (SIGKILL stops a run at once).
    public static func install() {
        received = 0
        var set = sigset_t()
        sigemptyset(&set)
        for s in [SIGINT, SIGTERM, SIGUSR1] {
            Foundation.signal(s) { sig in
                if CollectiveWait.message != nil {
                    // SIGTERM is the launcher ending the job (it does so when a rank
                    // ends, or on Ctrl-C); SIGINT and SIGUSR1 (which mpirun passes on to
                    // every rank) are honoured.
                    if CollectiveWait.active != 0 && sig == SIGTERM { leave(sig) }
                    alarm(Interrupt.graceSeconds)
                }
                Interrupt.received = sig_atomic_t(sig)
            }
            sigaddset(&set, s)
        }
        Foundation.signal(SIGALRM) { _ in if CollectiveWait.message != nil { leave(SIGTERM) } }
        // A signal mask is inherited across exec: a parent that blocks these (test
        // runners do) would otherwise leave them pending for the whole run.
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
    }

    /// Seconds a rank of a data-parallel run waits, after a signal, for the step it is in
    /// to end on every rank and the checkpoint to be written.
    public static let graceSeconds: UInt32 = 60
}

/// Async-signal-safe: the rank's line, then _exit(128 + signal).
private func leave(_ sig: Int32) {
    if let m = CollectiveWait.message { _ = write(STDERR_FILENO, m, CollectiveWait.messageLength) }
    _exit(128 + sig)
}
