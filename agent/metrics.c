#include "metrics.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>

#include "plat_mem.h"
#include "wr_error.h"

struct wr_metrics {
    atomic_uint_fast64_t counters[WR_COUNTER_COUNT];
    atomic_uint_fast64_t dropped[WR_DROP_REASON_COUNT];
    atomic_uint_fast64_t gauges[WR_GAUGE_COUNT];
    atomic_uint_fast64_t reloads[WR_RELOAD_RESULT_COUNT];
    char config_hash[WR_METRICS_HASH_LEN];
};

static const char *const reload_names[WR_RELOAD_RESULT_COUNT] = {"applied", "refused",
                                                                  "rolled_back"};

static const char *const counter_names[] = {
#define WR_NAME(id, name, help) name,
    WR_COUNTERS(WR_NAME)
#undef WR_NAME
};
static const char *const counter_help[] = {
#define WR_HELP(id, name, help) help,
    WR_COUNTERS(WR_HELP)
#undef WR_HELP
};
static const char *const gauge_names[] = {
#define WR_NAME(id, name, help) name,
    WR_GAUGES(WR_NAME)
#undef WR_NAME
};
static const char *const gauge_help[] = {
#define WR_HELP(id, name, help) help,
    WR_GAUGES(WR_HELP)
#undef WR_HELP
};

int wr_metrics_create(struct wr_metrics **out)
{
    struct wr_metrics *m;

    if (out == NULL)
        return WR_E_INVAL;
    m = plat_calloc(1, sizeof(*m));
    if (m == NULL)
        return WR_E_NOMEM;
    for (size_t i = 0; i < WR_COUNTER_COUNT; i++)
        atomic_init(&m->counters[i], 0);
    for (size_t i = 0; i < WR_DROP_REASON_COUNT; i++)
        atomic_init(&m->dropped[i], 0);
    for (size_t i = 0; i < WR_GAUGE_COUNT; i++)
        atomic_init(&m->gauges[i], 0);
    for (size_t i = 0; i < WR_RELOAD_RESULT_COUNT; i++)
        atomic_init(&m->reloads[i], 0);
    *out = m;
    return WR_OK;
}

void wr_metrics_destroy(struct wr_metrics *m)
{
    plat_free(m);
}

void wr_metrics_absorb(struct wr_metrics *dst, const struct wr_metrics *src)
{
    if (dst == NULL || src == NULL)
        return;
    for (unsigned i = 0; i < WR_COUNTER_COUNT; i++)
        wr_metrics_add(dst, (enum wr_counter)i, wr_metrics_counter(src, (enum wr_counter)i));
    for (unsigned r = 0; r < WR_DROP_REASON_COUNT; r++)
        wr_metrics_drop(dst, (enum wr_drop_reason)r, wr_metrics_dropped(src, (enum wr_drop_reason)r));
    for (unsigned r = 0; r < WR_RELOAD_RESULT_COUNT; r++)
        atomic_fetch_add_explicit(&dst->reloads[r],
                                  wr_metrics_reloads(src, (enum wr_reload_result)r),
                                  memory_order_relaxed);
}

void wr_metrics_reload(struct wr_metrics *m, enum wr_reload_result result)
{
    if (m != NULL && (unsigned)result < WR_RELOAD_RESULT_COUNT)
        atomic_fetch_add_explicit(&m->reloads[result], 1, memory_order_relaxed);
}

uint64_t wr_metrics_reloads(const struct wr_metrics *m, enum wr_reload_result result)
{
    if (m == NULL || (unsigned)result >= WR_RELOAD_RESULT_COUNT)
        return 0;
    return atomic_load_explicit(&((struct wr_metrics *)m)->reloads[result], memory_order_relaxed);
}

