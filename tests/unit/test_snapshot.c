#define _POSIX_C_SOURCE 200809L
#include "test_support.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plat_mem.h"
#include "sketch.h"
#include "snapshot.h"
#include "wr_error.h"

#define BOOT "0b6a7d3c-1111-4222-8333-944455556666"
#define OTHER_BOOT "0b6a7d3c-1111-4222-8333-000000000000"
#define FP 0x5eedull

struct fixture {
    char dir[64];
    char main_path[128];
    char tmp_path[128];
    struct wr_window_state windows[64];
    size_t n_windows;
    int64_t clocks[8];
    size_t n_clocks;
    struct wr_result results[64];
    size_t n_results;
    uint64_t sketch_count; /* of the last window visited with a sketch */
    double sketch_q90;
    uint8_t result_sketch[8192]; /* of the last result visited with one (borrowed for the call) */
    uint32_t result_sketch_len;
};

static int fixture_setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    if (f == NULL || wr_test_tmpdir(f->dir, sizeof(f->dir), "wr-test-snapshot") != 0) {
        free(f);
        return -1;
    }
    snprintf(f->main_path, sizeof(f->main_path), "%s/%s", f->dir, WR_SNAPSHOT_FILE_NAME);
    snprintf(f->tmp_path, sizeof(f->tmp_path), "%s/%s", f->dir, WR_SNAPSHOT_TMP_NAME);
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

static struct wr_window_state window(unsigned i)
{
    struct wr_window_state st;

    memset(&st, 0, sizeof(st));
    st.stream = (uint16_t)(i % 2);
    snprintf(st.key, sizeof(st.key), "key-%u-%.*s", i, (int)(i % 50),
             "0123456789012345678901234567890123456789012345678");
    st.start_ms = 1700000000000 + (int64_t)i * 1000;
    st.revision = i % 3;
    st.closed = i % 4 == 0;
    st.processing_time = i % 5 == 0;
    st.agg.count = i + 1;
    st.agg.sum = i * 2.5;
    st.agg.min = -1.0 * i;
    st.agg.max = 3.0 * i;
    st.agg.first_ms = st.start_ms;
    return st;
}

static struct wr_result result(unsigned i)
{
    struct wr_result r;

    memset(&r, 0, sizeof(r));
    r.stream = (uint16_t)(i % 2);
    snprintf(r.key, sizeof(r.key), "r%u", i);
    r.start_ms = 1600000000000 + (int64_t)i * 60000;
    r.size_s = 60;
    r.revision = i;
    r.agg.count = 7 + i;
    r.agg.mean = 0.25 * i;
    return r;
}

static struct wr_snapshot_meta meta(const char *boot, uint64_t seq)
{
    struct wr_snapshot_meta m;

    memset(&m, 0, sizeof(m));
    snprintf(m.boot_id, sizeof(m.boot_id), "%s", boot);
    m.fingerprint = FP;
    m.seq = seq;
    m.journal_id = 900 + seq;
    m.covered_seq = 1000 * seq;
    m.wall_ms = 1700000000123;
    return m;
}

/* A snapshot of n windows, 2 clocks and n/2 results, numbered seq. */
static void write_snapshot(const struct fixture *f, const char *boot, uint64_t seq, unsigned n)
{
    struct wr_snapshot_writer *w = NULL;
    struct wr_snapshot_meta m = meta(boot, seq);

    assert_int_equal(wr_snapshot_begin(f->dir, 100, &w), WR_OK);
    for (unsigned i = 0; i < n; i++) {
        struct wr_window_state st = window(i + (unsigned)seq);

        assert_int_equal(wr_snapshot_put_window(w, &st), WR_OK);
    }
    assert_int_equal(wr_snapshot_put_clock(w, 0, 1700000001000 + (int64_t)seq), WR_OK);
    assert_int_equal(wr_snapshot_put_clock(w, 1, INT64_MIN), WR_OK);
    for (unsigned i = 0; i < n / 2; i++) {
        struct wr_result r = result(i);

        assert_int_equal(wr_snapshot_put_result(w, &r), WR_OK);
    }
    assert_int_equal(wr_snapshot_commit(w, &m), WR_OK);
}

