#include <zlib.h>
// inflateInit2 is a macro that Swift does not import.
static inline int byol_inflate_init_gzip(z_stream *s) { return inflateInit2(s, 16 + MAX_WBITS); }
