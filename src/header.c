/*
 * header.c: decodes unstructured header values such as Subject. GMime 3.2.13
 * joins the payloads of adjacent encoded words of one charset before
 * decoding them, so a first base64 word that ends in padding swallows the
 * rest of the subject. Here each word is decoded on its own, and the bytes
 * of adjacent words in one charset are joined before the charset
 * conversion, so that a character split across two words survives too.
 * It never drops text: what cannot be decoded is kept or becomes U+FFFD.
 */
#include "config.h"

#include <string.h>

#include "m2wo.h"

typedef struct {
	GString *out;         /* decoded UTF-8 so far */
	GString *pending;     /* bytes of adjacent encoded words */
	char *charset;        /* their charset */
} header_decoder_t;

/* One encoded word "=?charset?B|Q?text?=" starting at p. */
typedef struct {
	char *charset;
	char encoding;
	const char *text;
	gsize text_len;
	const char *end;      /* just past "?=" */
} header_word_t;

static gboolean
header_word_parse(const char *p, header_word_t *word)
{
	const char *q, *t, *e;

	if (p[0] != '=' || p[1] != '?')
		return FALSE;
	q = strchr(p + 2, '?');
	if (q == NULL || q == p + 2 || strchr("BbQq", q[1]) == NULL ||
	    q[1] == '\0' || q[2] != '?')
		return FALSE;
	t = q + 3;
	e = strstr(t, "?=");
	if (e == NULL || memchr(p, ' ', (gsize)(e - p)) != NULL ||
	    memchr(p, '\t', (gsize)(e - p)) != NULL)
		return FALSE;
	/* RFC 2231 lets a language follow the charset: "utf-8*nl". */
	word->charset = g_strndup(p + 2, (gsize)(q - p - 2));
	g_strdelimit(word->charset, "*", '\0');
	word->encoding = g_ascii_toupper(q[1]);
	word->text = t;
	word->text_len = (gsize)(e - t);
	word->end = e + 2;
	return TRUE;
}

static void
header_word_bytes(const header_word_t *word, GString *bytes)
{
	gsize i;

	if (word->encoding == 'B') {
		g_autofree char *copy = g_strndup(word->text, word->text_len);
		gsize len = 0;
		g_autofree guchar *raw = g_base64_decode(copy, &len);

		g_string_append_len(bytes, (const char *)raw, (gssize)len);
		return;
	}
	for (i = 0; i < word->text_len; i++) {
		char c = word->text[i];

		if (c == '_') {
			g_string_append_c(bytes, ' ');
		} else if (c == '=' && i + 2 < word->text_len &&
		    g_ascii_isxdigit(word->text[i + 1]) &&
		    g_ascii_isxdigit(word->text[i + 2])) {
			g_string_append_c(bytes, (char)(
			    g_ascii_xdigit_value(word->text[i + 1]) * 16 +
			    g_ascii_xdigit_value(word->text[i + 2])));
			i += 2;
		} else {
			g_string_append_c(bytes, c);
		}
	}
}

static void
header_flush(header_decoder_t *dec)
{
	g_autofree char *text = NULL;

	if (dec->pending->len == 0)
		return;
	text = text_bytes_to_utf8(dec->pending->str, dec->pending->len,
	    dec->charset);
	g_string_append(dec->out, text);
	g_string_truncate(dec->pending, 0);
}

/* Adds the bytes of one word, joining them to the pending ones when the
 * charset is the same. */
static void
header_add_word(header_decoder_t *dec, header_word_t *word)
{
	if (dec->charset == NULL ||
	    g_ascii_strcasecmp(dec->charset, word->charset) != 0) {
		header_flush(dec);
		g_free(dec->charset);
		dec->charset = g_steal_pointer(&word->charset);
	}
	g_free(word->charset);
	header_word_bytes(word, dec->pending);
}

/* Plain text between words: raw 8-bit bytes are decoded like a body. */
static void
header_add_text(header_decoder_t *dec, const char *text, gsize len)
{
	g_autofree char *utf8 = NULL;

	if (len == 0)
		return;
	header_flush(dec);
	utf8 = text_bytes_to_utf8(text, len, NULL);
	g_string_append(dec->out, utf8);
}

/* White space between two encoded words is not part of the text. */
static const char *
header_skip_between(const char *p)
{
	const char *q = p;
	header_word_t next;

	while (*q == ' ' || *q == '\t')
		q++;
	if (q != p && header_word_parse(q, &next)) {
		g_free(next.charset);
		return q;
	}
	return p;
}

/* RFC 5322 unfolding removes the line ends only; the folded line's own
 * white space stays. */
static char *
header_unfold(const char *raw)
{
	GString *out = g_string_sized_new(strlen(raw));

	for (; *raw != '\0'; raw++)
		if (*raw != '\r' && *raw != '\n')
			g_string_append_c(out, *raw);
	return g_string_free(out, FALSE);
}

char *
header_decode(const char *raw)
{
	header_decoder_t dec = { g_string_new(NULL), g_string_new(NULL), NULL };
	g_autofree char *unfolded = header_unfold(raw != NULL ? raw : "");
	const char *p, *start;
	header_word_t word;

	p = start = g_strstrip(unfolded);
	while (*p != '\0') {
		if (!header_word_parse(p, &word)) {
			p++;
			continue;
		}
		header_add_text(&dec, start, (gsize)(p - start));
		header_add_word(&dec, &word);
		p = start = header_skip_between(word.end);
	}
	header_add_text(&dec, start, (gsize)(p - start));
	header_flush(&dec);
	g_string_free(dec.pending, TRUE);
	g_free(dec.charset);
	return g_string_free(dec.out, FALSE);
}
