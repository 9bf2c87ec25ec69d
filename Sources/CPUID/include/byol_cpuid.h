// What the CPU and the operating system support, read with cpuid and xgetbv: the
// instruction sets that decide which OpenBLAS kernel set a machine can run.
#ifndef BYOL_CPUID_H
#define BYOL_CPUID_H

typedef struct {
    /// 1 Intel ("GenuineIntel"), 2 AMD ("AuthenticAMD" or "HygonGenuine"), 0 other.
    int vendor;
    /// Display family and model (base plus extended fields, as the manuals define them).
    int family, model;
    int sse3, avx, fma, avx2;
    int avx512f, avx512dq, avx512bw, avx512vl, avx512bf16;
    /// The OS saves the YMM (AVX) and the ZMM and mask (AVX-512) registers on context
    /// switches (XCR0 bits 1-2 and 5-7): without it the instructions must not be used.
    int osYMM, osZMM;
} byol_cpu_features;

/// Fills `out`; all zeros on non-x86-64 machines.
void byol_cpu_detect(byol_cpu_features *out);

#endif
