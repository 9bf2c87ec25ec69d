#include <mpi.h>

// Open MPI's predefined handles are macros that cast the address of a library global,
// which Swift does not import: these return them.
static inline MPI_Comm byol_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype byol_mpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype byol_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype byol_mpi_int64(void) { return MPI_INT64_T; }
static inline MPI_Datatype byol_mpi_byte(void) { return MPI_BYTE; }
static inline MPI_Op byol_mpi_max(void) { return MPI_MAX; }
static inline MPI_Errhandler byol_mpi_errors_return(void) { return MPI_ERRORS_RETURN; }
