#include "wr_error.h"

const char *wr_strerror(int code)
{
    switch (code) {
#define WR_ERROR_CASE(name, value, text)                                                           \
    case (value):                                                                                  \
        return (text);
        WR_ERRORS(WR_ERROR_CASE)
#undef WR_ERROR_CASE
    default:
        return "unknown error";
    }
}
