/* byol_kernels.h: the C ABI of byol-swift's conformance kit, version 2.

   A shared library that exports some of the functions below can be checked:

       byol conformance run --plugin ./libmine.so --cases cases [--precision float32] [--junit report.xml] [--timeout 120]

   runs every exported case (byol conformance export) through the functions the library
   exports and holds the outputs to the bounds of docs/contract.md §4; functions it does
   not export are named and skipped. The library must export byol_kernels_abi_version()
   returning the version it was built for: 2 (BYOL_KERNELS_ABI_VERSION), or 1 for a
   library of the first version, which lacks the functions version 2 added (they are
   skipped, named with "(ABI version 2)"). Any other version is refused.

   The library is loaded only in child processes of the harness, one per case: a crash
   (SIGSEGV, abort), an exit() or a function that does not return within --timeout
   seconds fails that case's outputs with a message naming the symbol, and the run goes
   on with the next case. Nothing of the library runs in the harness's own process.

   Version history:
   1  the layer, loss, optimizer and EMA functions below.
   2  byol_batchnorm_running_update_f32/_f64: BatchNorm's running statistics.

   Conventions, for every function:
   - Tensors are contiguous and row-major: images NCHW [n, c, h, w], matrices [rows,
     columns]; shapes are passed explicitly, so the strides are the contiguous ones.
   - Inputs are const; outputs are written in full (their previous contents are
     undefined) and never alias an input.
   - The return value is 0 on success and non-zero on an error (a shape the function
     does not support, for example); the harness reports the code.
   - _f32 functions compute in float (the float32 bounds apply), _f64 ones in double
     (the float64 bounds). A library may export either set or both.
   Examples: Examples/c-reference (plain loops), Examples/c-openblas (im2col + sgemm). */
#ifndef BYOL_KERNELS_H
#define BYOL_KERNELS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BYOL_KERNELS_ABI_VERSION 2

int byol_kernels_abi_version(void);
/* ---- float (float32) ---- */
/* y [n, k, ho, wo] = the convolution of x [n, c, h, w] with weight [k, c, r, r] (no bias), ho = (h + 2 pad - r) / stride + 1. */
int byol_conv2d_forward_f32(const float *x, int64_t n, int64_t c, int64_t h, int64_t w, const float *weight, int64_t k, int64_t r, int64_t stride, int64_t pad, float *y);
/* dx [n, c, h, w] = the gradient of sum(y * dy) with respect to x, for dy [n, k, ho, wo]. */
int byol_conv2d_backward_data_f32(const float *dy, int64_t n, int64_t k, int64_t ho, int64_t wo, const float *weight, int64_t c, int64_t r, int64_t stride, int64_t pad, int64_t h, int64_t w, float *dx);
/* dweight [k, c, r, r] = the gradient of sum(y * dy) with respect to weight. */
int byol_conv2d_backward_weights_f32(const float *x, int64_t n, int64_t c, int64_t h, int64_t w, const float *dy, int64_t k, int64_t ho, int64_t wo, int64_t r, int64_t stride, int64_t pad, float *dweight);
/* Train-mode BatchNorm over x [n, c, spatial] (spatial = h * w, or 1 for BatchNorm1d): per channel the batch mean
   and the biased variance over n * spatial values; y = gamma (x - mean) / sqrt(var + eps) + beta. save_mean and
   save_invstd [c] receive mean and 1 / sqrt(var + eps) for the backward call. */
int byol_batchnorm_train_forward_f32(const float *x, int64_t n, int64_t c, int64_t spatial, const float *gamma, const float *beta, double eps, float *y, float *save_mean, float *save_invstd);
/* The train-mode gradients for dy [n, c, spatial], from the forward call's saved statistics. */
int byol_batchnorm_train_backward_f32(const float *dy, const float *x, int64_t n, int64_t c, int64_t spatial, const float *gamma, const float *save_mean, const float *save_invstd, float *dx, float *dgamma, float *dbeta);
/* Eval-mode BatchNorm with running statistics. */
int byol_batchnorm_eval_forward_f32(const float *x, int64_t n, int64_t c, int64_t spatial, const float *gamma, const float *beta, const float *running_mean, const float *running_var, double eps, float *y);
/* Version 2. Train-mode BatchNorm's update of the running statistics (PyTorch's, momentum a fraction) from
   x [n, c, s] (s = h * w, or 1 for BatchNorm1d): per channel, the batch mean and the biased variance var over
   the m = n * s values; running_mean_out = (1 - momentum) running_mean + momentum mean, running_var_out =
   (1 - momentum) running_var + momentum var m / (m - 1) (the unbiased variance), num_batches_tracked_out =
   num_batches_tracked + 1. An error when m < 2. */
