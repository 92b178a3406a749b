/* The hot loops of ssim2.c, written once and compiled twice: ssim2.c includes this file with
 * KN(name) / KATTR set for the baseline and again for AVX2+FMA, and picks one set at run time.
 *
 * Vectors are GCC vector extensions of 8 floats: on baseline x86-64 each operation becomes two
 * SSE instructions, under target("avx2,fma") one AVX instruction (and a*b+c may fuse to FMA),
 * on aarch64 two NEON instructions. Rows are padded to a multiple of 8 floats (see ssim2.c), so
 * loops run whole vectors and only the pooling masks off the lanes past the image's edge.
 */

/* Cube root of *x > 0, in place, to about 1 ulp: a bit-trick first guess (within 4%) and two
 * Halley steps (cubic convergence: 4e-2 -> 1e-5 -> 1e-15). The step is written as
 * y + correction so that its rounding error is a fraction of an ulp of y. Vectors go by
 * pointer: by value, GCC warns that the baseline's ABI for them differs (no real call here). */
static inline KATTR ALWAYS_INLINE void KN(cbrt8)(v8f *x)
{
    v8f third = __builtin_convertvector((v8i)*x, v8f) * (1.0f / 3.0f);
    v8f y = (v8f)(__builtin_convertvector(third, v8i) + CBRT_MAGIC);
    for (int step = 0; step < 2; step++) {
        v8f y3 = y * y * y;
        y = y + y * (*x - y3) / (y3 + y3 + *x);
    }
    *x = y;
}

static inline KATTR ALWAYS_INLINE double KN(hsum)(const v8f *v)
{
    double sum = 0.0;
    for (int lane = 0; lane < LANES; lane++) sum += (*v)[lane];
    return sum;
}

/* One row of the kept XYB channels from linear RGB rows (w rounded up to whole vectors).
 * The order of operations is the numpy code's: mix, + bias, cube root, recombine, + offset. */
static KATTR void KN(xyb_row)(const float *const lin[3], size_t w, const int *kept, int nkept,
                              float *const out[3])
{
    const int need_m2 = kept[nkept - 1] == 2; /* only B uses the third mix */
    for (size_t i = 0; i < w; i += LANES) {
        v8f r = VLOAD(lin[0] + i), g = VLOAD(lin[1] + i), b = VLOAD(lin[2] + i);
        v8f c0 = OPSIN[0][0] * r + OPSIN[0][1] * g + OPSIN[0][2] * b + OPSIN_BIAS;
        v8f c1 = OPSIN[1][0] * r + OPSIN[1][1] * g + OPSIN[1][2] * b + OPSIN_BIAS;
        v8f c2 = OPSIN[2][0] * r + OPSIN[2][1] * g + OPSIN[2][2] * b + OPSIN_BIAS;
        KN(cbrt8)(&c0);
        KN(cbrt8)(&c1);
        if (need_m2) KN(cbrt8)(&c2);
        for (int k = 0; k < nkept; k++) {
            v8f v;
            switch (kept[k]) {
            case 0: v = (7.0f * c0 + -7.0f * c1) + 0.42f; break;
            case 1: v = (0.5f * c0 + 0.5f * c1) + OFFSET_Y; break;
            default: v = (-0.5f * c0 + -0.5f * c1 + c2) + 0.55f; break;
            }
            VSTORE(out[k] + i, v);
        }
    }
}

/* Half-size linear RGB row: the 2x2 mean, summed in numpy's order (rows, then columns); a
 * trailing odd column is averaged with itself (the caller passes the same row twice for a
 * trailing odd row). */
static KATTR void KN(downsample_row)(const float *a, const float *b, size_t w, float *out)
{
    const v8i even = {0, 2, 4, 6, 8, 10, 12, 14}, odd = even + 1;
    size_t x = 0;
    for (; x + 2 * LANES <= w; x += 2 * LANES) {
        v8f left = VLOAD(a + x) + VLOAD(b + x), right = VLOAD(a + x + LANES) + VLOAD(b + x + LANES);
        VSTORE(out + x / 2, (__builtin_shuffle(left, right, even) + __builtin_shuffle(left, right, odd)) * 0.25f);
    }
    for (; x + 1 < w; x += 2) out[x / 2] = ((a[x] + b[x]) + (a[x + 1] + b[x + 1])) * 0.25f;
    if (x < w) out[x / 2] = ((a[x] + b[x]) + (a[x] + b[x])) * 0.25f;
}