static int on_window(void *ctx, const struct wr_window_state *st)
{
    struct fixture *f = ctx;

    if (st->agg.sketch != NULL) {
        f->sketch_count = wr_sketch_count(st->agg.sketch);
        assert_int_equal(wr_sketch_quantile(st->agg.sketch, 0.9, &f->sketch_q90), WR_OK);
    }
    f->windows[f->n_windows] = *st;
    f->windows[f->n_windows].agg.sketch = NULL; /* freed after the call */
    f->n_windows++;
    return WR_OK;
}

static int on_clock(void *ctx, uint16_t stream, int64_t ms)
{
    struct fixture *f = ctx;

    assert_int_equal(stream, f->n_clocks);
    f->clocks[f->n_clocks++] = ms;
    return WR_OK;
}

static int on_result(void *ctx, const struct wr_result *r)
{
    struct fixture *f = ctx;

    if (r->sketch_len > 0) {
        assert_non_null(r->sketch);
        assert_true(r->sketch_len <= sizeof(f->result_sketch));
        memcpy(f->result_sketch, r->sketch, r->sketch_len);
        f->result_sketch_len = r->sketch_len;
    }
    f->results[f->n_results] = *r;
    f->results[f->n_results++].sketch = NULL; /* borrowed for the call */
    return WR_OK;
}

static struct wr_snapshot *load(struct fixture *f, const char *boot, uint64_t fp,
                                struct wr_snapshot_load_report *rep)
{
    struct wr_snapshot *s = NULL;

    assert_int_equal(wr_snapshot_load(f->dir, boot, fp, &s, rep), WR_OK);
    return s;
}

static void test_snapshot_roundtrip(void **state)
{
    struct fixture *f = *state;
    struct wr_snapshot_load_report rep;
    struct wr_snapshot_visitor v = {on_window, on_clock, on_result, f};
    const struct wr_snapshot_meta *m;
    struct wr_snapshot *s;

    write_snapshot(f, BOOT, 3, 40); /* grows past the 4 KB first size */
    assert_false(access(f->tmp_path, F_OK) == 0);
    s = load(f, BOOT, FP, &rep);
    assert_non_null(s);
    assert_int_equal(rep.main_file, WR_SNAPSHOT_USABLE);
    assert_int_equal(rep.tmp_file, WR_SNAPSHOT_MISSING);
    assert_string_equal(rep.chosen, WR_SNAPSHOT_FILE_NAME);
    m = wr_snapshot_meta_of(s);
    assert_int_equal(m->seq, 3);
    assert_int_equal(m->journal_id, 903);
    assert_int_equal(m->covered_seq, 3000);
    assert_int_equal(m->windows, 40);
    assert_int_equal(m->clocks, 2);
    assert_int_equal(m->results, 20);
    assert_string_equal(m->boot_id, BOOT);
    assert_int_equal(wr_snapshot_visit(s, &v), WR_OK);
    assert_int_equal(f->n_windows, 40);
    for (unsigned i = 0; i < 40; i++) {
        struct wr_window_state want = window(i + 3);

        assert_int_equal(f->windows[i].stream, want.stream);
        assert_string_equal(f->windows[i].key, want.key);
        assert_int_equal(f->windows[i].start_ms, want.start_ms);
        assert_int_equal(f->windows[i].revision, want.revision);
        assert_int_equal(f->windows[i].closed, want.closed);
        assert_int_equal(f->windows[i].processing_time, want.processing_time);
        assert_memory_equal(&f->windows[i].agg, &want.agg, sizeof(want.agg));
    }
    assert_int_equal(f->n_clocks, 2);
    assert_int_equal(f->clocks[0], 1700000001003);
    assert_int_equal(f->clocks[1], INT64_MIN);
    assert_int_equal(f->n_results, 20);
    for (unsigned i = 0; i < 20; i++) {
        struct wr_result want = result(i);

        assert_string_equal(f->results[i].key, want.key);
        assert_int_equal(f->results[i].start_ms, want.start_ms);
        assert_int_equal(f->results[i].size_s, 60);
        assert_int_equal(f->results[i].revision, i);
        assert_memory_equal(&f->results[i].agg, &want.agg, sizeof(want.agg));
    }
    wr_snapshot_free(s);
}

