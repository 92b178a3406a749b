/*
 * Lossless recoding of a JPEG's entropy coding: the same quantised coefficients, the same quantisation tables and
 * every APP and COM segment, written again with optimized Huffman tables, sequentially or in the progressive
 * scans the caller gives. Decoding the result gives the same pixels as decoding the input.
 *
 * It calls libjpeg through function pointers the caller hands to recode_bind() (Pillow's own libjpeg-turbo, already
 * in the process), so nothing is linked at build time and the library Pillow decodes with is the one that reads
 * and writes here. jpeglib.h (libjpeg/) is the libjpeg 6.2 API that library exports; jpeg_CreateCompress and
 * jpeg_CreateDecompress check that the structures' sizes agree.
 *
 * libjpeg always optimizes a progressive file's Huffman tables, and does it by coding every scan twice, once to count
 * its symbols and once to write them, each time walking all the blocks of the scan's component. For scripts of one
 * component per scan, this file codes the scans itself instead: one walk over a component's blocks codes all of its
 * scans into symbol streams (tally_component), whose counts give each scan's table. libjpeg still writes the
 * rest of the file (segments, quantisation tables, each scan's Huffman table and header): its counting pass skips
 * every block, and its writing pass writes the stream coded here (coding_start_pass, write_scan). The coding
 * follows jcphuff.c's encoder to the bit, so the file is the one libjpeg writes alone (tests/unit/test_recode.py
 * compares them byte for byte); a symbol not counted would make the write fail, never the file wrong.
 */

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libjpeg/jpeglib.h"

#define RECODE_MESSAGE 200 /* JMSG_LENGTH_MAX */
#define RECODE_ROW 5
#define RECODE_SCANS 64
#define MAX_CORR_BITS 1000 /* jcphuff.c: the correction bits it buffers behind an end-of-band run */
#define MAX_AC_BITS 10     /* 8-bit samples: jcphuff.c's max_coef_bits */
#define EOBRUN_MAX 0x7FFF

static struct {
    struct jpeg_error_mgr *(*std_error)(struct jpeg_error_mgr *);
    void (*create_compress)(j_compress_ptr, int, size_t);
    void (*create_decompress)(j_decompress_ptr, int, size_t);
    void (*mem_src)(j_decompress_ptr, const unsigned char *, unsigned long);
    void (*save_markers)(j_decompress_ptr, int, unsigned int);
    int (*read_header)(j_decompress_ptr, boolean);
    jvirt_barray_ptr *(*read_coefficients)(j_decompress_ptr);
    void (*copy_critical_parameters)(j_decompress_ptr, j_compress_ptr);
    void (*write_coefficients)(j_compress_ptr, jvirt_barray_ptr *);
    void (*write_marker)(j_compress_ptr, int, const JOCTET *, unsigned int);
    void (*finish_compress)(j_compress_ptr);
    boolean (*finish_decompress)(j_decompress_ptr);
    void (*destroy_compress)(j_compress_ptr);
    void (*destroy_decompress)(j_decompress_ptr);
    JHUFF_TBL *(*alloc_huff_table)(j_common_ptr);
    void (*gen_optimal_table)(j_compress_ptr, JHUFF_TBL *, long *);
} jpeg;

static const char *names[] = {
    "jpeg_std_error", "jpeg_CreateCompress", "jpeg_CreateDecompress", "jpeg_mem_src", "jpeg_save_markers",
    "jpeg_read_header", "jpeg_read_coefficients", "jpeg_copy_critical_parameters", "jpeg_write_coefficients",
    "jpeg_write_marker", "jpeg_finish_compress", "jpeg_finish_decompress", "jpeg_destroy_compress",
    "jpeg_destroy_decompress", "jpeg_alloc_huff_table", "jpeg_gen_optimal_table",
};

static int bound = 0;

static void make_zigzag_bits(void);

/* The name of the libjpeg function recode_bind wants at `index`, NULL past the last. */
const char *recode_function(size_t index) {
    return index < sizeof(names) / sizeof(names[0]) ? names[index] : NULL;
}

