import ArgumentParser
import Distributed
import Foundation
import NumPyIO

/// This process's rank in a job started by mpirun or srun, read from the launcher's
/// environment (before MPI is initialized, so that flag errors too are printed by rank
/// 0 alone); 0 otherwise.
///
/// Errors end MPI where a command started it (`MPICollective.finishIfStarted`): every
/// rank of a run ends at the same point, since errors are agreed on before anyone stops.
enum MPIRank {
    static var fromEnvironment: Int {
        let env = ProcessInfo.processInfo.environment
        return ["OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"].lazy.compactMap { env[$0].flatMap(Int.init) }.first ?? 0
    }

    /// Refuses a launch whose processes would not form one job: srun without an MPI
    /// plugin starts independent copies, MPICH's mpiexec starts processes this Open MPI
    /// build sees as singletons; each would write the same run folder.
    static func checkLaunch(mpiSize: Int) throws {
        let env = ProcessInfo.processInfo.environment
        if !MPICollective.launched, let n = env["SLURM_STEP_NUM_TASKS"].flatMap(Int.init), n > 1 {
            throw CommandFailure(
                "srun started \(n) tasks that are not one MPI job: use srun --mpi=pmix (or mpirun) for a data-parallel run, or --ntasks 1")
        }
        if let n = (env["OMPI_COMM_WORLD_SIZE"] ?? env["PMI_SIZE"]).flatMap(Int.init), n != mpiSize {
            throw CommandFailure(
                "the launcher started \(n) processes but MPI connects \(mpiSize): start byol with Open MPI's mpirun (or srun --mpi=pmix)")
        }
    }
}
