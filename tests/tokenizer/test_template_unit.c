/* test_template_unit.c — io/template: presets (LLaVA-1.5's "USER: <image>\n{prompt} ASSISTANT:"
 * as the llava-hf model cards write it), expansion, escapes, and the errors for unknown or
 * unmatched placeholders and missing values. */
#include <stdlib.h>
#include <string.h>

#include "io/template.h"
#include "strata.h"
#include "tests/testlib.h"

static void expect_expand(const char *tmpl, const char *prompt, const char *caption,
                          const char *image, const char *want)
{
    char *got = strata_template_expand(tmpl, prompt, caption, image);
    T_CHECK(got && strcmp(got, want) == 0, "expand('%s') = '%s', want '%s' (%s)", tmpl,
            got ? got : "(null)", want, got ? "" : strata_error_get());
    free(got);
}

static void expect_error(const char *tmpl, const char *prompt, const char *caption,
                         const char *needle)
{
    char *got = strata_template_expand(tmpl, prompt, caption, NULL);
    T_CHECK(got == NULL, "expand('%s') should fail, gave '%s'", tmpl, got ? got : "");
    T_CHECK(t_contains(strata_error_get(), needle), "error '%s' should contain '%s'",
            strata_error_get(), needle);
    free(got);
}

int main(void)
{
    const char *llava = strata_template_preset("llava-1.5");
    T_CHECK(llava && strcmp(llava, "USER: <image>\n{prompt} ASSISTANT:") == 0, "llava-1.5 preset");
    T_CHECK(strata_template_for_architecture("LlavaForConditionalGeneration") == llava,
            "LLaVA architecture -> llava-1.5");
    T_CHECK(strata_template_for_architecture("NoSuchForCausalLM") == NULL, "unknown arch");
    T_CHECK(strata_template_for_architecture(NULL) == NULL, "no arch");
    T_CHECK(strata_template_preset("nope") == NULL, "unknown preset");
    T_CHECK(strata_template_resolve("llava-1.5") == llava, "resolve a preset name");
    const char *own = "Q: {prompt}";
    T_CHECK(strata_template_resolve(own) == own, "resolve a template string");
    T_CHECK(strata_template_has_image(llava) && !strata_template_has_image(own), "has_image");
    T_CHECK(strata_template_check(llava) == 0, "llava preset checks");
    T_CHECK(strata_template_check("{prompt} {bogus}") == -1, "check finds {bogus}");

    expect_expand(llava, "What is in the image?", NULL, NULL,
                  "USER: <image>\nWhat is in the image? ASSISTANT:");
    expect_expand(llava, "Describe it.", NULL, "<|image_pad|>",
                  "USER: <|image_pad|>\nDescribe it. ASSISTANT:");
    expect_expand("{caption}", NULL, "A cat on a mat.", NULL, "A cat on a mat.");
    expect_expand("{prompt}|{caption}|{prompt}", "p", "c", NULL, "p|c|p");
    expect_expand("{{json}} {{{prompt}}}", "x", NULL, NULL, "{json} {x}");
    expect_expand("", "x", "y", NULL, "");
    expect_expand("<image><image>", NULL, NULL, "<im>", "<im><im>");
    expect_expand("{prompt}", "contains {braces} and <image>", NULL, "IMG",
                  "contains {braces} and <image>"); /* values are not re-expanded */
    expect_expand("猫 {prompt} 😀", "ü", NULL, NULL, "猫 ü 😀");

    expect_error("USER: {question}", "x", NULL, "unknown placeholder {question} at offset 6");
    expect_error("a { b", "x", NULL, "unmatched '{' at offset 2");
    expect_error("a } b", "x", NULL, "unmatched '}' at offset 2");
    expect_error("{prompt", "x", NULL, "unmatched '{'");
    expect_error("{caption}", "x", NULL, "{caption} at offset 0 has no value");
    expect_error("{}", "x", NULL, "unknown placeholder {}");
    T_CHECK(strata_template_expand(NULL, "x", NULL, NULL) == NULL, "NULL template");
    return t_finish("template_unit");
}
