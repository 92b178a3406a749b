/* SSIMULACRA2, the same algorithm as optimal-image's numpy handler/quality/ssim2.py (which
 * follows the PyPI ssimulacra2 0.3.0 package): same sRGB table, XYB, 2x2 box downsampling,
 * 11-tap Gaussian (sigma 1.5) with zero edges across and mirrored edges down, channels left
 * out where their weights are under 0.01, and the same final weighting. Float32 where the numpy
 * code is float32; pooled sums in double.
 *
 * The speed comes from fusing: a scale's blur runs in stripes of STRIPE columns, each input row
 * blurred horizontally once into a ring of RING rows, and each output row blurred vertically,
 * turned into the three maps and pooled in the same loop, so no blurred plane is ever stored
 * during a score. The hot loops are in ssim2_kernels.h, compiled for baseline and for AVX2+FMA.
 */
#include "ssim2.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NUM_SCALES 6
#define MIN_SIZE 8 /* the reference stops at the first scale smaller than this */
#define RADIUS 5   /* scipy's radius for sigma 1.5, truncate 3.33: int(3.33 * 1.5 + 0.5) */
#define TAPS (2 * RADIUS + 1)
#define SIGMA 1.5
#define PRUNE 0.01 /* a channel is left out of a scale when all its weights there are below */
#define LANES 8
#define STRIPE 1024 /* multiple of LANES; long rows for the prefetchers, yet a 264 KiB ring (in L2) */
#define RING TAPS   /* rows of horizontally blurred planes kept: row y + RADIUS replaces y - RADIUS - 1 */
#define SLOT (3 * STRIPE) /* one ring row: the (up to) 3 blurred planes side by side */
#define INPUT_WIDTH (STRIPE + 2 * RADIUS + LANES) /* a stripe plus its halo, whole vectors */
#define C2 0.0009f
#define OPSIN_BIAS 0.0037930732552754493f
#define CBRT_MAGIC 709958130 /* FreeBSD cbrtf's first-guess constant */

#define ALWAYS_INLINE __attribute__((always_inline))

typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));
typedef float v8f_unaligned __attribute__((vector_size(32), aligned(4), may_alias));
#define VLOAD(p) (*(const v8f_unaligned *)(p))
#define VSTORE(p, v) (*(v8f_unaligned *)(p) = (v))
#define VABS(x) ((v8f)((v8i)(x) & 0x7fffffff))
#define VPOS(x) ((v8f)((v8i)(x) & ((x) > 0.0f))) /* max(x, 0); a NaN gives 0 */
#define VMASK(x, live) ((v8f)((v8i)(x) & (live)))

/* clang-format off */
static const double WEIGHTS[3 * NUM_SCALES * 6] = {
    0.0, 0.0007376606707406586, 0.0, 0.0, 0.0007793481682867309, 0.0, 0.0, 0.0004371155730107379,
    0.0, 1.1041726426657346, 0.00066284834129271, 0.00015231632783718752, 0.0,
    0.0016406437456599754, 0.0, 1.8422455520539298, 11.441172603757666, 0.0, 0.0007989109436015163,
    0.000176816438078653, 0.0, 1.8787594979546387, 10.94906990605142, 0.0, 0.0007289346991508072,
    0.9677937080626833, 0.0, 0.00014003424285435884, 0.9981766977854967, 0.00031949755934435053,
    0.0004550992113792063, 0.0, 0.0, 0.0013648766163243398, 0.0, 0.0, 0.0, 0.0, 0.0,
    7.466890328078848, 0.0, 17.445833984131262, 0.0006235601634041466, 0.0, 0.0, 6.683678146179332,
    0.00037724407979611296, 1.027889937768264, 225.20515300849274, 0.0, 0.0, 19.213238186143016,
    0.0011401524586618361, 0.001237755635509985, 176.39317598450694, 0.0, 0.0, 24.43300999870476,
    0.28520802612117757, 0.0004485436923833408, 0.0, 0.0, 0.0, 34.77906344483772,
    44.835625328877896, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0008680556573291698, 0.0, 0.0,
    0.0, 0.0, 0.0, 0.0005313191874358747, 0.0, 0.00016533814161379112, 0.0, 0.0, 0.0, 0.0, 0.0,
    0.0004179171803251336, 0.0017290828234722833, 0.0, 0.0020827005846636437, 0.0, 0.0,
    8.826982764996862, 23.19243343998926, 0.0, 95.1080498811086, 0.9863978034400682,
    0.9834382792465353, 0.0012286405048278493, 171.2667255897307, 0.9807858872435379, 0.0, 0.0, 0.0,
    0.0005130064588990679, 0.0, 0.00010854057858411537,
};
/* clang-format on */