/*
 * Sketches travel serialized (a pointer means nothing after a crash): a
 * window's, and a result's bytes with its quantile values.
 */
static void test_snapshot_keeps_sketches_and_quantiles(void **state)
{
    struct fixture *f = *state;
    struct wr_snapshot_visitor v = {on_window, on_clock, on_result, f};
    struct wr_snapshot_writer *w = NULL;
    struct wr_snapshot_meta m = meta(BOOT, 1);
    struct wr_window_state st = window(3);
    struct wr_result r = result(2);
    struct wr_sketch *sk = NULL;
    struct wr_snapshot *s;
    double want = 0;
    double got = 0;
    uint8_t bytes[8192];
    size_t len = 0;
    uint64_t n;

    assert_int_equal(wr_sketch_create(0.01, 512, &sk), WR_OK);
    for (int i = 1; i <= 1000; i++)
        assert_int_equal(wr_sketch_add(sk, i * 0.5), WR_OK);
    st.agg.sketch = sk;
    assert_int_equal(wr_sketch_serialize(sk, bytes, sizeof(bytes), &len), WR_OK);
    r.sketch = bytes;
    r.sketch_len = (uint32_t)len;
    r.n_quantiles = 2;
    r.quantiles[0] = 12.5;
    r.quantiles[1] = -3.25;
    assert_int_equal(wr_snapshot_begin(f->dir, 0, &w), WR_OK);
    assert_int_equal(wr_snapshot_put_window(w, &st), WR_OK);
    assert_int_equal(wr_snapshot_put_result(w, &r), WR_OK);
    assert_int_equal(wr_snapshot_commit(w, &m), WR_OK);
    s = load(f, BOOT, FP, NULL);
    assert_non_null(s);
    /* The callbacks copy the state; the sketch is only valid during the call, so check it there. */
    f->n_windows = 0;
    assert_int_equal(wr_snapshot_visit(s, &v), WR_OK);
    assert_int_equal(f->n_windows, 1);
    assert_int_equal(f->n_results, 1);
    assert_int_equal(f->results[0].n_quantiles, 2);
    assert_true(f->results[0].quantiles[0] == 12.5 && f->results[0].quantiles[1] == -3.25);
    assert_null(f->results[0].agg.sketch);
    assert_int_equal(f->result_sketch_len, len);
    assert_memory_equal(f->result_sketch, bytes, len);
    assert_int_equal(f->windows[0].agg.count, st.agg.count);
    n = f->sketch_count;
    assert_int_equal(n, 1000);
    assert_int_equal(wr_sketch_quantile(sk, 0.9, &want), WR_OK);
    got = f->sketch_q90;
    assert_true(got == want);
    wr_snapshot_free(s);
    wr_sketch_destroy(sk);
}

static void test_snapshot_newer_replaces_older(void **state)
{
    struct fixture *f = *state;
    struct wr_snapshot *s;

    write_snapshot(f, BOOT, 1, 5);
    write_snapshot(f, BOOT, 2, 0);
    s = load(f, BOOT, FP, NULL);
    assert_non_null(s);
    assert_int_equal(wr_snapshot_meta_of(s)->seq, 2);
    assert_int_equal(wr_snapshot_meta_of(s)->windows, 0);
    wr_snapshot_free(s);
}

