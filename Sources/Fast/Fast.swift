// The optimized float32 path of BYOL.
//
// Contract:
// - The reference's exact semantics (docs/contract.md) in float32: same architecture, same
//   parameter names, same loss, optimizers and EMA. Cross-validated against the float64
//   reference per layer and per step (Verification/CrossCheck.swift) within docs/contract.md §4.
// - Convolutions through im2col + OpenBLAS sgemm with the batch folded into the GEMM's
//   N dimension. Activations live in CNHW order ([C, N * H * W], one contiguous row per
//   channel): a convolution is W[K, C*R*R] x col[C*R*R, N*Ho*Wo] and its output is
//   again CNHW, BatchNorm statistics are row reductions, and linear layers see
//   feature-major [F, N] matrices. The stride-1 3x3 convolutions (all but the RGB stem)
//   use Winograd F(2x2, 3x3) instead (Winograd.swift): 16 GEMMs over transformed tiles,
//   4 multiplications per output and channel pair instead of 9, forward and both
//   gradients.
// - Byte-deterministic whatever the thread count: OpenBLAS runs single-threaded
//   (its own threading changes bits between 1 and 2 threads) and the project
//   parallelizes over a fixed partition of the work: sample groups whose boundaries
//   depend only on the shapes, per-group partial weight gradients reduced in group
//   order, per-channel statistics each summed by one thread in a fixed order.
// - Both views pass through each convolution together (batch 2N); BatchNorm
//   normalizes each view's half separately (`separate`) or all 2N (`joint`), which is
//   the reference's computation with a different summation order.
// - All buffers are allocated once per (architecture, batch, image size) and reused
//   across steps: no allocation in the hot path.
