/* byol-swift's conformance ABI (byol_kernels.h), float32, with the convolutions as im2col +
   cblas_sgemm and the linear layers as cblas_sgemm; the other layers (BatchNorm, its running
   statistics' update, ReLU, pooling, the losses, the optimizers and the EMA) are the plain
   loops of Examples/c-reference. Build and check:

       (from this folder; `byol` is on the PATH after the repository's `ci/setup --install`)
       cc -O2 -shared -fPIC -I ../../Sources/CByolKernels/include byol_kernels_openblas.c -o libbyol_openblas.so -lopenblas -lm
       byol conformance run --plugin ./libbyol_openblas.so --cases cases --precision float32 */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "byol_kernels.h"

/* Every function of ABI version 2; a newer header fails here until this file implements it. */
_Static_assert(BYOL_KERNELS_ABI_VERSION == 2, "this file implements byol_kernels.h version 2");
int byol_kernels_abi_version(void) { return 2; }

/* col [c*r*r, ho*wo] of one sample x [c, h, w] (0 outside the image). */
static void im2col(const float *x, int64_t c, int64_t h, int64_t w, int64_t r, int64_t stride, int64_t pad, int64_t ho, int64_t wo, float *col) {
    for (int64_t ci = 0; ci < c; ci++)
        for (int64_t a = 0; a < r; a++)
            for (int64_t b = 0; b < r; b++) {
                float *row = col + ((ci * r + a) * r + b) * ho * wo;
                for (int64_t i = 0; i < ho; i++)
                    for (int64_t j = 0; j < wo; j++) {
                        int64_t ih = i * stride - pad + a, iw = j * stride - pad + b;
                        row[i * wo + j] = (ih < 0 || ih >= h || iw < 0 || iw >= w) ? 0.0f : x[(ci * h + ih) * w + iw];
                    }
            }
}

/* The adjoint of im2col: dx [c, h, w] += col. */
static void col2im(const float *col, int64_t c, int64_t h, int64_t w, int64_t r, int64_t stride, int64_t pad, int64_t ho, int64_t wo, float *dx) {
    for (int64_t ci = 0; ci < c; ci++)
        for (int64_t a = 0; a < r; a++)
            for (int64_t b = 0; b < r; b++) {
                const float *row = col + ((ci * r + a) * r + b) * ho * wo;
                for (int64_t i = 0; i < ho; i++)
                    for (int64_t j = 0; j < wo; j++) {
                        int64_t ih = i * stride - pad + a, iw = j * stride - pad + b;
                        if (ih >= 0 && ih < h && iw >= 0 && iw < w) dx[(ci * h + ih) * w + iw] += row[i * wo + j];
                    }
            }
}

int byol_conv2d_forward_f32(const float *x, int64_t n, int64_t c, int64_t h, int64_t w, const float *weight, int64_t k, int64_t r,
                            int64_t stride, int64_t pad, float *y) {
    if (stride < 1 || pad < 0 || h + 2 * pad < r || w + 2 * pad < r) return 1;
    int64_t ho = (h + 2 * pad - r) / stride + 1, wo = (w + 2 * pad - r) / stride + 1, crr = c * r * r;
    float *col = malloc(sizeof(float) * (size_t)(crr * ho * wo));
    if (!col) return 2;
    for (int64_t s = 0; s < n; s++) {
        im2col(x + s * c * h * w, c, h, w, r, stride, pad, ho, wo, col);
        /* y_s [k, ho*wo] = weight [k, crr] x col [crr, ho*wo] */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)k, (int)(ho * wo), (int)crr, 1.0f, weight, (int)crr, col,
                    (int)(ho * wo), 0.0f, y + s * k * ho * wo, (int)(ho * wo));
    }
    free(col);
    return 0;
}

int byol_conv2d_backward_data_f32(const float *dy, int64_t n, int64_t k, int64_t ho, int64_t wo, const float *weight, int64_t c,
                                  int64_t r, int64_t stride, int64_t pad, int64_t h, int64_t w, float *dx) {
    int64_t crr = c * r * r;
    float *col = malloc(sizeof(float) * (size_t)(crr * ho * wo));
    if (!col) return 2;
    memset(dx, 0, sizeof(float) * (size_t)(n * c * h * w));
    for (int64_t s = 0; s < n; s++) {
        /* dcol [crr, ho*wo] = weight^T [crr, k] x dy_s [k, ho*wo] */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)crr, (int)(ho * wo), (int)k, 1.0f, weight, (int)crr,
                    dy + s * k * ho * wo, (int)(ho * wo), 0.0f, col, (int)(ho * wo));
        col2im(col, c, h, w, r, stride, pad, ho, wo, dx + s * c * h * w);
    }
    free(col);
    return 0;
}

int byol_conv2d_backward_weights_f32(const float *x, int64_t n, int64_t c, int64_t h, int64_t w, const float *dy, int64_t k,
                                     int64_t ho, int64_t wo, int64_t r, int64_t stride, int64_t pad, float *dweight) {
    int64_t crr = c * r * r;
    float *col = malloc(sizeof(float) * (size_t)(crr * ho * wo));
    if (!col) return 2;
    for (int64_t s = 0; s < n; s++) {
        im2col(x + s * c * h * w, c, h, w, r, stride, pad, ho, wo, col);
        /* dweight [k, crr] (+)= dy_s [k, ho*wo] x col^T [ho*wo, crr] */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)k, (int)crr, (int)(ho * wo), 1.0f, dy + s * k * ho * wo,
                    (int)(ho * wo), col, (int)(ho * wo), s == 0 ? 0.0f : 1.0f, dweight, (int)crr);
    }
    free(col);
    return 0;
}

int byol_linear_forward_f32(const float *x, int64_t n, int64_t in, const float *weight, int64_t out, const float *bias, float *y) {
    for (int64_t s = 0; s < n; s++) memcpy(y + s * out, bias, sizeof(float) * (size_t)out);
    /* y [n, out] = x [n, in] x weight^T [in, out] + y */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)out, (int)in, 1.0f, x, (int)in, weight, (int)in, 1.0f, y, (int)out);
    return 0;
}

int byol_linear_backward_f32(const float *dy, const float *x, int64_t n, int64_t in, const float *weight, int64_t out, float *dx,
                             float *dweight, float *dbias) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)in, (int)out, 1.0f, dy, (int)out, weight, (int)in, 0.0f, dx, (int)in);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)out, (int)in, (int)n, 1.0f, dy, (int)out, x, (int)in, 0.0f, dweight, (int)in);
    for (int64_t o = 0; o < out; o++) {
        float sum = 0;
        for (int64_t s = 0; s < n; s++) sum += dy[s * out + o];
        dbias[o] = sum;
    }
    return 0;
}

/* BatchNorm (and its running statistics), ReLU, pooling, the losses and the updates: the reference's plain loops, float only. */
#define BYOL_OMIT_GEMM_LAYERS
#define REAL float
#define SUFFIX _f32
#include "../c-reference/kernels.inc"
