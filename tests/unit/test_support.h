#ifndef WR_TEST_SUPPORT_H
#define WR_TEST_SUPPORT_H

/*
 * Shared helpers for cmocka unit tests.
 *
 * wr_test_alloc_install() routes plat_malloc & co. through cmocka's
 * test_malloc (so leaks fail the test) and lets a test fail the Nth
 * allocation: the style guide's allocation-failure loop is
 *
 *     for (long n = 1;; n++) {
 *         wr_test_alloc_fail_at(n);
 *         rc = thing_create(&t);
 *         if (rc == WR_OK) break;
 *         assert_int_equal(rc, WR_E_NOMEM);
 *     }
 */

#include <stddef.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <cmocka.h>

/** Route plat allocations through cmocka's checked allocator; no failures injected. */
void wr_test_alloc_install(void);

/** Restore the C library allocator. */
void wr_test_alloc_uninstall(void);

/** Fail the nth allocation from now (1 = the next one); 0 = never fail. */
void wr_test_alloc_fail_at(long nth);

/** Number of allocations attempted since install or the last fail_at. */
long wr_test_alloc_count(void);

/** Make a fresh directory "/tmp/<prefix>-XXXXXX" in dir. Returns 0, or -1 on failure. */
int wr_test_tmpdir(char *dir, size_t len, const char *prefix);

/** Remove a directory tree, first giving back write permission a test may have taken. */
void wr_test_rmtree(const char *dir);

/** cmocka setup/teardown wrappers for the two calls above. */
int wr_test_alloc_setup(void **state);
int wr_test_alloc_teardown(void **state);

#endif /* WR_TEST_SUPPORT_H */
