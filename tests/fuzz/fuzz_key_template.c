/*
 * Fuzz target for key templates: the input is split at its first NUL byte
 * into a template (NUL-terminated, as it comes from the config) and a topic
 * (by length); the topic's last byte, if any, doubles as the length of a
 * SenML name cut from the topic. Validation, plain expansion and the
 * prepared expansion the decoder uses for SenML packs must agree.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "key_template.h"
#include "wr_error.h"

static void check(int ok)
{
    if (!ok)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t tmpl_len = nul != NULL ? (size_t)(nul - data) : size;
    size_t topic_off = nul != NULL ? tmpl_len + 1 : size;
    size_t topic_len = size - topic_off;
    char *tmpl = malloc(tmpl_len + 1);
    char *topic = malloc(topic_len > 0 ? topic_len : 1);
    char name[32];
    size_t name_len;
    struct wr_key_prepared kp;
    int prep;

    if (tmpl == NULL || topic == NULL)
        goto out;
    memcpy(tmpl, data, tmpl_len);
    tmpl[tmpl_len] = '\0';
    memcpy(topic, data + topic_off, topic_len);
    name_len = topic_len > 0 ? data[size - 1] % sizeof(name) : 0;
    if (name_len > topic_len)
        name_len = topic_len;
    memcpy(name, topic, name_len);
    name[name_len] = '\0';
    name_len = strlen(name); /* a NUL in the topic ends the name */

    prep = wr_key_template_prepare(tmpl, topic, topic_len, &kp);
    check(prep == WR_OK || prep == WR_E_RANGE);
    for (size_t cap = 0; cap <= WR_KEY_PREPARED_TEXT; cap += 7) {
        char a[WR_KEY_PREPARED_TEXT];
        char b[WR_KEY_PREPARED_TEXT];
        int ra = wr_key_template_expand(tmpl, topic, topic_len, name, a, cap);

        if (ra == WR_OK) {
            check(wr_key_template_valid(tmpl, NULL));
            check(strlen(a) < cap);
            /* MQTT topics hold no NUL; with one, a key can look empty, as a C string. */
            if (memchr(topic, '\0', topic_len) == NULL)
                check(strlen(a) > 0);
        }
        if (prep != WR_OK)
            continue;
        {
            int rb = wr_key_prepared_expand(&kp, name, name_len, b, cap);

            check((ra == WR_OK) == (rb == WR_OK));
            if (ra == WR_OK)
                check(strcmp(a, b) == 0);
        }
    }
out:
    free(tmpl);
    free(topic);
    return 0;
}