void wr_metrics_set_config(struct wr_metrics *m, uint64_t version, const char *hash_hex)
{
    size_t i = 0;

    if (m == NULL)
        return;
    wr_metrics_set(m, WR_G_CONFIG_VERSION, version);
    /* Only hex digits are kept, so the hash never needs escaping in either format. */
    for (; hash_hex != NULL && hash_hex[i] != '\0' && i + 1 < sizeof(m->config_hash); i++) {
        char c = hash_hex[i];

        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            break;
        m->config_hash[i] = c;
    }
    m->config_hash[i] = '\0';
}

void wr_metrics_add(struct wr_metrics *m, enum wr_counter c, uint64_t n)
{
    if (m != NULL && (unsigned)c < WR_COUNTER_COUNT)
        atomic_fetch_add_explicit(&m->counters[c], n, memory_order_relaxed);
}

void wr_metrics_raise(struct wr_metrics *m, enum wr_counter c, uint64_t value)
{
    uint_fast64_t cur;

    if (m == NULL || (unsigned)c >= WR_COUNTER_COUNT)
        return;
    cur = atomic_load_explicit(&m->counters[c], memory_order_relaxed);
    /* A failed exchange reloads cur: retry only while someone else left it lower. */
    while (cur < value) {
        if (atomic_compare_exchange_weak_explicit(&m->counters[c], &cur, value,
                                                  memory_order_relaxed, memory_order_relaxed))
            break;
    }
}

void wr_metrics_drop(struct wr_metrics *m, enum wr_drop_reason reason, uint64_t n)
{
    if (m != NULL && (unsigned)reason < WR_DROP_REASON_COUNT)
        atomic_fetch_add_explicit(&m->dropped[reason], n, memory_order_relaxed);
}

void wr_metrics_set(struct wr_metrics *m, enum wr_gauge g, uint64_t value)
{
    if (m != NULL && (unsigned)g < WR_GAUGE_COUNT)
        atomic_store_explicit(&m->gauges[g], value, memory_order_relaxed);
}

uint64_t wr_metrics_counter(const struct wr_metrics *m, enum wr_counter c)
{
    if (m == NULL || (unsigned)c >= WR_COUNTER_COUNT)
        return 0;
    return atomic_load_explicit(&((struct wr_metrics *)m)->counters[c], memory_order_relaxed);
}

uint64_t wr_metrics_dropped(const struct wr_metrics *m, enum wr_drop_reason reason)
{
    if (m == NULL || (unsigned)reason >= WR_DROP_REASON_COUNT)
        return 0;
    return atomic_load_explicit(&((struct wr_metrics *)m)->dropped[reason], memory_order_relaxed);
}

uint64_t wr_metrics_dropped_total(const struct wr_metrics *m)
{
    uint64_t total = 0;

    for (unsigned r = 0; r < WR_DROP_REASON_COUNT; r++)
        total += wr_metrics_dropped(m, (enum wr_drop_reason)r);
    return total;
}

uint64_t wr_metrics_gauge(const struct wr_metrics *m, enum wr_gauge g)
{
    if (m == NULL || (unsigned)g >= WR_GAUGE_COUNT)
        return 0;
    return atomic_load_explicit(&((struct wr_metrics *)m)->gauges[g], memory_order_relaxed);
}

/* Appends printf output; once anything does not fit, the writer stays failed. */
struct writer {
    char *buf;
    size_t cap;
    size_t len;
    bool overflow;
};

__attribute__((format(printf, 2, 3))) static void put(struct writer *w, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (w->overflow)
        return;
    va_start(ap, fmt);
    n = vsnprintf(w->buf + w->len, w->cap - w->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= w->cap - w->len) {
        w->overflow = true;
        return;
    }
    w->len += (size_t)n;
}

static int finish(const struct writer *w, size_t *len)
{
    if (w->overflow)
        return WR_E_TOOBIG;
    if (len != NULL)
        *len = w->len;
    return WR_OK;
}