/* Take the libjpeg functions, in recode_function's order; 0 on success, -1 for a wrong count. */
int recode_bind(void *const *functions, size_t count) {
    if (count != sizeof(names) / sizeof(names[0]) || sizeof(jpeg) != count * sizeof(void *))
        return -1;
    memcpy(&jpeg, functions, sizeof(jpeg));
    make_zigzag_bits();
    bound = 1;
    return 0;
}

struct failure {
    struct jpeg_error_mgr manager;
    jmp_buf escape;
    char *message;
};

/* The output, in a buffer this file owns (libjpeg's jpeg_mem_dest would own its intermediate buffers, and lose
 * them when an error escapes). */
struct sink {
    struct jpeg_destination_mgr manager;
    unsigned char *buffer;
    size_t capacity;
};

static void sink_start(j_compress_ptr info) {
    struct sink *sink = (struct sink *)info->dest;
    sink->manager.next_output_byte = sink->buffer;
    sink->manager.free_in_buffer = sink->capacity;
}

static boolean sink_grow(j_compress_ptr info) {
    struct sink *sink = (struct sink *)info->dest;
    unsigned char *larger = realloc(sink->buffer, 2 * sink->capacity);
    if (larger == NULL) {
        struct failure *failure = (struct failure *)info->err;
        snprintf(failure->message, RECODE_MESSAGE, "no memory for %zu bytes of output", 2 * sink->capacity);
        longjmp(failure->escape, 1);
    }
    sink->manager.next_output_byte = larger + sink->capacity;
    sink->manager.free_in_buffer = sink->capacity;
    sink->buffer = larger;
    sink->capacity *= 2;
    return TRUE;
}

static void sink_end(j_compress_ptr info) {
    (void)info;
}

static void fail(j_common_ptr info) {
    struct failure *failure = (struct failure *)info->err;
    info->err->format_message(info, failure->message);
    longjmp(failure->escape, 1);
}

/* A warning means the input's data is not what libjpeg expects (a truncated or corrupt scan): its coefficients
 * would not be the input's, so it fails like an error. Trace messages are ignored. */
static void warn(j_common_ptr info, int level) {
    if (level < 0)
        fail(info);
}

/* `rows` rows of RECODE_ROW ints (see recode()) as libjpeg's scan script for an image of `components` components,
 * in `into`: how many scans that is, or -1 with the reason in `message` (a scan of all components where one scan
 * cannot hold them, more than RECODE_SCANS scans, a coefficient not sent down to its lowest bit). libjpeg checks
 * the order of the scans but not that every coefficient is sent (a script may leave some out on purpose); here,
 * one left out would be a coefficient lost. */
static int script(const int *scans, int rows, int components, jpeg_scan_info *into, char *message) {
    int lowest[MAX_COMPONENTS][DCTSIZE2]; /* the lowest bit sent of each coefficient, -1 before it is sent */
    int n = 0;
    memset(lowest, 0xFF, sizeof(lowest));
    for (int row = 0; row < rows; row++, scans += RECODE_ROW) {
        int component = scans[0];
        if (component >= components)
            continue;
        if (component < 0 && components > MAX_COMPS_IN_SCAN) {
            snprintf(message, RECODE_MESSAGE, "%d components in one scan (at most %d)", components,
                     MAX_COMPS_IN_SCAN);
            return -1;
        }
        if (n == RECODE_SCANS) {
            snprintf(message, RECODE_MESSAGE, "more than %d scans", RECODE_SCANS);
            return -1;
        }
        jpeg_scan_info *scan = &into[n++];
        scan->comps_in_scan = component < 0 ? components : 1;
        for (int c = 0; c < scan->comps_in_scan; c++)
            scan->component_index[c] = component < 0 ? c : component;
        scan->Ss = scans[1];
        scan->Se = scans[2];
        scan->Ah = scans[3];
        scan->Al = scans[4];
        for (int c = 0; c < scan->comps_in_scan; c++)
            for (int k = scan->Ss; k <= scan->Se && k >= 0 && k < DCTSIZE2; k++)
                lowest[scan->component_index[c]][k] = scan->Al;
    }
    for (int c = 0; c < components && c < MAX_COMPONENTS; c++)
        for (int k = 0; k < DCTSIZE2; k++)
            if (lowest[c][k] != 0) {
                snprintf(message, RECODE_MESSAGE, "the scans leave component %d's coefficient %d %s", c, k,
                         lowest[c][k] < 0 ? "out" : "without its lowest bits");
                return -1;
            }
    return n;
}

