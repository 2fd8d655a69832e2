/* eggflow C snapshot 'reduction_sum_exp': sum(exp(x), axis=1): producer fused into the sum
 * (tests/backends/test_c_snapshots.py; EGGFLOW_UPDATE_SNAPSHOTS=1 rewrites it)
 * step 0: reduce kreduce k0: slots (0,) -> 1
 */

static void k0_row(int64_t o, int64_t inner, int64_t nd, const int64_t *shape, char **ptrs,
                       const int64_t *st) {
    int64_t off[2] = {0}; int64_t rem = o;
    for (int64_t d = nd - 2; d >= 0; d--) { int64_t ix = rem % shape[d]; rem /= shape[d]; for (int k = 0; k < 2; k++) off[k] += ix * st[k * nd + d]; }
    double *P0 = (double *)ptrs[0] + off[0]; int64_t s0 = st[nd - 1];
    const double *P1 = (const double *)ptrs[1] + off[1]; int64_t s1 = st[1 * nd + nd - 1]; (void)s1;
    if (s0 == 0) {
        double acc = (double)P0[0];
        if (s1 == 1) {
            #pragma omp simd reduction(+:acc)
            for (int64_t i = 0; i < inner; i++) { const double L0 = P1[i]; const double v0 = (double)(exp(((double)(L0)))); acc = acc + ((double)(v0)); }
        } else {
            for (int64_t i = 0; i < inner; i++) { const double L0 = P1[i * s1]; const double v0 = (double)(exp(((double)(L0)))); acc = acc + ((double)(v0)); }
        }
        P0[0] = (double)acc;
    } else if (s0 == 1 && s1 == 1) {
        #pragma omp simd
        for (int64_t i = 0; i < inner; i++) { const double L0 = P1[i]; const double v0 = (double)(exp(((double)(L0)))); P0[i] = (double)(P0[i] + ((double)(v0))); }
    } else {
        for (int64_t i = 0; i < inner; i++) { const double L0 = P1[i * s1]; const double v0 = (double)(exp(((double)(L0)))); P0[i * s0] = (double)(P0[i * s0] + ((double)(v0))); }
    }
}
void k0(int64_t nd, const int64_t *shape, char **ptrs, const int64_t *st, int64_t nout,
            int64_t parallel) {
    double *out = (double *)ptrs[0];
    for (int64_t j = 0; j < nout; j++) out[j] = 0;
    int64_t inner = shape[nd - 1], outer = 1;
    for (int64_t d = 0; d < nd - 1; d++) outer *= shape[d];
    if (parallel && outer * inner >= EF_MIN_PAR && outer > 1) {
        #pragma omp parallel for schedule(static)
        for (int64_t o = 0; o < outer; o++) k0_row(o, inner, nd, shape, ptrs, st);
    } else {
        for (int64_t o = 0; o < outer; o++) k0_row(o, inner, nd, shape, ptrs, st);
    }
}