static void test_snapshot_other_boot_is_not_used(void **state)
{
    struct fixture *f = *state;
    struct wr_snapshot_load_report rep;

    write_snapshot(f, OTHER_BOOT, 9, 4);
    assert_null(load(f, BOOT, FP, &rep));
    assert_int_equal(rep.main_file, WR_SNAPSHOT_OTHER_BOOT);
    assert_null(rep.chosen);
    assert_string_equal(wr_snapshot_verdict_text(rep.main_file), "written during another boot");
}

static void test_snapshot_other_config_is_not_used(void **state)
{
    struct fixture *f = *state;
    struct wr_snapshot_load_report rep;

    write_snapshot(f, BOOT, 9, 4);
    assert_null(load(f, BOOT, FP + 1, &rep));
    assert_int_equal(rep.main_file, WR_SNAPSHOT_OTHER_CONFIG);
}

static void test_snapshot_nothing_there(void **state)
{
    struct fixture *f = *state;
    struct wr_snapshot_load_report rep;

    assert_null(load(f, BOOT, FP, &rep));
    assert_int_equal(rep.main_file, WR_SNAPSHOT_MISSING);
    assert_int_equal(rep.tmp_file, WR_SNAPSHOT_MISSING);
}

/* Keep the current main file's bytes as the temporary file (a crash before its rename). */
static void main_to_tmp_later(const struct fixture *f, char **saved, size_t *len)
{
    int fd = open(f->main_path, O_RDONLY);

    assert_true(fd >= 0);
    *len = (size_t)lseek(fd, 0, SEEK_END);
    *saved = malloc(*len);
    assert_non_null(*saved);
    assert_int_equal(pread(fd, *saved, *len, 0), (ssize_t)*len);
    close(fd);
}

static void put_tmp(const struct fixture *f, char *saved, size_t len)
{
    int fd = open(f->tmp_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, saved, len, 0), (ssize_t)len);
    close(fd);
    free(saved);
}

/* A crash between the write and the rename left a complete, newer temporary file. */
static void test_snapshot_complete_tmp_is_newest(void **state)
{
    struct fixture *f = *state;
    struct wr_snapshot_load_report rep;
    struct wr_snapshot *s;
    char *saved = NULL;
    size_t len = 0;

    write_snapshot(f, BOOT, 5, 3);
    main_to_tmp_later(f, &saved, &len);
    write_snapshot(f, BOOT, 4, 3);
    put_tmp(f, saved, len);
    s = load(f, BOOT, FP, &rep);
    assert_non_null(s);
    assert_string_equal(rep.chosen, WR_SNAPSHOT_TMP_NAME);
    assert_int_equal(wr_snapshot_meta_of(s)->seq, 5);
    wr_snapshot_free(s);
    /* An older temporary file loses to the main one. */
    write_snapshot(f, BOOT, 6, 3);
    main_to_tmp_later(f, &saved, &len);
    write_snapshot(f, BOOT, 7, 3);
    put_tmp(f, saved, len);
    s = load(f, BOOT, FP, &rep);
    assert_non_null(s);
    assert_int_equal(rep.tmp_file, WR_SNAPSHOT_USABLE);
    assert_string_equal(rep.chosen, WR_SNAPSHOT_FILE_NAME);
    assert_int_equal(wr_snapshot_meta_of(s)->seq, 7);
    wr_snapshot_free(s);
    /* The next snapshot is written over the leftover. */
    write_snapshot(f, BOOT, 8, 1);
    assert_false(access(f->tmp_path, F_OK) == 0);
}

static void poke(const char *path, long offset, unsigned char byte)
{
    int fd = open(path, O_WRONLY);

    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, &byte, 1, offset), 1);
    close(fd);
}