/* The zigzag order: the natural (row-major) index of the coefficient sent k-th. */
static const int natural[DCTSIZE2] = {
    0,  1,  8,  16, 9,  2,  3,  10, 17, 24, 32, 25, 18, 11, 4,  5,  12, 19, 26, 33, 40, 48,
    41, 34, 27, 20, 13, 6,  7,  14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23,
    30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
};

#define RAW 256 /* a stream entry of bits only, no Huffman symbol */

/*
 * One scan, as jcphuff.c would code it: its symbol counts (for its Huffman table) and, in order, what it writes,
 * one entry per symbol with the bits that follow it, or up to 16 bits alone: bits 0-15 the bits (the first
 * written is the highest of `length`), 16-20 their length, 21-29 the symbol or RAW.
 */
struct tally {
    const jpeg_scan_info *scan;
    long count[257]; /* jpeg_gen_optimal_table's input: a count per symbol, and one spare */
    unsigned *stream;
    size_t length, capacity;
    int failed;      /* no memory for the stream */
    int last_dc;
    unsigned eobrun; /* blocks in the pending end-of-band run */
    unsigned be, br; /* correction bits buffered behind the run, then the current block's (refinement scans) */
    unsigned char corrections[MAX_CORR_BITS + DCTSIZE2];
};

static int bit_length(unsigned value) {
    return value ? 32 - __builtin_clz(value) : 0;
}

static __attribute__((noinline)) int grow(struct tally *tally) {
    size_t capacity = tally->capacity ? 2 * tally->capacity : 4096;
    unsigned *larger = realloc(tally->stream, capacity * sizeof(unsigned));
    if (larger == NULL) {
        tally->failed = 1;
        return -1;
    }
    tally->stream = larger;
    tally->capacity = capacity;
    return 0;
}

static inline void put(struct tally *tally, unsigned symbol, unsigned bits, int length) {
    if (tally->length == tally->capacity && grow(tally))
        return;
    if (symbol != RAW)
        tally->count[symbol]++;
    tally->stream[tally->length++] = symbol << 21 | (unsigned)length << 16 | (bits & ((1u << length) - 1));
}

static void put_bits(struct tally *tally, const unsigned char *bits, unsigned count) {
    for (unsigned start = 0; start < count; start += 16) {
        unsigned value = 0, length = count - start < 16 ? count - start : 16;
        for (unsigned i = 0; i < length; i++)
            value = value << 1 | bits[start + i];
        put(tally, RAW, value, (int)length);
    }
}

/* jcphuff.c's emit_eobrun: the pending run's symbol and length, then the correction bits buffered behind it.
 * The current block's own correction bits move to the front of the buffer. */
static void end_run(struct tally *tally) {
    if (tally->eobrun) {
        int length = bit_length(tally->eobrun) - 1;
        put(tally, (unsigned)length << 4, tally->eobrun, length);
        put_bits(tally, tally->corrections, tally->be);
        memmove(tally->corrections, tally->corrections + tally->be, tally->br);
        tally->eobrun = 0;
        tally->be = 0;
    }
}

/* One block: its coefficients, and masks over them in zigzag order (bit k for the k-th sent): which are negative,
 * and for the bits b a scan needs, which reach 2^b in magnitude. */
struct block {
    const JCOEF *coefficients;
    unsigned long long negative;
    unsigned long long reaches[16];
};

