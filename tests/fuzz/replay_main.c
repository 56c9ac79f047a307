/*
 * Standalone driver for the fuzz harnesses: runs LLVMFuzzerTestOneInput over
 * every regular file in the directories (or the files) named on the command
 * line, so that the seed corpus and any saved crashers run under the
 * sanitizers in every ctest run, with or without clang and libFuzzer.
 */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/* Run one file; returns 0 on success, -1 if it could not be read. */
static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    long size;
    int rc = -1;

    if (f == NULL)
        goto out;
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
        goto out;
    /* Exactly the input's size, so AddressSanitizer catches any read past the end. */
    buf = malloc(size > 0 ? (size_t)size : 1);
    if (buf == NULL)
        goto out;
    if (size > 0 && fread(buf, 1, (size_t)size, f) != (size_t)size)
        goto out;
    LLVMFuzzerTestOneInput(buf, (size_t)size);
    rc = 0;
out:
    if (rc != 0)
        fprintf(stderr, "replay: cannot read %s\n", path);
    free(buf);
    if (f != NULL)
        fclose(f);
    return rc;
}

/* Run every regular file in dir; returns the number run, or -1 on error. */
static long replay_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *ent;
    long count = 0;

    if (d == NULL) {
        fprintf(stderr, "replay: cannot open directory %s\n", dir);
        return -1;
    }
    while ((ent = readdir(d)) != NULL) {
        char path[4096];
        struct stat st;

        if (ent->d_name[0] == '.')
            continue;
        if (snprintf(path, sizeof(path), "%s/%s", dir, ent->d_name) >= (int)sizeof(path))
            continue;
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (replay_file(path) != 0) {
            closedir(d);
            return -1;
        }
        count++;
    }
    closedir(d);
    return count;
}

int main(int argc, char **argv)
{
    long total = 0;

    if (argc < 2) {
        fprintf(stderr, "usage: %s DIR_OR_FILE...\n", argv[0]);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        struct stat st;
        long n;

        if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
            n = replay_dir(argv[i]);
        else
            n = replay_file(argv[i]) == 0 ? 1 : -1;
        if (n < 0)
            return 1;
        total += n;
    }
    printf("replayed %ld inputs\n", total);
    /* An empty corpus means the test is misconfigured, not that all is well. */
    return total > 0 ? 0 : 1;
}
