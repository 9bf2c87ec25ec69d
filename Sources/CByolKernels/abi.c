// The header alone is the ABI; this file makes the target a library Swift can import.
#include "byol_kernels.h"