static unsigned magnitude(const struct block *block, int k) {
    int value = block->coefficients[natural[k]];
    return (unsigned)(value < 0 ? -value : value);
}

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "zigzag_mask packs flags as a little-endian machine stores them"
#endif

static unsigned long long zigzag_bits[DCTSIZE2 / 8][256];
/* zigzag_bits[i][byte]: the zigzag-order bits of natural coefficients 8i..8i+7 flagged in `byte`. */

static void make_zigzag_bits(void) {
    int zigzag[DCTSIZE2];
    for (int k = 0; k < DCTSIZE2; k++)
        zigzag[natural[k]] = k;
    for (int i = 0; i < DCTSIZE2 / 8; i++)
        for (int byte = 0; byte < 256; byte++) {
            unsigned long long bits = 0;
            for (int j = 0; j < 8; j++)
                if (byte >> j & 1)
                    bits |= 1ULL << zigzag[8 * i + j];
            zigzag_bits[i][byte] = bits;
        }
}

/* 64 byte flags (0 or 1) in natural order as a zigzag-order mask: a multiply gathers each 8 flags into a byte,
 * a table moves its bits to their zigzag places. */
static unsigned long long zigzag_mask(const unsigned char *flags) {
    unsigned long long mask = 0;
    for (int i = 0; i < DCTSIZE2 / 8; i++) {
        unsigned long long eight;
        memcpy(&eight, flags + 8 * i, 8);
        mask |= zigzag_bits[i][(eight * 0x0102040810204080ULL) >> 56];
    }
    return mask;
}

/* `needed`: bit b set where a scan reads reaches[b]. The comparisons run in natural order over byte flags, which
 * the compiler vectorizes. The DC coefficient (natural 0, zigzag 0) is in no mask. */
static void read_block(const JCOEF *coefficients, struct block *block, unsigned needed) {
    unsigned short magnitudes[DCTSIZE2];
    unsigned char flag[DCTSIZE2];
    block->coefficients = coefficients;
    for (int k = 0; k < DCTSIZE2; k++) {
        int value = coefficients[k];
        magnitudes[k] = (unsigned short)(value < 0 ? -value : value);
        flag[k] = value < 0;
    }
    block->negative = zigzag_mask(flag) & ~1ULL;
    for (int b = 0; needed >> b; b++) {
        if (!(needed >> b & 1))
            continue;
        for (int k = 0; k < DCTSIZE2; k++)
            flag[k] = magnitudes[k] >= (1u << b);
        block->reaches[b] = zigzag_mask(flag) & ~1ULL;
    }
}

static unsigned long long band(int Ss, int Se) {
    return (Se == 63 ? ~0ULL : (1ULL << (Se + 1)) - 1) & ~((1ULL << Ss) - 1);
}

/* A first scan of AC coefficients Ss..Se without their Al lowest bits, for `block` (encode_mcu_AC_first); 0, or
 * -1 for a coefficient too large for 8-bit JPEG. */
static int tally_ac_first(struct tally *tally, const struct block *block) {
    const jpeg_scan_info *scan = tally->scan;
    unsigned long long sent = block->reaches[scan->Al] & band(scan->Ss, scan->Se);
    int previous = scan->Ss - 1;
    if (sent)
        end_run(tally);
    while (sent) {
        int k = __builtin_ctzll(sent), run = k - previous - 1;
        unsigned value = magnitude(block, k) >> scan->Al;
        int bits = bit_length(value);
        sent &= sent - 1;
        previous = k;
        if (bits > MAX_AC_BITS)
            return -1;
        for (; run > 15; run -= 16)
            put(tally, 0xF0, 0, 0);
        put(tally, (unsigned)(run << 4) + (unsigned)bits, block->negative >> k & 1 ? ~value : value, bits);
    }
    if (previous < scan->Se && ++tally->eobrun == EOBRUN_MAX)
        end_run(tally);
    return 0;
}

