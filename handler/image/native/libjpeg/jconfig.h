/* The libjpeg 6.2 API as Pillow's bundled libjpeg-turbo builds it (8-bit samples, in-memory source and
 * destination managers), for compiling ../recode.c against jpeglib.h. */
#define JPEG_LIB_VERSION  62
#define C_ARITH_CODING_SUPPORTED 1
#define D_ARITH_CODING_SUPPORTED 1
#define MEM_SRCDST_SUPPORTED 1
#define BITS_IN_JSAMPLE  8
