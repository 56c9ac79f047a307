#define _POSIX_C_SOURCE 200809L
#include "test_support.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crc32.h"
#include "journal.h"
#include "plat_mem.h"
#include "wr_error.h"

#define BOOT "0b6a7d3c-1111-4222-8333-944455556666"
#define OTHER_BOOT "0b6a7d3c-1111-4222-8333-000000000000"
#define FP 0x1234abcdull
#define SLOTS 64u

struct fixture {
    char dir[64];
    char path[96];
    struct wr_event got[512];
    uint64_t seqs[512];
    size_t n_got;
};

static int fixture_setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    if (f == NULL || wr_test_tmpdir(f->dir, sizeof(f->dir), "wr-test-journal") != 0) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof(f->path), "%s/%s", f->dir, WR_JOURNAL_FILE_NAME);
    wr_test_alloc_install();
    *state = f;
    return 0;
}

static int fixture_teardown(void **state)
{
    struct fixture *f = *state;

    wr_test_alloc_uninstall();
    wr_test_rmtree(f->dir);
    free(f);
    return 0;
}

static struct wr_journal_params params(const struct fixture *f, const char *boot, uint64_t fp)
{
    struct wr_journal_params p;

    p.path = f->path;
    p.capacity_bytes = SLOTS * WR_JOURNAL_SLOT_BYTES;
    p.boot_id = boot;
    p.fingerprint = fp;
    p.new_id = 77;
    return p;
}

static struct wr_journal *open_ok(struct fixture *f, const char *boot, uint64_t fp,
                                  struct wr_journal_open_report *rep)
{
    struct wr_journal_params p = params(f, boot, fp);
    struct wr_journal *j = NULL;

    assert_int_equal(wr_journal_open(&p, &j, rep), WR_OK);
    assert_non_null(j);
    return j;
}

static struct wr_event event(unsigned i, size_t key_len)
{
    struct wr_event ev;

    memset(&ev, 0, sizeof(ev));
    ev.stream = (uint16_t)(i % 3);
    ev.time_ms = 1700000000000 + (int64_t)i * 10;
    ev.value = (double)i * 0.5 - 3.25;
    ev.has_time = (i % 2) == 0;
    ev.arrival_mono_ms = 99;
    for (size_t k = 0; k < key_len; k++)
        ev.key[k] = (char)('a' + (i + k) % 26);
    return ev;
}

static void append_range(struct wr_journal *j, unsigned from, unsigned to, size_t key_len)
{
    for (unsigned i = from; i < to; i++) {
        struct wr_event ev = event(i, key_len);

        assert_int_equal(wr_journal_append(j, &ev, 1), WR_OK);
    }
}

static int collect(void *ctx, const struct wr_event *ev, uint64_t seq)
{
    struct fixture *f = ctx;

    assert_true(f->n_got < 512);
    f->got[f->n_got] = *ev;
    f->seqs[f->n_got] = seq;
    f->n_got++;
    return WR_OK;
}

static void replay(struct fixture *f, struct wr_journal *j, uint64_t after,
                   struct wr_journal_replay_report *rep)
{
    f->n_got = 0;
    assert_int_equal(wr_journal_replay(j, after, collect, f, rep), WR_OK);
}

static void assert_event_is(const struct wr_event *got, unsigned i, size_t key_len)
{
    struct wr_event want = event(i, key_len);

    assert_int_equal(got->stream, want.stream);
    assert_int_equal(got->time_ms, want.time_ms);
    assert_true(got->value == want.value);
    assert_int_equal(got->has_time, want.has_time);
    assert_string_equal(got->key, want.key);
    assert_int_equal(got->arrival_mono_ms, 0);
}

/* Overwrite one byte of the file. */
static void poke(const struct fixture *f, long offset, unsigned char byte)
{
    int fd = open(f->path, O_WRONLY);

    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, &byte, 1, offset), 1);
    close(fd);
}

static long slot_offset(unsigned slot)
{
    return (long)(WR_JOURNAL_HEADER_BYTES + slot * WR_JOURNAL_SLOT_BYTES);
}

static void test_crc32_matches_zlib(void **state)
{
    (void)state;
    assert_int_equal(wr_crc32(0, "123456789", 9), 0xcbf43926u);
    assert_int_equal(wr_crc32(wr_crc32(0, "1234", 4), "56789", 5), 0xcbf43926u);
    assert_int_equal(wr_crc32(0, "", 0), 0);
}

