import Foundation
import NumPyIO

/// SIGINT, SIGTERM and SIGUSR1 during pretraining: the handler only records the signal;
/// the loop finishes the step it is in, writes a checkpoint and stops
/// (`Pretrain.Summary.interrupted`).
///
/// A rank of a data-parallel run honours them the same way: every rank stops after the
/// same step (they agree on it) and rank 0 writes the checkpoint. SIGUSR1 is what mpirun
/// passes on to every rank: the clean way to stop a job. SIGTERM is also how a launcher
/// ends the others when one rank has died, so a rank prints a line at once on SIGTERM;
/// from any stop signal on, a collective call that waits longer than
/// `CollectiveWait.graceSeconds` ends the rank with a second line (`CollectiveWait`).
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
                Interrupt.received = sig_atomic_t(sig)
                guard let stopping = CollectiveWait.stopping else { return }
                // One rank of a data-parallel run: say so at once on SIGTERM (the launcher
                // may follow with SIGKILL), and bound any wait from now on.
                CollectiveWait.signalled = 1
                if sig == SIGTERM { _ = write(STDERR_FILENO, stopping.0, stopping.1) }
                if CollectiveWait.active != 0 { alarm(CollectiveWait.graceSeconds) }
            }
            sigaddset(&set, s)
        }
        Foundation.signal(SIGALRM) { _ in
            guard let timeout = CollectiveWait.timeout else { return }
            _ = write(STDERR_FILENO, timeout.0, timeout.1)
            _exit(ExitStatus.signalled(SIGTERM))
        }
        // A signal mask is inherited across exec: a parent that blocks these (test
        // runners do) would otherwise leave them pending for the whole run.
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
    }
}
