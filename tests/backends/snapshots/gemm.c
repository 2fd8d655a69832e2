/* eggflow C snapshot 'gemm': z + dot(x, y): one BLAS gemm, no generated kernel
 * (tests/backends/test_c_snapshots.py; EGGFLOW_UPDATE_SNAPSHOTS=1 rewrites it)
 * step 0: blas gemm: slots (2, 3, 0, 1, 3) -> 4
 */