int byol_batchnorm_running_update_f32(const float *x, int64_t n, int64_t c, int64_t s, const float *running_mean, const float *running_var,
                                       int64_t num_batches_tracked, double momentum, float *running_mean_out, float *running_var_out,
                                       int64_t *num_batches_tracked_out);
/* y [n, out] = x [n, in] weight^T + bias, weight [out, in], bias [out]. */
int byol_linear_forward_f32(const float *x, int64_t n, int64_t in_features, const float *weight, int64_t out_features, const float *bias, float *y);
/* dx [n, in], dweight [out, in] and dbias [out] for dy [n, out]. */
int byol_linear_backward_f32(const float *dy, const float *x, int64_t n, int64_t in_features, const float *weight, int64_t out_features, float *dx, float *dweight, float *dbias);
/* y = max(x, 0) elementwise; a NaN stays NaN. */
int byol_relu_forward_f32(const float *x, int64_t count, float *y);
/* dx = dy where x > 0, else 0. */
int byol_relu_backward_f32(const float *dy, const float *x, int64_t count, float *dx);
/* Global average pooling: y [n, c] = the mean of each x [n, c, hw] row. */
int byol_avgpool_forward_f32(const float *x, int64_t n, int64_t c, int64_t hw, float *y);
/* dx [n, c, hw] = dy [n, c] / hw. */
int byol_avgpool_backward_f32(const float *dy, int64_t n, int64_t c, int64_t hw, float *dx);
/* BYOL's normalized MSE: loss = mean over rows i of || p_i / max(||p_i||, 1e-12) - z_i / max(||z_i||, 1e-12) ||^2
   for p, z [n, d]; written as a double whatever the precision. */
int byol_loss_forward_f32(const float *p, const float *z, int64_t n, int64_t d, double *loss);
/* dp [n, d] = the gradient of the loss with respect to p (z is a constant). */
int byol_loss_backward_f32(const float *p, const float *z, int64_t n, int64_t d, float *dp);
/* BYOL's loss over two views: loss = l(p1, z2) + l(p2, z1), each l the loss above (a batch mean):
   each view's prediction against the other view's target. */
int byol_symmetric_loss_forward_f32(const float *p1, const float *p2, const float *z1, const float *z2, int64_t n, int64_t d, double *loss);
/* dp1, dp2 [n, d]: its gradients with respect to p1 and p2 (the targets are constants). */
int byol_symmetric_loss_backward_f32(const float *p1, const float *p2, const float *z1, const float *z2, int64_t n, int64_t d, float *dp1, float *dp2);
/* SGD with momentum (PyTorch's, dampening 0) on one tensor of `count` values: d = grad + weight_decay param;
   momentum_buffer_out = momentum momentum_buffer + d; param_out = param - lr momentum_buffer_out. */
int byol_sgd_update_f32(const float *param, const float *grad, const float *momentum_buffer, int64_t count, double lr, double momentum,
                        double weight_decay, float *param_out, float *momentum_buffer_out);
/* BYOL's LARS: for a tensor of more than one dimension (is_matrix = 1), d = grad + weight_decay param, scaled by
   eta ||param|| / ||d|| when both norms are > 0; otherwise d = grad. Then as SGD with d. */
int byol_lars_update_f32(const float *param, const float *grad, const float *momentum_buffer, int64_t count, int is_matrix, double lr,
                         double momentum, double weight_decay, double eta, float *param_out, float *momentum_buffer_out);