static void test_journal_roundtrip_after_reopen(void **state)
{
    struct fixture *f = *state;
    struct wr_journal_open_report orep;
    struct wr_journal_replay_report rrep;
    struct wr_journal *j = open_ok(f, BOOT, FP, &orep);

    assert_int_equal(orep.found, WR_JOURNAL_FRESH);
    assert_int_equal(orep.id, 77);
    assert_int_equal(wr_journal_append(j, NULL, 0), WR_E_STATE);
    assert_int_equal(wr_journal_start(j, 0, 0), WR_OK);
    append_range(j, 0, 5, 8);   /* one slot each */
    append_range(j, 5, 10, 63); /* the longest key: two slots each */
    assert_int_equal(wr_journal_last_seq(j), 10);
    wr_journal_close(j);

    j = open_ok(f, BOOT, FP, &orep);
    assert_int_equal(orep.found, WR_JOURNAL_REOPENED);
    assert_int_equal(orep.last_seq, 10);
    assert_int_equal(orep.records, 10);
    replay(f, j, 0, &rrep);
    assert_int_equal(rrep.replayed, 10);
    assert_int_equal(rrep.lost, 0);
    assert_int_equal(rrep.last_seq, 10);
    for (unsigned i = 0; i < 10; i++) {
        assert_int_equal(f->seqs[i], i + 1);
        assert_event_is(&f->got[i], i, i < 5 ? 8 : 63);
    }
    /* Only what a snapshot does not cover yet. */
    replay(f, j, 7, &rrep);
    assert_int_equal(rrep.replayed, 3);
    assert_int_equal(f->seqs[0], 8);
    wr_journal_close(j);
}

static void test_journal_continues_after_restart(void **state)
{
    struct fixture *f = *state;
    struct wr_journal_open_report orep;
    struct wr_journal_replay_report rrep;
    struct wr_journal *j = open_ok(f, BOOT, FP, NULL);

    assert_int_equal(wr_journal_start(j, 0, 0), WR_OK);
    append_range(j, 0, 6, 4);
    wr_journal_close(j);
    j = open_ok(f, BOOT, FP, &orep);
    /* A number below what the ring holds would reuse sequence numbers. */
    assert_int_equal(wr_journal_start(j, 5, 0), WR_E_INVAL);
    /* Restarted from a snapshot that covered 20 (the ring itself only reached 6). */
    assert_int_equal(wr_journal_start(j, 20, 20), WR_OK);
    append_range(j, 6, 9, 4);
    assert_int_equal(wr_journal_last_seq(j), 23);
    wr_journal_close(j);
    j = open_ok(f, BOOT, FP, &orep);
    assert_int_equal(orep.last_seq, 23);
    replay(f, j, 20, &rrep);
    assert_int_equal(rrep.replayed, 3);
    assert_int_equal(rrep.lost, 0);
    assert_event_is(&f->got[0], 6, 4);
    assert_int_equal(f->seqs[2], 23);
    wr_journal_close(j);
}

static void test_journal_wraparound_keeps_newest(void **state)
{
    struct fixture *f = *state;
    struct wr_journal_open_report orep;
    struct wr_journal_replay_report rrep;
    struct wr_journal *j = open_ok(f, BOOT, FP, NULL);

    assert_int_equal(wr_journal_start(j, 0, 0), WR_OK);
    /* Mixed sizes so that two-slot records meet the end of the ring. */
    for (unsigned i = 0; i < 300; i++) {
        struct wr_event ev = event(i, i % 3 == 0 ? 40 : 10);

        assert_int_equal(wr_journal_append(j, &ev, 1), WR_OK);
        wr_journal_set_covered(j, i + 1 > 30 ? i + 1 - 30 : 0); /* a snapshot keeps up */
    }
    assert_int_equal(wr_journal_overruns(j), 0);
    wr_journal_close(j);
    j = open_ok(f, BOOT, FP, &orep);
    assert_int_equal(orep.last_seq, 300);
    replay(f, j, 270, &rrep);
    assert_int_equal(rrep.replayed, 30);
    assert_int_equal(rrep.lost, 0);
    for (unsigned k = 0; k < 30; k++) {
        assert_int_equal(f->seqs[k], 271 + k);
        assert_event_is(&f->got[k], 270 + k, (270 + k) % 3 == 0 ? 40 : 10);
    }
    /* Asking for more than the ring still holds shows the gap. */
    replay(f, j, 100, &rrep);
    assert_true(rrep.lost > 0);
    assert_int_equal(rrep.lost + rrep.replayed, 200);
    assert_int_equal(rrep.last_seq, 300);
    wr_journal_close(j);
}

static void test_journal_overrun_is_counted(void **state)
{
    struct fixture *f = *state;
    struct wr_journal *j = open_ok(f, BOOT, FP, NULL);

    assert_int_equal(wr_journal_start(j, 0, 0), WR_OK);
    append_range(j, 0, SLOTS, 4);
    assert_int_equal(wr_journal_overruns(j), 0);
    append_range(j, SLOTS, SLOTS + 5, 4); /* nothing covered: live records go */
    assert_int_equal(wr_journal_overruns(j), 5);
    wr_journal_set_covered(j, SLOTS + 5);
    append_range(j, SLOTS + 5, SLOTS + 10, 4);
    assert_int_equal(wr_journal_overruns(j), 5);
    wr_journal_close(j);
}

