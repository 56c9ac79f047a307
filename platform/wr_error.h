#ifndef WR_ERROR_H
#define WR_ERROR_H

/*
 * One error space for the whole agent. Every function that can fail returns
 * WR_OK (0) or one of the negative codes below; adapters translate errno,
 * Paho, SQLite and mbedTLS codes into these and log the original once.
 */

#define WR_ERRORS(X)                                                                 \
    X(WR_OK, 0, "success")                                                           \
    X(WR_E_INVAL, -1, "invalid argument")                                            \
    X(WR_E_NOMEM, -2, "out of memory")                                               \
    X(WR_E_FULL, -3, "capacity exhausted")                                           \
    X(WR_E_EMPTY, -4, "nothing available")                                           \
    X(WR_E_PARSE, -5, "malformed input")                                             \
    X(WR_E_RANGE, -6, "value out of range")                                          \
    X(WR_E_IO, -7, "input/output error")                                             \
    X(WR_E_NOSPC, -8, "no space left on storage")                                    \
    X(WR_E_CORRUPT, -9, "corrupt data")                                              \
    X(WR_E_CONN, -10, "connection failed")                                           \
    X(WR_E_TLS, -11, "TLS failure")                                                  \
    X(WR_E_TIMEOUT, -12, "timed out")                                                \
    X(WR_E_NOTFOUND, -13, "not found")                                               \
    X(WR_E_STATE, -14, "operation not valid in this state")                          \
    X(WR_E_TOOBIG, -15, "too large")                                                 \
    X(WR_E_DENIED, -16, "permission denied")                                          \
    X(WR_E_SIGNATURE, -17, "signature does not verify")

enum wr_error {
#define WR_ERROR_ENUM(name, value, text) name = (value),
    WR_ERRORS(WR_ERROR_ENUM)
#undef WR_ERROR_ENUM
};

/** Human-readable text for a WR_* code; never NULL, "unknown error" for others. */
const char *wr_strerror(int code);

#endif /* WR_ERROR_H */
