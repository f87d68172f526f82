/* template.h — prompt templates: the text a model sees around a sample, with placeholders
 * {prompt} and {caption} filled in and <image> kept as the image token's text (the tokenizer
 * turns it into the image token id; the model expands it to the image features).
 * Reference: the LLaVA-1.5 conversation format "USER: <image>\n{prompt} ASSISTANT:". */
#ifndef STRATA_TEMPLATE_H
#define STRATA_TEMPLATE_H

/* The template string of a preset name ("llava-1.5", "plain", "caption", ...) or NULL. */
const char *strata_template_preset(const char *name);

/* The default template for an architecture (config.json "architectures"[0], e.g.
 * "LlavaForConditionalGeneration"), or NULL if strata has none for it. */
const char *strata_template_for_architecture(const char *architecture);

/* A preset's template if name_or_template names one, else the argument itself. */
const char *strata_template_resolve(const char *name_or_template);

/* Checks a template: only {prompt}, {caption} and {{ / }} (literal braces) may appear in
 * braces. Returns 0, or -1 with strata_error naming the unknown placeholder and its offset. */
int strata_template_check(const char *tmpl);

/* Expands a template. prompt / caption replace {prompt} / {caption}; a placeholder whose value
 * is NULL is an error. image_token replaces every "<image>" (NULL keeps "<image>" as it is).
 * Returns a malloc'd string, or NULL with strata_error set. */
char *strata_template_expand(const char *tmpl, const char *prompt, const char *caption,
                             const char *image_token);

/* Does the template contain "<image>"? */
int strata_template_has_image(const char *tmpl);

#endif