/* Horizontal blur of one stripe row: in[j] is column x0 - RADIUS + j, zero outside the image
 * (the reference does not renormalise the kernel at the left and right edges). */
static inline KATTR ALWAYS_INLINE void KN(hblur)(const float *in, float *out, size_t width)
{
    for (size_t i = 0; i < width; i += LANES) {
        v8f acc = HTAPS[0] * VLOAD(in + i);
#pragma GCC unroll 10
        for (int t = 1; t < TAPS; t++) acc += HTAPS[t] * VLOAD(in + i + t);
        VSTORE(out + i, acc);
        VSTORE(out + RING * SLOT + i, acc); /* the ring's second copy */
    }
}

/* The reference's planes to blur for one stripe row: x1 and x1^2. x1 points at the stripe's
 * first column; in[j] takes column j - RADIUS of it, for j in [lo, hi) (the rest stays 0). */
static inline KATTR ALWAYS_INLINE void KN(ref_inputs)(const float *x1, size_t lo, size_t hi, float *const in[2])
{
    size_t j = lo;
    for (; j + LANES <= hi; j += LANES) {
        v8f a = VLOAD(x1 + ((ptrdiff_t)j - RADIUS));
        VSTORE(in[0] + j, a);
        VSTORE(in[1] + j, a * a);
    }
    for (; j < hi; j++) {
        float a = x1[(ptrdiff_t)j - RADIUS];
        in[0][j] = a;
        in[1][j] = a * a;
    }
}

/* The candidate's planes to blur for one stripe row: delta = x1 - x2, delta^2 and x2^2
 * (see _ssim_map in the numpy code for why delta rather than x2 and x1*x2). */
static inline KATTR ALWAYS_INLINE void KN(score_inputs)(const float *x1, const float *x2, size_t lo, size_t hi,
                                                        float *const in[3])
{
    size_t j = lo;
    for (; j + LANES <= hi; j += LANES) {
        ptrdiff_t col = (ptrdiff_t)j - RADIUS;
        v8f a = VLOAD(x1 + col), b = VLOAD(x2 + col), d = a - b;
        VSTORE(in[0] + j, d);
        VSTORE(in[1] + j, d * d);
        VSTORE(in[2] + j, b * b);
    }
    for (; j < hi; j++) {
        ptrdiff_t col = (ptrdiff_t)j - RADIUS;
        float d = x1[col] - x2[col];
        in[0][j] = d;
        in[1][j] = d * d;
        in[2][j] = x2[col] * x2[col];
    }
}

/* Vertical blur of one output row of the reference, stored as mu1 and sigma11 + C2.
 * ntaps is a literal at the hot call site, so the tap loop unrolls fully there. */
static inline KATTR ALWAYS_INLINE void KN(ref_row)(const row_window *win, int ntaps, const float *rows,
                                                   size_t width, float *mu, float *var)
{
    for (size_t i = 0; i < width; i += LANES) {
        v8f m = {0}, s = {0};
#pragma GCC unroll 11
        for (int t = 0; t < ntaps; t++) {
            m += win->taps[t] * VLOAD(rows + t * SLOT + i);
            s += win->taps[t] * VLOAD(rows + t * SLOT + STRIPE + i);
        }
        VSTORE(mu + i, m);
        VSTORE(var + i, (s - m * m) + C2);
    }
}

/* The reference side of one kept channel of one scale: mu1 and sigma11 + C2 from x1. */
static KATTR void KN(ref_channel)(ref_scale *rs, int k, float *work)
{
    float *in[3], *ring = split_work(work, in);
    for (size_t x0 = 0; x0 < rs->w; x0 += STRIPE) {
        stripe st = stripe_at(rs->w, x0, in);
        size_t next = 0; /* the next input row to blur horizontally */
        for (size_t y = 0; y < rs->h; y++) {
            row_window win = vertical_window(y, rs->h);
            for (; next < win.lo + (size_t)win.n; next++) {
                KN(ref_inputs)(rs->x1[k] + next * rs->stride + x0, st.lo, st.hi, in);
                for (int p = 0; p < 2; p++) KN(hblur)(in[p], ring_slot(ring, next) + p * STRIPE, st.width);
            }
            float *mu = rs->mu1[k] + y * rs->stride + x0, *var = rs->var1[k] + y * rs->stride + x0;
            const float *rows = ring_slot(ring, win.lo);
            if (win.n == TAPS)
                KN(ref_row)(&win, TAPS, rows, st.width, mu, var);
            else
                KN(ref_row)(&win, win.n, rows, st.width, mu, var);
        }
    }
}

