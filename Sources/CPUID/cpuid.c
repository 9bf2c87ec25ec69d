#include "byol_cpuid.h"
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static unsigned long long xgetbv0(void) {
    unsigned int eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((unsigned long long)edx << 32) | eax;
}

void byol_cpu_detect(byol_cpu_features *out) {
    memset(out, 0, sizeof *out);
    unsigned int a, b, c, d;
    if (!__get_cpuid(0, &a, &b, &c, &d)) return;
    unsigned int maxLeaf = a;
    char vendor[13];
    memcpy(vendor, &b, 4);
    memcpy(vendor + 4, &d, 4);
    memcpy(vendor + 8, &c, 4);
    vendor[12] = 0;
    if (strcmp(vendor, "GenuineIntel") == 0) out->vendor = 1;
    else if (strcmp(vendor, "AuthenticAMD") == 0 || strcmp(vendor, "HygonGenuine") == 0) out->vendor = 2;

    __get_cpuid(1, &a, &b, &c, &d);
    int baseFamily = (a >> 8) & 0xf, baseModel = (a >> 4) & 0xf;
    int extFamily = (a >> 20) & 0xff, extModel = (a >> 16) & 0xf;
    out->family = baseFamily == 0xf ? baseFamily + extFamily : baseFamily;
    out->model = (baseFamily == 0x6 || baseFamily == 0xf) ? (extModel << 4) + baseModel : baseModel;
    out->sse3 = (c >> 0) & 1;
    out->fma = (c >> 12) & 1;
    int osxsave = (c >> 27) & 1;
    out->avx = (c >> 28) & 1;
    if (osxsave) {
        unsigned long long xcr0 = xgetbv0();
        out->osYMM = (xcr0 & 0x6) == 0x6;
        out->osZMM = (xcr0 & 0xe6) == 0xe6;
    }
    if (maxLeaf >= 7) {
        __get_cpuid_count(7, 0, &a, &b, &c, &d);
        unsigned int subleaves = a;
        out->avx2 = (b >> 5) & 1;
        out->avx512f = (b >> 16) & 1;
        out->avx512dq = (b >> 17) & 1;
        out->avx512bw = (b >> 30) & 1;
        out->avx512vl = (b >> 31) & 1;
        if (subleaves >= 1) {
            __get_cpuid_count(7, 1, &a, &b, &c, &d);
            out->avx512bf16 = (a >> 5) & 1;
        }
    }
}
#else
void byol_cpu_detect(byol_cpu_features *out) { memset(out, 0, sizeof *out); }
#endif