/* A refinement scan of AC coefficients Ss..Se (bit Al) for `block` (encode_mcu_AC_refine): a coefficient sent
 * before needs only its correction bit, buffered until the next symbol; one that becomes nonzero needs a symbol
 * and its sign. Always 0: every coefficient fit its first scan. */
static int tally_ac_refine(struct tally *tally, const struct block *block) {
    const jpeg_scan_info *scan = tally->scan;
    unsigned long long nonzero = block->reaches[scan->Al] & band(scan->Ss, scan->Se);
    unsigned long long fresh = nonzero & ~block->reaches[scan->Al + 1];
    int last_fresh = fresh ? 63 - __builtin_clzll(fresh) : -1, previous = scan->Ss - 1, run = 0;
    while (nonzero) {
        int k = __builtin_ctzll(nonzero);
        nonzero &= nonzero - 1;
        run += k - previous - 1;
        previous = k;
        for (; run > 15 && k <= last_fresh; run -= 16) { /* zeros past the last new coefficient fold into the EOB */
            end_run(tally);
            put(tally, 0xF0, 0, 0);
            put_bits(tally, tally->corrections, tally->br);
            tally->br = 0;
        }
        if (!(fresh >> k & 1)) {
            tally->corrections[tally->be + tally->br++] = magnitude(block, k) >> scan->Al & 1;
            continue;
        }
        end_run(tally);
        put(tally, (unsigned)(run << 4) + 1, !(block->negative >> k & 1), 1);
        put_bits(tally, tally->corrections, tally->br);
        tally->br = 0;
        run = 0;
    }
    run += scan->Se - previous;
    if (run > 0 || tally->br > 0) {
        tally->be += tally->br;
        tally->br = 0;
        if (++tally->eobrun == EOBRUN_MAX || tally->be > MAX_CORR_BITS - DCTSIZE2 + 1)
            end_run(tally);
    }
    return 0;
}

/* A first DC scan for `block` (encode_mcu_DC_first); 0, or -1 for a difference too large for 8-bit JPEG. */
static int tally_dc_first(struct tally *tally, const struct block *block) {
    int value = block->coefficients[0] >> tally->scan->Al, difference = value - tally->last_dc;
    int bits = bit_length((unsigned)(difference < 0 ? -difference : difference));
    tally->last_dc = value;
    if (bits > MAX_AC_BITS + 1)
        return -1;
    put(tally, (unsigned)bits, (unsigned)(difference < 0 ? difference - 1 : difference), bits);
    return 0;
}

/* A DC refinement scan for `block` (encode_mcu_DC_refine): one bit, no symbol. */
static int tally_dc_refine(struct tally *tally, const struct block *block) {
    put(tally, RAW, (unsigned)(block->coefficients[0] >> tally->scan->Al) & 1, 1);
    return 0;
}

/* Code, in one pass over component `component`'s blocks (in a one-component scan's order: rows of
 * width_in_blocks), every scan of that component in `tallies`; 0, or -1 with the reason in `message`. */
static int tally_component(j_decompress_ptr source, jvirt_barray_ptr coefficients, int component,
                           struct tally *tallies, int scans, char *message) {
    jpeg_component_info *info = &source->comp_info[component];
    struct tally *mine[RECODE_SCANS];
    int (*code[RECODE_SCANS])(struct tally *, const struct block *);
    int count = 0;
    unsigned needed = 0;
    struct block block;
    for (int s = 0; s < scans; s++) {
        const jpeg_scan_info *scan = tallies[s].scan;
        if (scan->component_index[0] != component)
            continue;
        if (scan->Al > 13) { /* libjpeg refuses more already */
            snprintf(message, RECODE_MESSAGE, "a point transform of %d bits", scan->Al);
            return -1;
        }
        mine[count] = &tallies[s];
        if (scan->Ss > 0) {
            needed |= (scan->Ah > 0 ? 3u : 1u) << scan->Al;
            code[count++] = scan->Ah > 0 ? tally_ac_refine : tally_ac_first;
        } else {
            code[count++] = scan->Ah > 0 ? tally_dc_refine : tally_dc_first;
        }
    }
    for (JDIMENSION row = 0; row < info->height_in_blocks; row++) {
        JBLOCKROW blocks = source->mem->access_virt_barray((j_common_ptr)source, coefficients, row, 1, FALSE)[0];
        for (JDIMENSION column = 0; column < info->width_in_blocks; column++) {
            read_block(blocks[column], &block, needed);
            for (int s = 0; s < count; s++)
                if (code[s](mine[s], &block)) {
                    snprintf(message, RECODE_MESSAGE, "component %d has a coefficient out of 8-bit JPEG's range",
                             component);
                    return -1;
                }
        }
    }
    for (int s = 0; s < count; s++) {
        if (mine[s]->scan->Ss > 0)
            end_run(mine[s]);
        if (mine[s]->failed) {
            snprintf(message, RECODE_MESSAGE, "no memory to code component %d's scans", component);
            return -1;
        }
    }
    return 0;
}

