#ifndef WR_DROP_H
#define WR_DROP_H

/*
 * Every reason an event (or a whole message) can fail to reach a window.
 * The X-macro generates the enum and the metric label names, so a new
 * reason is one line here and shows up in windrow_events_dropped_total.
 */
#define WR_DROP_REASONS(X)                                                                         \
    X(WR_DROP_MALFORMED, "malformed")         /* not a JSON object, number or SenML array */      \
    X(WR_DROP_NO_VALUE, "no_value")           /* value field missing or not a number */            \
    X(WR_DROP_NON_FINITE, "non_finite")       /* NaN or infinity */                                \
    X(WR_DROP_BAD_TIME, "bad_time")           /* time field present but not a usable number */     \
    X(WR_DROP_OVERSIZE, "oversize")           /* payload larger than source.max_payload_bytes */   \
    X(WR_DROP_TOO_MANY_RECORDS, "too_many_records") /* SenML pack with more records than fit */   \
    X(WR_DROP_UNKNOWN_TOPIC, "unknown_topic") /* no stream matches the topic */                    \
    X(WR_DROP_BAD_KEY, "bad_key")             /* key template cannot be filled or is too long */  \
    X(WR_DROP_FUTURE, "future")               /* event time too far ahead of the gateway clock */  \
    X(WR_DROP_LATE, "late")                   /* window already closed */                          \
    X(WR_DROP_KEY_LIMIT, "key_limit")         /* new key past the stream's max_keys */             \
    X(WR_DROP_FILTER_RANGE, "filter_range")                                                        \
    X(WR_DROP_FILTER_DEADBAND, "filter_deadband")                                                  \
    X(WR_DROP_FILTER_INTERVAL, "filter_interval")                                                  \
    X(WR_DROP_FILTER_DUPLICATE, "filter_duplicate")                                                \
    X(WR_DROP_SHED, "shed")                   /* load shedding by priority */                      \
    X(WR_DROP_MEMORY, "memory")               /* window table memory budget exhausted */

enum wr_drop_reason {
#define WR_DROP_ENUM(name, label) name,
    WR_DROP_REASONS(WR_DROP_ENUM)
#undef WR_DROP_ENUM
        WR_DROP_REASON_COUNT
};

/** Metric label for a reason ("malformed", ...); "unknown" when out of range. */
const char *wr_drop_reason_name(enum wr_drop_reason reason);

#endif /* WR_DROP_H */