/* The opsin mix, rounded to float32 from its float64 definition as numpy's astype does. */
static const float OPSIN[3][3] = {
    {(float)0.30, (float)(1.0 - 0.078 - 0.30), (float)0.078},
    {(float)0.23, (float)(1.0 - 0.078 - 0.23), (float)0.078},
    {(float)0.24342268924547819, (float)0.20476744424496821,
     (float)(1.0 - 0.24342268924547819 - 0.20476744424496821)},
};

/* Filled once at load (see ssim2_init). */
static float LINEAR[256];  /* 8-bit sRGB -> linear, computed in double */
static double TAPS64[TAPS]; /* the Gaussian, normalised in double as scipy does */
static float HTAPS[TAPS];   /* its float32 rounding: the horizontal blur's weights */
static float OFFSET_Y;      /* 0.01 - cbrt(bias), in double then float */

/* The original's side of one scale: for each kept channel its XYB plane x1, blurred mean mu1 and
 * variance + C2. Rows are `stride` floats apart, a multiple of LANES, the padding zeroed. */
typedef struct {
    size_t h, w, stride;
    int nkept, kept[3];
    float *x1[3], *mu1[3], *var1[3];
    float *block; /* one allocation holding all of the above */
} ref_scale;

struct ssim2_ref {
    size_t h, w;
    int nscales;
    ref_scale scale[NUM_SCALES];
};

/* Rows [lo, lo + n) feed output row y of the vertical blur, with these weights. */
typedef struct {
    size_t lo;
    int n;
    float taps[TAPS];
} row_window;

/* A stripe of columns [x0, x0 + width); input buffer entries [lo, hi) are inside the image. */
typedef struct {
    size_t width, lo, hi;
} stripe;

static size_t round_up(size_t n, size_t m) { return (n + m - 1) / m * m; }
static size_t min_size(size_t a, size_t b) { return a < b ? a : b; }

/* The vertical blur's weights for output row y, the boundary folded in as numpy's banded matrix
 * does: reflect (d c b a | a b c d), taps landing on one row summed in double, then rounded.
 * Every scale is at least MIN_SIZE > RADIUS tall, so one reflection suffices. */
static row_window vertical_window(size_t y, size_t h)
{
    row_window win;
    win.lo = y >= RADIUS ? y - RADIUS : 0;
    win.n = (int)(min_size(h, y + RADIUS + 1) - win.lo);
    if (win.n == TAPS) { /* away from the edges: the plain taps */
        memcpy(win.taps, HTAPS, sizeof(win.taps));
        return win;
    }
    double taps[TAPS] = {0};
    for (int t = 0; t < TAPS; t++) {
        ptrdiff_t src = (ptrdiff_t)y + t - RADIUS;
        if (src < 0) src = -src - 1;
        if (src >= (ptrdiff_t)h) src = 2 * (ptrdiff_t)h - 1 - src;
        taps[src - (ptrdiff_t)win.lo] += TAPS64[t];
    }
    for (int t = 0; t < TAPS; t++) win.taps[t] = (float)taps[t];
    return win;
}

