/* test_common.c — strata.h basics: error messages, overflow checks, sha256 against the
 * published FIPS 180-2 test vector for "abc". */
#include <string.h>

#include "strata.h"
#include "testlib.h"

int main(void)
{
    T_CHECK(strata_error_set("bad %s at line %d", "field", 7) == -1, "returns -1");
    T_CHECK(strcmp(strata_error_get(), "bad field at line 7") == 0, "got '%s'", strata_error_get());
    strata_error_prefix("%s", "file.json");
    T_CHECK(strcmp(strata_error_get(), "file.json: bad field at line 7") == 0, "got '%s'",
            strata_error_get());

    size_t out = 0;
    T_CHECK(strata_mul_size(SIZE_MAX / 2, 3, &out) == -1, "overflow must be caught");
    T_CHECK(strata_mul_size(1000, 1000, &out) == 0 && out == 1000000, "1000*1000");

    char hex[65];
    strata_sha256_hex("abc", 3, hex);
    T_CHECK(strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0,
            "sha256(abc) = %s", hex);

    T_CHECK(strata_read_file("/nonexistent/strata", NULL) == NULL, "missing file");
    T_CHECK(t_contains(strata_error_get(), "/nonexistent/strata"), "message names the file: %s",
            strata_error_get());
    return t_finish("test_common");
}