static void test_journal_torn_last_record_is_skipped(void **state)
{
    struct fixture *f = *state;
    struct wr_journal_open_report orep;
    struct wr_journal_replay_report rrep;
    struct wr_journal *j = open_ok(f, BOOT, FP, NULL);

    assert_int_equal(wr_journal_start(j, 0, 0), WR_OK);
    append_range(j, 0, 5, 6);
    wr_journal_close(j);
    /* The crash hit while the 5th record's key was being written. */
    poke(f, slot_offset(4) + (long)WR_JOURNAL_RECORD_FIXED_BYTES + 2, 0xff);
    j = open_ok(f, BOOT, FP, &orep);
    assert_int_equal(orep.found, WR_JOURNAL_REOPENED);
    assert_int_equal(orep.last_seq, 4);
    replay(f, j, 0, &rrep);
    assert_int_equal(rrep.replayed, 4);
    assert_int_equal(rrep.lost, 0); /* nothing after it: indistinguishable from never written */
    /* New records continue at number 5, in the torn record's place. */
    assert_int_equal(wr_journal_start(j, orep.last_seq, 0), WR_OK);
    append_range(j, 10, 11, 6);
    wr_journal_close(j);
    j = open_ok(f, BOOT, FP, &orep);
    replay(f, j, 0, &rrep);
    assert_int_equal(rrep.replayed, 5);
    assert_event_is(&f->got[4], 10, 6);
    wr_journal_close(j);
}

static void test_journal_checksum_mismatch_is_a_gap(void **state)
{
    struct fixture *f = *state;
    struct wr_journal_replay_report rrep;
    struct wr_journal *j = open_ok(f, BOOT, FP, NULL);

    assert_int_equal(wr_journal_start(j, 0, 0), WR_OK);
    append_range(j, 0, 6, 6);
    wr_journal_close(j);
    poke(f, slot_offset(2) + 25, 0x5a); /* inside the value of record 3 */
    j = open_ok(f, BOOT, FP, NULL);
    replay(f, j, 0, &rrep);
    assert_int_equal(rrep.replayed, 5);
    assert_int_equal(rrep.lost, 1);
    assert_int_equal(f->seqs[2], 4);
    wr_journal_close(j);
}

static void test_journal_retract_gives_numbers_back(void **state)
{
    struct fixture *f = *state;
    struct wr_journal_replay_report rrep;
    struct wr_event evs[3] = {event(20, 5), event(21, 50), event(22, 5)};
    struct wr_journal *j = open_ok(f, BOOT, FP, NULL);

    assert_int_equal(wr_journal_start(j, 0, 0), WR_OK);
    append_range(j, 0, SLOTS - 2, 5); /* the next two-slot record wraps */
    wr_journal_set_covered(j, SLOTS - 2);
    assert_int_equal(wr_journal_append(j, evs, 3), WR_OK);
    assert_int_equal(wr_journal_last_seq(j), SLOTS + 1);
    wr_journal_retract_last(j);
    assert_int_equal(wr_journal_last_seq(j), SLOTS - 2);
    append_range(j, 30, 31, 5);
    wr_journal_close(j);
    j = open_ok(f, BOOT, FP, NULL);
    replay(f, j, SLOTS - 2, &rrep);
    assert_int_equal(rrep.replayed, 1);
    assert_int_equal(rrep.lost, 0);
    assert_int_equal(f->seqs[0], SLOTS - 1);
    assert_event_is(&f->got[0], 30, 5);
    /* The wrapped records overwrote the (covered) first three for good. */
    replay(f, j, 0, &rrep);
    assert_int_equal(rrep.lost, 3);
    assert_int_equal(rrep.replayed, SLOTS - 4);
    wr_journal_close(j);
}

static void expect_discarded(struct fixture *f, const char *boot, uint64_t fp, const char *why)
{
    struct wr_journal_open_report orep;
    struct wr_journal_replay_report rrep;
    struct wr_journal *j = open_ok(f, boot, fp, &orep);

    assert_int_equal(orep.found, WR_JOURNAL_DISCARDED);
    assert_string_equal(orep.reason, why);
    assert_int_equal(orep.records, 0);
    replay(f, j, 0, &rrep);
    assert_int_equal(rrep.replayed, 0);
    wr_journal_close(j);
    /* Discarding rewrote it: it now belongs to this boot and fingerprint, empty. */
    j = open_ok(f, boot, fp, &orep);
    assert_int_equal(orep.found, WR_JOURNAL_REOPENED);
    assert_int_equal(orep.records, 0);
    wr_journal_close(j);
}

