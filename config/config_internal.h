#ifndef WR_CONFIG_INTERNAL_H
#define WR_CONFIG_INTERNAL_H

/*
 * The declarative description of the config file, shared by the parser
 * (config.c), the defaults and the printer (config_print.c). One table row
 * per JSON key: adding a field means adding a row, and defaults, validation
 * and printing follow. Only config/ includes this header.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest integer a JSON number (an IEEE double) holds exactly: the cap for 64-bit fields. */
#define WR_CFG__U64_LIMIT 9007199254740992.0

enum wr_cfg__kind {
    WR_CFG__STR,        /* char[size] */
    WR_CFG__STR_ENUM,   /* char[size] holding one of names[] */
    WR_CFG__ENUM,       /* an enum stored as int: index into names[] */
    WR_CFG__U8,         /* uint8_t */
    WR_CFG__U32,        /* uint32_t */
    WR_CFG__U64,        /* uint64_t */
    WR_CFG__INT,        /* int */
    WR_CFG__BOOL,       /* bool */
    WR_CFG__DOUBLE,     /* double, finite */
    WR_CFG__OPT_DOUBLE, /* double plus a bool at has_off; omitted from output when unset */
    WR_CFG__AGGS,       /* unsigned WR_AGG_* bit set, as an array of names */
    WR_CFG__QUANTILES,  /* double[WR_CFG_MAX_QUANTILES] plus its size_t count at has_off */
    WR_CFG__OBJECT,     /* nested JSON object; fields in sub[], same base struct */
    WR_CFG__STREAMS,    /* the streams array; elements use wr_config__stream_fields */
};

#define WR_CFG__REQUIRED 0x1u /* no default: absence is an error */
#define WR_CFG__NONEMPTY 0x2u /* strings: "" is an error */

/*
 * Laid out small (pointers first, then the doubles, then narrow integers;
 * the pointer pairs that never occur together share a slot): the tables are
 * some 120 rows, linked into the binary as they are.
 */
struct wr_cfg__field {
    const char *name;    /* NULL ends a table */
    const char *def_str; /* string default; NULL = "" */
    union {
        const char *const *names;        /* ENUM, STR_ENUM, AGGS: allowed values, NULL-terminated */
        const struct wr_cfg__field *sub; /* OBJECT */
    };
    /* Extra checks; on false they write the reason (without the path) into why. */
    union {
        bool (*check_str)(const char *value, char *why, size_t why_len); /* strings */
        bool (*check_num)(double value, char *why, size_t why_len);      /* numbers */
    };
    double min; /* numbers: inclusive range */
    double max;
    double def;       /* numeric default (ENUM: index, BOOL: 0/1, AGGS: bits) */
    uint32_t off;     /* offset of the member in the base struct */
    uint32_t size;    /* strings: buffer size including the NUL */
    uint32_t has_off; /* OPT_DOUBLE, QUANTILES: offset of its bool or count */
    uint8_t kind;     /* enum wr_cfg__kind */
    uint8_t flags;    /* WR_CFG__REQUIRED, WR_CFG__NONEMPTY */
};

extern const struct wr_cfg__field wr_config__top_fields[];
extern const struct wr_cfg__field wr_config__stream_fields[];

/* Aggregate names in WR_AGG_* bit order (count = bit 0 .. stddev = bit 7). */
extern const char *const wr_config__agg_names[];
#define WR_CFG__AGG_COUNT 8
#define WR_CFG__AGG_ALL 0xffu

#endif /* WR_CONFIG_INTERNAL_H */
