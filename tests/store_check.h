/* Test helper shared by the store's tests: rg_store_check with the report printed when it
 * finds anything (0 = clean). */
#ifndef RAGD_TEST_STORE_CHECK_H
#define RAGD_TEST_STORE_CHECK_H
#include "index/store.h"
#include <stdio.h>
#include <stdlib.h>

static inline int check_clean(rg_store *s) {
    char *rep = NULL;
    int rc = rg_store_check(s, &rep);
    if (rc != 0) fprintf(stderr, "check: %s\n", rep ? rep : rg_errmsg());
    free(rep);
    return rc;
}
#endif