/* PyTorch's Adam (L2 weight decay, no amsgrad) after `step` finished steps (t = step + 1): d = grad + weight_decay param;
   exp_avg_out = exp_avg + (1 - beta1) (d - exp_avg); exp_avg_sq_out = beta2 exp_avg_sq + (1 - beta2) d^2;
   param_out = param - lr / (1 - beta1^t) exp_avg_out / (sqrt(exp_avg_sq_out) / sqrt(1 - beta2^t) + eps). */
int byol_adam_update_f32(const float *param, const float *grad, const float *exp_avg, const float *exp_avg_sq, int64_t count, int64_t step,
                         double lr, double beta1, double beta2, double eps, double weight_decay, float *param_out, float *exp_avg_out,
                         float *exp_avg_sq_out);
/* The target network's EMA: target_out = target + (1 - tau) (online - target). */
int byol_ema_update_f32(const float *target, const float *online, int64_t count, double tau, float *target_out);
/* ---- double (float64) ---- */
/* y [n, k, ho, wo] = the convolution of x [n, c, h, w] with weight [k, c, r, r] (no bias), ho = (h + 2 pad - r) / stride + 1. */
int byol_conv2d_forward_f64(const double *x, int64_t n, int64_t c, int64_t h, int64_t w, const double *weight, int64_t k, int64_t r, int64_t stride, int64_t pad, double *y);
/* dx [n, c, h, w] = the gradient of sum(y * dy) with respect to x, for dy [n, k, ho, wo]. */
int byol_conv2d_backward_data_f64(const double *dy, int64_t n, int64_t k, int64_t ho, int64_t wo, const double *weight, int64_t c, int64_t r, int64_t stride, int64_t pad, int64_t h, int64_t w, double *dx);
/* dweight [k, c, r, r] = the gradient of sum(y * dy) with respect to weight. */
int byol_conv2d_backward_weights_f64(const double *x, int64_t n, int64_t c, int64_t h, int64_t w, const double *dy, int64_t k, int64_t ho, int64_t wo, int64_t r, int64_t stride, int64_t pad, double *dweight);
/* Train-mode BatchNorm over x [n, c, spatial] (spatial = h * w, or 1 for BatchNorm1d): per channel the batch mean
   and the biased variance over n * spatial values; y = gamma (x - mean) / sqrt(var + eps) + beta. save_mean and
   save_invstd [c] receive mean and 1 / sqrt(var + eps) for the backward call. */
int byol_batchnorm_train_forward_f64(const double *x, int64_t n, int64_t c, int64_t spatial, const double *gamma, const double *beta, double eps, double *y, double *save_mean, double *save_invstd);
/* The train-mode gradients for dy [n, c, spatial], from the forward call's saved statistics. */
int byol_batchnorm_train_backward_f64(const double *dy, const double *x, int64_t n, int64_t c, int64_t spatial, const double *gamma, const double *save_mean, const double *save_invstd, double *dx, double *dgamma, double *dbeta);
/* Eval-mode BatchNorm with running statistics. */
int byol_batchnorm_eval_forward_f64(const double *x, int64_t n, int64_t c, int64_t spatial, const double *gamma, const double *beta, const double *running_mean, const double *running_var, double eps, double *y);
/* Version 2. Train-mode BatchNorm's update of the running statistics (PyTorch's, momentum a fraction) from
   x [n, c, s] (s = h * w, or 1 for BatchNorm1d): per channel, the batch mean and the biased variance var over
   the m = n * s values; running_mean_out = (1 - momentum) running_mean + momentum mean, running_var_out =
   (1 - momentum) running_var + momentum var m / (m - 1) (the unbiased variance), num_batches_tracked_out =
   num_batches_tracked + 1. An error when m < 2. */
int byol_batchnorm_running_update_f64(const double *x, int64_t n, int64_t c, int64_t s, const double *running_mean, const double *running_var,
                                       int64_t num_batches_tracked, double momentum, double *running_mean_out, double *running_var_out,
                                       int64_t *num_batches_tracked_out);