static void write_some(struct fixture *f)
{
    struct wr_journal *j = open_ok(f, BOOT, FP, NULL);

    assert_int_equal(wr_journal_start(j, 0, 0), WR_OK);
    append_range(j, 0, 5, 6);
    wr_journal_close(j);
}

static void test_journal_other_boot_is_discarded(void **state)
{
    struct fixture *f = *state;

    write_some(f);
    expect_discarded(f, OTHER_BOOT, FP, "written during another boot");
}

static void test_journal_other_fingerprint_is_discarded(void **state)
{
    struct fixture *f = *state;

    write_some(f);
    expect_discarded(f, BOOT, FP + 1, "written for another config or build");
}

static void test_journal_garbage_is_discarded(void **state)
{
    struct fixture *f = *state;
    FILE *fp = fopen(f->path, "wb");

    assert_non_null(fp);
    for (unsigned i = 0; i < WR_JOURNAL_HEADER_BYTES + SLOTS * WR_JOURNAL_SLOT_BYTES; i++)
        fputc((int)((i * 7919u) & 0xff), fp);
    fclose(fp);
    expect_discarded(f, BOOT, FP, "not a windrow journal");
}

static void test_journal_truncated_is_discarded(void **state)
{
    struct fixture *f = *state;

    write_some(f);
    assert_int_equal(truncate(f->path, (off_t)slot_offset(3)), 0);
    expect_discarded(f, BOOT, FP, "truncated or resized");
}

static void test_journal_corrupt_header_is_discarded(void **state)
{
    struct fixture *f = *state;

    write_some(f);
    poke(f, 20, 0x01); /* inside the journal id */
    expect_discarded(f, BOOT, FP, "header checksum mismatch");
}

static void test_journal_bad_arguments(void **state)
{
    struct fixture *f = *state;
    struct wr_journal_params p = params(f, BOOT, FP);
    struct wr_journal *j = NULL;
    struct wr_event ev = event(1, 5);

    assert_int_equal(wr_journal_open(NULL, &j, NULL), WR_E_INVAL);
    assert_int_equal(wr_journal_open(&p, NULL, NULL), WR_E_INVAL);
    p.capacity_bytes = (WR_JOURNAL_MIN_SLOTS - 1) * WR_JOURNAL_SLOT_BYTES;
    assert_int_equal(wr_journal_open(&p, &j, NULL), WR_E_INVAL);
    p = params(f, BOOT, FP);
    p.new_id = 0;
    assert_int_equal(wr_journal_open(&p, &j, NULL), WR_E_INVAL);
    p = params(f, "a-boot-id-that-is-far-too-long-to-be-a-uuid", FP);
    assert_int_equal(wr_journal_open(&p, &j, NULL), WR_E_INVAL);
    p = params(f, BOOT, FP);
    p.path = "/nonexistent-dir/journal";
    assert_int_equal(wr_journal_open(&p, &j, NULL), WR_E_NOTFOUND);
    assert_null(j);

    j = open_ok(f, BOOT, FP, NULL);
    assert_int_equal(wr_journal_start(j, 0, 0), WR_OK);
    memset(ev.key, 'x', sizeof(ev.key)); /* no NUL */
    assert_int_equal(wr_journal_append(j, &ev, 1), WR_E_INVAL);
    assert_int_equal(wr_journal_last_seq(j), 0);
    assert_int_equal(wr_journal_replay(j, 0, NULL, NULL, NULL), WR_E_INVAL);
    wr_journal_close(j);
    wr_journal_close(NULL);
    assert_int_equal(wr_journal_last_seq(NULL), 0);
}

static void test_journal_allocation_failures(void **state)
{
    struct fixture *f = *state;
    struct wr_journal_params p = params(f, BOOT, FP);

    for (long n = 1;; n++) {
        struct wr_journal *j = NULL;
        int rc;

        wr_test_alloc_fail_at(n);
        rc = wr_journal_open(&p, &j, NULL);
        if (rc == WR_OK) {
            wr_journal_close(j);
            break;
        }
        assert_int_equal(rc, WR_E_NOMEM);
        assert_null(j);
    }
    wr_test_alloc_fail_at(0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fixture_setup, fixture_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32_matches_zlib),   T(test_journal_roundtrip_after_reopen),
        T(test_journal_continues_after_restart),     T(test_journal_wraparound_keeps_newest),
        T(test_journal_overrun_is_counted),          T(test_journal_torn_last_record_is_skipped),
        T(test_journal_checksum_mismatch_is_a_gap),  T(test_journal_retract_gives_numbers_back),
        T(test_journal_other_boot_is_discarded),     T(test_journal_other_fingerprint_is_discarded),
        T(test_journal_garbage_is_discarded),        T(test_journal_truncated_is_discarded),
        T(test_journal_corrupt_header_is_discarded), T(test_journal_bad_arguments),
        T(test_journal_allocation_failures),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