/* Vertical blur, SSIM / artifact / detail-lost maps and their pooling for one output row:
 * sums += per map, the sum of the map and of its fourth power. */
static inline KATTR ALWAYS_INLINE void KN(score_row)(const row_window *win, int ntaps, const float *rows,
                                                     const float *x1, const float *mu1, const float *var1,
                                                     const float *x2, size_t width, double sums[6])
{
    v8f ssim = {0}, ssim4 = {0}, artifact_sum = {0}, artifact4 = {0}, detail_sum = {0}, detail4 = {0};
    const v8i iota = {0, 1, 2, 3, 4, 5, 6, 7};
    for (size_t i = 0; i < width; i += LANES) {
        v8f dmu = {0}, delta_sq = {0}, square2 = {0};
#pragma GCC unroll 11
        for (int t = 0; t < ntaps; t++) {
            dmu += win->taps[t] * VLOAD(rows + t * SLOT + i);
            delta_sq += win->taps[t] * VLOAD(rows + t * SLOT + STRIPE + i);
            square2 += win->taps[t] * VLOAD(rows + t * SLOT + 2 * STRIPE + i);
        }
        v8f m1 = VLOAD(mu1 + i), a = VLOAD(x1 + i), b = VLOAD(x2 + i);
        v8f mu2 = m1 - dmu;
        v8f denom = (square2 - mu2 * mu2) + VLOAD(var1 + i);
        v8f dmu_sq = dmu * dmu;
        v8f d = (delta_sq - dmu_sq) / denom * (1.0f - dmu_sq) + dmu_sq;
        v8f ratio = (VABS(b - mu2) + 1.0f) / (VABS(a - m1) + 1.0f) - 1.0f;
        v8i live = (iota + (int)i) < (int)width; /* lanes past the stripe's edge pool nothing */
        d = VMASK(VPOS(d), live);
        v8f artifact = VMASK(VPOS(ratio), live);
        v8f detail = VMASK(artifact - ratio, live);
        v8f sq;
        ssim += d;
        sq = d * d;
        ssim4 += sq * sq;
        artifact_sum += artifact;
        sq = artifact * artifact;
        artifact4 += sq * sq;
        detail_sum += detail;
        sq = detail * detail;
        detail4 += sq * sq;
    }
    /* each lane summed width / 8 values in float; the rows add up in double */
    sums[0] += KN(hsum)(&ssim);
    sums[1] += KN(hsum)(&ssim4);
    sums[2] += KN(hsum)(&artifact_sum);
    sums[3] += KN(hsum)(&artifact4);
    sums[4] += KN(hsum)(&detail_sum);
    sums[5] += KN(hsum)(&detail4);
}

/* One kept channel of one scale of a score: x2 is the candidate's plane (stride rs->stride). */
static KATTR void KN(score_channel)(const ref_scale *rs, int k, const float *x2, float *work, double sums[6])
{
    float *in[3], *ring = split_work(work, in);
    for (size_t x0 = 0; x0 < rs->w; x0 += STRIPE) {
        stripe st = stripe_at(rs->w, x0, in);
        size_t next = 0;
        for (size_t y = 0; y < rs->h; y++) {
            row_window win = vertical_window(y, rs->h);
            for (; next < win.lo + (size_t)win.n; next++) {
                size_t row = next * rs->stride + x0;
                KN(score_inputs)(rs->x1[k] + row, x2 + row, st.lo, st.hi, in);
                for (int p = 0; p < 3; p++) KN(hblur)(in[p], ring_slot(ring, next) + p * STRIPE, st.width);
            }
            size_t row = y * rs->stride + x0;
            const float *x1 = rs->x1[k] + row, *mu1 = rs->mu1[k] + row, *var1 = rs->var1[k] + row;
            const float *rows = ring_slot(ring, win.lo);
            if (win.n == TAPS)
                KN(score_row)(&win, TAPS, rows, x1, mu1, var1, x2 + row, st.width, sums);
            else
                KN(score_row)(&win, win.n, rows, x1, mu1, var1, x2 + row, st.width, sums);
        }
    }
}
