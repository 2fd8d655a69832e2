/* eggflow C snapshot 'w1_fused_chain': W1: fused chain
 * (tests/backends/test_c_snapshots.py; EGGFLOW_UPDATE_SNAPSHOTS=1 rewrites it)
 * step 0: ew kernel_i k0: slots (0,) -> 1
 */

static void k0_tile(int64_t o, int64_t i0, int64_t i1, int64_t nd, const int64_t *shape,
                        char **ptrs, const int64_t *st) {
    int64_t off[2] = {0}; int64_t rem = o;
    for (int64_t d = nd - 2; d >= 0; d--) { int64_t ix = rem % shape[d]; rem /= shape[d]; for (int k = 0; k < 2; k++) off[k] += ix * st[k * nd + d]; }
    double *P0 = (double *)ptrs[0] + off[0]; int64_t s0 = st[nd - 1];
    const double *P1 = (const double *)ptrs[1] + off[1]; int64_t s1 = st[1 * nd + nd - 1]; (void)s1;
    if (s0 == 1 && s1 == 1) {
        #pragma omp simd
        for (int64_t i = i0; i < i1; i++) { const double L0 = P1[i]; const double v0 = (double)(((double)(L0)) * ((double)(L0))); const double v1 = (double)(log1p(((double)(v0)))); const double v2 = (double)(((double)(((int64_t)3LL))) * ((double)(L0))); const double v3 = (double)(sin(((double)(v2)))); const double v4 = (double)(-((double)(v0))); const double v5 = (double)(((double)(v4)) / ((double)(((int64_t)2LL)))); const double v6 = (double)(exp(((double)(v5)))); const double v7 = (double)(((double)(v6)) * ((double)(v3))); const double v8 = (double)(((double)(v7)) + ((double)(v1))); P0[i] = v8; }
    } else {
        for (int64_t i = i0; i < i1; i++) { const double L0 = P1[i * s1]; const double v0 = (double)(((double)(L0)) * ((double)(L0))); const double v1 = (double)(log1p(((double)(v0)))); const double v2 = (double)(((double)(((int64_t)3LL))) * ((double)(L0))); const double v3 = (double)(sin(((double)(v2)))); const double v4 = (double)(-((double)(v0))); const double v5 = (double)(((double)(v4)) / ((double)(((int64_t)2LL)))); const double v6 = (double)(exp(((double)(v5)))); const double v7 = (double)(((double)(v6)) * ((double)(v3))); const double v8 = (double)(((double)(v7)) + ((double)(v1))); P0[i * s0] = v8; }
    }
}

void k0_flat(int64_t n, double *restrict P0, const double *restrict P1) {
    
    if (n < EF_MIN_PAR) {
        #pragma omp simd
        for (int64_t i = 0; i < n; i++) { const double L0 = P1[i]; const double v0 = (double)(((double)(L0)) * ((double)(L0))); const double v1 = (double)(log1p(((double)(v0)))); const double v2 = (double)(((double)(((int64_t)3LL))) * ((double)(L0))); const double v3 = (double)(sin(((double)(v2)))); const double v4 = (double)(-((double)(v0))); const double v5 = (double)(((double)(v4)) / ((double)(((int64_t)2LL)))); const double v6 = (double)(exp(((double)(v5)))); const double v7 = (double)(((double)(v6)) * ((double)(v3))); const double v8 = (double)(((double)(v7)) + ((double)(v1))); P0[i] = v8; }
    } else {
        #pragma omp parallel for simd schedule(static)
        for (int64_t i = 0; i < n; i++) { const double L0 = P1[i]; const double v0 = (double)(((double)(L0)) * ((double)(L0))); const double v1 = (double)(log1p(((double)(v0)))); const double v2 = (double)(((double)(((int64_t)3LL))) * ((double)(L0))); const double v3 = (double)(sin(((double)(v2)))); const double v4 = (double)(-((double)(v0))); const double v5 = (double)(((double)(v4)) / ((double)(((int64_t)2LL)))); const double v6 = (double)(exp(((double)(v5)))); const double v7 = (double)(((double)(v6)) * ((double)(v3))); const double v8 = (double)(((double)(v7)) + ((double)(v1))); P0[i] = v8; }
    }
}

void k0(int64_t nd, const int64_t *shape, char **ptrs, const int64_t *st) {
    int64_t inner = shape[nd - 1], outer = 1;
    for (int64_t d = 0; d < nd - 1; d++) outer *= shape[d];
    int64_t per = (inner + 4096 - 1) / 4096, tiles = outer * per;
    if (outer * inner < EF_MIN_PAR) {
        for (int64_t o = 0; o < outer; o++) k0_tile(o, 0, inner, nd, shape, ptrs, st);
        return;
    }
    #pragma omp parallel for schedule(static)
    for (int64_t t = 0; t < tiles; t++) {
        int64_t o = t / per, i0 = (t % per) * 4096;
        k0_tile(o, i0, i0 + 4096 < inner ? i0 + 4096 : inner, nd, shape, ptrs, st);
    }
}