/* Set up the stripe at x0 and zero its input buffers: columns outside the image stay 0. */
static stripe stripe_at(size_t w, size_t x0, float *const in[3])
{
    stripe st;
    st.width = min_size(STRIPE, w - x0);
    st.lo = x0 >= RADIUS ? 0 : RADIUS - x0;
    st.hi = min_size(st.width + 2 * RADIUS, w - x0 + RADIUS);
    for (int p = 0; p < 3; p++) memset(in[p], 0, INPUT_WIDTH * sizeof(float));
    return st;
}

/* The ring holds each row twice, in slots r % RING and r % RING + RING, so that the rows of any
 * vertical window are consecutive slots: one pointer and constant offsets address them all. */
#define WORK_FLOATS (3 * INPUT_WIDTH + 2 * RING * SLOT)

/* Carve a blur's scratch (WORK_FLOATS) into 3 input rows and the ring. */
static float *split_work(float *work, float *in[3])
{
    for (int p = 0; p < 3; p++) in[p] = work + p * INPUT_WIDTH;
    return work + 3 * INPUT_WIDTH;
}

/* Where a ring row goes (its first copy; the second is RING slots on). */
static float *ring_slot(float *ring, size_t row) { return ring + (row % RING) * SLOT; }

/* ---- the hot loops, twice ---- */

#define KN(name) name##_base
#define KATTR
#include "ssim2_kernels.h"
#undef KN
#undef KATTR

#if defined(__x86_64__)
#define KN(name) name##_avx2
#define KATTR __attribute__((target("avx2,fma")))
#include "ssim2_kernels.h"
#undef KN
#undef KATTR
#endif

typedef struct {
    void (*xyb_row)(const float *const lin[3], size_t w, const int *kept, int nkept, float *const out[3]);
    void (*downsample_row)(const float *a, const float *b, size_t w, float *out);
    void (*ref_channel)(ref_scale *rs, int k, float *work);
    void (*score_channel)(const ref_scale *rs, int k, const float *x2, float *work, double sums[6]);
} kernels;

static const kernels BASELINE = {xyb_row_base, downsample_row_base, ref_channel_base, score_channel_base};
#if defined(__x86_64__)
static const kernels AVX2 = {xyb_row_avx2, downsample_row_avx2, ref_channel_avx2, score_channel_avx2};
#endif
static const kernels *active = &BASELINE;

