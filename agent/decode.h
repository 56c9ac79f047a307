#ifndef WR_DECODE_H
#define WR_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "drop.h"
#include "event.h"
#include "wr_config.h"

/*
 * Payload decoding: one MQTT message in, zero or more events out.
 * Three forms are understood (and detected per message under WR_FORMAT_AUTO):
 *   - a JSON object:    {"value": 21.5, "ts": 1700000000}  (field names from the stream)
 *   - a bare number:    21.5
 *   - a SenML pack (RFC 8428): [{"bn":"dev1/","bt":1.7e9,"n":"temp","v":21.5}, ...]
 * Keys come from the stream's key template (config/key_template.h).
 */

struct wr_decode_spec {
    enum wr_payload_format format;
    const char *value_field; /* JSON object member for the value */
    const char *time_field;  /* JSON object member for the time; NULL or "" = none */
    enum wr_time_unit time_unit;
    const char *key_template;
    uint32_t max_payload_bytes;
    uint16_t stream; /* copied into every event */
};

struct wr_decode_result {
    size_t n_events;
    uint32_t drops[WR_DROP_REASON_COUNT]; /* events (or whole messages) not produced, by reason */
};

/* Most streams one call decodes a message for (one per configured stream). */
#define WR_DECODE_MAX_SPECS WR_CFG_MAX_STREAMS

/**
 * Decode one message. Fills events[0 .. res->n_events) with stream, key,
 * value, has_time and time_ms (epoch ms; 0 when !has_time); arrival_mono_ms
 * is left 0 for the caller to set. Whatever could not become an event is
 * counted in res->drops: a payload that is not one of the forms counts once
 * as WR_DROP_MALFORMED; each SenML record that fails counts once under its
 * own reason; records beyond max_events count as WR_DROP_TOO_MANY_RECORDS.
 * Returns WR_OK (even when everything was dropped), or WR_E_INVAL for NULL
 * arguments (spec->key_template and spec->value_field included; events may be
 * NULL only when max_events is 0) or an unknown spec->format; then nothing
 * is counted in res. Never allocates (no heap use at all). Thread-safe;
 * borrows everything.
 *
 * Details: a JSON payload must be one RFC 8259 value (strictly: no leading
 * zeros, "+1", ".5", "1.", trailing commas or raw control characters in
 * strings; nesting up to 1000 levels). A JSON object's value may also be a
 * numeric string ("21.5"); its time may be a number (per time_unit), a
 * numeric string or an RFC 3339 string; times are rounded to the ms and must
 * lie in years 1970..9999, else WR_DROP_BAD_TIME. When a name occurs twice
 * in an object, the first member counts. SenML: value = bv + v, or bs + s
 * when v is absent; vs/vb/vd-only records are WR_DROP_NO_VALUE; times below
 * 2^28 s are relative (RFC 8428) and give has_time = false; an empty pack
 * yields nothing. Only records that would have become events count as
 * TOO_MANY_RECORDS. A JSON payload containing a "\u0000" escape, and numeric
 * text longer than 330 characters, are WR_DROP_MALFORMED.
 */
int wr_decode_message(const struct wr_decode_spec *spec, const char *topic, size_t topic_len,
                      const void *payload, size_t payload_len, struct wr_event *events,
                      size_t max_events, struct wr_decode_result *res);

/**
 * Decode one message for several streams at once (those whose topic filter
 * matched), parsing the payload once: the result is what calling
 * wr_decode_message for each of specs[0 .. n_specs) would give, summed, with
 * the events in one array. Numbers and objects give one event or one drop
 * per stream, in the order of specs; a SenML pack gives its records in
 * order, each keyed for every SenML stream in turn, so max_events bounds
 * the message as a whole. n_specs may be 0 (then nothing is counted).
 * Returns WR_OK, or WR_E_INVAL as wr_decode_message does for any spec, for
 * a NULL specs with n_specs > 0, or for n_specs > WR_DECODE_MAX_SPECS.
 * Never allocates. Thread-safe; borrows everything.
 */
int wr_decode_message_multi(const struct wr_decode_spec *const *specs, size_t n_specs,
                            const char *topic, size_t topic_len, const void *payload,
                            size_t payload_len, struct wr_event *events, size_t max_events,
                            struct wr_decode_result *res);

#endif /* WR_DECODE_H */