/* libjpeg's entropy encoder module: its first two methods, the same in every libjpeg since 6b (jpegint.h). */
struct entropy_methods {
    void (*start_pass)(j_compress_ptr, boolean);
    boolean (*encode_mcu)(j_compress_ptr, JBLOCKROW *);
};

/* The coded scans and where libjpeg is in the script; target.client_data points here while it writes. */
struct coding {
    struct tally *tallies;
    int scans, next;
    void (*start_pass)(j_compress_ptr, boolean);
    char *message;
    jmp_buf *escape;
    struct tally *current; /* the scan libjpeg is writing, NULL once its bytes are out */
    unsigned code[257];
    int size[257];
};

static void stop(j_compress_ptr info, const char *reason) {
    struct coding *coding = (struct coding *)info->client_data;
    snprintf(coding->message, RECODE_MESSAGE, "%s", reason);
    longjmp(*coding->escape, 1);
}

/* The codes of `table` (Annex C, as jpeg_make_c_derived_tbl derives them); a symbol without one has size 0. */
static void derive_codes(const JHUFF_TBL *table, struct coding *coding) {
    unsigned code = 0;
    int k = 0;
    memset(coding->size, 0, sizeof(coding->size));
    for (int length = 1; length <= 16; length++, code <<= 1)
        for (int i = 0; i < table->bits[length] && k < 256; i++, k++) {
            coding->code[table->huffval[k]] = code++;
            coding->size[table->huffval[k]] = length;
        }
}

static boolean skip_block(j_compress_ptr info, JBLOCKROW *blocks) {
    (void)info;
    (void)blocks;
    return TRUE;
}

static void put_byte(j_compress_ptr info, unsigned byte) {
    struct jpeg_destination_mgr *dest = info->dest;
    *dest->next_output_byte++ = (JOCTET)byte;
    if (--dest->free_in_buffer == 0 && !dest->empty_output_buffer(info))
        stop(info, "the output suspended");
}

/* A byte of coded data: a 0xFF is followed by a stuffed 0, so as not to read as a marker. */
static void put_coded_byte(j_compress_ptr info, unsigned byte) {
    put_byte(info, byte);
    if (byte == 0xFF)
        put_byte(info, 0);
}

/* The current scan's coded bytes, at its first block: libjpeg has written the scan's header, and writes nothing
 * of its own in this pass (its encoder is not called; its flush has no bits to pad). */
static boolean write_scan(j_compress_ptr info, JBLOCKROW *blocks) {
    struct coding *coding = (struct coding *)info->client_data;
    struct tally *tally = coding->current;
    unsigned long long buffer = 0;
    int bits = 0;
    (void)blocks;
    if (tally == NULL)
        return TRUE;
    for (size_t i = 0; i < tally->length; i++) {
        unsigned entry = tally->stream[i], symbol = entry >> 21, length = entry >> 16 & 31;
        if (symbol != RAW) {
            if (!coding->size[symbol])
                stop(info, "a symbol was not counted");
            buffer = buffer << coding->size[symbol] | coding->code[symbol];
            bits += coding->size[symbol];
        }
        buffer = buffer << length | (entry & 0xFFFF);
        bits += (int)length;
        for (; bits >= 8; bits -= 8)
            put_coded_byte(info, (unsigned)(buffer >> (bits - 8)) & 0xFF);
    }
    if (bits > 0) /* the last byte is padded with ones */
        put_coded_byte(info, (unsigned)((buffer << (8 - bits)) | ((1u << (8 - bits)) - 1)) & 0xFF);
    coding->current = NULL;
    return TRUE;
}