#if defined(__x86_64__)
static int cpu_has_avx2(void)
{
    __builtin_cpu_init(); /* needed when called from a constructor */
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#endif

int ssim2_set_path(int path)
{
#if defined(__x86_64__)
    active = path != SSIM2_PATH_BASELINE && cpu_has_avx2() ? &AVX2 : &BASELINE;
#else
    (void)path;
#endif
    return ssim2_get_path();
}

int ssim2_get_path(void) { return active == &BASELINE ? SSIM2_PATH_BASELINE : SSIM2_PATH_AVX2; }

__attribute__((constructor)) static void ssim2_init(void)
{
    for (int i = 0; i < 256; i++) {
        double v = i / 255.0;
        LINEAR[i] = (float)(v <= 0.04045 ? v / 12.92 : pow((v + 0.055) / 1.055, 2.4));
    }
    double sum = 0.0;
    for (int t = 0; t < TAPS; t++) {
        double x = t - RADIUS;
        TAPS64[t] = exp(-0.5 / (SIGMA * SIGMA) * x * x);
        sum += TAPS64[t];
    }
    for (int t = 0; t < TAPS; t++) {
        TAPS64[t] /= sum;
        HTAPS[t] = (float)TAPS64[t];
    }
    OFFSET_Y = (float)(0.01 - cbrt((double)OPSIN_BIAS));
    const char *force = getenv("SSIM2_FORCE_BASELINE");
    ssim2_set_path(force && *force && strcmp(force, "0") ? SSIM2_PATH_BASELINE : SSIM2_PATH_AUTO);
}

/* ---- scales and channels ---- */

/* How many scales the reference compares: it halves (rounding up) until a side is under 8. */
static int scale_count(size_t h, size_t w)
{
    int count = 0;
    while (count < NUM_SCALES && min_size(h, w) >= MIN_SIZE) {
        count++;
        h = (h + 1) / 2;
        w = (w + 1) / 2;
    }
    return count;
}

/* The weights are consumed in the order channel, scale, norm, map, so which weights fall on a
 * scale depends on how many scales the image has: the kept channels do too. */
static int kept_channels(int nscales, int s, int kept[3])
{
    int n = 0;
    for (int c = 0; c < 3; c++) {
        double top = 0.0;
        for (int j = 0; j < 6; j++) {
            double weight = WEIGHTS[(c * nscales + s) * 6 + j];
            if (weight > top) top = weight;
        }
        if (top >= PRUNE) kept[n++] = c;
    }
    return n;
}

/* ---- the pyramid: XYB planes of the kept channels, and the next scale's linear RGB ---- */

/* Linear RGB planes of one scale, rows `stride` floats apart (padding zeroed). */
typedef struct {
    size_t h, w, stride;
    float *plane[3];
    float *block;
} linear_rgb;

static int linear_alloc(linear_rgb *lin, size_t h, size_t w)
{
    lin->h = h;
    lin->w = w;
    lin->stride = round_up(w, LANES);
    lin->block = calloc(3 * h * lin->stride, sizeof(float));
    for (int c = 0; c < 3; c++) lin->plane[c] = lin->block ? lin->block + c * h * lin->stride : NULL;
    return lin->block ? SSIM2_OK : SSIM2_ENOMEM;
}

/* Row pointers at `offset` floats into each of the first n planes (the rest NULL). */
static void rows_at(float *const planes[3], int n, size_t offset, float *rows[3])
{
    for (int k = 0; k < 3; k++) rows[k] = k < n ? planes[k] + offset : NULL;
}

static void rgb8_to_linear_row(const uint8_t *px, size_t w, float *const out[3])
{
    for (size_t x = 0; x < w; x++)
        for (int c = 0; c < 3; c++) out[c][x] = LINEAR[px[3 * x + c]];
}

/* Full resolution: the kept channels into xyb[k] (stride `stride`) and, if `half` is not NULL,
 * the second scale's linear RGB. Two rows of linear RGB are ever held. */
static int from_rgb8(const uint8_t *rgb, size_t h, size_t w, size_t bytes_per_row, const int *kept, int nkept,
                     float *const xyb[3], size_t stride, linear_rgb *half)
{
    float *rows = calloc(6 * stride, sizeof(float));
    if (!rows) return SSIM2_ENOMEM;
    for (size_t y = 0; y < h; y++) {
        float *const pair[3] = {rows + (y & 1) * 3 * stride, rows + (y & 1) * 3 * stride + stride,
                                rows + (y & 1) * 3 * stride + 2 * stride};
        float *cur[3], *out[3];
        rows_at(pair, 3, 0, cur);
        rgb8_to_linear_row(rgb + y * bytes_per_row, w, cur);
        if (nkept) {
            rows_at(xyb, nkept, y * stride, out);
            active->xyb_row((const float *const *)cur, w, kept, nkept, out);
        }
        if (half && ((y & 1) || y == h - 1)) {
            for (int c = 0; c < 3; c++) {
                const float *above = (y & 1) ? rows + c * stride : cur[c];
                active->downsample_row(above, cur[c], w, half->plane[c] + (y / 2) * half->stride);
            }
        }
    }
    free(rows);
    return SSIM2_OK;
}

/* A lower scale: the kept channels of linear RGB `lin` into xyb[k] and, if `half` is not NULL,
 * the next scale's linear RGB. */
static void from_linear(const linear_rgb *lin, const int *kept, int nkept, float *const xyb[3], linear_rgb *half)
{
    for (size_t y = 0; nkept && y < lin->h; y++) {
        float *row[3], *out[3];
        rows_at(lin->plane, 3, y * lin->stride, row);
        rows_at(xyb, nkept, y * lin->stride, out);
        active->xyb_row((const float *const *)row, lin->w, kept, nkept, out);
    }
    for (size_t y = 0; half && y < half->h; y++) {
        size_t below = min_size(2 * y + 1, lin->h - 1);
        for (int c = 0; c < 3; c++)
            active->downsample_row(lin->plane[c] + 2 * y * lin->stride, lin->plane[c] + below * lin->stride, lin->w,
                           half->plane[c] + y * half->stride);
    }
}

/* Walks the scales of one image, handing out each scale's XYB planes in turn. */
typedef struct {
    const uint8_t *rgb;
    size_t h, w, bytes_per_row;
    int nscales, scale;
    linear_rgb lin; /* linear RGB of the current scale (none at full resolution) */
} pyramid;

static pyramid pyramid_start(const uint8_t *rgb, size_t h, size_t w, size_t bytes_per_row, int nscales)
{
    pyramid pyr = {rgb, h, w, bytes_per_row, nscales, 0, {0}};
    return pyr;
}

/* The next scale's kept channels into xyb[k] (rows `rs->stride` apart, as the reference's). */
static int pyramid_next(pyramid *pyr, const ref_scale *rs, float *const xyb[3])
{
    linear_rgb half = {0};
    int last = pyr->scale + 1 == pyr->nscales;
    if (!last && linear_alloc(&half, (rs->h + 1) / 2, (rs->w + 1) / 2)) return SSIM2_ENOMEM;
    int err = SSIM2_OK;
    if (pyr->scale == 0)
        err = from_rgb8(pyr->rgb, pyr->h, pyr->w, pyr->bytes_per_row, rs->kept, rs->nkept, xyb, rs->stride,
                        last ? NULL : &half);
    else
        from_linear(&pyr->lin, rs->kept, rs->nkept, xyb, last ? NULL : &half);
    free(pyr->lin.block);
    pyr->lin = half;
    pyr->scale++;
    return err;
}

static void pyramid_end(pyramid *pyr) { free(pyr->lin.block); }

/* ---- the API ---- */

static int check_image(const uint8_t *rgb, size_t h, size_t w, size_t bytes_per_row)
{
    if (!rgb || h == 0 || w == 0 || bytes_per_row < 3 * w) return SSIM2_EINVAL;
    if (w > ((size_t)1 << 30) / h) return SSIM2_EINVAL; /* keeps every size computation in range */
    return SSIM2_OK;
}

/* Allocate one scale's planes (x1, mu1, var1 per kept channel). */
static int ref_scale_alloc(ref_scale *rs, size_t h, size_t w, int nscales, int s)
{
    rs->h = h;
    rs->w = w;
    rs->stride = round_up(w, LANES);
    rs->nkept = kept_channels(nscales, s, rs->kept);
    if (!rs->nkept) return SSIM2_OK;
    size_t plane = h * rs->stride;
    rs->block = calloc(3 * (size_t)rs->nkept * plane, sizeof(float));
    if (!rs->block) return SSIM2_ENOMEM;
    for (int k = 0; k < rs->nkept; k++) {
        rs->x1[k] = rs->block + (3 * k) * plane;
        rs->mu1[k] = rs->block + (3 * k + 1) * plane;
        rs->var1[k] = rs->block + (3 * k + 2) * plane;
    }
    return SSIM2_OK;
}

ssim2_ref *ssim2_ref_new(const uint8_t *rgb, size_t h, size_t w, size_t bytes_per_row, int *error)
{
    int err = check_image(rgb, h, w, bytes_per_row);
    ssim2_ref *ref = err ? NULL : calloc(1, sizeof(*ref));
    float *work = err ? NULL : malloc(WORK_FLOATS * sizeof(float));
    if (!err && (!ref || !work)) err = SSIM2_ENOMEM;
    if (!err) {
        ref->h = h;
        ref->w = w;
        ref->nscales = scale_count(h, w);
        pyramid pyr = pyramid_start(rgb, h, w, bytes_per_row, ref->nscales);
        for (int s = 0; !err && s < ref->nscales; s++, h = (h + 1) / 2, w = (w + 1) / 2) {
            ref_scale *rs = &ref->scale[s];
            err = ref_scale_alloc(rs, h, w, ref->nscales, s);
            if (!err) err = pyramid_next(&pyr, rs, rs->x1);
            for (int k = 0; !err && k < rs->nkept; k++) active->ref_channel(rs, k, work);
        }
        pyramid_end(&pyr);
    }
    free(work);
    if (err) {
        ssim2_ref_free(ref);
        ref = NULL;
    }
    if (error) *error = err;
    return ref;
}

void ssim2_ref_free(ssim2_ref *ref)
{
    if (!ref) return;
    for (int s = 0; s < NUM_SCALES; s++) free(ref->scale[s].block);
    free(ref);
}

/* Weighted sum of the features and the fitted nonlinearity of the reference's Msssim.score(). */
static double final_score(const double *features, int nfeatures)
{
    if (nfeatures == 0) return 100.0;
    double total = 0.0;
    for (int i = 0; i < nfeatures; i++) total += WEIGHTS[i] * fabs(features[i]);
    total *= 0.9562382616834844;
    total = 2.326765642916932 * total - 0.020884521182843837 * total * total +
            6.248496625763138e-05 * total * total * total;
    if (total <= 0.0) return 100.0;
    return 100.0 - 10.0 * pow(total, 0.6276336467831387);
}

/* Score one scale: the candidate's XYB planes into a temporary, then blur, maps and pooling per
 * kept channel. features is laid out (channel, scale, norm, map). */
static int score_scale(const ref_scale *rs, pyramid *pyr, int s, float *work, double *features)
{
    size_t plane = rs->h * rs->stride;
    float *x2 = rs->nkept ? malloc((size_t)rs->nkept * plane * sizeof(float)) : NULL;
    if (rs->nkept && !x2) return SSIM2_ENOMEM;
    float *xyb[3];
    for (int k = 0; k < 3; k++) xyb[k] = k < rs->nkept ? x2 + k * plane : NULL;
    int err = pyramid_next(pyr, rs, xyb);
    for (int k = 0; !err && k < rs->nkept; k++) {
        double sums[6] = {0}; /* per map (ssim, artifact, detail lost): sum of v, sum of v^4 */
        active->score_channel(rs, k, xyb[k], work, sums);
        double *f = features + (rs->kept[k] * pyr->nscales + s) * 6;
        double pixels = (double)rs->h * (double)rs->w;
        for (int m = 0; m < 3; m++) {
            f[m] = sums[2 * m] / pixels;
            f[3 + m] = pow(sums[2 * m + 1] / pixels, 0.25);
        }
    }
    free(x2);
    return err;
}

int ssim2_score(const ssim2_ref *ref, const uint8_t *rgb, size_t h, size_t w, size_t bytes_per_row,
                double *score)
{
    if (!ref || !score) return SSIM2_EINVAL;
    int err = check_image(rgb, h, w, bytes_per_row);
    if (err) return err;
    if (h != ref->h || w != ref->w) return SSIM2_ESIZE;
    double features[3 * NUM_SCALES * 6] = {0};
    float *work = malloc(WORK_FLOATS * sizeof(float));
    if (!work) return SSIM2_ENOMEM;
    pyramid pyr = pyramid_start(rgb, h, w, bytes_per_row, ref->nscales);
    for (int s = 0; !err && s < ref->nscales; s++) err = score_scale(&ref->scale[s], &pyr, s, work, features);
    pyramid_end(&pyr);
    free(work);
    if (!err) *score = final_score(features, 3 * ref->nscales * 6);
    return err;
}