/* y [n, out] = x [n, in] weight^T + bias, weight [out, in], bias [out]. */
int byol_linear_forward_f64(const double *x, int64_t n, int64_t in_features, const double *weight, int64_t out_features, const double *bias, double *y);
/* dx [n, in], dweight [out, in] and dbias [out] for dy [n, out]. */
int byol_linear_backward_f64(const double *dy, const double *x, int64_t n, int64_t in_features, const double *weight, int64_t out_features, double *dx, double *dweight, double *dbias);
/* y = max(x, 0) elementwise; a NaN stays NaN. */
int byol_relu_forward_f64(const double *x, int64_t count, double *y);
/* dx = dy where x > 0, else 0. */
int byol_relu_backward_f64(const double *dy, const double *x, int64_t count, double *dx);
/* Global average pooling: y [n, c] = the mean of each x [n, c, hw] row. */
int byol_avgpool_forward_f64(const double *x, int64_t n, int64_t c, int64_t hw, double *y);
/* dx [n, c, hw] = dy [n, c] / hw. */
int byol_avgpool_backward_f64(const double *dy, int64_t n, int64_t c, int64_t hw, double *dx);
/* BYOL's normalized MSE: loss = mean over rows i of || p_i / max(||p_i||, 1e-12) - z_i / max(||z_i||, 1e-12) ||^2
   for p, z [n, d]; written as a double whatever the precision. */
int byol_loss_forward_f64(const double *p, const double *z, int64_t n, int64_t d, double *loss);
/* dp [n, d] = the gradient of the loss with respect to p (z is a constant). */
int byol_loss_backward_f64(const double *p, const double *z, int64_t n, int64_t d, double *dp);
/* BYOL's loss over two views: loss = l(p1, z2) + l(p2, z1), each l the loss above (a batch mean):
   each view's prediction against the other view's target. */
int byol_symmetric_loss_forward_f64(const double *p1, const double *p2, const double *z1, const double *z2, int64_t n, int64_t d, double *loss);
/* dp1, dp2 [n, d]: its gradients with respect to p1 and p2 (the targets are constants). */
int byol_symmetric_loss_backward_f64(const double *p1, const double *p2, const double *z1, const double *z2, int64_t n, int64_t d, double *dp1, double *dp2);
/* SGD with momentum (PyTorch's, dampening 0) on one tensor of `count` values: d = grad + weight_decay param;
   momentum_buffer_out = momentum momentum_buffer + d; param_out = param - lr momentum_buffer_out. */
int byol_sgd_update_f64(const double *param, const double *grad, const double *momentum_buffer, int64_t count, double lr, double momentum,
                        double weight_decay, double *param_out, double *momentum_buffer_out);
/* BYOL's LARS: for a tensor of more than one dimension (is_matrix = 1), d = grad + weight_decay param, scaled by
   eta ||param|| / ||d|| when both norms are > 0; otherwise d = grad. Then as SGD with d. */
int byol_lars_update_f64(const double *param, const double *grad, const double *momentum_buffer, int64_t count, int is_matrix, double lr,
                         double momentum, double weight_decay, double eta, double *param_out, double *momentum_buffer_out);
/* PyTorch's Adam (L2 weight decay, no amsgrad) after `step` finished steps (t = step + 1): d = grad + weight_decay param;
   exp_avg_out = exp_avg + (1 - beta1) (d - exp_avg); exp_avg_sq_out = beta2 exp_avg_sq + (1 - beta2) d^2;
   param_out = param - lr / (1 - beta1^t) exp_avg_out / (sqrt(exp_avg_sq_out) / sqrt(1 - beta2^t) + eps). */
int byol_adam_update_f64(const double *param, const double *grad, const double *exp_avg, const double *exp_avg_sq, int64_t count, int64_t step,
                         double lr, double beta1, double beta2, double eps, double weight_decay, double *param_out, double *exp_avg_out,
                         double *exp_avg_sq_out);
