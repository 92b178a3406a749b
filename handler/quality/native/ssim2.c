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
 * variance + C2. Rows are `stride` floats apart, a multiple of LANES; the padding holds finite values (the
 * XYB of zero linear RGB and its blur) that the pooling masks off. */
typedef struct {
    size_t h, w, stride;
    int nkept, kept[3];
    float *x1[3], *mu1[3], *var1[3];
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

/* ---- memory: the caller's, laid out here ---- */

#define ALIGN_FLOATS 16 /* 64 bytes: every region starts on a cache line */

/* Floats of one plane of a scale of h x w: rows padded to whole vectors. */
static size_t plane_floats(size_t h, size_t w) { return h * round_up(w, LANES); }

/* Where each region of a call's scratch memory starts, in floats from its start (see ssim2_work_bytes). */
typedef struct {
    size_t blur;   /* the blur's input rows and ring: WORK_FLOATS */
    size_t rows;   /* two rows of full-resolution linear RGB */
    size_t x2;     /* a score's XYB planes of the candidate, for the largest scale's kept channels */
    size_t lin[2]; /* linear RGB of the odd scales (1, 3, 5) and of the even ones (2, 4) */
    size_t total;
} work_layout;

static work_layout layout_work(size_t h, size_t w)
{
    int nscales = scale_count(h, w);
    size_t x2 = 0, lin[2] = {0, 0}, sh = h, sw = w;
    for (int s = 0; s < nscales; s++, sh = (sh + 1) / 2, sw = (sw + 1) / 2) {
        int kept[3];
        size_t planes = (size_t)kept_channels(nscales, s, kept) * plane_floats(sh, sw);
        if (planes > x2) x2 = planes;
        if (s > 0 && 3 * plane_floats(sh, sw) > lin[s & 1]) lin[s & 1] = 3 * plane_floats(sh, sw);
    }
    work_layout at;
    at.blur = 0;
    at.rows = round_up(WORK_FLOATS, ALIGN_FLOATS);
    at.x2 = at.rows + round_up(6 * round_up(w, LANES), ALIGN_FLOATS);
    at.lin[1] = at.x2 + round_up(x2, ALIGN_FLOATS);
    at.lin[0] = at.lin[1] + round_up(lin[1], ALIGN_FLOATS);
    at.total = at.lin[0] + round_up(lin[0], ALIGN_FLOATS);
    return at;
}

/* Whether h x w is an image the kernel takes: keeps every size computation in range. */
static int size_ok(size_t h, size_t w) { return h > 0 && w > 0 && w <= ((size_t)1 << 30) / h; }

size_t ssim2_work_bytes(size_t h, size_t w) { return size_ok(h, w) ? layout_work(h, w).total * sizeof(float) : 0; }

/* The reference's header, rounded up to whole cache lines; its planes follow. */
static size_t header_floats(void) { return round_up((sizeof(ssim2_ref) + sizeof(float) - 1) / sizeof(float), ALIGN_FLOATS); }

size_t ssim2_ref_bytes(size_t h, size_t w)
{
    if (!size_ok(h, w)) return 0;
    int nscales = scale_count(h, w);
    size_t floats = header_floats();
    for (int s = 0; s < nscales; s++, h = (h + 1) / 2, w = (w + 1) / 2) {
        int kept[3];
        floats += round_up(3 * (size_t)kept_channels(nscales, s, kept) * plane_floats(h, w), ALIGN_FLOATS);
    }
    return floats * sizeof(float);
}

/* Linear RGB planes of one scale, rows `stride` floats apart (padding zeroed). */
typedef struct {
    size_t h, w, stride;
    float *plane[3];
} linear_rgb;

static linear_rgb linear_at(float *block, size_t h, size_t w)
{
    linear_rgb lin = {h, w, round_up(w, LANES), {NULL, NULL, NULL}};
    for (int c = 0; c < 3; c++) lin.plane[c] = block + c * h * lin.stride;
    return lin;
}

/* Row pointers at `offset` floats into each of the first n planes (the rest NULL). */
static void rows_at(float *const planes[3], int n, size_t offset, float *rows[3])
{
    for (int k = 0; k < 3; k++) rows[k] = k < n ? planes[k] + offset : NULL;
}

/* 8-bit sRGB pixels `step` bytes apart to linear planes: inlined with a constant step, so that the loop's
 * addressing is as cheap as for one fixed layout. */
static inline ALWAYS_INLINE void to_linear(const uint8_t *px, size_t w, size_t step, float *const out[3])
{
    float *r = out[0], *g = out[1], *b = out[2];
    for (size_t x = 0; x < w; x++, px += step) {
        r[x] = LINEAR[px[0]];
        g[x] = LINEAR[px[1]];
        b[x] = LINEAR[px[2]];
    }
}

/* 8-bit sRGB pixels `pixel_bytes` apart (3 for RGB, 4 for RGBX, the fourth byte unread) to linear planes. */
static void rgb8_to_linear_row(const uint8_t *px, size_t w, size_t pixel_bytes, float *const out[3])
{
    if (pixel_bytes == 4)
        to_linear(px, w, 4, out);
    else
        to_linear(px, w, 3, out);
}

/* One row of the half-size linear RGB, its padding zeroed (the next scale's XYB reads whole vectors). */
static void downsample_into(const float *a, const float *b, size_t w, const linear_rgb *half, size_t y, int c)
{
    float *out = half->plane[c] + y * half->stride;
    active->downsample_row(a, b, w, out);
    memset(out + half->w, 0, (half->stride - half->w) * sizeof(float));
}

/* The image the pyramid starts from: 8-bit sRGB rows `bytes_per_row` apart, pixels `pixel_bytes` apart. */
typedef struct {
    const uint8_t *px;
    size_t h, w, bytes_per_row, pixel_bytes;
} rgb8;

/* Full resolution: the kept channels into xyb[k] (stride `stride`) and, if `half` is not NULL,
 * the second scale's linear RGB. Two rows of linear RGB are ever held, in `rows` (6 * stride). */
static void from_rgb8(const rgb8 *img, const int *kept, int nkept, float *const xyb[3], size_t stride,
                      const linear_rgb *half, float *rows)
{
    memset(rows, 0, 6 * stride * sizeof(float)); /* the padding past w stays 0 */
    for (size_t y = 0; y < img->h; y++) {
        float *const pair[3] = {rows + (y & 1) * 3 * stride, rows + (y & 1) * 3 * stride + stride,
                                rows + (y & 1) * 3 * stride + 2 * stride};
        float *cur[3], *out[3];
        rows_at(pair, 3, 0, cur);
        rgb8_to_linear_row(img->px + y * img->bytes_per_row, img->w, img->pixel_bytes, cur);
        if (nkept) {
            rows_at(xyb, nkept, y * stride, out);
            active->xyb_row((const float *const *)cur, img->w, kept, nkept, out);
        }
        if (half && ((y & 1) || y == img->h - 1)) {
            for (int c = 0; c < 3; c++) {
                const float *above = (y & 1) ? rows + c * stride : cur[c];
                downsample_into(above, cur[c], img->w, half, y / 2, c);
            }
        }
    }
}

/* A lower scale: the kept channels of linear RGB `lin` into xyb[k] and, if `half` is not NULL,
 * the next scale's linear RGB. */
static void from_linear(const linear_rgb *lin, const int *kept, int nkept, float *const xyb[3], const linear_rgb *half)
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
            downsample_into(lin->plane[c] + 2 * y * lin->stride, lin->plane[c] + below * lin->stride, lin->w, half,
                            y, c);
    }
}

