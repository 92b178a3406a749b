/*
 * Lossless recoding of a JPEG's entropy coding: the same quantised coefficients, the same quantisation tables and
 * every APP and COM segment, written again with optimized Huffman tables, sequentially or in the progressive
 * scans the caller gives. Decoding the result gives the same pixels as decoding the input.
 *
 * It calls libjpeg through function pointers the caller hands to recode_bind() (Pillow's own libjpeg-turbo, already
 * in the process), so nothing is linked at build time and the library Pillow decodes with is the one that reads
 * and writes here. jpeglib.h (libjpeg/) is the libjpeg 6.2 API that library exports; jpeg_CreateCompress and
 * jpeg_CreateDecompress check that the structures' sizes agree.
 */

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libjpeg/jpeglib.h"

#define RECODE_MESSAGE 200 /* JMSG_LENGTH_MAX */
#define RECODE_ROW 5
#define RECODE_SCANS 64

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
} jpeg;

static const char *names[] = {
    "jpeg_std_error", "jpeg_CreateCompress", "jpeg_CreateDecompress", "jpeg_mem_src", "jpeg_save_markers",
    "jpeg_read_header", "jpeg_read_coefficients", "jpeg_copy_critical_parameters", "jpeg_write_coefficients",
    "jpeg_write_marker", "jpeg_finish_compress", "jpeg_finish_decompress", "jpeg_destroy_compress",
    "jpeg_destroy_decompress",
};

static int bound = 0;

/* The name of the libjpeg function recode_bind wants at `index`, NULL past the last. */
const char *recode_function(size_t index) {
    return index < sizeof(names) / sizeof(names[0]) ? names[index] : NULL;
}

/* Take the libjpeg functions, in recode_function's order; 0 on success, -1 for a wrong count. */
int recode_bind(void *const *functions, size_t count) {
    if (count != sizeof(names) / sizeof(names[0]) || sizeof(jpeg) != count * sizeof(void *))
        return -1;
    memcpy(&jpeg, functions, sizeof(jpeg));
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

/*
 * Recode `size` bytes of JPEG at `input`. With `rows` 0, in one sequential scan, as libjpeg writes by default;
 * else progressively in the scans `scans` lists, RECODE_ROW ints each: the component (-1: all of them, for a DC
 * scan), the first and last coefficient (Ss, Se), and the high and low bit of successive approximation (Ah, Al).
 * A row for a component the image has not (a chroma one in a greyscale image) is left out. Returns the recoded
 * length, with the bytes in *output (to be released by recode_free), or 0 with the reason in `message`
 * (RECODE_MESSAGE bytes); libjpeg checks the script (every coefficient sent, in a valid order).
 */
unsigned long recode(const unsigned char *input, unsigned long size, const int *scans, int rows,
                     unsigned char **output, char *message) {
    struct jpeg_decompress_struct source;
    struct jpeg_compress_struct target;
    struct failure failure;
    jpeg_scan_info script_info[RECODE_SCANS];
    struct sink sink = {{NULL, 0, sink_start, sink_grow, sink_end}, NULL, 0};
    volatile int created = 0;

    *output = NULL;
    message[0] = '\0';
    if (!bound) {
        snprintf(message, RECODE_MESSAGE, "libjpeg is not bound (recode_bind)");
        return 0;
    }
    sink.capacity = size + 65536; /* the input's size is nearly always enough: optimized tables code shorter */
    sink.buffer = malloc(sink.capacity);
    if (sink.buffer == NULL) {
        snprintf(message, RECODE_MESSAGE, "no memory for %zu bytes of output", sink.capacity);
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
    for (jpeg_saved_marker_ptr marker = source.marker_list; marker != NULL; marker = marker->next)
        jpeg.write_marker(&target, marker->marker, marker->data, marker->data_length);
    jpeg.finish_compress(&target);
    jpeg.finish_decompress(&source);
    jpeg.destroy_compress(&target);
    jpeg.destroy_decompress(&source);
    *output = sink.buffer;
    return sink.capacity - sink.manager.free_in_buffer;
}

void recode_free(unsigned char *output) {
    free(output);
}
