/* eggflow CUDA snapshot 'cuda_reduction_sum_exp': sum(exp(x), axis=1): producer fused into the sum
 * (tests/backends/test_cuda.py; EGGFLOW_UPDATE_SNAPSHOTS=1 rewrites it;
 * the kernels only: cuda_emit.PRELUDE comes first in a module)
 * step 0: reduce kreduce k0: slots (0,) -> 1
 */

struct k0_args { int64_t nout, nred, ndo, ndr; int64_t oshape[EF_MAXD]; int64_t rshape[EF_MAXD]; int64_t ptr[2]; int64_t ost[2][EF_MAXD]; int64_t rst[2][EF_MAXD]; };
extern "C" __global__ void __launch_bounds__(EF_BLOCK) k0(const k0_args a) {
    __shared__ double ef_smem[EF_BLOCK / 32];
    double *P0 = (double *)a.ptr[0]; const double *P1 = (const double *)a.ptr[1];
    for (int64_t ef_out = blockIdx.x; ef_out < a.nout; ef_out += gridDim.x) {
        int64_t ef_b0 = 0, ef_b1 = 0;
        { int64_t rem = ef_out; for (int d = (int)a.ndo - 1; d >= 0; d--) { int64_t ix = rem % a.oshape[d]; rem /= a.oshape[d]; ef_b0 += ix * a.ost[0][d]; ef_b1 += ix * a.ost[1][d]; } }
        double ef_acc = (double)(0);
        for (int64_t ef_r = threadIdx.x; ef_r < a.nred; ef_r += blockDim.x) {
            int64_t ef_o0 = ef_b0, ef_o1 = ef_b1; { int64_t rem = ef_r; for (int d = (int)a.ndr - 1; d >= 0; d--) { int64_t ix = rem % a.rshape[d]; rem /= a.rshape[d]; ef_o0 += ix * a.rst[0][d]; ef_o1 += ix * a.rst[1][d]; } } const double L0 = P1[ef_o1]; const double v0 = (double)(exp(((double)(L0)))); ef_acc = ef_op_sum()(ef_acc, ((double)(v0)));
        }
        ef_acc = ef_block_reduce(ef_acc, ef_op_sum(), (double)(0), ef_smem);
        if (threadIdx.x == 0) P0[ef_b0] = (double)ef_acc;
    }
}
extern "C" __global__ void __launch_bounds__(EF_BLOCK) k0_thread(const k0_args a) {
    double *P0 = (double *)a.ptr[0]; const double *P1 = (const double *)a.ptr[1];
    for (int64_t ef_i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; ef_i < a.nout; ef_i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t ef_out = ef_i;
        int64_t ef_b0 = 0, ef_b1 = 0;
        { int64_t rem = ef_out; for (int d = (int)a.ndo - 1; d >= 0; d--) { int64_t ix = rem % a.oshape[d]; rem /= a.oshape[d]; ef_b0 += ix * a.ost[0][d]; ef_b1 += ix * a.ost[1][d]; } }
        double ef_acc = (double)(0);
        for (int64_t ef_r = 0; ef_r < a.nred; ef_r++) {
            int64_t ef_o0 = ef_b0, ef_o1 = ef_b1; { int64_t rem = ef_r; for (int d = (int)a.ndr - 1; d >= 0; d--) { int64_t ix = rem % a.rshape[d]; rem /= a.rshape[d]; ef_o0 += ix * a.rst[0][d]; ef_o1 += ix * a.rst[1][d]; } } const double L0 = P1[ef_o1]; const double v0 = (double)(exp(((double)(L0)))); ef_acc = ef_op_sum()(ef_acc, ((double)(v0)));
        }
        P0[ef_b0] = (double)ef_acc;
    }
}
