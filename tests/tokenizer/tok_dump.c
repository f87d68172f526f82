/* tok_dump.c — test helper: encodes every line of a file with strata's tokenizer and prints the
 * results for tests/tokenizer/test_vs_tokenizers.py to compare with the `tokenizers` library.
 *   tok_dump TOKENIZER.json INPUT   INPUT: one text per line, as hex of its bytes
 * Output, one line per input: "<ids with special tokens>|<ids without>|<decoded text as hex>"
 * (ids space-separated), or "ERROR <message>" when encode refuses the text. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/tokenizer.h"
#include "strata.h"

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c - 'A' + 10;
}

static void print_ids(const int32_t *ids, int n)
{
    for (int i = 0; i < n; i++) printf(i ? " %d" : "%d", (int)ids[i]);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: tok_dump TOKENIZER.json INPUT\n");
        return 2;
    }
    strata_tokenizer *tok = strata_tokenizer_load(argv[1]);
    if (!tok) {
        printf("LOADERROR %s\n", strata_error_get());
        return 0;
    }
    FILE *f = fopen(argv[2], "r");
    if (!f) return 2;
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    while ((got = getline(&line, &cap, f)) >= 0) {
        while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r')) line[--got] = '\0';
        size_t len = (size_t)got / 2;
        char *text = malloc(len + 1);
        for (size_t i = 0; i < len; i++) text[i] = (char)(hexval(line[2 * i]) * 16 + hexval(line[2 * i + 1]));
        text[len] = '\0';
        int32_t *a = NULL, *b = NULL;
        int na = 0, nb = 0;
        if (strata_tokenizer_encode_len(tok, text, len, 1, &a, &na) ||
            strata_tokenizer_encode_len(tok, text, len, 0, &b, &nb)) {
            printf("ERROR %s\n", strata_error_get());
        } else {
            print_ids(a, na);
            putchar('|');
            print_ids(b, nb);
            putchar('|');
            char *dec = strata_tokenizer_decode(tok, b, nb, 0);
            for (const char *p = dec; p && *p; p++) printf("%02x", (unsigned)(unsigned char)*p);
            putchar('\n');
            free(dec);
        }
        free(a);
        free(b);
        free(text);
    }
    free(line);
    fclose(f);
    strata_tokenizer_free(tok);
    return 0;
}
