/* tokenizer.h — Hugging Face tokenizer.json (BPE models) read and applied as the `tokenizers`
 * library does: added/special tokens first, normalizer, pre-tokenizer, BPE, post-processor.
 * Reference: the behaviour of `tokenizers` (PyPI) on the same file; tests/tokenizer/ checks it.
 *
 * Supported: model BPE (merges "a b" or ["a","b"], byte_fallback, unk_token, fuse_unk,
 * ignore_merges, continuing_subword_prefix, end_of_word_suffix); normalizers Sequence, Prepend,
 * Replace, NFC, NFD, NFKC, NFKD, Lowercase, Strip; pre-tokenizers ByteLevel, Split, Metaspace,
 * Digits, WhitespaceSplit, Punctuation, Sequence; post-processors TemplateProcessing, ByteLevel,
 * Bert/RobertaProcessing, Sequence. Anything else is refused at load time with the file and the
 * field named. Decoders (debugging output only, never refused): ByteLevel, Metaspace, Replace,
 * ByteFallback, Fuse, Strip, BPEDecoder, WordPiece, Sequence.
 * Regexes run on PCRE2 (the library uses Oniguruma); \s is rewritten to Unicode White_Space as
 * Oniguruma reads it. Unicode tables are utf8proc's and PCRE2's (for characters newer than
 * their Unicode version, results may differ from the library's).
 * Like the library, the "id" of added_tokens entries is not taken from the file: known tokens
 * keep their vocabulary id, new ones are numbered after the vocabulary. */
#ifndef STRATA_TOKENIZER_H
#define STRATA_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

typedef struct strata_tokenizer strata_tokenizer;

/* Loads a tokenizer.json. Returns NULL with strata_error set (naming the file and the field,
 * e.g. "model.type: unsupported model type 'WordPiece' (strata reads BPE)") on failure.
 * bos/eos/pad ids are unset (-1) until tokenizer_config.json is read (see load_dir). */
strata_tokenizer *strata_tokenizer_load(const char *path_to_tokenizer_json);

/* Loads DIR/tokenizer.json and, if present, DIR/tokenizer_config.json (bos_token, eos_token,
 * pad_token as strings or {"content": ...} objects). NULL with strata_error set on failure. */
strata_tokenizer *strata_tokenizer_load_dir(const char *model_dir);

void strata_tokenizer_free(strata_tokenizer *tok);

/* Encodes UTF-8 text (NUL-terminated) into token ids as `tokenizers`' Tokenizer.encode(text,
 * add_special_tokens) does. Added/special tokens in the text (e.g. "<image>") are always
 * matched; add_special_tokens only controls the post-processor (BOS/EOS).
 * On success *ids is a malloc'd array of *n ids (caller frees; may be NULL when *n == 0) and 0
 * is returned. Invalid UTF-8 returns -1 with strata_error naming the byte offset; *ids is NULL.
 * Not thread-safe on one tokenizer (it keeps a word cache): one tokenizer per thread. */
int strata_tokenizer_encode(strata_tokenizer *tok, const char *text, int add_special_tokens,
                            int32_t **ids, int *n);
/* Same with an explicit byte length (text may contain NUL bytes). */
int strata_tokenizer_encode_len(strata_tokenizer *tok, const char *text, size_t len,
                                int add_special_tokens, int32_t **ids, int *n);

/* Id of a token string (vocabulary or added token, e.g. "<image>"), or -1 if absent. */
int32_t strata_tokenizer_token_id(const strata_tokenizer *tok, const char *piece);
/* The token string of an id as stored in tokenizer.json (e.g. "Ġhello", "▁the", "<0x0A>"),
 * or NULL when out of range. Owned by the tokenizer. */
const char *strata_tokenizer_piece(const strata_tokenizer *tok, int32_t id);
/* One more than the largest id (vocabulary and added tokens). */
int32_t strata_tokenizer_vocab_size(const strata_tokenizer *tok);

/* Special ids from tokenizer_config.json (load_dir), else -1. */
int32_t strata_tokenizer_bos_id(const strata_tokenizer *tok);
int32_t strata_tokenizer_eos_id(const strata_tokenizer *tok);
int32_t strata_tokenizer_pad_id(const strata_tokenizer *tok);

/* Decodes ids to text with the file's decoder (for debugging output, like
 * `tokenizers`' decode(ids, skip_special_tokens)). Returns a malloc'd string, or NULL with
 * strata_error set if an id is out of range. */
char *strata_tokenizer_decode(const strata_tokenizer *tok, const int32_t *ids, int n,
                              int skip_special_tokens);

#endif