int wr_metrics_render_prometheus(const struct wr_metrics *m, char *buf, size_t cap, size_t *len)
{
    struct writer w = {buf, cap, 0, false};

    if (m == NULL || buf == NULL || cap == 0)
        return WR_E_INVAL;
    buf[0] = '\0';
    for (unsigned i = 0; i < WR_COUNTER_COUNT; i++) {
        put(&w, "# HELP windrow_%s %s\n# TYPE windrow_%s counter\nwindrow_%s %llu\n",
            counter_names[i], counter_help[i], counter_names[i], counter_names[i],
            (unsigned long long)wr_metrics_counter(m, (enum wr_counter)i));
    }
    put(&w, "# HELP windrow_events_dropped_total events that reached no window, by reason\n"
            "# TYPE windrow_events_dropped_total counter\n");
    for (unsigned r = 0; r < WR_DROP_REASON_COUNT; r++) {
        put(&w, "windrow_events_dropped_total{reason=\"%s\"} %llu\n",
            wr_drop_reason_name((enum wr_drop_reason)r),
            (unsigned long long)wr_metrics_dropped(m, (enum wr_drop_reason)r));
    }
    put(&w, "# HELP windrow_config_reloads_total config reloads (SIGHUP, file, push) by outcome\n"
            "# TYPE windrow_config_reloads_total counter\n");
    for (unsigned r = 0; r < WR_RELOAD_RESULT_COUNT; r++)
        put(&w, "windrow_config_reloads_total{result=\"%s\"} %llu\n", reload_names[r],
            (unsigned long long)wr_metrics_reloads(m, (enum wr_reload_result)r));
    put(&w, "# HELP windrow_config_info the running config, by SHA-256 of its file\n"
            "# TYPE windrow_config_info gauge\nwindrow_config_info{hash=\"%s\"} 1\n",
        m->config_hash);
    for (unsigned i = 0; i < WR_GAUGE_COUNT; i++) {
        put(&w, "# HELP windrow_%s %s\n# TYPE windrow_%s gauge\nwindrow_%s %llu\n", gauge_names[i],
            gauge_help[i], gauge_names[i], gauge_names[i],
            (unsigned long long)wr_metrics_gauge(m, (enum wr_gauge)i));
    }
    return finish(&w, len);
}

int wr_metrics_render_json(const struct wr_metrics *m, const char *agent_id, int64_t now_wall_ms,
                           char *buf, size_t cap, size_t *len)
{
    struct writer w = {buf, cap, 0, false};

    if (m == NULL || agent_id == NULL || buf == NULL || cap == 0)
        return WR_E_INVAL;
    buf[0] = '\0';
    /* agent ids are validated to [A-Za-z0-9_.-], so they need no escaping. */
    put(&w, "{\"v\":1,\"agent\":\"%s\",\"ts\":%lld,\"status\":\"online\",\"config\":{"
            "\"version\":%llu,\"hash\":\"%s\"},\"metrics\":{",
        agent_id, (long long)now_wall_ms,
        (unsigned long long)wr_metrics_gauge(m, WR_G_CONFIG_VERSION), m->config_hash);
    for (unsigned i = 0; i < WR_COUNTER_COUNT; i++)
        put(&w, "\"%s\":%llu,", counter_names[i],
            (unsigned long long)wr_metrics_counter(m, (enum wr_counter)i));
    for (unsigned r = 0; r < WR_DROP_REASON_COUNT; r++)
        put(&w, "\"events_dropped_total.%s\":%llu,", wr_drop_reason_name((enum wr_drop_reason)r),
            (unsigned long long)wr_metrics_dropped(m, (enum wr_drop_reason)r));
    for (unsigned r = 0; r < WR_RELOAD_RESULT_COUNT; r++)
        put(&w, "\"config_reloads_total.%s\":%llu,", reload_names[r],
            (unsigned long long)wr_metrics_reloads(m, (enum wr_reload_result)r));
    for (unsigned i = 0; i < WR_GAUGE_COUNT; i++)
        put(&w, "\"%s\":%llu%s", gauge_names[i],
            (unsigned long long)wr_metrics_gauge(m, (enum wr_gauge)i),
            i + 1 < WR_GAUGE_COUNT ? "," : "");
    put(&w, "}}");
    return finish(&w, len);
}
