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
    const char *value_field;  /* JSON object member for the value */
    const char *time_field;   /* JSON object member for the time; NULL or "" = none */
    enum wr_time_unit time_unit;
    const char *key_template;
    uint32_t max_payload_bytes;
    uint16_t stream;          /* copied into every event */
};

struct wr_decode_result {
    size_t n_events;
    uint32_t drops[WR_DROP_REASON_COUNT]; /* events (or whole messages) not produced, by reason */
};

/**
 * Decode one message. Fills events[0 .. res->n_events) with stream, key,
 * value, has_time and time_ms (epoch ms; 0 when !has_time); arrival_mono_ms
 * is left 0 for the caller to set. Whatever could not become an event is
 * counted in res->drops: a payload that is not one of the forms counts once
 * as WR_DROP_MALFORMED; each SenML record that fails counts once under its
 * own reason; records beyond max_events count as WR_DROP_TOO_MANY_RECORDS.
 * Returns WR_OK (even when everything was dropped), WR_E_INVAL for NULL
 * arguments (spec->key_template and spec->value_field included; events may be
 * NULL only when max_events is 0) or an unknown spec->format, or WR_E_NOMEM when the JSON parser ran out of memory (then
 * nothing is counted in res and the message may be retried).
 * Thread-safe; borrows everything.
 *
 * Details: a JSON object's value may also be a numeric string ("21.5"); its
 * time may be a number (per time_unit), a numeric string or an RFC 3339
 * string; times are rounded to the ms and must lie in years 1970..9999, else
 * WR_DROP_BAD_TIME. SenML: value = bv + v, or bs + s when v is absent;
 * vs/vb/vd-only records are WR_DROP_NO_VALUE; times below 2^28 s are relative
 * (RFC 8428) and give has_time = false; an empty pack yields nothing.
 * Only records that would have become events count as TOO_MANY_RECORDS.
 * A JSON payload containing a "\u0000" escape, and numeric text longer than
 * 330 characters, are WR_DROP_MALFORMED.
 */
int wr_decode_message(const struct wr_decode_spec *spec, const char *topic, size_t topic_len,
                      const void *payload, size_t payload_len, struct wr_event *events,
                      size_t max_events, struct wr_decode_result *res);

#endif /* WR_DECODE_H */