static void test_snapshot_corrupt_main_falls_back_to_tmp(void **state)
{
    struct fixture *f = *state;
    struct wr_snapshot_load_report rep;
    struct wr_snapshot *s;
    char *saved = NULL;
    size_t len = 0;

    write_snapshot(f, BOOT, 2, 3);
    main_to_tmp_later(f, &saved, &len);
    write_snapshot(f, BOOT, 3, 3);
    put_tmp(f, saved, len);
    poke(f->main_path, WR_SNAPSHOT_HEADER_BYTES + 30, 0x77);
    s = load(f, BOOT, FP, &rep);
    assert_non_null(s);
    assert_int_equal(rep.main_file, WR_SNAPSHOT_BAD_CHECKSUM);
    assert_string_equal(rep.chosen, WR_SNAPSHOT_TMP_NAME);
    assert_int_equal(wr_snapshot_meta_of(s)->seq, 2);
    wr_snapshot_free(s);
}

static void test_snapshot_truncated_and_garbage(void **state)
{
    struct fixture *f = *state;
    struct wr_snapshot_load_report rep;
    FILE *fp;

    write_snapshot(f, BOOT, 2, 10);
    assert_int_equal(truncate(f->main_path, WR_SNAPSHOT_HEADER_BYTES + 50), 0);
    assert_null(load(f, BOOT, FP, &rep));
    assert_int_equal(rep.main_file, WR_SNAPSHOT_TRUNCATED);
    assert_int_equal(truncate(f->main_path, 20), 0);
    assert_null(load(f, BOOT, FP, &rep));
    assert_int_equal(rep.main_file, WR_SNAPSHOT_TRUNCATED);
    assert_int_equal(truncate(f->main_path, 0), 0);
    assert_null(load(f, BOOT, FP, &rep));
    assert_int_equal(rep.main_file, WR_SNAPSHOT_TRUNCATED);
    fp = fopen(f->main_path, "wb");
    assert_non_null(fp);
    for (int i = 0; i < 5000; i++)
        fputc(i * 31 & 0xff, fp);
    fclose(fp);
    assert_null(load(f, BOOT, FP, &rep));
    assert_int_equal(rep.main_file, WR_SNAPSHOT_GARBAGE);
    /* A header that checks but a record that does not parse. */
    write_snapshot(f, BOOT, 2, 1);
    poke(f->main_path, 0x40, 0x01); /* inside the covered sequence number */
    assert_null(load(f, BOOT, FP, &rep));
    assert_int_equal(rep.main_file, WR_SNAPSHOT_BAD_CHECKSUM);
}

static void test_snapshot_check_rejects_bad_records(void **state)
{
    struct fixture *f = *state;
    char *data = NULL;
    size_t len = 0;
    int fd;

    (void)f;
    write_snapshot(f, BOOT, 1, 1);
    fd = open(f->main_path, O_RDONLY);
    assert_true(fd >= 0);
    len = (size_t)lseek(fd, 0, SEEK_END);
    data = malloc(len);
    assert_int_equal(pread(fd, data, len, 0), (ssize_t)len);
    close(fd);
    assert_int_equal(wr_snapshot_check(data, len, BOOT, FP, NULL), WR_SNAPSHOT_USABLE);
    assert_int_equal(wr_snapshot_check(data, len - 1, BOOT, FP, NULL), WR_SNAPSHOT_TRUNCATED);
    data[len - 1] ^= 0x10; /* the last key byte */
    assert_int_equal(wr_snapshot_check(data, len, BOOT, FP, NULL), WR_SNAPSHOT_BAD_CHECKSUM);
    data[len - 1] ^= 0x10;
    assert_int_equal(wr_snapshot_check(data, len, OTHER_BOOT, FP, NULL), WR_SNAPSHOT_OTHER_BOOT);
    assert_int_equal(wr_snapshot_check(NULL, len, BOOT, FP, NULL), WR_SNAPSHOT_GARBAGE);
    free(data);
}