/* libjpeg's start of a pass, wrapped: a counting pass skips every block, and a writing pass gets the table of the
 * scan this file coded and writes that scan's bytes. */
static void coding_start_pass(j_compress_ptr info, boolean gather) {
    struct coding *coding = (struct coding *)info->client_data;
    struct tally *tally = NULL;
    if (!gather) {
        tally = coding->next < coding->scans ? &coding->tallies[coding->next++] : NULL;
        const jpeg_scan_info *scan = tally ? tally->scan : NULL;
        if (scan == NULL || info->comps_in_scan != 1 || info->cur_comp_info[0]->component_index !=
                scan->component_index[0] || info->Ss != scan->Ss || info->Se != scan->Se || info->Ah != scan->Ah ||
                info->Al != scan->Al)
            stop(info, "libjpeg wrote a scan the script does not have here");
        if (!(scan->Ss == 0 && scan->Ah != 0)) { /* a DC refinement scan has no Huffman table */
            jpeg_component_info *component = info->cur_comp_info[0];
            JHUFF_TBL **slot = scan->Ss == 0 ? &info->dc_huff_tbl_ptrs[component->dc_tbl_no]
                                             : &info->ac_huff_tbl_ptrs[component->ac_tbl_no];
            if (*slot == NULL)
                *slot = jpeg.alloc_huff_table((j_common_ptr)info);
            jpeg.gen_optimal_table(info, *slot, tally->count);
            derive_codes(*slot, coding);
        }
    }
    coding->start_pass(info, gather);
    coding->current = tally;
    ((struct entropy_methods *)info->entropy)->encode_mcu = gather ? skip_block : write_scan;
}

/* Code every scan of a script of one-component scans into coding->tallies (room for RECODE_SCANS) and have
 * libjpeg write headers and tables around them; 1 if it will, 0 where the script has a scan of several
 * components (libjpeg codes it all then), -1 with the reason in coding->message. */
static int code_scans(j_decompress_ptr source, jvirt_barray_ptr *coefficients, j_compress_ptr target,
                       struct coding *coding) {
    for (int s = 0; s < target->num_scans; s++)
        if (target->scan_info[s].comps_in_scan != 1)
            return 0;
    coding->scans = target->num_scans;
    for (int s = 0; s < coding->scans; s++)
        coding->tallies[s].scan = &target->scan_info[s];
    for (int c = 0; c < source->num_components; c++)
        if (tally_component(source, coefficients[c], c, coding->tallies, coding->scans, coding->message))
            return -1;
    struct entropy_methods *methods = (struct entropy_methods *)target->entropy;
    coding->start_pass = methods->start_pass;
    methods->start_pass = coding_start_pass;
    target->client_data = coding;
    return 1;
}

static void free_tallies(struct tally *tallies) {
    if (tallies != NULL)
        for (int s = 0; s < RECODE_SCANS; s++)
            free(tallies[s].stream);
    free(tallies);
}

/*
 * Recode `size` bytes of JPEG at `input`. With `rows` 0, in one sequential scan, as libjpeg writes by default;
 * else progressively in the scans `scans` lists, RECODE_ROW ints each: the component (-1: all of them, for a DC
 * scan), the first and last coefficient (Ss, Se), and the high and low bit of successive approximation (Ah, Al).
 * A row for a component the image has not (a chroma one in a greyscale image) is left out. With `own_coding` set,
 * a script of one-component scans is coded here (code_scans) rather than by libjpeg's two passes per scan: the
 * same bytes, in less time. Returns the recoded length, with the bytes in *output (to be released
 * by recode_free), or 0 with the reason in `message` (RECODE_MESSAGE bytes); libjpeg checks the script (every
 * coefficient sent, in a valid order).
 */
