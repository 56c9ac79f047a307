/* The config file watch: every way of saving a file is seen, and debounced to one report. */
#define _XOPEN_SOURCE 700
#include "test_support.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plat_inotify.h"
#include "wr_error.h"

#define DEBOUNCE_MS 50u

struct fixture {
    char dir[64];
    char file[128];
    struct plat_inotify *w;
};

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

static int fixture_setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    if (f == NULL || wr_test_tmpdir(f->dir, sizeof(f->dir), "wr-test-inotify") != 0)
        return -1;
    snprintf(f->file, sizeof(f->file), "%s/windrow.json", f->dir);
    write_file(f->file, "{}");
    if (plat_inotify_create(f->file, DEBOUNCE_MS, &f->w) != WR_OK)
        return -1;
    *state = f;
    return 0;
}

static int fixture_teardown(void **state)
{
    struct fixture *f = *state;

    plat_inotify_destroy(f->w);
    wr_test_rmtree(f->dir);
    free(f);
    return 0;
}

/* Polls at t (events seen), t + debounce - 1 (still quiet) and t + debounce (reported). */
static void expect_one_report(struct fixture *f, uint64_t t)
{
    bool changed = true;

    assert_int_equal(plat_inotify_poll(f->w, t, &changed), WR_OK);
    assert_false(changed);
    assert_int_equal(plat_inotify_poll(f->w, t + DEBOUNCE_MS - 1, &changed), WR_OK);
    assert_false(changed);
    assert_int_equal(plat_inotify_poll(f->w, t + DEBOUNCE_MS, &changed), WR_OK);
    assert_true(changed);
    assert_int_equal(plat_inotify_poll(f->w, t + 10 * DEBOUNCE_MS, &changed), WR_OK);
    assert_false(changed);
}

static void test_inotify_nothing_happened(void **state)
{
    struct fixture *f = *state;
    bool changed = true;

    assert_int_equal(plat_inotify_poll(f->w, 1000, &changed), WR_OK);
    assert_false(changed);
}

static void test_inotify_in_place_write(void **state)
{
    struct fixture *f = *state;

    write_file(f->file, "{\"a\":1}");
    expect_one_report(f, 1000);
}

static void test_inotify_atomic_rename(void **state)
{
    struct fixture *f = *state;
    char tmp[160];

    snprintf(tmp, sizeof(tmp), "%s/.windrow.json.tmp", f->dir);
    write_file(tmp, "{\"b\":2}");
    assert_int_equal(rename(tmp, f->file), 0);
    expect_one_report(f, 2000);
}

static void test_inotify_editor_backup_pattern(void **state)
{
    struct fixture *f = *state;
    char backup[160];
    char probe[160];

    /* vim's default: probe file, move the original to file~, write a new file, drop the backup. */
    snprintf(probe, sizeof(probe), "%s/4913", f->dir);
    snprintf(backup, sizeof(backup), "%s/windrow.json~", f->dir);
    write_file(probe, "");
    assert_int_equal(unlink(probe), 0);
    assert_int_equal(rename(f->file, backup), 0);
    write_file(f->file, "{\"c\":3}");
    assert_int_equal(unlink(backup), 0);
    expect_one_report(f, 3000);
}

static void test_inotify_other_files_ignored(void **state)
{
    struct fixture *f = *state;
    char other[160];
    bool changed = true;

    snprintf(other, sizeof(other), "%s/windrow.json.bak", f->dir);
    write_file(other, "x");
    assert_int_equal(unlink(other), 0);
    assert_int_equal(plat_inotify_poll(f->w, 4000, &changed), WR_OK);
    assert_int_equal(plat_inotify_poll(f->w, 5000, &changed), WR_OK);
    assert_false(changed);
}

static void test_inotify_burst_debounced_to_one(void **state)
{
    struct fixture *f = *state;
    bool changed = true;

    write_file(f->file, "{\"d\":1}");
    assert_int_equal(plat_inotify_poll(f->w, 6000, &changed), WR_OK);
    assert_false(changed);
    /* More writes before the quiet time is over push the report back. */
    write_file(f->file, "{\"d\":2}");
    assert_int_equal(plat_inotify_poll(f->w, 6000 + DEBOUNCE_MS - 1, &changed), WR_OK);
    assert_false(changed);
    assert_int_equal(plat_inotify_poll(f->w, 6000 + DEBOUNCE_MS + 1, &changed), WR_OK);
    assert_false(changed);
    assert_int_equal(plat_inotify_poll(f->w, 6000 + 2 * DEBOUNCE_MS - 1, &changed), WR_OK);
    assert_true(changed);
}

static void test_inotify_delete_and_recreate(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(unlink(f->file), 0);
    write_file(f->file, "{\"e\":1}");
    expect_one_report(f, 8000);
}

/* Readable within bound_ms? (The kernel queues the event before write() returns.) */
static bool fd_readable(int fd, int bound_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN, .revents = 0};

    return poll(&p, 1, bound_ms) == 1 && (p.revents & POLLIN) != 0;
}

/* A caller sleeping on the descriptor wakes for the event, then sleeps until the debounce ends. */
static void test_inotify_fd_and_due_for_a_sleeping_caller(void **state)
{
    struct fixture *f = *state;
    bool changed = true;
    int fd = plat_inotify_fd(f->w);

    assert_true(fd >= 0);
    assert_false(fd_readable(fd, 0));
    assert_true(plat_inotify_due_ms(f->w) == UINT64_MAX);
    write_file(f->file, "{\"f\":1}");
    assert_true(fd_readable(fd, 1000));
    assert_int_equal(plat_inotify_poll(f->w, 9000, &changed), WR_OK);
    assert_false(changed);
    /* Drained: nothing more to wake for, but a report is due at the debounce's end. */
    assert_false(fd_readable(fd, 0));
    assert_true(plat_inotify_due_ms(f->w) == 9000 + DEBOUNCE_MS);
    assert_int_equal(plat_inotify_poll(f->w, 9000 + DEBOUNCE_MS, &changed), WR_OK);
    assert_true(changed);
    assert_true(plat_inotify_due_ms(f->w) == UINT64_MAX);
}

static void test_inotify_bad_arguments(void **state)
{
    struct plat_inotify *w = NULL;
    bool changed;

    (void)state;
    assert_int_equal(plat_inotify_create(NULL, 0, &w), WR_E_INVAL);
    assert_int_equal(plat_inotify_create("", 0, &w), WR_E_INVAL);
    assert_int_equal(plat_inotify_create("/tmp/", 0, &w), WR_E_INVAL);
    assert_int_equal(plat_inotify_create("/nonexistent-dir-wr/x.json", 0, &w), WR_E_NOTFOUND);
    assert_null(w);
    assert_int_equal(plat_inotify_poll(NULL, 0, &changed), WR_E_INVAL);
    assert_int_equal(plat_inotify_fd(NULL), -1);
    assert_true(plat_inotify_due_ms(NULL) == UINT64_MAX);
    plat_inotify_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_inotify_nothing_happened, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_inotify_in_place_write, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_inotify_atomic_rename, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_inotify_editor_backup_pattern, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_inotify_other_files_ignored, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_inotify_burst_debounced_to_one, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_inotify_delete_and_recreate, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_inotify_fd_and_due_for_a_sleeping_caller,
                                        fixture_setup, fixture_teardown),
        cmocka_unit_test(test_inotify_bad_arguments),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