static void test_snapshot_abort_leaves_previous(void **state)
{
    struct fixture *f = *state;
    struct wr_snapshot_writer *w = NULL;
    struct wr_window_state st = window(1);
    struct wr_snapshot *s;

    write_snapshot(f, BOOT, 1, 2);
    assert_int_equal(wr_snapshot_begin(f->dir, 0, &w), WR_OK);
    assert_int_equal(wr_snapshot_put_window(w, &st), WR_OK);
    memset(st.key, 'x', sizeof(st.key));
    assert_int_equal(wr_snapshot_put_window(w, &st), WR_E_INVAL);
    wr_snapshot_abort(w);
    assert_false(access(f->tmp_path, F_OK) == 0);
    s = load(f, BOOT, FP, NULL);
    assert_int_equal(wr_snapshot_meta_of(s)->seq, 1);
    wr_snapshot_free(s);
    assert_int_equal(wr_snapshot_remove(f->dir), WR_OK);
    assert_null(load(f, BOOT, FP, NULL));
    assert_int_equal(wr_snapshot_remove(f->dir), WR_OK);
}

static void test_snapshot_bad_arguments(void **state)
{
    struct fixture *f = *state;
    struct wr_snapshot_writer *w = NULL;
    struct wr_snapshot *s = NULL;

    assert_int_equal(wr_snapshot_begin(NULL, 0, &w), WR_E_INVAL);
    assert_int_equal(wr_snapshot_begin(f->dir, 0, NULL), WR_E_INVAL);
    assert_int_equal(wr_snapshot_begin("/nonexistent-dir", 0, &w), WR_E_NOTFOUND);
    assert_int_equal(wr_snapshot_load(NULL, BOOT, FP, &s, NULL), WR_E_INVAL);
    assert_int_equal(wr_snapshot_commit(NULL, NULL), WR_E_INVAL);
    assert_int_equal(wr_snapshot_put_clock(NULL, 0, 0), WR_E_INVAL);
    assert_int_equal(wr_snapshot_visit(NULL, NULL), WR_E_INVAL);
    wr_snapshot_abort(NULL);
    wr_snapshot_free(NULL);
}

static void test_snapshot_allocation_failures(void **state)
{
    struct fixture *f = *state;

    write_snapshot(f, BOOT, 1, 2);
    for (long n = 1;; n++) {
        struct wr_snapshot_writer *w = NULL;
        int rc;

        wr_test_alloc_fail_at(n);
        rc = wr_snapshot_begin(f->dir, 0, &w);
        if (rc == WR_OK) {
            wr_snapshot_abort(w);
            break;
        }
        assert_int_equal(rc, WR_E_NOMEM);
    }
    for (long n = 1;; n++) {
        struct wr_snapshot *s = NULL;
        int rc;

        wr_test_alloc_fail_at(n);
        rc = wr_snapshot_load(f->dir, BOOT, FP, &s, NULL);
        if (rc == WR_OK && s != NULL) {
            wr_snapshot_free(s);
            break;
        }
        assert_int_equal(rc, WR_E_NOMEM);
        assert_null(s);
    }
    wr_test_alloc_fail_at(0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fixture_setup, fixture_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_snapshot_roundtrip),
        T(test_snapshot_keeps_sketches_and_quantiles),
        T(test_snapshot_newer_replaces_older),
        T(test_snapshot_other_boot_is_not_used),
        T(test_snapshot_other_config_is_not_used),
        T(test_snapshot_nothing_there),
        T(test_snapshot_complete_tmp_is_newest),
        T(test_snapshot_corrupt_main_falls_back_to_tmp),
        T(test_snapshot_truncated_and_garbage),
        T(test_snapshot_check_rejects_bad_records),
        T(test_snapshot_abort_leaves_previous),
        T(test_snapshot_bad_arguments),
        T(test_snapshot_allocation_failures),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
