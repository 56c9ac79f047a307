#include "wr_json.h"

#include <cjson/cJSON.h>
#include <threads.h>

#include "plat_mem.h"

static _Thread_local bool alloc_failed;
static once_flag hooks_once = ONCE_FLAG_INIT;

static void *json_malloc(size_t size)
{
    void *p = plat_malloc(size);

    if (p == NULL)
        alloc_failed = true;
    return p;
}

static void json_free(void *p)
{
    plat_free(p);
}

static void install_hooks(void)
{
    cJSON_Hooks hooks = {json_malloc, json_free};

    cJSON_InitHooks(&hooks);
}

void wr_json_begin(void)
{
    call_once(&hooks_once, install_hooks);
    alloc_failed = false;
}

bool wr_json_out_of_memory(void)
{
    return alloc_failed;
}
