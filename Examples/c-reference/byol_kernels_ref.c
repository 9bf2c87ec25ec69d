/* byol-swift's conformance ABI (byol_kernels.h) in plain C loops: the easiest thing to read
   next to the header. Build and check (from this folder; `byol` is on the PATH after the
   repository's `ci/setup --install`):

       cc -O2 -shared -fPIC -I ../../Sources/CByolKernels/include byol_kernels_ref.c -o libbyol_ref.so -lm
       byol conformance export --out cases
       byol conformance run --plugin ./libbyol_ref.so --cases cases --precision float32
       byol conformance run --plugin ./libbyol_ref.so --cases cases --precision float64 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "byol_kernels.h"

/* Every function of ABI version 2; a newer header fails here until this file implements it. */
_Static_assert(BYOL_KERNELS_ABI_VERSION == 2, "this file implements byol_kernels.h version 2");
int byol_kernels_abi_version(void) { return 2; }

#define REAL float
#define SUFFIX _f32
#include "kernels.inc"
#undef REAL
#undef SUFFIX

#define REAL double
#define SUFFIX _f64
#include "kernels.inc"
