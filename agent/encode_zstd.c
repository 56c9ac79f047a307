/*
 * Batch compression with zstd (libzstd; this file is its one home). One
 * compression context is made at create and reused, so compressing a batch
 * allocates nothing. Each message is one complete zstd frame with its
 * content size in the header, decodable on its own.
 */
#include "encode.h"

#include <zstd.h>
#include <zstd_errors.h>

#include "plat_mem.h"
#include "wr_error.h"

struct wr_compressor {
    ZSTD_CCtx *cctx;
    int level;
};

int wr_compressor_create(int level, struct wr_compressor **out)
{
    struct wr_compressor *c;

    if (out == NULL)
        return WR_E_INVAL;
    *out = NULL;
    if (level < 1 || level > 19)
        return WR_E_INVAL;
    c = plat_calloc(1, sizeof(*c));
    if (c == NULL)
        return WR_E_NOMEM;
    /* The context comes from the C library's malloc: a custom allocator is only in
     * zstd's static-linking API, which Debian's shared library does not promise. */
    c->cctx = ZSTD_createCCtx();
    if (c->cctx == NULL) {
        plat_free(c);
        return WR_E_NOMEM;
    }
    c->level = level;
    *out = c;
    return WR_OK;
}

void wr_compressor_destroy(struct wr_compressor *c)
{
    if (c == NULL)
        return;
    ZSTD_freeCCtx(c->cctx);
    plat_free(c);
}

size_t wr_compress_bound(size_t n)
{
    return ZSTD_compressBound(n);
}

int wr_compress(struct wr_compressor *c, const void *in, size_t n, void *out, size_t cap,
                size_t *len_out)
{
    size_t rc;

    if (c == NULL || (in == NULL && n > 0) || out == NULL || len_out == NULL)
        return WR_E_INVAL;
    rc = ZSTD_compressCCtx(c->cctx, out, cap, in, n, c->level);
    if (ZSTD_isError(rc))
        return ZSTD_getErrorCode(rc) == ZSTD_error_dstSize_tooSmall ? WR_E_TOOBIG : WR_E_NOMEM;
    *len_out = rc;
    return WR_OK;
}
