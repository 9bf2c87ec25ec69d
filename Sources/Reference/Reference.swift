// The float64 reference implementation of BYOL.
//
// Contract (what makes this module worth checking others against):
// - Float64 everywhere. No BLAS, no SIMD intrinsics, no threads, no GPU: plain loops.
// - A fixed evaluation order: every sum runs over its indices in the order the loops
//   below state, so the same inputs give the same bits on every run and machine with
//   IEEE-754 doubles.
// - Every layer has a forward and a hand-written backward for its inputs and
//   parameters; nothing is differentiated automatically. The finite-difference checks
//   in `Verification` (GradCheck) prove each backward.
// - Shares no arithmetic with the optimized path: it imports only `BYOLModel` (names,
//   shapes, initialization) and never CBLAS.
// - Semantics are PyTorch's (docs/contract.md): NCHW layout, BatchNorm with eps 1e-5 and
//   momentum 0.1, biased batch variance for normalization and unbiased for the running
//   variance, Linear weights [out, in].
//
// Slow is fine; wrong is not.