unsigned long recode(const unsigned char *input, unsigned long size, const int *scans, int rows, int own_coding,
                     unsigned char **output, char *message) {
    struct jpeg_decompress_struct source;
    struct jpeg_compress_struct target;
    struct failure failure;
    jpeg_scan_info script_info[RECODE_SCANS];
    struct sink sink = {{NULL, 0, sink_start, sink_grow, sink_end}, NULL, 0};
    struct coding coding = {NULL, 0, 0, NULL, message, &failure.escape, NULL, {0}, {0}};
    volatile int created = 0;

    *output = NULL;
    message[0] = '\0';
    if (!bound) {
        snprintf(message, RECODE_MESSAGE, "libjpeg is not bound (recode_bind)");
        return 0;
    }
    sink.capacity = size + 65536; /* the input's size is nearly always enough: optimized tables code shorter */
    sink.buffer = malloc(sink.capacity);
    own_coding = own_coding && rows > 0;
    if (own_coding)
        coding.tallies = calloc(RECODE_SCANS, sizeof(struct tally));
    if (sink.buffer == NULL || (own_coding && coding.tallies == NULL)) {
        snprintf(message, RECODE_MESSAGE, "no memory for %zu bytes of output", sink.capacity);
        free(sink.buffer);
        free_tallies(coding.tallies);
        return 0;
    }
    memset(&source, 0, sizeof(source));
    memset(&target, 0, sizeof(target));
    source.err = target.err = jpeg.std_error(&failure.manager);
    failure.manager.error_exit = fail;
    failure.manager.emit_message = warn;
    failure.message = message;
    if (setjmp(failure.escape)) {
        if (created)
            jpeg.destroy_compress(&target);
        jpeg.destroy_decompress(&source);
        free(sink.buffer);
        free_tallies(coding.tallies);
        return 0;
    }
    jpeg.create_decompress(&source, JPEG_LIB_VERSION, sizeof(source));
    jpeg.create_compress(&target, JPEG_LIB_VERSION, sizeof(target));
    created = 1;
    jpeg.mem_src(&source, input, size);
    jpeg.save_markers(&source, JPEG_COM, 0xFFFF);
    for (int marker = JPEG_APP0; marker <= JPEG_APP0 + 15; marker++)
        jpeg.save_markers(&source, marker, 0xFFFF);
    jpeg.read_header(&source, TRUE);
    jvirt_barray_ptr *coefficients = jpeg.read_coefficients(&source);
    jpeg.copy_critical_parameters(&source, &target);
    /* The input's own APP0 (JFIF) and APP14 (Adobe) segments are copied below with the rest, as they were. */
    target.write_JFIF_header = FALSE;
    target.write_Adobe_marker = FALSE;
    target.optimize_coding = TRUE;
    if (rows > 0) {
        target.num_scans = script(scans, rows, source.num_components, script_info, message);
        if (target.num_scans < 0)
            longjmp(failure.escape, 1);
        target.scan_info = script_info;
    }
    target.dest = &sink.manager;
    jpeg.write_coefficients(&target, coefficients);
    if (coding.tallies != NULL && code_scans(&source, coefficients, &target, &coding) < 0)
        longjmp(failure.escape, 1);
    for (jpeg_saved_marker_ptr marker = source.marker_list; marker != NULL; marker = marker->next)
        jpeg.write_marker(&target, marker->marker, marker->data, marker->data_length);
    jpeg.finish_compress(&target);
    jpeg.finish_decompress(&source);
    jpeg.destroy_compress(&target);
    jpeg.destroy_decompress(&source);
    free_tallies(coding.tallies);
    *output = sink.buffer;
    return sink.capacity - sink.manager.free_in_buffer;
}

void recode_free(unsigned char *output) {
    free(output);
}
