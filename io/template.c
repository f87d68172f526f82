/* template.c — prompt templates: presets by name and by architecture, placeholder checking and
 * expansion ({prompt}, {caption}, {{ and }} for literal braces, <image> for the image token).
 * Relies on nothing but strata.h. Reference: the LLaVA-1.5 conversation format
 * ("USER: <image>\n{prompt} ASSISTANT:", as in the llava-hf model cards). */
#include "io/template.h"

#include <stdlib.h>
#include <string.h>

#include "strata.h"

static const struct {
    const char *name, *text;
} presets[] = {
    {"llava-1.5", "USER: <image>\n{prompt} ASSISTANT:"},
    {"vicuna", "USER: {prompt} ASSISTANT:"},
    {"plain", "{prompt}"},
    {"caption", "{caption}"},
    {"image-caption", "<image>\n{caption}"},
};
enum { n_presets = sizeof presets / sizeof presets[0] };

static const struct {
    const char *architecture, *preset;
} by_architecture[] = {
    {"LlavaForConditionalGeneration", "llava-1.5"},
    {"LlavaNextForConditionalGeneration", "llava-1.5"},
    {"LlamaForCausalLM", "plain"},
    {"MistralForCausalLM", "plain"},
    {"Qwen2ForCausalLM", "plain"},
};
enum { n_by_architecture = sizeof by_architecture / sizeof by_architecture[0] };

static const char image_text[] = "<image>";

const char *strata_template_preset(const char *name)
{
    for (int i = 0; name && i < n_presets; i++)
        if (strcmp(presets[i].name, name) == 0) return presets[i].text;
    return NULL;
}

const char *strata_template_for_architecture(const char *architecture)
{
    for (int i = 0; architecture && i < n_by_architecture; i++)
        if (strcmp(by_architecture[i].architecture, architecture) == 0)
            return strata_template_preset(by_architecture[i].preset);
    return NULL;
}

const char *strata_template_resolve(const char *name_or_template)
{
    const char *p = strata_template_preset(name_or_template);
    return p ? p : name_or_template;
}

typedef struct {
    char *data;
    size_t len, cap;
} outbuf;

static void out_add(outbuf *o, const char *s, size_t n)
{
    if (!o) return;
    if (o->len + n + 1 > o->cap) {
        o->cap = 2 * (o->len + n + 1);
        o->data = strata_realloc(o->data, o->cap);
    }
    memcpy(o->data + o->len, s, n);
    o->len += n;
    o->data[o->len] = '\0';
}

/* Walks the template, appending literal text and placeholder values to o; with o == NULL it
 * only checks the placeholders. */
static int walk(const char *t, const char *prompt, const char *caption, const char *image_token,
                outbuf *o)
{
    size_t i = 0, n = strlen(t);
    while (i < n) {
        if (t[i] == '{' && t[i + 1] == '{') { out_add(o, "{", 1); i += 2; continue; }
        if (t[i] == '}' && t[i + 1] == '}') { out_add(o, "}", 1); i += 2; continue; }
        if (t[i] == '}')
            return strata_error_set("template: unmatched '}' at offset %zu (write }} for a literal "
                                    "brace)", i);
        if (t[i] == '{') {
            const char *close = strchr(t + i + 1, '}');
            const char *open = strchr(t + i + 1, '{');
            if (!close || (open && open < close))
                return strata_error_set("template: unmatched '{' at offset %zu (write {{ for a "
                                        "literal brace)", i);
            size_t len = (size_t)(close - (t + i + 1));
            const char *name = t + i + 1, *value;
            if (len == 6 && strncmp(name, "prompt", 6) == 0) value = prompt;
            else if (len == 7 && strncmp(name, "caption", 7) == 0) value = caption;
            else
                return strata_error_set("template: unknown placeholder {%.*s} at offset %zu "
                                        "(known: {prompt}, {caption}, <image>)", (int)len, name, i);
            if (o && !value)
                return strata_error_set("template: {%.*s} at offset %zu has no value", (int)len, name, i);
            if (o) out_add(o, value, strlen(value));
            i += len + 2;
            continue;
        }
        if (strncmp(t + i, image_text, sizeof image_text - 1) == 0) {
            const char *img = image_token ? image_token : image_text;
            out_add(o, img, strlen(img));
            i += sizeof image_text - 1;
            continue;
        }
        out_add(o, t + i, 1);
        i++;
    }
    return 0;
}

int strata_template_check(const char *tmpl)
{
    if (!tmpl) return strata_error_set("template: none given");
    return walk(tmpl, NULL, NULL, NULL, NULL);
}

char *strata_template_expand(const char *tmpl, const char *prompt, const char *caption,
                             const char *image_token)
{
    if (!tmpl) {
        strata_error_set("template: none given");
        return NULL;
    }
    outbuf o = {0};
    out_add(&o, "", 0);
    if (walk(tmpl, prompt, caption, image_token, &o)) {
        free(o.data);
        return NULL;
    }
    return o.data;
}

int strata_template_has_image(const char *tmpl)
{
    return tmpl && strstr(tmpl, image_text) != NULL;
}