/* Walks the scales of one image, handing out each scale's XYB planes in turn; its linear RGB lives in
 * the call's scratch memory, odd and even scales in turn. */
typedef struct {
    rgb8 img;
    int nscales, scale;
    float *work;
    work_layout at;
    linear_rgb lin; /* linear RGB of the current scale (none at full resolution) */
} pyramid;

static pyramid pyramid_start(const rgb8 *img, int nscales, float *work)
{
    pyramid pyr = {*img, nscales, 0, work, layout_work(img->h, img->w), {0}};
    return pyr;
}

/* The next scale's kept channels into xyb[k] (rows `rs->stride` apart, as the reference's). */
static void pyramid_next(pyramid *pyr, const ref_scale *rs, float *const xyb[3])
{
    int last = pyr->scale + 1 == pyr->nscales;
    linear_rgb half = {0};
    if (!last) half = linear_at(pyr->work + pyr->at.lin[(pyr->scale + 1) & 1], (rs->h + 1) / 2, (rs->w + 1) / 2);
    if (pyr->scale == 0)
        from_rgb8(&pyr->img, rs->kept, rs->nkept, xyb, rs->stride, last ? NULL : &half, pyr->work + pyr->at.rows);
    else
        from_linear(&pyr->lin, rs->kept, rs->nkept, xyb, last ? NULL : &half);
    pyr->lin = half;
    pyr->scale++;
}

/* ---- the API ---- */

