import Distributed
import Foundation

/// This process's rank in a job started by mpirun or srun, read from the launcher's
/// environment (before MPI is initialized, so that flag errors too are printed by rank
/// 0 alone); 0 otherwise.
enum MPIRank {
    static var fromEnvironment: Int {
        let env = ProcessInfo.processInfo.environment
        return ["OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK"].lazy.compactMap { env[$0].flatMap(Int.init) }.first ?? 0
    }

    /// Finalizes MPI where a command started it and ended with an error (every rank of a
    /// run ends at the same point: errors are agreed on before anyone stops).
    static func finishIfStarted() {
        MPICollective.finishIfStarted()
    }
}
