#include "drop.h"

static const char *const names[] = {
#define WR_DROP_NAME(name, label) label,
    WR_DROP_REASONS(WR_DROP_NAME)
#undef WR_DROP_NAME
};

const char *wr_drop_reason_name(enum wr_drop_reason reason)
{
    if ((unsigned)reason >= WR_DROP_REASON_COUNT)
        return "unknown";
    return names[reason];
}