/* The target network's EMA: target_out = target + (1 - tau) (online - target). */
int byol_ema_update_f64(const double *target, const double *online, int64_t count, double tau, double *target_out);
/* Pointer types of the functions above, for loaders. */
typedef int (*byol_kernels_abi_version_fn)(void);
typedef int (*byol_conv2d_forward_f32_fn)(const float *x, int64_t n, int64_t c, int64_t h, int64_t w, const float *weight, int64_t k, int64_t r, int64_t stride, int64_t pad, float *y);
typedef int (*byol_conv2d_backward_data_f32_fn)(const float *dy, int64_t n, int64_t k, int64_t ho, int64_t wo, const float *weight, int64_t c, int64_t r, int64_t stride, int64_t pad, int64_t h, int64_t w, float *dx);
typedef int (*byol_conv2d_backward_weights_f32_fn)(const float *x, int64_t n, int64_t c, int64_t h, int64_t w, const float *dy, int64_t k, int64_t ho, int64_t wo, int64_t r, int64_t stride, int64_t pad, float *dweight);
typedef int (*byol_batchnorm_train_forward_f32_fn)(const float *x, int64_t n, int64_t c, int64_t spatial, const float *gamma, const float *beta, double eps, float *y, float *save_mean, float *save_invstd);
typedef int (*byol_batchnorm_train_backward_f32_fn)(const float *dy, const float *x, int64_t n, int64_t c, int64_t spatial, const float *gamma, const float *save_mean, const float *save_invstd, float *dx, float *dgamma, float *dbeta);
typedef int (*byol_batchnorm_eval_forward_f32_fn)(const float *x, int64_t n, int64_t c, int64_t spatial, const float *gamma, const float *beta, const float *running_mean, const float *running_var, double eps, float *y);
typedef int (*byol_batchnorm_running_update_f32_fn)(const float *x, int64_t n, int64_t c, int64_t s, const float *running_mean, const float *running_var, int64_t num_batches_tracked, double momentum, float *running_mean_out, float *running_var_out, int64_t *num_batches_tracked_out);
typedef int (*byol_linear_forward_f32_fn)(const float *x, int64_t n, int64_t in_features, const float *weight, int64_t out_features, const float *bias, float *y);
typedef int (*byol_linear_backward_f32_fn)(const float *dy, const float *x, int64_t n, int64_t in_features, const float *weight, int64_t out_features, float *dx, float *dweight, float *dbias);
typedef int (*byol_relu_forward_f32_fn)(const float *x, int64_t count, float *y);
typedef int (*byol_relu_backward_f32_fn)(const float *dy, const float *x, int64_t count, float *dx);
typedef int (*byol_avgpool_forward_f32_fn)(const float *x, int64_t n, int64_t c, int64_t hw, float *y);
typedef int (*byol_avgpool_backward_f32_fn)(const float *dy, int64_t n, int64_t c, int64_t hw, float *dx);
typedef int (*byol_loss_forward_f32_fn)(const float *p, const float *z, int64_t n, int64_t d, double *loss);
typedef int (*byol_loss_backward_f32_fn)(const float *p, const float *z, int64_t n, int64_t d, float *dp);
typedef int (*byol_symmetric_loss_forward_f32_fn)(const float *p1, const float *p2, const float *z1, const float *z2, int64_t n, int64_t d, double *loss);
typedef int (*byol_symmetric_loss_backward_f32_fn)(const float *p1, const float *p2, const float *z1, const float *z2, int64_t n, int64_t d, float *dp1, float *dp2);
typedef int (*byol_sgd_update_f32_fn)(const float *param, const float *grad, const float *momentum_buffer, int64_t count, double lr, double momentum, double weight_decay, float *param_out, float *momentum_buffer_out);
typedef int (*byol_lars_update_f32_fn)(const float *param, const float *grad, const float *momentum_buffer, int64_t count, int is_matrix, double lr, double momentum, double weight_decay, double eta, float *param_out, float *momentum_buffer_out);
typedef int (*byol_adam_update_f32_fn)(const float *param, const float *grad, const float *exp_avg, const float *exp_avg_sq, int64_t count, int64_t step, double lr, double beta1, double beta2, double eps, double weight_decay, float *param_out, float *exp_avg_out, float *exp_avg_sq_out);
typedef int (*byol_ema_update_f32_fn)(const float *target, const float *online, int64_t count, double tau, float *target_out);
typedef int (*byol_conv2d_forward_f64_fn)(const double *x, int64_t n, int64_t c, int64_t h, int64_t w, const double *weight, int64_t k, int64_t r, int64_t stride, int64_t pad, double *y);
typedef int (*byol_conv2d_backward_data_f64_fn)(const double *dy, int64_t n, int64_t k, int64_t ho, int64_t wo, const double *weight, int64_t c, int64_t r, int64_t stride, int64_t pad, int64_t h, int64_t w, double *dx);
typedef int (*byol_conv2d_backward_weights_f64_fn)(const double *x, int64_t n, int64_t c, int64_t h, int64_t w, const double *dy, int64_t k, int64_t ho, int64_t wo, int64_t r, int64_t stride, int64_t pad, double *dweight);
typedef int (*byol_batchnorm_train_forward_f64_fn)(const double *x, int64_t n, int64_t c, int64_t spatial, const double *gamma, const double *beta, double eps, double *y, double *save_mean, double *save_invstd);
typedef int (*byol_batchnorm_train_backward_f64_fn)(const double *dy, const double *x, int64_t n, int64_t c, int64_t spatial, const double *gamma, const double *save_mean, const double *save_invstd, double *dx, double *dgamma, double *dbeta);
typedef int (*byol_batchnorm_eval_forward_f64_fn)(const double *x, int64_t n, int64_t c, int64_t spatial, const double *gamma, const double *beta, const double *running_mean, const double *running_var, double eps, double *y);
typedef int (*byol_batchnorm_running_update_f64_fn)(const double *x, int64_t n, int64_t c, int64_t s, const double *running_mean, const double *running_var, int64_t num_batches_tracked, double momentum, double *running_mean_out, double *running_var_out, int64_t *num_batches_tracked_out);
typedef int (*byol_linear_forward_f64_fn)(const double *x, int64_t n, int64_t in_features, const double *weight, int64_t out_features, const double *bias, double *y);
typedef int (*byol_linear_backward_f64_fn)(const double *dy, const double *x, int64_t n, int64_t in_features, const double *weight, int64_t out_features, double *dx, double *dweight, double *dbias);
typedef int (*byol_relu_forward_f64_fn)(const double *x, int64_t count, double *y);
typedef int (*byol_relu_backward_f64_fn)(const double *dy, const double *x, int64_t count, double *dx);
typedef int (*byol_avgpool_forward_f64_fn)(const double *x, int64_t n, int64_t c, int64_t hw, double *y);
typedef int (*byol_avgpool_backward_f64_fn)(const double *dy, int64_t n, int64_t c, int64_t hw, double *dx);
typedef int (*byol_loss_forward_f64_fn)(const double *p, const double *z, int64_t n, int64_t d, double *loss);
typedef int (*byol_loss_backward_f64_fn)(const double *p, const double *z, int64_t n, int64_t d, double *dp);
typedef int (*byol_symmetric_loss_forward_f64_fn)(const double *p1, const double *p2, const double *z1, const double *z2, int64_t n, int64_t d, double *loss);
typedef int (*byol_symmetric_loss_backward_f64_fn)(const double *p1, const double *p2, const double *z1, const double *z2, int64_t n, int64_t d, double *dp1, double *dp2);
typedef int (*byol_sgd_update_f64_fn)(const double *param, const double *grad, const double *momentum_buffer, int64_t count, double lr, double momentum, double weight_decay, double *param_out, double *momentum_buffer_out);
typedef int (*byol_lars_update_f64_fn)(const double *param, const double *grad, const double *momentum_buffer, int64_t count, int is_matrix, double lr, double momentum, double weight_decay, double eta, double *param_out, double *momentum_buffer_out);
typedef int (*byol_adam_update_f64_fn)(const double *param, const double *grad, const double *exp_avg, const double *exp_avg_sq, int64_t count, int64_t step, double lr, double beta1, double beta2, double eps, double weight_decay, double *param_out, double *exp_avg_out, double *exp_avg_sq_out);
typedef int (*byol_ema_update_f64_fn)(const double *target, const double *online, int64_t count, double tau, double *target_out);

#ifdef __cplusplus
}
#endif

#endif