static int check_image(const uint8_t *rgb, size_t h, size_t w, size_t bytes_per_row, size_t pixel_bytes)
{
    if (!rgb || !size_ok(h, w) || (pixel_bytes != 3 && pixel_bytes != 4)) return SSIM2_EINVAL;
    if (bytes_per_row < pixel_bytes * w) return SSIM2_EINVAL;
    return SSIM2_OK;
}

/* Place one scale's planes (x1, mu1, var1 per kept channel) at *next, moving it past them. */
static void ref_scale_place(ref_scale *rs, size_t h, size_t w, int nscales, int s, float **next)
{
    rs->h = h;
    rs->w = w;
    rs->stride = round_up(w, LANES);
    rs->nkept = kept_channels(nscales, s, rs->kept);
    size_t plane = h * rs->stride;
    for (int k = 0; k < rs->nkept; k++) {
        rs->x1[k] = *next + (3 * k) * plane;
        rs->mu1[k] = *next + (3 * k + 1) * plane;
        rs->var1[k] = *next + (3 * k + 2) * plane;
    }
    *next += round_up(3 * (size_t)rs->nkept * plane, ALIGN_FLOATS);
}

int ssim2_ref_init(void *memory, size_t memory_bytes, const uint8_t *rgb, size_t h, size_t w, size_t bytes_per_row,
                   size_t pixel_bytes, void *work, size_t work_bytes)
{
    int err = check_image(rgb, h, w, bytes_per_row, pixel_bytes);
    if (err) return err;
    if (!memory || memory_bytes < ssim2_ref_bytes(h, w) || !work || work_bytes < ssim2_work_bytes(h, w))
        return SSIM2_EINVAL;
    ssim2_ref *ref = memory;
    memset(ref, 0, sizeof(*ref));
    ref->h = h;
    ref->w = w;
    ref->nscales = scale_count(h, w);
    float *next = (float *)memory + header_floats();
    rgb8 img = {rgb, h, w, bytes_per_row, pixel_bytes};
    pyramid pyr = pyramid_start(&img, ref->nscales, work);
    for (int s = 0; s < ref->nscales; s++, h = (h + 1) / 2, w = (w + 1) / 2) {
        ref_scale *rs = &ref->scale[s];
        ref_scale_place(rs, h, w, ref->nscales, s, &next);
        pyramid_next(&pyr, rs, rs->x1);
        for (int k = 0; k < rs->nkept; k++) active->ref_channel(rs, k, (float *)work + pyr.at.blur);
    }
    return SSIM2_OK;
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

/* Score one scale: the candidate's XYB planes into the scratch memory, then blur, maps and pooling per
 * kept channel. features is laid out (channel, scale, norm, map). */
static void score_scale(const ref_scale *rs, pyramid *pyr, int s, double *features)
{
    size_t plane = rs->h * rs->stride;
    float *xyb[3];
    for (int k = 0; k < 3; k++) xyb[k] = k < rs->nkept ? pyr->work + pyr->at.x2 + k * plane : NULL;
    pyramid_next(pyr, rs, xyb);
    for (int k = 0; k < rs->nkept; k++) {
        double sums[6] = {0}; /* per map (ssim, artifact, detail lost): sum of v, sum of v^4 */
        active->score_channel(rs, k, xyb[k], pyr->work + pyr->at.blur, sums);
        double *f = features + (rs->kept[k] * pyr->nscales + s) * 6;
        double pixels = (double)rs->h * (double)rs->w;
        for (int m = 0; m < 3; m++) {
            f[m] = sums[2 * m] / pixels;
            f[3 + m] = pow(sums[2 * m + 1] / pixels, 0.25);
        }
    }
}

int ssim2_score(const void *reference, const uint8_t *rgb, size_t h, size_t w, size_t bytes_per_row,
                size_t pixel_bytes, void *work, size_t work_bytes, double *score)
{
    const ssim2_ref *ref = reference;
    if (!ref || !score || !work) return SSIM2_EINVAL;
    int err = check_image(rgb, h, w, bytes_per_row, pixel_bytes);
    if (err) return err;
    if (h != ref->h || w != ref->w) return SSIM2_ESIZE;
    if (work_bytes < ssim2_work_bytes(h, w)) return SSIM2_EINVAL;
    double features[3 * NUM_SCALES * 6] = {0};
    rgb8 img = {rgb, h, w, bytes_per_row, pixel_bytes};
    pyramid pyr = pyramid_start(&img, ref->nscales, work);
    for (int s = 0; s < ref->nscales; s++) score_scale(&ref->scale[s], &pyr, s, features);
    *score = final_score(features, 3 * ref->nscales * 6);
    return SSIM2_OK;
}
