/* eggflow CUDA snapshot 'cuda_w1_fused_chain': W1: fused chain
 * (tests/backends/test_cuda.py; EGGFLOW_UPDATE_SNAPSHOTS=1 rewrites it;
 * the kernels only: cuda_emit.PRELUDE comes first in a module)
 * step 0: ew kernel_i k0: slots (0,) -> 1
 */

struct k0_args { int64_t n, nd; int64_t shape[EF_MAXD]; int64_t ptr[2]; int64_t st[2][EF_MAXD]; };
extern "C" __global__ void __launch_bounds__(EF_BLOCK) k0(const k0_args a) {
    double *P0 = (double *)a.ptr[0]; const double *P1 = (const double *)a.ptr[1];
    for (int64_t ef_i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; ef_i < a.n; ef_i += (int64_t)gridDim.x * blockDim.x) {
        int64_t ef_o0 = 0, ef_o1 = 0;
        { int64_t rem = ef_i; for (int d = (int)a.nd - 1; d >= 0; d--) { int64_t ix = rem % a.shape[d]; rem /= a.shape[d]; ef_o0 += ix * a.st[0][d]; ef_o1 += ix * a.st[1][d]; } }
        const double L0 = P1[ef_o1];
        const double v0 = (double)(((double)(L0)) * ((double)(L0))); const double v1 = (double)(log1p(((double)(v0)))); const double v2 = (double)(((double)(((int64_t)3LL))) * ((double)(L0))); const double v3 = (double)(sin(((double)(v2)))); const double v4 = (double)(-((double)(v0))); const double v5 = (double)(((double)(v4)) / ((double)(((int64_t)2LL)))); const double v6 = (double)(exp(((double)(v5)))); const double v7 = (double)(((double)(v6)) * ((double)(v3))); const double v8 = (double)(((double)(v7)) + ((double)(v1)));
        P0[ef_o0] = v8;
    }
}
extern "C" __global__ void __launch_bounds__(EF_BLOCK) k0_flat(int64_t n, double *P0, const double *P1) {
    
    for (int64_t ef_i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; ef_i < n; ef_i += (int64_t)gridDim.x * blockDim.x) {
        const double L0 = P1[ef_i]; const double v0 = (double)(((double)(L0)) * ((double)(L0))); const double v1 = (double)(log1p(((double)(v0)))); const double v2 = (double)(((double)(((int64_t)3LL))) * ((double)(L0))); const double v3 = (double)(sin(((double)(v2)))); const double v4 = (double)(-((double)(v0))); const double v5 = (double)(((double)(v4)) / ((double)(((int64_t)2LL)))); const double v6 = (double)(exp(((double)(v5)))); const double v7 = (double)(((double)(v6)) * ((double)(v3))); const double v8 = (double)(((double)(v7)) + ((double)(v1)));
        P0[ef_i] = v8;
    }
}
